"""Storage: trials as Optuna sees them, the tidy tables, claims between drivers — on SQLite and on
a real PostgreSQL."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import sqlalchemy as sa
from optuna.trial import TrialState

from hpsearch.errors import UserInputError
from hpsearch.recording import StoredState, TrialRecord
from hpsearch.storage import (
    CellClaims,
    GroupInfo,
    TrialWriter,
    check_group,
    finished_cells,
    list_study_groups,
    load_study_data,
    prepare_group,
)
from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS

SPACE = {"adam": {"lr": {"kind": "float", "low": 1e-3, "high": 1.0, "log": True}}}


def group(spec_hash: str = "h1") -> GroupInfo:
    return GroupInfo(
        name="g",
        spec={"name": "g", "task": {"name": "digits-mlp"}},
        spec_hash=spec_hash,
        metric="test_accuracy",
        direction="maximize",
        task="digits-mlp",
        num_classes=10,
        optimizers=SPACE,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def record(
    writer: TrialWriter,
    cell: str,
    lr: float,
    seed: int,
    accs: list[float],
    *,
    outcome: str = "completed",
    value: float | None = None,
    state: StoredState = "COMPLETE",
    error: str | None = None,
) -> None:
    rec = writer.start("adam", cell, {"lr": lr}, {"seed": seed, "optimizer": "adam", "fixed": {}})
    for epoch, acc in enumerate(accs, start=1):
        writer.add_epoch(rec, epoch, {"test_accuracy": acc, "train_loss": 1.0 / epoch})
    final = {"test_accuracy": accs[-1]} if accs else {}
    attrs = {
        "outcome": outcome,
        "seed": seed,
        "raw_value": accs[-1] if accs else math.nan,
        "floor": 0.1,
        "final": final,
        "error": error,
    }
    writer.finish(rec, TrialRecord(state, value if value is not None else accs[-1], attrs))


def test_trials_open_in_optuna_and_read_back_tidy(url: str) -> None:
    ids = prepare_group(url, group())
    writer = TrialWriter(url, ids, SPACE, "test_accuracy")
    record(writer, "adam:lr=0.001:seed=0", 1e-3, 0, [0.5, 0.9])
    record(writer, "adam:lr=1.0:seed=0", 1.0, 0, [0.1, float("nan")], outcome="diverged", value=0.1)
    rec = writer.start("adam", "adam:lr=1.0:seed=1", {"lr": 1.0}, {"seed": 1})
    writer.finish(
        rec,
        TrialRecord("FAIL", None, {"outcome": "error", "error": "RuntimeError: boom", "seed": 1}),
    )

    study = optuna.load_study(study_name="g.adam", storage=url)
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    assert trials[0].params == {"lr": 1e-3} and trials[0].value == 0.9
    assert trials[0].intermediate_values == {1: 0.5, 2: 0.9}
    assert trials[1].value == 0.1 and trials[1].user_attrs["outcome"] == "diverged"
    assert math.isnan(trials[1].intermediate_values[2])
    assert trials[2].user_attrs["error"] == "RuntimeError: boom"
    assert study.user_attrs["spec_hash"] == "h1"

    data = load_study_data(url, "g")
    assert list(data.trials.columns[: len(TRIAL_COLUMNS)]) == list(TRIAL_COLUMNS)
    assert list(data.curves.columns) == list(CURVE_COLUMNS)
    assert data.trials["outcome"].tolist() == ["completed", "diverged", "error"]
    assert data.trials["value"].iloc[1] == 0.1
    assert math.isnan(data.trials["raw_value"].iloc[1])  # "nan" survives the JSON round trip
    assert math.isnan(data.trials["value"].iloc[2])
    assert data.trials["error"].iloc[2] == "RuntimeError: boom"
    assert data.hyperparameters == {"adam": ["lr"]} and data.trials["lr"].tolist() == [
        1e-3,
        1.0,
        1.0,
    ]
    curve = data.curves[
        (data.curves["trial_number"] == 0) & (data.curves["metric"] == "test_accuracy")
    ]
    assert curve["epoch"].tolist() == [1, 2] and curve["value"].tolist() == [0.5, 0.9]
    assert data.direction == "maximize" and data.metric == "test_accuracy"
    assert finished_cells(url, ids.values()) == {"adam:lr=0.001:seed=0", "adam:lr=1.0:seed=0"}
    [summary] = list_study_groups(url)
    assert summary.name == "g" and summary.counts == {
        "completed": 1,
        "diverged": 1,
        "error": 1,
        "running": 0,
    }


def test_running_leftover_is_reused_not_duplicated(url: str) -> None:
    ids = prepare_group(url, group())
    writer = TrialWriter(url, ids, SPACE, "test_accuracy")
    first = writer.start("adam", "adam:lr=0.001:seed=0", {"lr": 1e-3}, {"seed": 0})
    # a new driver (new writer) picks the RUNNING trial of the same cell up
    again = TrialWriter(url, ids, SPACE, "test_accuracy").start(
        "adam", "adam:lr=0.001:seed=0", {"lr": 1e-3}, {"seed": 0}
    )
    assert again.trial_id == first.trial_id
    assert load_study_data(url, "g").trials["outcome"].tolist() == ["running"]


def test_a_retried_error_shows_its_latest_state(url: str) -> None:
    ids = prepare_group(url, group())
    writer = TrialWriter(url, ids, SPACE, "test_accuracy")
    rec = writer.start("adam", "adam:lr=0.001:seed=0", {"lr": 1e-3}, {"seed": 0})
    writer.finish(rec, TrialRecord("FAIL", None, {"outcome": "error"}))
    record(writer, "adam:lr=0.001:seed=0", 1e-3, 0, [0.8])
    trials = load_study_data(url, "g").trials
    assert trials["outcome"].tolist() == ["completed"] and trials["trial_number"].tolist() == [1]


def test_changed_spec_is_refused_without_force(url: str) -> None:
    prepare_group(url, group("h1"))
    with pytest.raises(UserInputError, match="different spec"):
        check_group(url, group("h2"))
    check_group(url, group("h2"), force=True)


def test_claims_are_exclusive_between_live_drivers(url: str) -> None:
    prepare_group(url, group())
    a, b = CellClaims(url), CellClaims(url)
    b.pid = os.getppid()  # b plays a driver in another live process on this host
    b.owner = f"{b.host}:{b.pid}:other"
    assert b.claim("g.adam", "c1")
    assert not a.claim("g.adam", "c1")
    assert a.claim("g.adam", "c2")
    b.release("g.adam", "c1")
    assert a.claim("g.adam", "c1")


def test_claim_of_a_dead_driver_is_taken_over(url: str) -> None:
    prepare_group(url, group())
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    ghost = CellClaims(url)
    ghost.pid = int(dead.stdout)
    ghost.owner = f"{ghost.host}:{ghost.pid}:ghost"
    assert ghost.claim("g.adam", "c1")
    assert CellClaims(url).claim("g.adam", "c1")


def test_claim_with_stale_heartbeat_on_another_host_is_taken_over(url: str) -> None:
    prepare_group(url, group())
    remote = CellClaims(url)
    remote.host, remote.owner = "elsewhere", "elsewhere:1:x"
    assert remote.claim("g.adam", "c1")
    assert not CellClaims(url).claim("g.adam", "c1")  # fresh heartbeat: alive
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE hpsearch_cell_claims SET heartbeat = :t"), {"t": time.time() - 3600}
        )
    engine.dispose()
    assert CellClaims(url).claim("g.adam", "c1")


def _wsgi_get(app: Any, path: str) -> tuple[str, bytes]:
    from wsgiref.util import setup_testing_defaults

    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body


def test_optuna_dashboard_opens_the_storage_unchanged(url: str) -> None:
    """Users keep a tool they know: optuna-dashboard's API serves our studies, diverged trials and
    non-finite curve values included, as JSON a browser accepts."""
    import json

    import optuna_dashboard

    ids = prepare_group(url, group())
    writer = TrialWriter(url, ids, SPACE, "test_accuracy")
    record(writer, "adam:lr=0.001:seed=0", 1e-3, 0, [0.5, 0.9])
    record(writer, "adam:lr=1.0:seed=0", 1.0, 0, [0.1, float("inf")], outcome="diverged", value=0.1)
    app = optuna_dashboard.wsgi(url)
    status, body = _wsgi_get(app, "/api/studies")
    assert status.startswith("200"), body[:500]
    studies = json.loads(body)["study_summaries"]
    assert [s["study_name"] for s in studies] == ["g.adam"]
    status, body = _wsgi_get(app, f"/api/studies/{studies[0]['study_id']}")
    assert status.startswith("200"), body[:500]

    def reject(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON: JSON.parse in a browser would fail")

    detail = json.loads(body.decode(), parse_constant=reject)
    assert len(detail["trials"]) == 2
    assert {t["state"] for t in detail["trials"]} == {"Complete"}


def test_a_driver_losing_the_race_to_create_the_claims_table_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two drivers starting together on PostgreSQL: the loser's CREATE fails on the duplicate
    type the winner just made (seen in the two-driver cluster test). It checks again instead of
    ending the run with a storage error."""
    from hpsearch.storage import cell_claims as storage

    real = storage._claims_meta.create_all
    calls: list[int] = []

    def racing(engine: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            real(engine, **kwargs)  # the winner's table appears ...
            raise sa.exc.IntegrityError("CREATE TABLE", {}, Exception("pg_type duplicate"))
        real(engine, **kwargs)

    monkeypatch.setattr(storage._claims_meta, "create_all", racing)
    claims = CellClaims(f"sqlite:///{tmp_path / 'race.db'}")
    assert len(calls) == 2 and claims.owner


def test_a_synthetic_study_stored_whole_reads_back_as_built(url: str) -> None:
    """The synthetic store writes a study's trials in one transaction per optimizer (on
    PostgreSQL too, where the new trials' ids come back from the insert): every trial's outcome,
    value, seed and curve reads back as built, with trial numbers continuing a study's own."""
    from hpsearch.analysis.synthetic import store_study, synthetic_study

    data = synthetic_study(
        {"adam": {"lr": [1e-3, 1e-1, 1.0]}, "sgd": {"lr": [1e-2, 1.0]}},
        lambda o, c: 0.9 - 0.1 * abs(math.log10(c["lr"]) + 2),
        seeds=(0, 1, 2),
        diverges=lambda o, c, s: c["lr"] > 0.5 and s > 0,
        name="whole",
        epochs=4,
        errors=2,
    )
    store_study(url, data)
    back = load_study_data(url, "whole")
    columns = ["optimizer", "cell", "seed", "outcome", "value", "lr"]
    built = data.trials[columns].sort_values("cell", ignore_index=True)
    read = back.trials[columns].sort_values("cell", ignore_index=True)
    pd.testing.assert_frame_equal(read, built, check_dtype=False)
    assert sorted(back.trials["trial_number"][back.trials["optimizer"] == "sgd"]) == list(range(6))
    assert len(back.curves) == len(data.curves)
