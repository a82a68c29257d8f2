"""The demo flow end to end, as `make demo` runs it, on a reduced `studies/demo.toml`.

Every bundled study is validated here too, so a spec that drifts from the registries fails CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpsearch.spec import expand_cells, load_spec

ROOT = Path(__file__).resolve().parent.parent
STUDIES = sorted((ROOT / "studies").glob("*.toml"))

# Five epochs, two seeds, lr over its five decades and the other AdaBound hyperparameters at
# their defaults: the demo's shape in about a minute.
REDUCED = (
    "task.epochs=5",
    "run.seeds=[0, 1]",
    "optimizers.adabound.final_lr=0.1",
    "optimizers.adabound.gamma=1e-3",
    'claims.insensitive=["adabound.lr", "amsbound.lr"]',
    "claims.min_seeds=2",
    "claims.bootstrap=200",
)


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_bundled_study_is_valid_and_says_what_it_reproduces(path: Path) -> None:
    from hpsearch import plugins

    try:
        spec = load_spec(path)  # a study naming a plugin registers it: forget it afterwards
        cells = expand_cells(spec)
    finally:
        plugins.forget_plugins()
    assert cells, f"{path.name} expands to no cells"
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("#"), f"{path.name} must start with a comment saying what it is"
    if path.stem != "smoke":
        text = path.read_text(encoding="utf-8")
        assert f"{len(cells)} cells" in text, f"{path.name}'s header must give its cell count"


def _hpsearch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "hpsearch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
@pytest.mark.ray
def test_reduced_demo_measures_lr_one_and_writes_report_and_exports(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'hpsearch.db'}"
    sets = [arg for item in REDUCED for arg in ("--set", item)]
    run = _hpsearch(
        "run", str(ROOT / "studies" / "demo.toml"), "--storage", storage, *sets, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    export_dir = tmp_path / "exports"
    export = _hpsearch(
        "export", "demo", "--storage", storage, "--out", str(export_dir), cwd=tmp_path
    )
    assert export.returncode == 0, export.stderr
    trials = pd.read_csv(export_dir / "trials.csv")
    assert len(trials) == 5 * 5 * 2  # five optimizers x five lr values x two seeds
    adabound_one = trials[(trials.optimizer == "adabound") & (trials.lr == 1.0)]
    assert sorted(adabound_one.seed) == [0, 1]  # present, whatever they measured
    assert set(adabound_one.outcome) <= {"completed", "diverged"}
    adam_one = trials[(trials.optimizer == "adam") & (trials.lr == 1.0)]
    assert set(adam_one.outcome) == {"diverged"}  # present, scored at the floor
    assert (adam_one.value == adam_one.floor).all()

    verdicts = pd.read_csv(export_dir / "verdicts.csv")
    pairs = set(zip(verdicts.optimizer_a, verdicts.optimizer_b.fillna(""), strict=True))
    assert {("adabound", "adam"), ("adabound", "sgd")} <= pairs
    lr_verdict = verdicts[
        (verdicts.kind == "V1")
        & (verdicts.optimizer_a == "adabound")
        & (verdicts.hyperparameter == "lr")
    ].iloc[0]
    assert lr_verdict.result in ("SUPPORTED", "REFUTED", "INCONCLUSIVE")
    # The lr = 1 clause is built from the measured numbers: recompute them from trials.csv.
    clause = lr_verdict.sentence[lr_verdict.sentence.index("At lr = 1:") :]
    tuned = float(re.match(r"At lr = 1: ([0-9.]+) %", clause).group(1))  # type: ignore[union-attr]
    assert abs(tuned - adabound_one.value.mean()) < 0.051  # trials.csv: accuracy in %
    diverged = int((adabound_one.outcome == "diverged").sum())
    assert f"diverged {diverged}/2 (" in clause
    assert re.search(r"[0-9.]+ % \[[0-9.]+, [0-9.]+\]", clause), "the lr = 1 numbers come with CIs"

    show = _hpsearch("show", "demo", "--storage", storage, cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    assert "At lr = 1:" in show.stdout and "adabound vs adam" in show.stdout

    report = tmp_path / "report.html"
    made = _hpsearch("report", "demo", "--storage", storage, "--out", str(report), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    html = report.read_text(encoding="utf-8")
    assert "At lr = 1" in html
    assert not re.search(r"<script[^>]*\bsrc=", html), "plotly.js must be embedded, not linked"
    assert report.stat().st_size < 8 * 2**20

    again = _hpsearch(
        "run", str(ROOT / "studies" / "demo.toml"), "--storage", storage, *sets, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 to run" in again.stdout + again.stderr
