"""The two ways to Optuna's trials, one interface: its tables directly, or its public API.

Reading 10,000 trials or finishing a trial in one transaction needs SQL on Optuna's tables
(`optuna_tables`), which are Optuna's internals: that path is taken only on the Optuna versions
and schema it was tested against. Anywhere else every call goes through Optuna's public storage
API (`optuna_api`): slower (a transaction per attribute and per epoch), but exact on any Optuna.
`tests/test_storage_paths.py` writes the same cells both ways and compares what
`optuna.load_study` returns. `$HPSEARCH_OPTUNA_TABLES=0` forces the public API.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from hpsearch.storage.connection import open_storage, read_storage

TABLES_ENV = "HPSEARCH_OPTUNA_TABLES"


@dataclass
class StoredStudy:
    """One Optuna study with its user attributes (parsed)."""

    study_id: int
    name: str
    user_attrs: dict[str, Any]


@dataclass
class StoredTrial:
    """One Optuna trial as the readers need it: state by name, objective value, params in
    their external form, user attributes parsed."""

    trial_id: int
    number: int
    study_id: int
    state: str  # "COMPLETE", "RUNNING", "FAIL", ...
    value: float  # NaN when the trial has none
    params: dict[str, Any]
    attrs: dict[str, Any]


@dataclass
class TrialUpdate:
    """One write to an unfinished trial: intermediate values by step (overwriting those steps),
    user attributes (overwriting those keys) and, to finish it, a state and objective value."""

    steps: dict[int, float]
    attrs: dict[str, Any]
    state: str | None = None  # "COMPLETE" or "FAIL" to finish the trial
    value: float | None = None


@dataclass
class NewTrial:
    """A trial written whole: finished (the synthetic store, benchmarks), or RUNNING with its
    params and start attributes (a run's cells, finished later by `update`)."""

    state: str
    value: float | None
    params: dict[str, Any]
    distributions: dict[str, Any]  # name -> optuna distribution
    attrs: dict[str, Any]
    steps: dict[int, float] = field(default_factory=dict)


class TrialAccess(Protocol):
    """What storage does with Optuna's studies and trials, whichever way it goes."""

    def studies(self) -> list[StoredStudy]: ...

    def trials(self, study_ids: Sequence[int]) -> list[StoredTrial]: ...

    def cells(self, study_ids: Sequence[int], state: str) -> set[str]: ...

    def has_cell(self, study_id: int, cell: str, state: str) -> bool: ...

    def running_trials(self, study_id: int, cells: Sequence[str]) -> dict[str, int]: ...

    def update(self, trial_id: int, change: TrialUpdate) -> bool: ...

    def insert(self, study_id: int, trials: Iterable[NewTrial]) -> list[int]: ...


def use_tables() -> bool:
    """Whether this Optuna is one whose tables `optuna_tables` was tested against (and
    `$HPSEARCH_OPTUNA_TABLES` does not say 0)."""
    if os.environ.get(TABLES_ENV, "").strip() == "0":
        return False
    from hpsearch.storage import optuna_tables

    return optuna_tables.supported()


def writer_access(url: str) -> TrialAccess:
    """The access a run's writer uses (the schema exists: `open_storage` made it)."""
    storage = open_storage(url)
    if use_tables():
        from hpsearch.storage.optuna_tables import TableAccess

        return TableAccess(storage.engine)
    from hpsearch.storage.optuna_api import ApiAccess

    return ApiAccess(storage)


def reader_access(url: str, engine: sa.Engine) -> TrialAccess:
    """The access a reader uses, over an `engine` that found Optuna's schema. The tables are
    read directly only when their schema version is the one they were tested at."""
    if use_tables():
        from hpsearch.storage.optuna_tables import TableAccess, schema_matches

        if schema_matches(engine):
            return TableAccess(engine)
    from hpsearch.storage.optuna_api import ApiAccess

    return ApiAccess(read_storage(url))
