"""Tune's events turned into the run's records, and the run's stop.

`TuneRecorder` (a `tune.Callback`) turns Tune's trial events into calls on the run's single
writer, `hpsearch.recorder.RunRecorder`, and never raises into Ray: an exception in a callback
would abort the whole `fit()`. `RunStop` is the `tune.Stopper` a signal or a lost database sets.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ray import tune

from hpsearch.recorder import RunRecorder
from hpsearch.recording import Scoring
from hpsearch.scheduling.progress import Progress
from hpsearch.scheduling.store import CellStore
from hpsearch.storage import TrialWriter, retry_seconds
from hpsearch.trainable import MESSAGE_KEY

log = logging.getLogger(__name__)


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
    store: CellStore,
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
        store.claims,
        store.study_names,
        scoring,
        metrics,
        retry_seconds=retry_seconds(),
        say=say,
        on_recorded=progress.update,
        on_lost=partial(stop.request, "storage"),
        stopping=lambda: stop.reason is not None,
    )


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
