"""A sequential study end to end (real local Ray, SQLite, the digits MLP): a driver SIGKILLed in
the middle of look 2 resumes at look 2 with no cell lost or run twice, look 1's stored decision
untouched; the finished study runs nothing more; another schedule is refused."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import kill_session

from hpsearch.errors import UserInputError
from hpsearch.runner import run_study
from hpsearch.sequential import read_state
from hpsearch.storage import group_attrs

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"
# Two looks (2 then 4 seeds); look 1 spends so little α that its claims stay open, so look 2
# runs; 10 epochs and one cell per trial give the kill a look 2 to land in.
SEQUENTIAL = (
    "run.seeds={looks = [2, 4], split = [0.01, 0.99]}",
    "claims.min_seeds=2",
    "task.epochs=10",
)

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_sigkilled_sequential_run_resumes_at_the_same_look(
    ray_local: None, tmp_path: Path
) -> None:
    db = tmp_path / "seq.db"
    url = f"sqlite:///{db}"
    sets = [a for o in SEQUENTIAL for a in ("--set", o)]
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            str(SMOKE),
            "--storage",
            url,
            *sets,
            "--population=1",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.1)
            look_1 = _count(
                db, "SELECT count(*) FROM study_user_attributes WHERE key = 'sequential_look_1'"
            )
            if look_1 and _count(db, "SELECT count(*) FROM trials") > 10:
                break  # look 1 decided and stored, a cell of look 2 under way
        assert driver.poll() is None, "the driver finished before it could be killed"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        kill_session(driver.pid)  # its raylet, GCS and workers, by pid

    state = read_state(group_attrs(url, "smoke"))
    assert state is not None and state.decided == 1 and state.current == 2
    look_1 = dict(state.looks[0])
    assert look_1["open_optimizers"]

    out, err = io.StringIO(), io.StringIO()
    report = run_study(SMOKE, storage=url, overrides=SEQUENTIAL, population=1, out=out, err=err)
    assert report.exit_code == 0, err.getvalue()
    assert "look 2 of 2" in err.getvalue() and "look 1 of 2" not in err.getvalue()
    state = read_state(group_attrs(url, "smoke"))
    assert state is not None and state.decided == 2 and state.ended is not None
    assert state.looks[0] == look_1  # a decided look is never decided again
    final = state.final()
    assert all(final[claim] == (look_1["results"][claim], 1) for claim in look_1["final"])
    # Exactly one trial per cell: every cell of look 1, and seeds 0-3 of look 1's open
    # optimizers; none lost, none twice.
    trials = [
        t
        for opt in ("adabound", "adam", "sgd")
        for t in optuna.load_study(study_name=f"smoke.{opt}", storage=url).trials
    ]
    cells = [t.user_attrs["cell"] for t in trials]
    assert len(cells) == len(set(cells)) == report.total
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    open_optimizers = set(look_1["open_optimizers"])
    for key in cells:
        optimizer, seed = key.split(":")[0], int(key.rsplit("=", 1)[1])
        assert seed < 2 or (optimizer in open_optimizers and seed < 4), key
    assert (
        sum(key.startswith("adam:") for key in cells) == (4 if "adam" in open_optimizers else 2) * 2
    )
    assert "sequential: look 2 of 2" not in out.getvalue()  # the state line goes to stderr

    # Finished: the same command runs nothing; another schedule is refused, --force or not.
    again = run_study(
        SMOKE, storage=url, overrides=SEQUENTIAL, out=io.StringIO(), err=io.StringIO()
    )
    assert again.exit_code == 0 and again.run_seconds == 0
    other = (*SEQUENTIAL[1:], "run.seeds={looks = [2, 3]}")
    for force in (False, True):
        with pytest.raises(UserInputError, match="fixed before the first trial"):
            run_study(SMOKE, storage=url, overrides=other, force=force, err=io.StringIO())
