"""`hpsearch run` end to end: real local Ray, real SQLite and PostgreSQL, the digits MLP."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import kill_session

from hpsearch.runner import RunReport, run_study
from hpsearch.spec import expand_cells, load_spec
from hpsearch.storage import load_study_data

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"
CELLS = {c.key for c in expand_cells(load_spec(SMOKE))}
FAULT = "sgd:lr=0.1,momentum=0.9:seed=1"


def run(url: str, *args: str, **kwargs: object) -> tuple[RunReport, str, str]:
    out, err = io.StringIO(), io.StringIO()
    report = run_study(SMOKE, storage=url, out=out, err=err, overrides=args, **kwargs)  # type: ignore[arg-type]
    return report, out.getvalue(), err.getvalue()


def optuna_trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return [
        t
        for opt in ("adabound", "adam", "sgd")
        for t in optuna.load_study(study_name=f"smoke.{opt}", storage=url).trials
    ]


def check_study(url: str, epochs: int = 3) -> None:
    """What every finished smoke study must look like."""
    data = load_study_data(url, "smoke")
    trials = data.trials.set_index("cell")
    assert set(trials.index) == CELLS
    # Adam at lr = 1 diverges on this MLP: present, scored at chance, not dropped
    for seed in (0, 1):
        row = trials.loc[f"adam:lr=1.0:seed={seed}"]
        assert row["outcome"] == "diverged"
        assert row["value"] == row["floor"] == pytest.approx(0.1)
    # AdaBound at lr = 1: present with whatever it measured
    for seed in (0, 1):
        assert trials.loc[f"adabound:final_lr=0.1,lr=1.0:seed={seed}", "outcome"] in (
            "completed",
            "diverged",
        )
    acc = data.curves[data.curves["metric"] == "test_accuracy"]
    for cell, row in trials.iterrows():
        # a per-epoch curve for every cell; a diverged one stops at its divergence epoch
        last = epochs if row["outcome"] == "completed" else row["diverged_epoch"]
        assert acc.loc[acc["cell"] == cell, "epoch"].tolist() == list(range(1, last + 1)), cell
    good = trials.loc["sgd:lr=0.1,momentum=0.9:seed=0"]
    assert good["outcome"] == "completed" and good["value"] > 0.5


pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_run_on_sqlite_records_fails_and_resumes(ray_local: None, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    report, out, err = run(url, faults={FAULT: "injected failure"}, population=1)
    assert report.exit_code == 1
    assert "[10/10]" in err and "failed 1" in err
    assert "sgd" in out and "diverged" in out  # the summary table
    data = load_study_data(url, "smoke").trials.set_index("cell")
    assert data.loc[FAULT, "outcome"] == "error"
    assert "injected failure" in data.loc[FAULT, "error"]
    assert (data.drop(index=FAULT)["outcome"] != "error").all()  # the others finished
    assert len(optuna_trials(url)) == len(CELLS)

    report, _, err = run(url, population=1)  # the failed cell is retried, nothing else runs
    assert report.exit_code == 0 and report.missing == 1
    check_study(url)

    report, _, _ = run(url)  # a finished study: re-running adds nothing
    assert report.missing == 0 and report.exit_code == 0
    assert len(optuna_trials(url)) == len(CELLS) + 1  # the FAIL trial stays as history
    states = {
        t.user_attrs["cell"]: t.state
        for t in optuna_trials(url)
        if t.state == optuna.trial.TrialState.COMPLETE
    }
    assert set(states) == CELLS


@pytest.mark.postgres
def test_run_on_postgres(ray_local: None, postgres_url: str) -> None:
    report, _, _ = run(postgres_url)
    assert report.exit_code == 0
    check_study(postgres_url)
    assert len(optuna_trials(postgres_url)) == len(CELLS)
    report, _, _ = run(postgres_url)
    assert report.missing == 0
    assert len(optuna_trials(postgres_url)) == len(CELLS)


def _complete(db: Path) -> int:
    """COMPLETE trials in the SQLite file `db` (0 while it does not exist or is locked)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(
                conn.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
            )
    except sqlite3.Error:
        return 0


def test_sigkill_of_the_driver_then_rerun_gives_one_trial_per_cell(
    ray_local: None, tmp_path: Path
) -> None:
    db = tmp_path / "killed.db"
    url = f"sqlite:///{db}"
    longer = ("task.epochs=30",)  # long enough to be killed mid-run
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            str(SMOKE),
            "--storage",
            url,
            *(a for o in longer for a in ("--set", o)),
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 240
        complete = 0
        while time.monotonic() < deadline and driver.poll() is None and complete < 2:
            time.sleep(0.2)
            complete = _complete(db)
        assert driver.poll() is None, "the driver finished before it could be killed"
        assert 0 < complete < len(CELLS)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        kill_session(driver.pid)  # its raylet, GCS and workers, by pid

    left = list(Path(tempfile.gettempdir()).glob(f"hpsearch-tune-{driver.pid}-*"))
    assert left, "a SIGKILLed driver leaves its Tune folder"
    report, _, _ = run(url, *longer)
    assert not any(p.exists() for p in left), "the next run removes a dead driver's folder"
    assert report.exit_code == 0
    assert 0 < report.missing < len(CELLS)
    trials = optuna_trials(url)
    cells = [t.user_attrs["cell"] for t in trials]
    assert sorted(cells) == sorted(CELLS)  # exactly one trial per cell
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    check_study(url, epochs=30)


def _stop_mid_run(url: str, db: Path, cwd: Path, how: str, after: int) -> tuple[int, str, str]:
    """Start `hpsearch run` as a user would (its own session, as a terminal's job), wait until
    `after` cells are COMPLETE in the database, then stop it by `how`: `kill PID` (SIGTERM) or
    Ctrl+C (SIGINT to the whole process group). Its exit code, stdout and stderr."""
    command = [sys.executable, "-m", "hpsearch", "run", str(SMOKE), "--storage", url]
    command += ["--population", "1", "--set", "task.epochs=30"]
    driver = subprocess.Popen(
        command,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None and _complete(db) < after:
            time.sleep(0.2)
        assert driver.poll() is None, "the driver finished before it could be stopped"
        if how == "SIGTERM":
            os.kill(driver.pid, signal.SIGTERM)
        else:
            os.killpg(driver.pid, signal.SIGINT)
        out, err = driver.communicate(timeout=120)
    finally:
        kill_session(driver.pid)
    assert not list(Path(tempfile.gettempdir()).glob(f"hpsearch-tune-{driver.pid}-*"))
    return driver.returncode, out, err


def test_a_signal_stops_the_run_cleanly_with_the_summary_and_the_resume_hint(
    tmp_path: Path,
) -> None:
    """`kill PID` (SIGTERM) stops a run, and Ctrl+C stops the run that resumes it: each time the
    driver prints its summary and how to resume, and exits 143 / 130; a third run completes
    every cell exactly once."""
    db = tmp_path / "stopped.db"
    url = f"sqlite:///{db}"
    for how, code in (("SIGTERM", 143), ("Ctrl+C", 130)):
        # Stopped once two more cells have finished: mid-run, with Ray up.
        returncode, out, err = _stop_mid_run(url, db, tmp_path, how, _complete(db) + 2)
        assert returncode == code, (how, err)
        assert "optimizer" in out and "completed" in out, out  # the summary table
        assert "Run the same command again to resume" in err, err
        for noise in ("Tuner.restore", "Traceback", "Resume experiment"):
            assert noise not in err, err
    report, _, _ = run(url, "task.epochs=30")
    assert report.exit_code == 0 and 0 < report.missing < len(CELLS)
    trials = optuna_trials(url)
    assert sorted(t.user_attrs["cell"] for t in trials) == sorted(CELLS)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


@pytest.mark.postgres
def test_a_postgresql_restart_mid_run_loses_nothing(
    ray_local: None, postgres_url: str, postgres_blink: Any
) -> None:
    """PostgreSQL restarts (fast shutdown, back 3 s later) while cells train: every cell is
    recorded exactly once, nothing is left RUNNING, and the run exits 0."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url, pool_pre_ping=True)
    blinked: list[int] = []

    def watch() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                with engine.connect() as conn:
                    done = conn.execute(
                        sa.text("SELECT count(*) FROM trials WHERE state = 'COMPLETE'")
                    ).scalar_one()
            except sa.exc.SQLAlchemyError:
                continue
            if done >= 2:
                engine.dispose()
                blinked.append(done)
                postgres_blink(3.0).join()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    report, _, err = run(postgres_url, "task.epochs=30", population=1)
    watcher.join()
    engine.dispose()
    assert blinked and blinked[0] < len(CELLS), "the restart came too late to test anything"
    assert report.exit_code == 0, err
    trials = optuna_trials(postgres_url)
    assert sorted(t.user_attrs["cell"] for t in trials) == sorted(CELLS)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert "Traceback" not in err and "[SQL" not in err
