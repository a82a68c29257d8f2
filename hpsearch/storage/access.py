"""The contract of the two ways to Optuna's trials: what storage does with studies and trials
(`TrialAccess`), and the plain records that cross it.

Its implementations are `optuna_tables` (SQL on Optuna's tables) and `optuna_api` (Optuna's
public storage API); `backends` picks one for a connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


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
