"""`hpsearch run --population K`: packs in Ray trials, one Optuna trial per cell in storage."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import optuna
import pytest

from hpsearch.cli import main
from hpsearch.runner import run_study
from hpsearch.spec import expand_cells, load_spec
from hpsearch.storage import load_study_data
from hpsearch.tasks import train

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"
CELLS = {c.key: c for c in expand_cells(load_spec(SMOKE))}
FAULT = "adam:lr=0.001:seed=1"  # one cell of a pack fails; its pack-mates must not


def trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return [
        t
        for opt in ("adabound", "adam", "sgd")
        for t in optuna.load_study(study_name=f"smoke.{opt}", storage=url).trials
    ]


@pytest.mark.ray
@pytest.mark.slow
def test_packs_fan_out_to_one_trial_per_cell_and_resume_per_cell(
    ray_local: None, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    out, err = io.StringIO(), io.StringIO()
    report = run_study(
        SMOKE, storage=url, out=out, err=err, population=4, faults={FAULT: "injected failure"}
    )
    log = err.getvalue()
    assert "population: adabound 4, adam 4, sgd 2 cells per trial" in log  # sgd has 2 cells
    assert report.exit_code == 1 and "[10/10]" in log and "failed 1" in log
    data = load_study_data(url, "smoke")
    rows = data.trials.set_index("cell")
    assert set(rows.index) == set(CELLS)
    assert rows.loc[FAULT, "outcome"] == "error"
    assert "injected failure" in rows.loc[FAULT, "error"]
    assert (rows.drop(index=FAULT)["outcome"] != "error").all()
    for seed in (0, 1):  # Adam at lr = 1 diverges inside its pack: scored at chance, kept
        row = rows.loc[f"adam:lr=1.0:seed={seed}"]
        assert row["outcome"] == "diverged" and row["value"] == pytest.approx(0.1)
    # every cell has its own per-epoch curve, up to its divergence epoch
    acc = data.curves[data.curves["metric"] == "test_accuracy"]
    for cell, row in rows.drop(index=FAULT).iterrows():
        last = 3 if row["outcome"] == "completed" else row["diverged_epoch"]
        assert acc.loc[acc["cell"] == cell, "epoch"].tolist() == list(range(1, last + 1)), cell
    # a packed cell's value is the cell trained alone
    cell = CELLS["sgd:lr=0.1,momentum=0.9:seed=0"]
    alone = train("digits-mlp", "sgd", cell.hyperparameters(), 0, options={"hidden": 64}, epochs=3)
    assert rows.loc[cell.key, "value"] == pytest.approx(alone.final["test_accuracy"], abs=1.5 / 360)

    # the rerun trains only the failed cell, then nothing
    report = run_study(SMOKE, storage=url, out=io.StringIO(), err=io.StringIO(), population=4)
    assert report.exit_code == 0 and report.missing == 1
    report = run_study(SMOKE, storage=url, out=io.StringIO(), err=io.StringIO(), population=4)
    assert report.missing == 0
    complete = [t for t in trials(url) if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["cell"] for t in complete) == sorted(CELLS)
    assert len(trials(url)) == len(CELLS) + 1  # the FAIL trial stays as history


def test_population_below_one_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "never.db"
    argv = ["hpsearch", "run", str(SMOKE), "--storage", f"sqlite:///{db}", "--population", "0"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 2
    assert "`--population` must be at least 1, got 0." in capsys.readouterr().err
    assert not db.exists()
