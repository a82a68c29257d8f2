"""Both ways into Optuna's trials store the same thing: SQL on its tables (the fast path, used on
the Optuna versions it was tested on) and its public storage API (everywhere else).

The same cells are written by a run's writer and by the synthetic store, once each way, and what
`optuna.load_study` returns must be equal field by field; `load_study_data` must then read the
same tidy tables back, whichever way it reads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from hpsearch.analysis.synthetic import store_study, synthetic_study
from hpsearch.recording import Scoring, TrialRecord, score_result
from hpsearch.storage import (
    GroupInfo,
    TrialWriter,
    close_storages,
    finished_cells,
    is_cell_finished,
    load_study_data,
    prepare_group,
)
from hpsearch.storage.backends import TABLES_ENV, reader_access, writer_access
from hpsearch.storage.connection import read_engine
from hpsearch.storage.optuna_api import ApiAccess
from hpsearch.storage.optuna_tables import TableAccess, supported

SPACE = {"adam": {"lr": {"kind": "float", "low": 1e-4, "high": 1.0, "log": True}}}
GROUP = GroupInfo("paths", {"name": "paths"}, "h", "test_accuracy", "maximize", "x", 10, SPACE)
SCORING = Scoring("test_accuracy", "maximize", 10)
VERSIONS = {"hpsearch_version": "test", "torch_version": "test"}


def _result(outcome: str, accs: list[float], **extra: Any) -> dict[str, Any]:
    epochs = [{"test_accuracy": a, "train_loss": 1.0 / (i + 1)} for i, a in enumerate(accs)]
    return {
        "outcome": outcome,
        "epochs": epochs,
        "final": epochs[-1] if epochs else {},
        "initial": {"test_accuracy": 0.1, "train_loss": 2.3},
        "wall_seconds": 1.5,
        "device": "cpu",
        **extra,
    }


def _run_like(url: str) -> None:
    """A run's writes: live flushes, a completed, a diverged (NaN, inf), a failed, a running
    cell, and a RUNNING leftover taken over by a second writer."""
    ids = prepare_group(url, GROUP)
    writer = TrialWriter(url, ids, SPACE, "test_accuracy")
    start = {"optimizer": "adam", "fixed": {"beta1": 0.9}}

    done = writer.start("adam", "adam|lr=0.001|seed=0", {"lr": 1e-3}, {"seed": 0, **start})
    for epoch, acc in enumerate([0.3, 0.6, 0.8], start=1):
        writer.add_epoch(
            done, epoch, {"test_accuracy": acc, "train_loss": 1.0 / epoch}, flush_every=0
        )
    writer.finish(
        done, score_result(SCORING, 0, _result("completed", [0.3, 0.6, 0.8, 0.9]), VERSIONS)
    )

    bad = writer.start("adam", "adam|lr=1|seed=0", {"lr": 1.0}, {"seed": 0, **start})
    writer.add_epoch(bad, 1, {"test_accuracy": 0.1, "train_loss": math.inf}, flush_every=0)
    diverged = _result(
        "diverged", [0.1, math.nan], diverged_epoch=2, divergence_reason="non-finite loss"
    )
    writer.finish(bad, score_result(SCORING, 0, diverged, VERSIONS))

    failed = writer.start("adam", "adam|lr=0.01|seed=0", {"lr": 1e-2}, {"seed": 0, **start})
    error = {"outcome": "error", "error": "RuntimeError: boom"}
    writer.finish(failed, score_result(SCORING, 0, error, VERSIONS))
    writer.finish(failed, TrialRecord("COMPLETE", 0.5, {"outcome": "completed"}))  # refused

    writer.start("adam", "adam|lr=0.1|seed=0", {"lr": 0.1}, {"seed": 0, **start})
    taken = TrialWriter(url, ids, SPACE, "test_accuracy").start(
        "adam", "adam|lr=0.1|seed=0", {"lr": 0.1}, {"seed": 0, **start}
    )
    assert taken.reused
    writer.add_epoch(taken, 1, {"test_accuracy": 0.4}, flush_every=0)

    # A pack's cells start together; a RUNNING leftover among them is taken over, in place.
    pack = [(f"adam|lr={lr}|seed=1", {"lr": lr}, {"seed": 1, **start}) for lr in (1e-3, 0.1, 1.0)]
    writer.start("adam", *pack[1])
    records = TrialWriter(url, ids, SPACE, "test_accuracy").start_cells("adam", pack)
    assert [r.reused for r in records] == [False, True, False]
    assert len({r.trial_id for r in records}) == 3
    writer.finish(records[2], score_result(SCORING, 1, _result("completed", [0.2, 0.5]), VERSIONS))


def _synthetic(url: str) -> None:
    data = synthetic_study(
        {"adam": {"lr": [1e-3, 1e-1, 1.0]}},
        lambda o, c: 0.9 - 0.1 * abs(math.log10(c["lr"]) + 2),
        seeds=(0, 1),
        diverges=lambda o, c, s: c["lr"] > 0.5,
        name="synth",
        epochs=3,
        errors=1,
    )
    store_study(url, data)


def _optuna_view(url: str, name: str) -> list[dict[str, Any]]:
    trials = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    return [
        {
            "number": t.number,
            "state": t.state,
            "values": t.values,
            "params": t.params,
            "distributions": t.distributions,
            "intermediate_values": {k: _nan_safe(v) for k, v in t.intermediate_values.items()},
            "user_attrs": t.user_attrs,
        }
        for t in trials
    ]


def _nan_safe(value: float) -> Any:
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def _both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Any) -> dict[str, str]:
    urls = {}
    for way, flag in (("tables", "1"), ("api", "0")):
        monkeypatch.setenv(TABLES_ENV, flag)
        urls[way] = f"sqlite:///{tmp_path / f'{way}.db'}"
        write(urls[way])
        expected = TableAccess if way == "tables" else ApiAccess
        assert isinstance(writer_access(urls[way]), expected)
    close_storages()
    return urls


pytestmark = pytest.mark.skipif(not supported(), reason="this Optuna's tables are not tested")


def test_a_run_stores_the_same_trials_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = _both_ways(tmp_path, monkeypatch, _run_like)
    tables, api = (_optuna_view(urls[w], "paths.adam") for w in ("tables", "api"))
    states = [t["state"].name for t in tables]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "RUNNING", "RUNNING", "RUNNING", "COMPLETE"]
    assert [t["number"] for t in tables] == list(range(7))
    assert tables[6]["params"] == {"lr": 1.0} and tables[6]["user_attrs"]["seed"] == 1
    assert tables[0]["intermediate_values"] == {1: 0.3, 2: 0.6, 3: 0.8, 4: 0.9}
    assert tables[1]["values"] == [0.1] and tables[1]["user_attrs"]["raw_value"] == "nan"
    assert tables[2]["user_attrs"]["error"] == "RuntimeError: boom"  # the refusal left it
    assert tables[3]["intermediate_values"] == {1: 0.4}
    assert tables == api


def test_the_synthetic_store_writes_the_same_trials_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = _both_ways(tmp_path, monkeypatch, _synthetic)
    tables, api = (_optuna_view(urls[w], "synth.adam") for w in ("tables", "api"))
    assert len(tables) == 6 and tables[0]["state"].name == "FAIL"
    assert tables == api


@pytest.mark.parametrize("write", [_run_like, _synthetic], ids=["run", "synthetic"])
def test_both_readers_give_the_same_tidy_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    write(url)
    name = "paths" if write is _run_like else "synth"
    ids = list(prepare_group(url, GROUP).values()) if write is _run_like else None
    read = {}
    for way, flag in (("tables", "1"), ("api", "0")):
        close_storages()
        monkeypatch.setenv(TABLES_ENV, flag)
        engine = read_engine(url)
        assert engine is not None
        expected = TableAccess if way == "tables" else ApiAccess
        assert isinstance(reader_access(url, engine), expected)
        read[way] = load_study_data(url, name)
        if ids is not None:
            read[way + " finished"] = finished_cells(url, ids)  # type: ignore[assignment]
            assert is_cell_finished(url, ids[0], "adam|lr=0.001|seed=0")
            assert not is_cell_finished(url, ids[0], "adam|lr=0.01|seed=0")
    pd.testing.assert_frame_equal(read["tables"].trials, read["api"].trials)
    pd.testing.assert_frame_equal(read["tables"].curves, read["api"].curves)
    assert read["tables"].hyperparameters == read["api"].hyperparameters
    assert read["tables"].spec == read["api"].spec
    assert len(read["tables"].trials) == (7 if ids else 6)
    if ids is not None:
        assert (
            read["tables finished"]
            == read["api finished"]
            == {  # type: ignore[comparison-overlap]
                "adam|lr=0.001|seed=0",
                "adam|lr=1|seed=0",
                "adam|lr=1.0|seed=1",
            }
        )


def test_an_untested_optuna_version_takes_the_public_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    prepare_group(url, GROUP)
    monkeypatch.setattr(optuna, "__version__", "6.0.0")
    assert isinstance(writer_access(url), ApiAccess)
    monkeypatch.setattr(optuna, "__version__", "5.1.3")
    assert isinstance(writer_access(url), TableAccess)
