"""The driver's side of a run without a Ray cluster: the recorder through a database outage,
stopping on a signal, and Tune folders left by a killed driver."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hpsearch.recording import Scoring
from hpsearch.runner import group_info
from hpsearch.scheduling import CellStore
from hpsearch.scheduling.events import RunStop, TuneRecorder, make_recorder
from hpsearch.scheduling.progress import Progress
from hpsearch.scheduling.rounds import TUNE_DIR_PREFIX, _stop_on_signals, remove_stale_tune_dirs
from hpsearch.scheduling.searcher import cell_config
from hpsearch.spec import expand_cells, load_spec
from hpsearch.storage import CellClaims, TrialWriter, load_study_data, prepare_group
from hpsearch.trainable import MESSAGE_KEY

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"


def _recorder(
    url: str, *, retry: float, monkeypatch: pytest.MonkeyPatch
) -> tuple[TuneRecorder, RunStop, Any, list[str], io.StringIO]:
    """A recorder holding three claimed, started cells of one pack, as Tune leaves it mid-run."""
    spec = load_spec(SMOKE)
    cells = [c for c in expand_cells(spec) if c.optimizer == "adam"][:3]
    group = group_info(spec)
    ids = prepare_group(url, group)
    names = {opt: spec.study_name(opt) for opt in spec.optimizers}
    claims = CellClaims(url)
    for cell in cells:
        assert claims.claim(names[cell.optimizer], cell.key)
    stream = io.StringIO()
    monkeypatch.setenv("HPSEARCH_STORAGE_RETRY_SECONDS", str(retry))
    stop = RunStop()
    progress = Progress(total=len(cells), stream=stream)
    recorder = make_recorder(
        TrialWriter(url, ids, group.optimizers, spec.metric),
        CellStore(url, names, ids, claims),
        Scoring(spec.metric, "maximize", 10),
        ["test_accuracy"],
        progress=progress,
        stop=stop,
    )
    callback = TuneRecorder(recorder, progress)
    trial = SimpleNamespace(
        trial_id="t0",
        config={"cells": [cell_config(c) for c in cells]},
    )
    callback.on_trial_start(0, [], trial)
    return callback, stop, trial, [c.key for c in cells], stream


def _results(keys: list[str]) -> dict[str, Any]:
    result = {
        "outcome": "completed",
        "epochs": [{"test_accuracy": 0.5}, {"test_accuracy": 0.9}],
        "final": {"test_accuracy": 0.9},
        "initial": {"test_accuracy": 0.1},
        "wall_seconds": 1.0,
        "device": "cpu",
    }
    return {MESSAGE_KEY: json.dumps({"results": {key: result for key in keys}})}


@pytest.mark.postgres
def test_the_recorder_rides_out_a_postgresql_restart(
    postgres_url: str,
    postgres_blink: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three cells finish while PostgreSQL restarts: all three are recorded once it is back,
    with one line saying so and no traceback."""
    callback, stop, trial, keys, stream = _recorder(
        postgres_url, retry=60.0, monkeypatch=monkeypatch
    )
    back = postgres_blink(3.0)  # pooled connections now point at a dead server
    with caplog.at_level(logging.WARNING):
        callback.on_trial_result(1, [], trial, _results(keys))
        callback.on_step(2, [])
    back.join()
    recorder = callback.recorder
    assert recorder.errors == [] and stop.reason is None
    assert recorder.recorded == set(keys)
    trials = load_study_data(postgres_url, "smoke").trials
    assert sorted(trials["cell"]) == sorted(keys)
    assert set(trials["outcome"]) == {"completed"}
    text = stream.getvalue()
    assert text.count("storage unreachable") == 1 and "storage reachable again" in text
    assert "Traceback" not in caplog.text and "[SQL" not in text


@pytest.mark.postgres
def test_a_database_down_past_the_bound_stops_the_run_with_one_line(
    postgres_url: str,
    postgres_blink: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    callback, stop, trial, keys, stream = _recorder(
        postgres_url, retry=2.0, monkeypatch=monkeypatch
    )
    postgres_blink(8.0)
    with caplog.at_level(logging.WARNING):
        callback.on_trial_result(1, [], trial, _results(keys))
        callback.on_trial_complete(2, [], trial)
    recorder = callback.recorder
    assert stop.reason == "storage" and stop.stop_all()
    assert recorder.lost and recorder.unrecorded == 3 and recorder.recorded == set()
    assert "Traceback" not in caplog.text
    assert stream.getvalue().count("storage unreachable") == 1


def test_stale_tune_folders_of_dead_drivers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f"{TUNE_DIR_PREFIX}{dead.stdout.strip()}-abc"
    mine = tmp_path / f"{TUNE_DIR_PREFIX}{os.getpid()}-def"
    live = tmp_path / f"{TUNE_DIR_PREFIX}{os.getppid()}-ghi"
    other = tmp_path / "hpsearch-tune-legacy"
    for folder in (stale, mine, live, other):
        (folder / "hpsearch").mkdir(parents=True)
    assert remove_stale_tune_dirs(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and mine.exists() and live.exists() and other.exists()
    assert tempfile.gettempdir()  # the default root


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_asks_the_run_to_stop_and_a_second_one_stops_at_once(sig: int) -> None:
    stop, stream = RunStop(), io.StringIO()
    before = signal.getsignal(sig)
    restore = _stop_on_signals(stop, stream)
    try:
        os.kill(os.getpid(), sig)
        assert stop.reason == signal.Signals(sig).name and stop.stop_all()
        assert "stopping" in stream.getvalue()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
    finally:
        restore()
    assert signal.getsignal(sig) == before


def test_the_eta_waits_for_a_measured_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up (Ray workers importing torch) must not make the first ETA hours long."""
    import hpsearch.scheduling.progress as progress_module

    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    progress = Progress(total=10, stream=stream)
    clock[0] = 100.0  # the first two cells finish together, 100 s after launch
    progress.update("adam", "completed")
    progress.update("adam", "completed")
    clock[0] = 110.0  # two more 10 s later: 0.2 cells/s, 6 left
    progress.update("adam", "completed")
    progress.update("adam", "diverged")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("ETA --:--") and lines[1].endswith("ETA --:--")
    assert lines[-1].endswith("ETA 0:00:30"), lines[-1]


@pytest.mark.ray
def test_ray_messages_go_to_a_log_file_not_the_terminal(
    ray_local: None, capfd: pytest.CaptureFixture[str]
) -> None:
    import hpsearch.scheduling as scheduling

    path = Path(scheduling.ray_log_path())
    message = "process_trial_result operation took 0.630 s, which may be a performance bottleneck"
    logging.getLogger("ray.tune.execution.tune_controller").warning(message)
    logging.getLogger("ray").warning("Token authentication is enabled for this Ray cluster.")
    for handler in logging.getLogger("ray").handlers:
        handler.flush()
    captured = capfd.readouterr()
    assert message not in captured.err + captured.out
    assert "Token authentication" not in captured.err + captured.out
    text = path.read_text()
    assert message in text and "Token authentication" in text


def test_the_ray_log_lies_in_a_private_directory_no_symlink_can_redirect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another local user cannot plant a link where the log is opened for appending: the
    default log lies in a directory this process created, mode 0700, under a fresh name."""
    import stat

    import hpsearch.scheduling.ray_runtime as scheduling

    monkeypatch.delenv(scheduling.RAY_LOG_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(scheduling, "_private_log_dirs", {})
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    # Where the log used to go: a name anyone could predict and link.
    (tmp_path / f"hpsearch-ray-{os.getpid()}.log").symlink_to(victim)
    path = Path(scheduling.ray_log_path())
    assert path == Path(scheduling.ray_log_path())  # one file for the whole run
    folder = path.parent
    assert folder.parent == tmp_path and folder.name.startswith(f"hpsearch-ray-{os.getpid()}-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.getuid()
    with scheduling._stderr_to(str(path)):
        os.write(2, b"a line of Ray's\n")
    assert path.read_text() == "a line of Ray's\n" and victim.read_text() == "untouched"
