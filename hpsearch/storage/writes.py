"""Trial writes: a run's cells (created RUNNING, curves flushed now and then, finished once) and
whole finished trials for the synthetic store.

Writes are few and batched, because each SQLite commit costs milliseconds: on the fast path a
trial is created in one transaction and finished in one (values, curves, attributes and state
together). What a trial's attributes are is `hpsearch.recording`'s to say; this module only puts
them where Optuna keeps them: the searched hyperparameters as params, the selection metric per
epoch as intermediate values, everything else as user attributes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from hpsearch.recording import TrialRecord
from hpsearch.storage.access import NewTrial, TrialAccess, TrialUpdate
from hpsearch.storage.backends import writer_access
from hpsearch.storage.connection import jsonable

log = logging.getLogger(__name__)


def distribution(space: Mapping[str, Any]) -> BaseDistribution:
    """The Optuna distribution of a search-space entry (see `hpsearch.spec.search_space`)."""
    if space["kind"] == "bool":
        return CategoricalDistribution(list(space["choices"]))
    if space["kind"] == "int":
        return IntDistribution(int(space["low"]), int(space["high"]), log=space["log"])
    return FloatDistribution(float(space["low"]), float(space["high"]), log=space["log"])


def distribution_json(space: Mapping[str, Any]) -> str:
    """The Optuna distribution JSON of a search-space entry (for tests and exports)."""
    return distribution_to_json(distribution(space))


@dataclass
class CellRecord:
    """What the writer knows about a cell it is writing (keyed by cell, so packs fan out)."""

    study_id: int
    trial_id: int
    metric: str
    epochs: dict[int, dict[str, float]] = field(default_factory=dict)
    reused: bool = False  # a RUNNING leftover: its rows from the dead driver get replaced
    last_flush: float = field(default_factory=time.monotonic)
    written: set[int] = field(default_factory=set)  # epochs already in the database


def _new_trial(
    dists: Mapping[str, BaseDistribution],
    params: Mapping[str, Any],
    attrs: dict[str, Any],
    *,
    state: str = "RUNNING",
    value: float | None = None,
    steps: dict[int, float] | None = None,
) -> NewTrial:
    """A trial to insert: the params the search space knows, with their distributions."""
    known = {k: v for k, v in params.items() if k in dists}
    return NewTrial(
        state=state,
        value=value,
        params=known,
        distributions={k: dists[k] for k in known},
        attrs=attrs,
        steps=steps or {},
    )


def _curves(epochs: Mapping[int, Mapping[str, float]]) -> dict[str, list[float]]:
    steps = sorted(epochs)
    names = sorted({name for metrics in epochs.values() for name in metrics})
    return {name: [epochs[s].get(name, math.nan) for s in steps] for name in names}


class TrialWriter:
    """Writes cells as Optuna trials. Methods raise on database errors; the run's recorder
    (`hpsearch.recorder`) retries and logs instead."""

    def __init__(
        self,
        url: str,
        study_ids: Mapping[str, int],
        spaces: Mapping[str, Mapping[str, Mapping[str, Any]]],
        metric: str,
    ) -> None:
        self.access: TrialAccess = writer_access(url)
        self.study_ids = dict(study_ids)
        self.metric = metric
        self.distributions = {
            opt: {name: distribution(s) for name, s in space.items()}
            for opt, space in spaces.items()
        }

    def start(
        self, optimizer: str, cell: str, params: Mapping[str, Any], attrs: Mapping[str, Any]
    ) -> CellRecord:
        """The trial for `cell` (see `start_cells`)."""
        return self.start_cells(optimizer, [(cell, params, attrs)])[0]

    def start_cells(
        self,
        optimizer: str,
        cells: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
    ) -> list[CellRecord]:
        """The trials for `cells` (key, params, start attributes) of one optimizer, in order: a
        RUNNING leftover of a killed driver is reused, the others are created together in one
        transaction (one by one through Optuna's API a pack's 29 cells took half a second of
        the driver, which shares the CPU with the trials)."""
        study_id = self.study_ids[optimizer]
        leftovers = self.access.running_trials(study_id, [cell for cell, _, _ in cells])
        dists = self.distributions[optimizer]
        new = [
            _new_trial(dists, params, {**jsonable(dict(attrs)), "cell": cell})
            for cell, params, attrs in cells
            if cell not in leftovers
        ]
        created = iter(self.access.insert(study_id, new))
        return [
            CellRecord(study_id, leftovers[cell], self.metric, reused=True)
            if cell in leftovers
            else CellRecord(study_id, next(created), self.metric)
            for cell, _, _ in cells
        ]

    def add_epoch(
        self,
        record: CellRecord,
        epoch: int,
        metrics: Mapping[str, float],
        *,
        flush_every: float = 2.0,
    ) -> None:
        """Buffer one epoch; written at most every `flush_every` s so live views stay current
        while a short trial costs one write at the end."""
        record.epochs[epoch] = {k: float(v) for k, v in metrics.items()}
        if time.monotonic() - record.last_flush >= flush_every:
            self._write(record, None)

    def restart(self, record: CellRecord) -> None:
        """A retried trial trains its cell again: its curve starts over."""
        record.epochs.clear()
        record.written.clear()

    def finish(self, record: CellRecord, trial: TrialRecord) -> None:
        """Curves, attributes, value and state together. Epochs only the result carries (the
        last ones, not yet flushed) complete the curve; those already reported stay."""
        for epoch, metrics in trial.epochs.items():
            record.epochs.setdefault(epoch, metrics)
        self._write(record, trial)

    def _write(self, record: CellRecord, final: TrialRecord | None) -> None:
        attrs: dict[str, Any] = {"curves": _curves(record.epochs)}
        steps = {
            s: m.get(record.metric, math.nan)
            for s, m in record.epochs.items()
            if s not in record.written
        }
        change = TrialUpdate(steps=steps, attrs=attrs)
        if final is not None:
            attrs.update(final.attrs)
            change.state, change.value = final.state, final.value
        if not self.access.update(record.trial_id, change):
            log.warning("trial %s is already finished; not overwriting it", record.trial_id)
        record.written.update(steps)
        record.last_flush = time.monotonic()


def write_trials(
    url: str,
    study_id: int,
    space: Mapping[str, Mapping[str, Any]],
    trials: Iterable[tuple[str, Mapping[str, Any], TrialRecord]],
) -> None:
    """Finished trials (cell key, params, record) written whole into one study, in one
    transaction on the fast path: the synthetic store of tests and benchmarks."""
    dists = {name: distribution(s) for name, s in space.items()}
    batch = []
    for cell, params, record in trials:
        metric = record.attrs.get("metric")
        batch.append(
            _new_trial(
                dists,
                params,
                {**record.attrs, "cell": cell, "curves": _curves(record.epochs)},
                state=record.state,
                value=record.value,
                steps={s: m.get(str(metric), math.nan) for s, m in record.epochs.items()},
            )
        )
    writer_access(url).insert(study_id, batch)
