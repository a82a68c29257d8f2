"""Ray Tune scheduling, the driver's side: with `hpsearch.trainable` (the workers' side, which
trains a trial's cells and reports them in one message shape, `MESSAGE_KEY`) the only modules
that import Ray.

Two parts:
- `CellSearcher.suggest` claims the next missing cell in storage (so concurrent drivers share
  the work) and returns `FINISHED` when none is left.
- `TuneRecorder` (a `tune.Callback`) turns Tune's trial events into calls on the run's single
  writer, `hpsearch.recorder.RunRecorder`, and never raises into Ray: an exception in a
  callback would abort the whole `fit()`.

Stopping: SIGINT and SIGTERM set a `RunStop` that Tune polls every step; running trials are
stopped, results already in are recorded, interrupted cells stay RUNNING in the database for the
next run to take over, and `run_cells` returns normally so the caller can print its summary.

Everything is keyed by cell key and a trial's config carries a list of cells, so a pack of
cells in one Ray trial (population runs) only needs a trainable that reports per cell.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TBX per trial
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", "8")
# Tune snapshots its experiment state for `Tuner.restore`, which we never use (the database is
# the record and resume works per cell): work on the driver's loop that buys nothing.
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1000000")
# Our own SIGINT handler stops the run; Tune's would end with a `Tuner.restore` hint that is not
# how hpsearch resumes (the same command again does).
os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")

import ray
from ray import tune
from ray.tune.search import Searcher

from hpsearch.errors import ClusterError
from hpsearch.recorder import RunRecorder
from hpsearch.recording import Scoring
from hpsearch.spec import Cell
from hpsearch.storage import (
    CellClaims,
    TrialWriter,
    is_cell_finished,
    is_unreachable,
    pid_alive,
    retry_seconds,
    storage_reason,
    with_retries,
)
from hpsearch.trainable import MESSAGE_KEY, train_cells

log = logging.getLogger(__name__)
# Tune's end-of-run analysis looks for the per-trial result files we turn off; the database is
# the record, so its "Failed to fetch metrics" warning is noise.
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)

# --- Ray lifecycle ----------------------------------------------------------------------------


RAY_LOG_ENV = "HPSEARCH_RAY_LOG"


_private_log_dirs: dict[int, str] = {}  # process id -> its private directory for the Ray log


def ray_log_path() -> str:
    """Where Ray's own messages go: `$HPSEARCH_RAY_LOG`, else `ray.log` in a directory of the
    temporary directory that this process created for itself (`mkdtemp`: a new name, mode
    0700), so no other local user can plant a symlink where the log is opened for appending.
    Not the terminal, where Ray's messages would break the progress line."""
    chosen = os.environ.get(RAY_LOG_ENV)
    if chosen:
        return chosen
    pid = os.getpid()  # a forked child gets its own directory
    if pid not in _private_log_dirs:
        _private_log_dirs[pid] = tempfile.mkdtemp(prefix=f"hpsearch-ray-{pid}-")
    return os.path.join(_private_log_dirs[pid], "ray.log")


def send_ray_logs_to_file(path: str | None = None) -> str:
    """Send Ray's log records to a file (created at the first message); returns its path.

    `ray.init(configure_logging=False)` empties the `ray` logger's handlers, so records would
    fall through to Python's last-resort stderr handler. The handler therefore also sits on
    every `ray.<submodule>` logger (where Ray's messages are logged), none propagating."""
    import pkgutil

    path = path or ray_log_path()
    handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    names = ["ray", *(f"ray.{m.name}" for m in pkgutil.iter_modules(ray.__path__))]
    for name in names:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if name == "ray" or getattr(old, "hpsearch_ray_log", False):
                logger.removeHandler(old)  # Ray's stderr handler, or ours from an earlier call
                if getattr(old, "hpsearch_ray_log", False):
                    old.close()
        handler.hpsearch_ray_log = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger("ray").setLevel(logging.INFO)
    return path


def start_ray(address: str | None = None, *, num_cpus: int | None = None) -> float:
    """Connect to `address` or start a local Ray (reused if this process has one); seconds.

    Ray's log messages go to `ray_log_path()` (set up before `ray.init`, which already warns)."""
    started = time.perf_counter()
    if not ray.is_initialized():
        send_ray_logs_to_file()
        kwargs: dict[str, Any] = {
            "log_to_driver": False,
            "include_dashboard": False,
            "configure_logging": False,  # keep our handler: nothing of Ray's on the terminal
        }
        if address:
            kwargs["address"] = address
        elif num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        log_path = ray_log_path()
        offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        try:
            # Ray's C++ client prints its retries straight to file descriptor 2 (a refused token
            # is one line a second for a minute): into the log file with the rest.
            with _stderr_to(log_path):
                ray.init(**kwargs)
        except Exception as error:
            if not address:
                raise
            with open(log_path, "rb") as log_file:
                log_file.seek(offset)
                said = log_file.read().decode(errors="replace")
            raise ClusterError(_join_failure(address, error, said)) from error
        send_ray_logs_to_file()  # `ray.init` emptied the `ray` logger: give it the file again
    return time.perf_counter() - started


@contextlib.contextmanager
def _stderr_to(path: str) -> Iterator[None]:
    """File descriptor 2 appends to `path` inside the block (C++ code bypasses `sys.stderr`)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as target:
            os.dup2(target.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _join_failure(address: str, error: BaseException, said: str = "") -> str:
    """One line for a cluster that refused us: what to set when it is the auth token (which
    Ray's client only names in what it printed, `said`)."""
    text = f"{type(error).__name__}: {error}\n{said}".lower()
    if "invalidauthtoken" in text or "unauthenticated" in text or "auth token" in text:
        return (
            f"Cannot join the Ray cluster at {address}: it uses token authentication and this "
            "process has no valid token. Set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the "
            "cluster's token (the RAY_AUTH_TOKEN of its .env; `ray get-auth-token` on the head "
            "prints it), then run the same command again."
        )
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return (
        f"Cannot join the Ray cluster at {address}: {first or type(error).__name__}. Check the "
        "address (HOST:PORT of the head, 6379 by default) and that `ray status` works there."
    )


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus() -> float:
    return float(ray.cluster_resources().get("GPU", 0.0))


def stop_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()


# --- the searcher: claims cells -----------------------------------------------------------------


def cell_config(cell: Cell) -> dict[str, Any]:
    return {
        "key": cell.key,
        "optimizer": cell.optimizer,
        "hyperparameters": dict(cell.hyperparameters()),
        "params": dict(cell.params),
        "fixed": dict(cell.fixed),
        "seed": cell.seed,
    }


class CellSearcher(Searcher):
    """Hands Tune one claimed, unfinished cell per suggestion.

    Cells a live driver holds are deferred; when nothing else is left the search finishes and
    `run_cells` waits for them: finished there → dropped; owner dead → taken over in another
    round. So two drivers on one spec end with every cell run exactly once.
    """

    def __init__(
        self,
        cells: Sequence[Cell],
        *,
        claims: CellClaims,
        url: str,
        study_names: Mapping[str, str],
        study_ids: Mapping[str, int],
        base_config: Mapping[str, Any],
        population: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self._population = dict(population or {})  # optimizer -> most cells per trial
        self._queue: deque[Cell] = deque(cells)
        self._deferred: list[Cell] = []
        self._claims = claims
        self._url = url
        self._names = dict(study_names)
        self._ids = dict(study_ids)
        self._base = dict(base_config)
        self.skipped_finished = 0  # finished by another driver meanwhile

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its searcher and callbacks for `Tuner.restore`, which we never use (the
        # database is the record); engines and locks don't pickle.
        return {}

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        return True

    def _take(self, cell: Cell) -> bool | None:
        """True: ours to run; False: finished elsewhere; None: a live driver holds it."""
        study = self._names[cell.optimizer]
        if not self._claims.claim(study, cell.key):
            return None
        if is_cell_finished(self._url, self._ids[cell.optimizer], cell.key):
            self._claims.release(study, cell.key)
            self.skipped_finished += 1
            return False
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        try:
            while self._queue:
                cell = self._queue.popleft()
                taken = self._take(cell)
                if taken:
                    return self._pack(cell)
                if taken is None:
                    self._deferred.append(cell)
            # Only cells another live driver holds are left, or none: end this fit, so its idle
            # cached workers give their CPUs back (the other driver may be waiting for them on a
            # shared cluster). `run_cells` waits for those cells and takes over any whose owner
            # died.
            return Searcher.FINISHED
        except Exception as error:  # a database hiccup: try again on Tune's next call
            if not is_unreachable(error):
                log.exception("claiming a cell failed; retrying")
            return None

    def _pack(self, first: Cell) -> dict[str, Any]:
        """A trial config for `first` plus up to K-1 more queued cells of its optimizer."""
        size = self._population.get(first.optimizer, 1)
        pack = [first]
        if size > 1:
            rest: deque[Cell] = deque()
            while self._queue and len(pack) < size:
                cell = self._queue.popleft()
                if cell.optimizer != first.optimizer:
                    rest.append(cell)
                    continue
                taken = self._take(cell)
                if taken:
                    pack.append(cell)
                elif taken is None:
                    self._deferred.append(cell)
            self._queue.extendleft(reversed(rest))
        return {**self._base, "population": size, "cells": [cell_config(c) for c in pack]}

    @property
    def deferred(self) -> list[Cell]:
        """Cells a live driver held when this searcher last looked."""
        return list(self._deferred)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:  # the database is the checkpoint
        with open(checkpoint_path, "w") as handle:
            handle.write("{}")

    def restore(self, checkpoint_path: str) -> None:
        pass


# --- progress ----------------------------------------------------------------------------------


@dataclass
class Progress:
    """Cells done / total, diverged, failed and an ETA, on stderr."""

    total: int
    done: int = 0
    diverged: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    stream: Any = None
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # optimizer -> counts
    # The ETA is measured from the first cells to finish on, so start-up (Ray workers importing
    # torch, the first batch in flight) does not inflate it; until then it shows `--:--`.
    first_time: float | None = None
    first_done: int = 0
    training: bool = False

    def trial_started(self) -> None:
        """Say once that training has begun (start-up is otherwise silent for seconds)."""
        if self.training:
            return
        self.training = True
        stream = self.stream or sys.stderr
        stream.write(
            f"training: the first trial started {time.monotonic() - self.started:.0f} s after "
            "launch; progress appears as cells finish\n"
        )
        stream.flush()

    def eta(self, now: float) -> float:
        """Seconds left at the rate measured since the first cells finished (NaN before)."""
        if self.done >= self.total:
            return 0.0
        if self.first_time is None or self.done <= self.first_done or now - self.first_time < 1:
            return math.nan
        rate = (self.done - self.first_done) / (now - self.first_time)
        return (self.total - self.done) / rate

    def update(self, optimizer: str, outcome: str) -> None:
        self.done += 1
        self.diverged += outcome == "diverged"
        self.failed += outcome == "error"
        counts = self.outcomes.setdefault(optimizer, {})
        counts[outcome] = counts.get(outcome, 0) + 1
        stream = self.stream or sys.stderr
        now = time.monotonic()
        elapsed = now - self.started
        if self.first_time is None:
            self.first_time, self.first_done = now, self.done
        elif now - self.first_time < 1:  # the same burst (a pack) as the first cells
            self.first_done = self.done
        eta = self.eta(now)
        line = (
            f"[{self.done:>{len(str(self.total))}}/{self.total}] "
            f"{100 * self.done / max(self.total, 1):3.0f}%  diverged {self.diverged}  "
            f"failed {self.failed}  elapsed {_clock(elapsed)}  ETA {_clock(eta)}"
        )
        if stream.isatty():
            stream.write("\r" + line + ("\n" if self.done >= self.total else ""))
        else:
            stream.write(line + "\n")
        stream.flush()


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# --- the recorder: Tune's events to the single writer ---------------------------------------


class RunStop(tune.Stopper):
    """Ends the whole run when asked (a signal, a lost database); Tune polls it every step."""

    def __init__(self) -> None:
        self.reason: str | None = None  # "SIGINT", "SIGTERM" or "storage"

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.reason is not None


def _cells(trial: Any) -> list[dict[str, Any]]:
    return list(trial.config.get("cells", []))


class TuneRecorder(tune.Callback):
    """Tune's trial events as calls on the run's `RunRecorder` (`hpsearch.recorder`).

    It must never raise: an exception in a Tune callback aborts the whole `fit()`. The recorder
    itself logs its storage errors; anything else is logged here.
    """

    def __init__(self, recorder: RunRecorder, progress: Progress) -> None:
        self.recorder = recorder
        self.progress = progress

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its searcher and callbacks for `Tuner.restore`, which we never use (the
        # database is the record); engines and locks don't pickle.
        return {}

    def _safely(self, what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("recorder: %s failed", what)
            self.recorder.errors.append(f"{what}: internal error (see the log)")

    def on_step(self, iteration: int, trials: list, **info: Any) -> None:
        self._safely("heartbeat", self.recorder.heartbeat)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.progress.trial_started()
        self._safely("starting a trial", partial(self.recorder.start_cells, _cells(trial)))

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        def record() -> None:
            if MESSAGE_KEY not in result:
                return
            message = json.loads(result[MESSAGE_KEY])
            epochs = message.get("epochs") or {}
            if epochs:
                self.recorder.add_epochs(
                    {key: [(int(e), m) for e, m in pairs] for key, pairs in epochs.items()}
                )
            for key, cell_result in (message.get("results") or {}).items():
                self.recorder.finish_cell(key, cell_result)

        self._safely("recording a result", record)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        for cell in _cells(trial):
            self._safely(
                f"finishing {cell['key']}",
                partial(
                    self.recorder.finish_cell, cell["key"], None, "the trial ended without a result"
                ),
            )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        message = _trial_error(trial)
        for cell in _cells(trial):
            self._safely(
                f"failing {cell['key']}",
                partial(self.recorder.finish_cell, cell["key"], None, message),
            )


def make_recorder(
    writer: TrialWriter,
    claims: CellClaims,
    study_names: Mapping[str, str],
    scoring: Scoring,
    metrics: Sequence[str],
    *,
    progress: Progress,
    stop: RunStop,
) -> RunRecorder:
    """The run's single writer, wired to its progress line and its stop."""
    stream = progress.stream or sys.stderr

    def say(text: str) -> None:
        stream.write(("\n" if stream.isatty() else "") + text + "\n")
        stream.flush()

    return RunRecorder(
        writer,
        claims,
        study_names,
        scoring,
        metrics,
        retry_seconds=retry_seconds(),
        say=say,
        on_recorded=progress.update,
        on_lost=partial(stop.request, "storage"),
        stopping=lambda: stop.reason is not None,
    )


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)  # the default spells the whole config into the path


def _trial_error(trial: Any) -> str:
    try:
        path = trial.error_file
        if path and os.path.exists(path):
            with open(path) as handle:
                lines = [line for line in handle.read().strip().splitlines() if line.strip()]
            return lines[-1][:2000] if lines else "the Ray trial failed"
    except Exception:
        pass
    return "the Ray trial failed (worker or node lost)"


# --- running ------------------------------------------------------------------------------------


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
    url: str,
    writer: TrialWriter,
    study_names: Mapping[str, str],
    study_ids: Mapping[str, int],
    scoring: Scoring,
    task: Mapping[str, Any],
    metrics: Sequence[str],
    max_concurrent: int | None = None,
    gpus_per_trial: float | None = None,
    max_failures: int = 3,
    progress_stream: Any = None,
    faults: Mapping[str, str] | None = None,
    claims: CellClaims | None = None,
    population: Mapping[str, int] | None = None,
    poll_seconds: float = 2.0,
) -> ScheduleResult:
    """Run `cells` on the connected Ray cluster (call `start_ray` first); `population` maps an
    optimizer to the most cells one trial trains at once (absent or 1: one cell per trial)."""
    started = time.perf_counter()
    claims = claims or CellClaims(url)
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
    progress = Progress(total=len(cells), stream=progress_stream)
    stop = RunStop()
    recorder = make_recorder(
        writer, claims, study_names, scoring, metrics, progress=progress, stop=stop
    )
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
            claims=claims,
            url=url,
            study_names=study_names,
            study_ids=study_ids,
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
    claims: CellClaims,
    url: str,
    study_names: Mapping[str, str],
    study_ids: Mapping[str, int],
    base: Mapping[str, Any],
    population: Mapping[str, int] | None,
    concurrency: int,
    max_failures: int,
    poll_seconds: float,
) -> None:
    """One Tune fit per round until no cell is left (see `_await_other_drivers`) or a stop."""
    while pending and stop.reason is None:
        searcher = CellSearcher(
            pending,
            claims=claims,
            url=url,
            study_names=study_names,
            study_ids=study_ids,
            base_config=base,
            population=population,
        )
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
                    claims.release_all()
                except Exception as error:  # a lost database: the claims go stale by themselves
                    log.debug("releasing claims failed: %s", storage_reason(error))
        if stop.reason is not None:
            return
        pending = with_retries(  # a database restart here must not end the run either
            partial(
                _await_other_drivers,
                searcher.deferred,
                claims=claims,
                url=url,
                study_names=study_names,
                study_ids=study_ids,
                poll_seconds=poll_seconds,
            ),
            seconds=callback.recorder.retry_seconds,
        )


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
    held: Sequence[Cell],
    *,
    claims: CellClaims,
    url: str,
    study_names: Mapping[str, str],
    study_ids: Mapping[str, int],
    poll_seconds: float,
) -> list[Cell]:
    """Wait until cells held by other drivers are finished there (→ dropped) or their owner
    died (→ returned, for another round here). Holds no Ray resources while it waits."""
    waiting = list(held)
    while waiting:
        orphaned: list[Cell] = []
        still: list[Cell] = []
        for cell in waiting:
            if is_cell_finished(url, study_ids[cell.optimizer], cell.key):
                continue
            study = study_names[cell.optimizer]
            if claims.claim(study, cell.key):  # takeable: its owner is gone
                claims.release(study, cell.key)  # the next round's searcher claims it again
                orphaned.append(cell)
            else:
                still.append(cell)
        if orphaned:
            return orphaned + still
        waiting = still
        if waiting:
            time.sleep(poll_seconds)
    return []
