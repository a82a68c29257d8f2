"""`hpsearch run` on bad input: exit code 2 and nothing written (no Ray needed)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from hpsearch.spec import expand_cells, load_spec
from hpsearch.storage import close_storages

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"


def cli(*args: str, cwd: Path) -> int:
    """Run the real console entry point in this process; returns its exit code."""
    from hpsearch.cli import main

    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ["hpsearch", *args]
    os.chdir(cwd)
    try:
        main()
    except SystemExit as done:
        return int(done.code or 0)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
        close_storages()  # as a finished process would
    return 0


BAD_SPECS = {
    "unknown optimizer": "[optimizers.adamz]\nlr = [0.1]\n",
    "unknown task": "[optimizers.adam]\nlr = [0.1]\n",
    "unknown hyperparameter": "[optimizers.adam]\nllr = [0.1]\n",
    "out of range": "[optimizers.adam]\nlr = [0.0]\n",
    "empty grid": "[optimizers.adam]\nlr = []\n",
    "sampled space in a grid": "[optimizers.adam]\nlr = { low = 1e-4, high = 1.0 }\n",
    "TOML syntax": "[optimizers.adam\nlr = [0.1]\n",
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_specs_exit_2_and_leave_the_database_untouched(
    case: str, tmp_path: Path, sqlite_smoke_db: Path
) -> None:
    task = "digitz-mlp" if case == "unknown task" else "digits-mlp"
    spec = tmp_path / "smoke.toml"  # same study name as the stored one
    spec.write_text(f'name = "smoke"\n[task]\nname = "{task}"\nepochs = 1\n' + BAD_SPECS[case])
    before = hashlib.sha256(sqlite_smoke_db.read_bytes()).hexdigest()
    assert cli("run", str(spec), "--storage", f"sqlite:///{sqlite_smoke_db}", cwd=tmp_path) == 2
    assert hashlib.sha256(sqlite_smoke_db.read_bytes()).hexdigest() == before
    fresh = tmp_path / "fresh.db"
    assert cli("validate", str(spec), cwd=tmp_path) == 2
    assert cli("run", str(spec), "--storage", f"sqlite:///{fresh}", cwd=tmp_path) == 2
    assert not fresh.exists()


def test_changed_spec_is_refused_unless_forced(tmp_path: Path, sqlite_smoke_db: Path) -> None:
    url = f"sqlite:///{sqlite_smoke_db}"
    before = hashlib.sha256(sqlite_smoke_db.read_bytes()).hexdigest()
    assert (
        cli(
            "run", str(SMOKE), "--storage", url, "--set", "task.epochs=4", "--dry-run", cwd=tmp_path
        )
        == 2
    )
    assert hashlib.sha256(sqlite_smoke_db.read_bytes()).hexdigest() == before
    assert (
        cli(
            "run",
            str(SMOKE),
            "--storage",
            url,
            "--set",
            "task.epochs=4",
            "--dry-run",
            "--force",
            cwd=tmp_path,
        )
        == 0
    )


@pytest.fixture
def sqlite_smoke_db(tmp_path: Path) -> Path:
    """A database holding the smoke study's group (no trials), made without Ray."""
    from hpsearch.runner import group_info
    from hpsearch.storage import prepare_group

    db = tmp_path / "existing.db"
    prepare_group(f"sqlite:///{db}", group_info(load_spec(SMOKE)))
    close_storages()
    return db


@pytest.mark.parametrize("layout", ["missing", "incomplete"])
def test_bad_data_dir_exits_2_before_anything_is_written(
    layout: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "mnist"
    if layout == "incomplete":
        data.mkdir()
        (data / "train-images-idx3-ubyte").write_bytes(b"junk")
    spec = Path(__file__).resolve().parents[1] / "studies" / "mnist-mlp.toml"
    db = tmp_path / "study.db"
    code = cli(
        "run", str(spec), "--data-dir", str(data), "--storage", f"sqlite:///{db}", cwd=tmp_path
    )
    assert code == 2
    assert not db.exists()
    message = capsys.readouterr().err
    assert "data_dir" in message and "t10k-labels-idx1-ubyte" in message


# --- hardening: names, seeds and size refused by the CLI, before anything is written ------------

TINY = '[task]\nname = "digits-mlp"\nepochs = 1\n[optimizers.adam]\nlr = [0.1]\n'


@pytest.mark.parametrize(
    "stem", ['"><img src=x onerror=alert(1)>', "=HYPERLINK(1)", "stem with space"]
)
def test_a_study_named_after_a_bad_file_name_exits_2_and_writes_nothing(
    stem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / f"{stem}.toml"
    spec.write_text(TINY)
    db = tmp_path / "fresh.db"
    assert cli("run", str(spec), "--storage", f"sqlite:///{db}", cwd=tmp_path) == 2
    assert cli("validate", str(spec), cwd=tmp_path) == 2
    assert not db.exists()
    assert "not a valid study name" in capsys.readouterr().err


@pytest.mark.postgres
def test_a_too_long_name_exits_2_on_postgresql_and_the_longest_name_fits(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The limit comes from the storage's columns: the longest valid name is stored and claimed
    on PostgreSQL; one character more is refused before anything is written."""
    import sqlalchemy as sa

    from hpsearch.runner import group_info
    from hpsearch.storage import STUDY_NAME_LENGTH, CellClaims, prepare_group

    spec = tmp_path / "s.toml"
    longest = "n" * (STUDY_NAME_LENGTH - 1 - len("adam"))
    for name in (longest + "n", "n" * 5000):
        spec.write_text(f'name = "{name}"\n' + TINY)
        assert cli("run", str(spec), "--storage", postgres_url, "--dry-run", cwd=tmp_path) == 2
        assert cli("run", str(spec), "--storage", postgres_url, cwd=tmp_path) == 2
        assert f"{len(name)} characters" in capsys.readouterr().err
    with sa.create_engine(postgres_url).connect() as conn:
        assert not sa.inspect(conn).get_table_names()
    spec.write_text(f'name = "{longest}"\n' + TINY)
    loaded = load_spec(spec)
    ids = prepare_group(postgres_url, group_info(loaded))
    cell = expand_cells(loaded)[0]
    assert CellClaims(postgres_url).claim(loaded.study_name("adam"), cell.key)
    assert list(ids) == ["adam"]


def test_a_huge_study_exits_2_fast_with_the_count_and_the_way_past(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    spec = tmp_path / "huge.toml"
    grid = ", ".join(str(i) for i in range(1, 1001))
    spec.write_text(
        TINY.replace("lr = [0.1]", f"lr = [{grid}]\nbeta1 = [0.0, 0.5]")
        + "[run]\nseeds = ["
        + ", ".join(map(str, range(5000)))
        + "]\n"
    )
    started = time.perf_counter()
    assert cli("validate", str(spec), cwd=tmp_path) == 2
    assert cli("run", str(spec), "--dry-run", cwd=tmp_path) == 2
    assert time.perf_counter() - started < 10
    err = capsys.readouterr().err
    assert "10,000,000 cells" in err and "--max-cells 10000000" in err
    assert not (tmp_path / "hpsearch.db").exists()
    small = ["--set", "run.seeds=[0, 1]", "--set", "optimizers.adam.beta1=0.9"]
    assert cli("validate", str(spec), *small, "--max-cells", "999", cwd=tmp_path) == 2
    assert cli("validate", str(spec), *small, "--max-cells", "2000", cwd=tmp_path) == 0


def test_seeds_out_of_range_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(TINY + "[run]\nseeds = [0, 4294967296]\n")
    assert cli("validate", str(spec), cwd=tmp_path) == 2
    assert "run.seeds[1]" in capsys.readouterr().err


# --- hardening: passwords, read-only verbs, storage errors ---------------------------------------

PASSWORD = "s3cret-Pa55word"
READ_VERBS = (
    ["list"],
    ["status", "smoke"],
    ["show", "smoke"],
    ["export", "smoke", "--out", "exports"],
    ["report", "smoke", "--out", "r.html"],
)


def _with_password(url: str) -> str:
    """The same PostgreSQL URL with a password (the test server trusts any)."""
    return url.replace(
        "postgresql+psycopg://hpsearch@", f"postgresql+psycopg://hpsearch:{PASSWORD}@"
    )


def _tables(url: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_read_only_verbs_and_refused_runs_create_nothing_on_postgresql(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _with_password(postgres_url)
    for verb in READ_VERBS:
        code = cli(*verb, "--storage", url, cwd=tmp_path)
        assert code == (0 if verb == ["list"] else 2), verb
    assert cli("run", str(SMOKE), "--storage", url, "--dry-run", cwd=tmp_path) == 0
    mnist = Path(__file__).resolve().parents[1] / "studies" / "mnist-mlp.toml"
    missing = str(tmp_path / "no-such-dir")
    assert cli("run", str(mnist), "--data-dir", missing, "--storage", url, cwd=tmp_path) == 2
    assert _tables(postgres_url) == []
    assert not (tmp_path / "exports").exists() and not (tmp_path / "r.html").exists()
    err = capsys.readouterr().err
    assert PASSWORD not in err and "hpsearch:***@" in err
    assert "10 of 10 cells would run" in err


def test_read_only_verbs_leave_a_zero_byte_sqlite_file_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    url = f"sqlite:///{db}"
    for verb in READ_VERBS:
        assert cli(*verb, "--storage", url, cwd=tmp_path) == (0 if verb == ["list"] else 2), verb
    assert cli("run", str(SMOKE), "--storage", url, "--dry-run", cwd=tmp_path) == 0
    assert db.stat().st_size == 0
    assert "No study group `smoke`" in capsys.readouterr().err


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("kind", ["unreachable postgresql", "not a database"])
def test_a_storage_that_cannot_be_opened_exits_3_with_one_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if kind == "not a database":
        path = tmp_path / "notes.db"
        path.write_text("these are my notes, not a database\n" * 100)
        url = f"sqlite:///{path}"
    else:
        url = f"postgresql+psycopg://hp:{PASSWORD}@127.0.0.1:{_closed_port()}/hpsearch"
    before = (tmp_path / "notes.db").read_bytes() if kind == "not a database" else b""
    for verb in (*READ_VERBS, ["run", str(SMOKE), "--dry-run"], ["run", str(SMOKE)]):
        assert cli(*verb, "--storage", url, cwd=tmp_path) == 3, verb
        err = capsys.readouterr().err
        assert err.startswith("Error: Cannot open or reach the storage"), err
        assert len(err.strip().splitlines()) == 1, err
        for leak in (PASSWORD, "[SQL", "Background on this error", "Traceback"):
            assert leak not in err, err
    if kind == "not a database":
        assert (tmp_path / "notes.db").read_bytes() == before


def test_the_dashboard_never_shows_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its start line, and the page any client can load while the database is down."""
    import dash

    from dashboards.app import create_app

    url = f"postgresql+psycopg://hp:{PASSWORD}@127.0.0.1:{_closed_port()}/hpsearch"
    page = create_app(url).server.test_client().get("/_dash-layout").get_data(as_text=True)
    assert "Cannot open or reach the storage" in page and "hp:***@" in page
    assert PASSWORD not in page
    db = tmp_path / "study.db"
    from hpsearch.runner import group_info
    from hpsearch.storage import prepare_group

    prepare_group(f"sqlite:///{db}", group_info(load_spec(SMOKE)))
    close_storages()
    monkeypatch.setattr(dash.Dash, "run", lambda self, **kwargs: None)
    monkeypatch.setenv("HPSEARCH_STORAGE", f"sqlite:///{db}")
    assert cli("dashboard", cwd=tmp_path) == 0
    assert "(1 study in sqlite:///" in capsys.readouterr().err
    assert cli("dashboard", "--storage", url, cwd=tmp_path) == 3
    err = capsys.readouterr().err
    assert PASSWORD not in err and "hp:***@" in err


def test_a_storage_that_is_no_url_is_bad_input_and_hides_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = f"hp:{PASSWORD}@db.example/hpsearch"  # the scheme forgotten
    for verb in (["list"], ["status", "smoke"], ["dashboard"], ["run", str(SMOKE)]):
        assert cli(*verb, "--storage", bad, cwd=tmp_path) == 2, verb
        err = capsys.readouterr().err
        assert "hp:***@db.example" in err and PASSWORD not in err, err
    assert list(tmp_path.iterdir()) == []


def test_sequential_dry_run_lists_the_first_look_and_bad_looks_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "seq.db"
    args = ("run", str(SMOKE), "--storage", f"sqlite:///{db}", "--sequential", "2,3")
    assert cli(*args, "--dry-run", cwd=tmp_path) == 0
    captured = capsys.readouterr()
    keys = captured.out.split()
    assert len(keys) == 10 and {k.rsplit("=", 1)[1] for k in keys} == {"0", "1"}
    assert "look 1 of 2" in captured.err and not db.exists()
    assert cli(*args[:-1], "2,x", cwd=tmp_path) == 2
    assert "--sequential 2,x" in capsys.readouterr().err and not db.exists()
    assert cli(*args[:-1], "3,2", cwd=tmp_path) == 2
    assert "must grow" in capsys.readouterr().err and not db.exists()
