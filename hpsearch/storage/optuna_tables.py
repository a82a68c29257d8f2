"""The fast path: SQL on Optuna's tables, for the Optuna versions and schema it was tested on.

The only module that imports Optuna's internals (`optuna.storages._rdb.models`). It reads a
study group's trials in four bulk queries and finishes a trial in one transaction (Optuna's
public API takes one per attribute and per epoch: ~1 ms a row on SQLite). Like Optuna it refuses
to change a finished trial. `supported()` is the version check; `hpsearch.storage.backends` falls
back to Optuna's public API wherever it says no.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from optuna.trial import TrialState

from hpsearch.storage.access import NewTrial, StoredStudy, StoredTrial, TrialUpdate
from hpsearch.storage.connection import jsonable

# Optuna minor versions whose tables this module was tested against (tests/test_storage_paths.py
# compares both paths on the installed one), and the schema version their tables carry.
TESTED_VERSIONS = ("5.1",)
TESTED_SCHEMA = 12


def _models() -> Any:
    from optuna.storages._rdb import models

    return models


def supported() -> bool:
    """True on a tested Optuna whose table models look as this module expects."""
    if ".".join(optuna.__version__.split(".")[:2]) not in TESTED_VERSIONS:
        return False
    try:
        models = _models()
        return getattr(models, "SCHEMA_VERSION", None) == TESTED_SCHEMA and all(
            hasattr(models, name)
            for name in (
                "StudyModel",
                "StudyUserAttributeModel",
                "TrialModel",
                "TrialValueModel",
                "TrialParamModel",
                "TrialUserAttributeModel",
                "TrialIntermediateValueModel",
            )
        )
    except Exception:  # a reorganised Optuna: its public API still works
        return False


def schema_matches(engine: sa.Engine) -> bool:
    """True when the database's schema version is the tested one (an older database is read
    through the public API, which knows how to refuse or migrate it)."""
    models = _models()
    table = models.VersionInfoModel.__table__
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(table.name):
            return False
        row = conn.execute(sa.select(table.c.schema_version)).first()
    return row is not None and int(row[0]) == TESTED_SCHEMA


def study_name_length() -> int:
    """The longest study name Optuna's `studies` table keeps."""
    try:
        return int(getattr(_models().StudyModel.__table__.c.study_name.type, "length", 512) or 512)
    except Exception:
        return 512


class TableAccess:
    """`hpsearch.storage.access.TrialAccess` in SQL on Optuna's tables."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.m = _models()

    def studies(self) -> list[StoredStudy]:
        s, a = self.m.StudyModel, self.m.StudyUserAttributeModel
        query = sa.select(s.study_id, s.study_name, a.key, a.value_json).join(
            a, a.study_id == s.study_id
        )
        by_id: dict[int, StoredStudy] = {}
        with self.engine.connect() as conn:
            for sid, name, key, value_json in conn.execute(query):
                study = by_id.setdefault(int(sid), StoredStudy(int(sid), name, {}))
                study.user_attrs[key] = json.loads(value_json)
        return list(by_id.values())

    def trials(self, study_ids: Sequence[int]) -> list[StoredTrial]:
        t = self.m.TrialModel
        v, p, a = self.m.TrialValueModel, self.m.TrialParamModel, self.m.TrialUserAttributeModel
        ids = list(study_ids)
        in_group = t.study_id.in_(ids)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.trial_id, t.number, t.study_id, t.state).where(in_group)
            ).all()
            values = conn.execute(
                sa.select(v.trial_id, v.value, v.value_type)
                .join(t, v.trial_id == t.trial_id)
                .where(in_group, v.objective == 0)
            ).all()
            params = conn.execute(
                sa.select(p.trial_id, p.param_name, p.param_value, p.distribution_json)
                .join(t, p.trial_id == t.trial_id)
                .where(in_group)
            ).all()
            attrs = conn.execute(
                sa.select(a.trial_id, a.key, a.value_json)
                .join(t, a.trial_id == t.trial_id)
                .where(in_group)
            ).all()
        value_of = {int(tid): v.stored_repr_to_value(x, kind) for tid, x, kind in values}
        dists: dict[str, BaseDistribution] = {}
        params_of: dict[int, dict[str, Any]] = {}
        for tid, name, stored, djson in params:
            dist = dists.get(djson) or dists.setdefault(djson, json_to_distribution(djson))
            params_of.setdefault(int(tid), {})[name] = dist.to_external_repr(stored)
        attrs_of: dict[int, dict[str, Any]] = {}
        for tid, key, value_json in attrs:
            attrs_of.setdefault(int(tid), {})[key] = json.loads(value_json)
        return [
            StoredTrial(
                trial_id=int(tid),
                number=int(number),
                study_id=int(sid),
                state=TrialState(state).name,
                value=value_of.get(int(tid), math.nan),
                params=params_of.get(int(tid), {}),
                attrs=attrs_of.get(int(tid), {}),
            )
            for tid, number, sid, state in rows
        ]

    def _cell_query(self, state: str) -> Any:
        t, a = self.m.TrialModel, self.m.TrialUserAttributeModel
        return (
            sa.select(a.value_json, t.trial_id)
            .join(t, a.trial_id == t.trial_id)
            .where(a.key == "cell", t.state == TrialState[state])
        )

    def cells(self, study_ids: Sequence[int], state: str) -> set[str]:
        query = self._cell_query(state).where(self.m.TrialModel.study_id.in_(list(study_ids)))
        with self.engine.connect() as conn:
            return {json.loads(row[0]) for row in conn.execute(query)}

    def _first_trial(self, study_id: int, cell: str, state: str) -> int | None:
        t, a = self.m.TrialModel, self.m.TrialUserAttributeModel
        query = (
            self._cell_query(state)
            .where(t.study_id == study_id, a.value_json == json.dumps(cell))
            .order_by(t.number)
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else int(row[1])

    def has_cell(self, study_id: int, cell: str, state: str) -> bool:
        return self._first_trial(study_id, cell, state) is not None

    def running_trials(self, study_id: int, cells: Sequence[str]) -> dict[str, int]:
        t, a = self.m.TrialModel, self.m.TrialUserAttributeModel
        query = (
            self._cell_query("RUNNING")
            .where(t.study_id == study_id, a.value_json.in_([json.dumps(c) for c in cells]))
            .order_by(t.number)
        )
        first: dict[str, int] = {}
        with self.engine.connect() as conn:
            for value_json, trial_id in conn.execute(query):
                first.setdefault(json.loads(value_json), int(trial_id))
        return first

    def update(self, trial_id: int, change: TrialUpdate) -> bool:
        """One transaction; False (nothing written) when the trial is already finished."""
        m = self.m
        ivm, uam = m.TrialIntermediateValueModel, m.TrialUserAttributeModel
        with self.engine.begin() as conn:
            state = conn.execute(
                sa.select(m.TrialModel.state)
                .where(m.TrialModel.trial_id == trial_id)
                .with_for_update()
            ).scalar_one()
            if TrialState(state).is_finished():  # Optuna's rule: a finished trial is final
                return False
            steps = sorted(change.steps)
            if steps:
                conn.execute(sa.delete(ivm).where(ivm.trial_id == trial_id, ivm.step.in_(steps)))
                conn.execute(
                    sa.insert(ivm), [_step_row(m, trial_id, s, change.steps[s]) for s in steps]
                )
            if change.attrs:
                conn.execute(
                    sa.delete(uam).where(uam.trial_id == trial_id, uam.key.in_(list(change.attrs)))
                )
                conn.execute(sa.insert(uam), _attr_rows(trial_id, change.attrs))
            if change.state is not None:
                if change.value is not None:
                    conn.execute(
                        sa.insert(m.TrialValueModel), [_value_row(m, trial_id, change.value)]
                    )
                conn.execute(
                    sa.update(m.TrialModel)
                    .where(m.TrialModel.trial_id == trial_id)
                    .values(state=TrialState[change.state], datetime_complete=_utc_now())
                )
        return True

    def insert(self, study_id: int, trials: Iterable[NewTrial]) -> list[int]:
        """Trials in one transaction, their ids in order. Numbers continue the study's, counted
        under a lock on the study's row as Optuna counts them (so concurrent creators, ours or
        Optuna's, never share a number); RUNNING ones have no completion time."""
        m = self.m
        t = m.TrialModel.__table__
        batch = list(trials)
        if not batch:
            return []
        now = _utc_now()
        with self.engine.begin() as conn:
            study = m.StudyModel
            conn.execute(
                sa.select(study.study_id).where(study.study_id == study_id).with_for_update()
            )
            start = conn.execute(
                sa.select(sa.func.count()).select_from(t).where(t.c.study_id == study_id)
            ).scalar_one()
            rows = [
                {
                    "number": start + i,
                    "study_id": study_id,
                    "state": TrialState[trial.state],
                    "datetime_start": now,
                    "datetime_complete": None if trial.state == "RUNNING" else now,
                }
                for i, trial in enumerate(batch)
            ]
            ids = (
                conn.execute(
                    sa.insert(t).returning(t.c.trial_id, sort_by_parameter_order=True), rows
                )
                .scalars()
                .all()
            )
            values, params, attrs, steps = [], [], [], []
            for tid, trial in zip(ids, batch, strict=True):
                if trial.value is not None:
                    values.append(_value_row(m, tid, trial.value))
                for name, value in trial.params.items():
                    dist = trial.distributions[name]
                    params.append(
                        {
                            "trial_id": tid,
                            "param_name": name,
                            "param_value": dist.to_internal_repr(value),
                            "distribution_json": distribution_to_json(dist),
                        }
                    )
                attrs += _attr_rows(tid, trial.attrs)
                steps += [_step_row(m, tid, s, v) for s, v in sorted(trial.steps.items())]
            for model, batch_rows in (
                (m.TrialValueModel, values),
                (m.TrialParamModel, params),
                (m.TrialUserAttributeModel, attrs),
                (m.TrialIntermediateValueModel, steps),
            ):
                if batch_rows:
                    conn.execute(sa.insert(model.__table__), batch_rows)
        return [int(i) for i in ids]


def _utc_now() -> datetime:
    """Now as Optuna stores trial times: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def _step_row(m: Any, trial_id: int, step: int, value: float) -> dict[str, Any]:
    stored, kind = m.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
    return {
        "trial_id": trial_id,
        "step": step,
        "intermediate_value": stored,
        "intermediate_value_type": kind,
    }


def _value_row(m: Any, trial_id: int, value: float) -> dict[str, Any]:
    stored, kind = m.TrialValueModel.value_to_stored_repr(value)
    return {"trial_id": trial_id, "objective": 0, "value": stored, "value_type": kind}


def _attr_rows(trial_id: int, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"trial_id": trial_id, "key": k, "value_json": json.dumps(jsonable(v))}
        for k, v in attrs.items()
    ]
