"""The driver's single writer during a run: every cell's trial started, extended, finished once.

`RunRecorder` knows nothing of Ray: the Tune callback in `hpsearch.scheduling.events` only
decodes Tune's events into its four calls (`start_cells`, `add_epochs`, `finish_cell`,
`heartbeat`). It never raises: an exception in a Tune callback would abort the whole `fit()`.
While the database is unreachable it retries (`hpsearch.storage.with_retries`, bounded by
`retry_seconds`) with the results held in memory; past the bound it gives the database up
(`lost`) and asks the run to stop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hpsearch.recording import Scoring, run_versions, score_result, start_attributes
from hpsearch.storage import (
    CellClaims,
    CellRecord,
    TrialWriter,
    is_unreachable,
    storage_reason,
    with_retries,
)

log = logging.getLogger(__name__)

FLUSH_SECONDS = 2.0  # a live curve is written at most this often per cell


class RunRecorder:
    """Writes every cell's trial from the driver, exactly once; logs instead of raising."""

    def __init__(
        self,
        writer: TrialWriter,
        claims: CellClaims,
        study_names: Mapping[str, str],
        scoring: Scoring,
        metrics: Sequence[str],
        *,
        retry_seconds: float,
        say: Callable[[str], None],
        on_recorded: Callable[[str, str], None],
        on_lost: Callable[[], None],
        stopping: Callable[[], bool],
        versions: Mapping[str, str] | None = None,
    ) -> None:
        """`say` prints a line for the user, `on_recorded(optimizer, outcome)` counts a cell,
        `on_lost()` stops the run, `stopping()` tells whether it is being stopped."""
        self.writer = writer
        self.claims = claims
        self.names = dict(study_names)
        self.scoring = scoring
        self.metrics = set(metrics)
        self.retry_seconds = retry_seconds
        self.say = say
        self.on_recorded = on_recorded
        self.on_lost = on_lost
        self.stopping = stopping
        self.versions = dict(versions) if versions is not None else run_versions()
        self.records: dict[str, CellRecord] = {}
        self.cells: dict[str, Mapping[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.recorded: set[str] = set()
        self.errors: list[str] = []
        self.lost: str | None = None  # why the database was given up on
        self._outage: float | None = None  # when the current outage was first seen

    def _waiting(self, error: BaseException, waited: float) -> None:
        if self._outage is None:
            self._outage = time.monotonic() - waited
            self.say(
                f"storage unreachable ({storage_reason(error)}); retrying for up to "
                f"{self.retry_seconds:.0f} s, finished results kept in memory"
            )

    def _store(self, what: str, fn: Callable[[], Any]) -> bool:
        """`fn()` through a database outage; False (logged, one line) when it failed for good."""
        if self.lost is not None:
            return False
        try:
            with_retries(fn, seconds=self.retry_seconds, on_wait=self._waiting)
        except Exception as error:
            reason = storage_reason(error)
            self.errors.append(f"{what}: {reason}")
            if is_unreachable(error):
                self.lost = reason
                self.on_lost()
                log.debug("recorder: %s failed", what, exc_info=True)
            else:
                log.error("recorder: %s failed: %s", what, reason, exc_info=log.isEnabledFor(10))
            return False
        if self._outage is not None:
            self.say(f"storage reachable again after {time.monotonic() - self._outage:.0f} s")
            self._outage = None
        return True

    def heartbeat(self) -> None:
        self._store("heartbeat", self.claims.heartbeat)

    def start_cells(self, cells: Iterable[Mapping[str, Any]]) -> None:
        """A trial's cells begin; a retried trial's cells begin again (their curves restart).
        New ones are created together, per optimizer (a pack's in one transaction)."""
        by_optimizer: dict[str, list[Mapping[str, Any]]] = {}
        for cell in cells:
            key = cell["key"]
            self.cells[key] = cell
            if key in self.records:  # in memory only: the next write replaces the curve
                self.writer.restart(self.records[key])
            else:
                by_optimizer.setdefault(cell["optimizer"], []).append(cell)
        for optimizer, new in by_optimizer.items():

            def start(optimizer: str = optimizer, new: list[Mapping[str, Any]] = new) -> None:
                items = [
                    (c["key"], c["params"], start_attributes(c["seed"], optimizer, c["fixed"]))
                    for c in new
                ]
                records = self.writer.start_cells(optimizer, items)
                self.records.update(zip([c["key"] for c in new], records, strict=True))

            what = f"starting {new[0]['key']}" + (
                f" and {len(new) - 1} more" if len(new) > 1 else ""
            )
            self._store(what, start)

    def add_epochs(self, epochs: Mapping[str, Sequence[tuple[int, Mapping[str, Any]]]]) -> None:
        """Epochs of some cells of one trial, cell key → [(epoch, metrics)]. A pack's cells come
        in one message while its trainable waits on us, so each cell of a pack is flushed as
        rarely as one lone cell in total."""
        every = FLUSH_SECONDS * max(1, len(epochs))

        def add() -> None:
            for key, pairs in epochs.items():
                record = self.records.get(key)
                if record is None:
                    continue
                for epoch, metrics in pairs:
                    values = {
                        k: v
                        for k, v in metrics.items()
                        if k in self.metrics and isinstance(v, int | float)
                    }
                    self.writer.add_epoch(record, int(epoch), values, flush_every=every)

        self._store("recording a result", add)

    def finish_cell(self, key: str, result: Mapping[str, Any] | None, error: str = "") -> None:
        """Score and write a cell's trial once. Without a result the cell failed (`error` says
        how), unless the run is being stopped: then it stays RUNNING for the next run."""
        if result is not None:
            self.results[key] = dict(result)
        if key in self.recorded or key not in self.records:
            return
        cell = self.cells[key]
        stored = self.results.get(key)
        if stored is None:
            if self.stopping():
                return  # stopped, not failed: the next run takes the cell over
            stored = {"outcome": "error", "error": error or "the Ray trial failed"}
        trial = score_result(self.scoring, cell["seed"], stored, self.versions)
        record = self.records[key]
        if not self._store(f"finishing {key}", lambda: self.writer.finish(record, trial)):
            return
        self.recorded.add(key)
        study = self.names[cell["optimizer"]]
        self._store(f"releasing {key}", lambda: self.claims.release(study, key))
        self.on_recorded(cell["optimizer"], trial.outcome)

    @property
    def unrecorded(self) -> int:
        """Cells whose results arrived but could not be written."""
        return len(set(self.results) - self.recorded)
