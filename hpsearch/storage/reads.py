"""Reading a study group back as the tidy tables every reader works from (`StudyData`).

One bulk read per table on the fast path, then column-wise frames, so 10,000 trials x 50 epochs
load in about a second. Readers create nothing: a database without Optuna's schema holds no
study, and a missing SQLite file is an error that says how to make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from hpsearch.errors import UnknownStudyError
from hpsearch.recording import curves, final_metrics, trial_row
from hpsearch.storage.access import StoredTrial
from hpsearch.storage.backends import reader_access
from hpsearch.storage.connection import read_engine, reports_storage_errors
from hpsearch.storage.groups import group_names, group_studies
from hpsearch.storage.urls import redact_url
from hpsearch.studydata import CURVE_COLUMNS, OUTCOMES, SCHEDULE_ATTR, TRIAL_COLUMNS, StudyData

_STATE_RANK = {"COMPLETE": 0, "RUNNING": 1, "FAIL": 2}


def _kept(trials: list[StoredTrial], study_name: dict[int, str]) -> list[StoredTrial]:
    """One trial per cell: a cell with several (an error retried by a later run) shows its best
    state, COMPLETE, else RUNNING, else the latest FAIL."""
    ordered = sorted(trials, key=lambda t: (t.study_id, t.number))
    chosen: dict[tuple[str, str], tuple[tuple[int, int], StoredTrial]] = {}
    for trial in ordered:
        cell = str(trial.attrs.get("cell", f"trial-{trial.number}"))
        rank = (_STATE_RANK.get(trial.state, 3), -trial.number)
        key = (study_name[trial.study_id], cell)
        if key in chosen and chosen[key][0] <= rank:
            continue
        chosen[key] = (rank, trial)
    keep = {t.trial_id for _, t in chosen.values()}
    return [t for t in ordered if t.trial_id in keep]


@reports_storage_errors
def load_study_data(storage: str, name: str) -> StudyData:
    """All trials of the study group `name` as tidy tables."""
    engine = read_engine(storage)
    access = reader_access(storage, engine) if engine is not None else None
    studies = group_studies(access, name) if access is not None else []
    if access is None or not studies:
        raise UnknownStudyError(
            f"No study group `{name}` in `{redact_url(storage)}`; `hpsearch list` shows what is "
            "there."
        )
    attrs0 = studies[0].user_attrs
    metric = str(attrs0.get("metric", "value"))
    direction: Literal["maximize", "minimize"] = (
        "maximize" if attrs0.get("direction") == "maximize" else "minimize"
    )
    by_id = {s.study_id: s for s in studies}
    trials = _kept(access.trials(list(by_id)), {s.study_id: s.name for s in studies})
    # A hyperparameter named like a column (stored before names were checked) is read as
    # `params_NAME`, Optuna's own spelling, rather than overwrite the column.
    taken = {*TRIAL_COLUMNS, "config"}
    for trial in trials:
        taken.update(final_metrics(trial.attrs))

    rows: list[dict[str, Any]] = []
    curve_parts: list[tuple[int, str, np.ndarray]] = []
    hp_names: dict[str, set[str]] = {s.optimizer: set() for s in studies}
    final_names: set[str] = set()
    for trial in trials:
        study = by_id[trial.study_id]
        row = {
            "study": study.name,
            "optimizer": study.optimizer,
            **trial_row(trial.attrs, trial.state, trial.value, number=trial.number),
        }
        params = {(f"params_{k}" if k in taken else k): v for k, v in trial.params.items()}
        row.update(params)
        hp_names[study.optimizer].update(params)
        final = final_metrics(trial.attrs)
        row.update(final)
        final_names.update(final)
        rows.append(row)
        for m, series in curves(trial.attrs).items():
            curve_parts.append((len(rows) - 1, m, np.array(series, dtype=float)))
    hp_cols = sorted({h for names in hp_names.values() for h in names})
    metric_cols = sorted(final_names)
    trials_df = pd.DataFrame(rows, columns=[*TRIAL_COLUMNS, *hp_cols, *metric_cols])
    trials_df["seed"] = pd.to_numeric(trials_df["seed"], errors="coerce").astype("Int64")
    trials_df["diverged_epoch"] = pd.to_numeric(
        trials_df["diverged_epoch"], errors="coerce"
    ).astype("Int64")
    trials_df = trials_df.sort_values(["optimizer", "trial_number"], ignore_index=True)
    curves_df = _curves_frame(rows, curve_parts)
    curves_df["seed"] = pd.to_numeric(curves_df["seed"], errors="coerce").astype("Int64")
    return StudyData(
        name=name,
        metric=metric,
        direction=direction,
        trials=trials_df,
        curves=curves_df[list(CURVE_COLUMNS)],
        hyperparameters={opt: sorted(names) for opt, names in hp_names.items()},
        metrics=metric_cols,
        spec=attrs0.get("spec"),
        search_spaces={s.optimizer: dict(s.user_attrs.get("search_space") or {}) for s in studies},
        schedule=attrs0.get(SCHEDULE_ATTR),
    )


def _curves_frame(
    rows: list[dict[str, Any]], parts: list[tuple[int, str, np.ndarray]]
) -> pd.DataFrame:
    """The long curves table built column-wise at once (10,000 trials x 50 epochs stays fast)."""
    if not parts:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    lengths = np.array([len(v) for _, _, v in parts])
    row_idx = np.repeat([i for i, _, _ in parts], lengths)
    columns: dict[str, Any] = {
        col: np.asarray([r[col] for r in rows], dtype=object)[row_idx]
        for col in ("study", "trial_number", "optimizer", "cell", "seed")
    }
    columns["epoch"] = np.concatenate([np.arange(1, n + 1) for n in lengths])
    columns["metric"] = np.repeat([m for _, m, _ in parts], lengths)
    columns["value"] = np.concatenate([v for _, _, v in parts])
    frame = pd.DataFrame(columns)
    frame["trial_number"] = frame["trial_number"].astype(int)
    return frame


@dataclass
class GroupSummary:
    """One study group in a storage, for `hpsearch list`."""

    name: str
    optimizers: list[str]
    metric: str
    task: str
    spec_hash: str
    counts: dict[str, int]  # outcome -> cells
    description: str = ""
    problem: str | None = None  # why the group could not be read (the others still are)


@reports_storage_errors
def list_study_groups(storage: str) -> list[GroupSummary]:
    """Every hpsearch study group in the storage with counts of cells by outcome."""
    engine = read_engine(storage)
    if engine is None:
        return []
    access = reader_access(storage, engine)
    out = []
    for name in group_names(access):
        try:
            data = load_study_data(storage, name)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # One group's odd data (from an older hpsearch) must not hide the others.
            problem = f"cannot be read: {type(error).__name__}: {error}"
            out.append(GroupSummary(name, [], "", "", "", dict.fromkeys(OUTCOMES, 0), "", problem))
            continue
        counts = {
            o: int((data.trials["outcome"] == o).sum())
            for o in ("completed", "diverged", "error", "running")
        }
        first = data.spec or {}
        out.append(
            GroupSummary(
                name=name,
                optimizers=sorted(data.hyperparameters),
                metric=data.metric,
                task=str(first.get("task", {}).get("name", "")),
                spec_hash=str(group_studies(access, name)[0].user_attrs.get("spec_hash", "")),
                counts=counts,
                description=str(first.get("description", "")),
            )
        )
    return out
