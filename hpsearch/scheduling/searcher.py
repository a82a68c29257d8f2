"""`CellSearcher`: Tune's search algorithm, which hands out claimed, unfinished cells.

Everything is keyed by cell key and a trial's config carries a list of cells, so a pack of cells
in one Ray trial (population runs) only needs a trainable that reports per cell.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.search import Searcher

from hpsearch.scheduling.store import CellStore
from hpsearch.spec import Cell
from hpsearch.storage import is_unreachable

log = logging.getLogger(__name__)


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
        store: CellStore,
        base_config: Mapping[str, Any],
        population: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self._population = dict(population or {})  # optimizer -> most cells per trial
        self._queue: deque[Cell] = deque(cells)
        self._deferred: list[Cell] = []
        self.store = store
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
        if not self.store.claim(cell):
            return None
        if self.store.is_finished(cell):
            self.store.release(cell)
            self.skipped_finished += 1
            return False
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        try:
            while self._queue:
                cell = self._queue[0]
                taken = self._take(cell)  # a database error leaves the cell queued
                self._queue.popleft()
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
            try:
                while self._queue and len(pack) < size:
                    cell = self._queue[0]
                    if cell.optimizer != first.optimizer:
                        rest.append(self._queue.popleft())
                        continue
                    taken = self._take(cell)  # a database error leaves the cell queued
                    self._queue.popleft()
                    if taken:
                        pack.append(cell)
                    elif taken is None:
                        self._deferred.append(cell)
            except Exception:
                # The pack's cells are claimed by us: queued again, the next try takes them back.
                self._queue.extendleft(reversed(pack))
                raise
            finally:
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
