"""The portable path: every study and trial operation through Optuna's public storage API.

Used wherever `hpsearch.storage.optuna_tables` was not tested (another Optuna version or schema,
or `$HPSEARCH_OPTUNA_TABLES=0`). Each call is Optuna's own transaction, so a trial's finishing
write is several transactions, not one: attributes first, the state last, so that a crash in
between leaves the trial RUNNING (taken over by the next run), never finished without its data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState, create_trial

from hpsearch.storage.access import NewTrial, StoredStudy, StoredTrial, TrialUpdate
from hpsearch.storage.connection import jsonable

log = logging.getLogger(__name__)


class ApiAccess:
    """`hpsearch.storage.access.TrialAccess` through `optuna.storages.RDBStorage`'s methods."""

    def __init__(self, storage: RDBStorage) -> None:
        self.storage = storage

    def studies(self) -> list[StoredStudy]:
        return [
            StoredStudy(
                self.storage.get_study_id_from_name(s.study_name), s.study_name, dict(s.user_attrs)
            )
            for s in self.storage.get_all_studies()
        ]

    def trials(self, study_ids: Sequence[int]) -> list[StoredTrial]:
        out = []
        for study_id in study_ids:
            for trial in self.storage.get_all_trials(study_id, deepcopy=False):
                value = trial.value if trial.values else None
                out.append(
                    StoredTrial(
                        trial_id=trial._trial_id,
                        number=trial.number,
                        study_id=study_id,
                        state=trial.state.name,
                        value=math.nan if value is None else float(value),
                        params=dict(trial.params),
                        attrs=dict(trial.user_attrs),
                    )
                )
        return out

    def _with_cell(self, study_id: int, state: str) -> list[tuple[int, int, str]]:
        trials = self.storage.get_all_trials(study_id, deepcopy=False, states=(TrialState[state],))
        return [
            (t.number, t._trial_id, str(t.user_attrs["cell"]))
            for t in trials
            if "cell" in t.user_attrs
        ]

    def cells(self, study_ids: Sequence[int], state: str) -> set[str]:
        return {cell for sid in study_ids for _, _, cell in self._with_cell(sid, state)}

    def has_cell(self, study_id: int, cell: str, state: str) -> bool:
        return any(c == cell for _, _, c in self._with_cell(study_id, state))

    def running_trials(self, study_id: int, cells: Sequence[str]) -> dict[str, int]:
        wanted = set(cells)
        first: dict[str, int] = {}
        for _, trial_id, cell in sorted(self._with_cell(study_id, "RUNNING")):
            if cell in wanted:
                first.setdefault(cell, trial_id)
        return first

    def update(self, trial_id: int, change: TrialUpdate) -> bool:
        """Optuna's calls in order (the state last); False when the trial is already finished."""
        try:
            for step in sorted(change.steps):
                self.storage.set_trial_intermediate_value(trial_id, step, change.steps[step])
            for key, value in change.attrs.items():
                self.storage.set_trial_user_attr(trial_id, key, jsonable(value))
            if change.state is not None:
                values = None if change.value is None else [change.value]
                self.storage.set_trial_state_values(trial_id, TrialState[change.state], values)
        except UpdateFinishedTrialError:
            return False
        return True

    def insert(self, study_id: int, trials: Iterable[NewTrial]) -> list[int]:
        ids = []
        for trial in trials:
            template = create_trial(
                state=TrialState[trial.state],
                value=trial.value,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs={k: jsonable(v) for k, v in trial.attrs.items()},
                intermediate_values=trial.steps,
            )
            ids.append(self.storage.create_new_trial(study_id, template_trial=template))
        return ids
