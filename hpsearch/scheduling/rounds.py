"""The run loop: rounds of Tune fits over the missing cells, until none is left or a stop.

A round is one `Tuner.fit` whose `CellSearcher` hands out the cells this driver can claim; cells
another live driver holds are waited for between rounds (finished there → dropped; owner dead →
taken over in the next round). So two drivers on one spec end with every cell run exactly once.

Stopping: SIGINT and SIGTERM set a `RunStop` that Tune polls every step; running trials are
stopped, results already in are recorded, interrupted cells stay RUNNING in the database for the
next run to take over, and `run_cells` returns normally so the caller can print its summary.
Tune folders of drivers that died without cleaning up are removed at the start of a run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ray import tune

from hpsearch.recording import Scoring
from hpsearch.scheduling.events import RunStop, TuneRecorder, make_recorder
from hpsearch.scheduling.progress import Progress
from hpsearch.scheduling.ray_runtime import cluster_cpus, cluster_gpus
from hpsearch.scheduling.searcher import CellSearcher
from hpsearch.scheduling.store import CellStore
from hpsearch.spec import Cell
from hpsearch.storage import TrialWriter, pid_alive, storage_reason, with_retries
from hpsearch.trainable import train_cells

log = logging.getLogger(__name__)
# Tune's end-of-run analysis looks for the per-trial result files we turn off; the database is
# the record, so its "Failed to fetch metrics" warning is noise.
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)


@dataclass
class ScheduleResult:
    """What `run_cells` did (over all its rounds)."""

    recorded: int
    recorder_errors: list[str]
    seconds: float
    stopped: str | None = None  # "SIGINT", "SIGTERM" or "storage" when the run was cut short
    lost: str | None = None  # why the database was given up on
    unrecorded: int = 0  # results that arrived but could not be written


def run_cells(
    cells: Sequence[Cell],
    *,
    store: CellStore,
    writer: TrialWriter,
    scoring: Scoring,
    task: Mapping[str, Any],
    metrics: Sequence[str],
    max_concurrent: int | None = None,
    gpus_per_trial: float | None = None,
    max_failures: int = 3,
    progress_stream: Any = None,
    faults: Mapping[str, str] | None = None,
    population: Mapping[str, int] | None = None,
    poll_seconds: float = 2.0,
    label: str = "",
) -> ScheduleResult:
    """Run `cells` on the connected Ray cluster (call `start_ray` first); `population` maps an
    optimizer to the most cells one trial trains at once (absent or 1: one cell per trial);
    `label` heads the progress line (a sequential study's look)."""
    started = time.perf_counter()
    gpus = cluster_gpus()
    if gpus_per_trial is None:
        gpus_per_trial = 1.0 if gpus > 0 else 0.0
    if gpus_per_trial > 0 and gpus <= 0:
        gpus_per_trial = 0.0  # a GPU request on a GPU-less cluster would stay PENDING forever
    concurrency = max_concurrent or cluster_cpus()
    base = {
        "task": dict(task),
        "device": "cuda" if gpus_per_trial > 0 else "cpu",
        "threads": 1,
        "faults": dict(faults or {}),
    }
    progress = Progress(total=len(cells), stream=progress_stream, label=label)
    stop = RunStop()
    recorder = make_recorder(writer, store, scoring, metrics, progress=progress, stop=stop)
    trainable = tune.with_resources(train_cells, {"cpu": 1, "gpu": gpus_per_trial})
    remove_stale_tune_dirs()
    pending = list(cells)
    restore_signals = _stop_on_signals(stop, progress_stream or sys.stderr)
    try:
        _rounds(
            pending,
            trainable=trainable,
            callback=TuneRecorder(recorder, progress),
            stop=stop,
            store=store,
            base=base,
            population=population,
            concurrency=concurrency,
            max_failures=max_failures,
            poll_seconds=poll_seconds,
        )
    finally:
        restore_signals()
    return ScheduleResult(
        recorded=len(recorder.recorded),
        recorder_errors=recorder.errors,
        seconds=time.perf_counter() - started,
        stopped=stop.reason,
        lost=recorder.lost,
        unrecorded=recorder.unrecorded,
    )


def _rounds(
    pending: list[Cell],
    *,
    trainable: Any,
    callback: TuneRecorder,
    stop: RunStop,
    store: CellStore,
    base: Mapping[str, Any],
    population: Mapping[str, int] | None,
    concurrency: int,
    max_failures: int,
    poll_seconds: float,
) -> None:
    """One Tune fit per round until no cell is left (see `_await_other_drivers`) or a stop."""
    while pending and stop.reason is None:
        searcher = CellSearcher(pending, store=store, base_config=base, population=population)
        with tempfile.TemporaryDirectory(prefix=f"{TUNE_DIR_PREFIX}{os.getpid()}-") as tmp:
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    num_samples=len(pending),  # an upper bound: packs take fewer
                    max_concurrent_trials=concurrency,
                    reuse_actors=True,
                    trial_dirname_creator=_trial_dirname,
                ),
                run_config=tune.RunConfig(
                    storage_path=tmp,
                    name="hpsearch",
                    verbose=0,
                    callbacks=[callback],
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
                    stop=stop,
                ),
            )
            try:
                tuner.fit()
            finally:
                try:
                    store.claims.release_all()
                except Exception as error:  # a lost database: the claims go stale by themselves
                    log.debug("releasing claims failed: %s", storage_reason(error))
        if stop.reason is not None:
            return
        pending = with_retries(  # a database restart here must not end the run either
            partial(_await_other_drivers, searcher.deferred, store, poll_seconds=poll_seconds),
            seconds=callback.recorder.retry_seconds,
        )


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)  # the default spells the whole config into the path


TUNE_DIR_PREFIX = "hpsearch-tune-"  # + the driver's pid: a dead driver's folder can be removed


def remove_stale_tune_dirs(root: str | None = None) -> list[str]:
    """Remove Tune folders of drivers that died without cleaning up (SIGKILL, a lost machine);
    returns them. A folder belongs to `hpsearch-tune-PID-...`; a live PID keeps its folder."""

    removed = []
    root = root or tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if not entry.name.startswith(TUNE_DIR_PREFIX) or not entry.is_dir(
                follow_symlinks=False
            ):
                continue
            pid = entry.name[len(TUNE_DIR_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
    return removed


def _stop_on_signals(stop: RunStop, stream: Any) -> Callable[[], None]:
    """SIGINT and SIGTERM stop the run cleanly (a second one stops at once); returns the
    function that puts the previous handlers back. Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if stop.reason in ("SIGINT", "SIGTERM"):
            restore()
            raise KeyboardInterrupt  # asked twice: stop now
        stop.request(name)
        stream.write(
            f"\n{name}: stopping; finished cells are kept, cells in training will run again "
            "next time (send it again to stop at once)\n"
        )
        stream.flush()

    for sig in signals:
        signal.signal(sig, handler)
    return restore


def _await_other_drivers(
    held: Sequence[Cell], store: CellStore, *, poll_seconds: float
) -> list[Cell]:
    """Wait until cells held by other drivers are finished there (→ dropped) or their owner
    died (→ returned, for another round here). Holds no Ray resources while it waits."""
    waiting = list(held)
    while waiting:
        orphaned: list[Cell] = []
        still: list[Cell] = []
        for cell in waiting:
            if store.is_finished(cell):
                continue
            if store.claim(cell):  # takeable: its owner is gone
                store.release(cell)  # the next round's searcher claims it again
                orphaned.append(cell)
            else:
                still.append(cell)
        if orphaned:
            return orphaned + still
        waiting = still
        if waiting:
            time.sleep(poll_seconds)
    return []
