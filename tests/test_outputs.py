"""`--out` of `export` and `report`: bad paths are exit 2 with nothing written; files are written
atomically with the umask's permissions."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hpsearch.analysis.synthetic import store_study, synthetic_study
from hpsearch.storage import close_storages

NAME = "out-test"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    data = synthetic_study(
        {"adam": {"lr": [1e-3, 1e-1]}}, lambda o, c: 0.9, seeds=range(2), epochs=2, name=NAME
    )
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hp.db'}"
    store_study(url, data)
    close_storages()
    return url


def cli(*args: str) -> int:
    from hpsearch.cli import main

    old = sys.argv
    sys.argv = ["hpsearch", *args]
    try:
        main()
    except SystemExit as done:
        return int(done.code or 0)
    finally:
        sys.argv = old
        close_storages()
    return 0


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("verb", "out", "words"),
    [
        ("export", "a-file/sub", "is a file"),
        ("export", "a-file", "not a folder"),
        ("export", "/proc/hpsearch-x", "/proc/hpsearch-x"),
        ("report", "a-dir", "is a folder"),
        ("report", "a-file/r.html", "is a file"),
    ],
)
def test_a_bad_out_path_exits_2_with_a_message_and_writes_nothing(
    verb: str,
    out: str,
    words: str,
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("mine\n")
    (tmp_path / "a-dir").mkdir()
    before = _tree(tmp_path)
    assert cli(verb, NAME, "--out", out, "--storage", url) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: --out ") and words in err and "Traceback" not in err, err
    assert _tree(tmp_path) == before
    assert (tmp_path / "a-file").read_text() == "mine\n"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_follow_the_umask_and_the_report_is_replaced_atomically(
    umask: int, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    old = os.umask(umask)
    try:
        assert cli("export", NAME, "--out", "csv", "--storage", url) == 0
        report = tmp_path / "sub" / "report.html"
        assert cli("report", NAME, "--out", str(report), "--storage", url) == 0
        first = report.stat().st_ino
        assert cli("report", NAME, "--out", str(report), "--storage", url) == 0
    finally:
        os.umask(old)
    wanted = 0o666 & ~umask
    for path in [*(tmp_path / "csv").iterdir(), report]:
        assert path.stat().st_mode & 0o777 == wanted, (path, oct(path.stat().st_mode))
    assert report.stat().st_ino != first  # renamed into place, never rewritten in place
    assert _tree(tmp_path / "sub") == ["report.html"]  # no temporary file left
