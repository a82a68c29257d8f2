"""From the tidy per-trial table to per-optimizer (configuration x seed) matrices.

Scores are turned so that higher is always better (`sign` = -1 for a minimised metric); diverged
trials enter at their floor, `error` / `running` trials are missing (NaN) and only counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hpsearch.errors import UserInputError
from hpsearch.metrics import metric_direction
from hpsearch.studydata import StudyData

DATA_OUTCOMES = ("completed", "diverged")


@dataclass
class Grid:
    """One optimizer's trials as (N configurations, S seeds) matrices over the common seed list."""

    optimizer: str
    hyperparameters: list[str]
    configs: pd.DataFrame  # config id + hyperparameter values, row i = matrix row i
    sel: np.ndarray  # (N, S) selection score, higher is better, NaN = missing
    rep: np.ndarray  # (N, S) reported score, same orientation
    diverged: np.ndarray  # (N, S) 1.0 / 0.0
    mask: np.ndarray  # (N, S) bool: a data trial exists
    n_error: np.ndarray  # (N,) error trials per configuration
    log: dict[str, bool]  # hyperparameter -> searched on a log scale
    # (N,) cells a sequential study left at an earlier look (`allocation.py`); None: none
    left: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.configs)


def format_value(value: object) -> str:
    """A hyperparameter value as configuration ids, sentences and figures spell it (`0.001`,
    `0.1`, `1`, `1e-05`): one spelling, so a figure's label matches the id it links to."""
    if isinstance(value, float | np.floating):
        return format(float(value), ".6g")
    return str(value)


def config_id(params: Mapping[str, object]) -> str:
    """The id `config_ids` gives one configuration (its searched hyperparameters, named in the
    sorted order studies store them in), for a cell that has no trial yet."""
    if not params:
        return "default"
    return " ".join(f"{h}={format_value(_number(params[h]))}" for h in sorted(params))


def _number(value: object) -> object:
    """Stored parameters come back as floats: a spec's `3` is the trials' `3.0`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def config_ids(frame: pd.DataFrame, hps: list[str]) -> pd.Series:
    """Readable, per-optimizer unique ids such as "lr=0.001 gamma=0.001"."""
    if not hps:
        return pd.Series("default", index=frame.index)
    out = None
    for h in hps:
        # Format each distinct value once: 10,000 trials have a few dozen values per column.
        labels = {v: f"{h}={format_value(v)}" for v in frame[h].unique()}
        part = frame[h].map(labels).astype(object)
        out = part if out is None else out + " " + part
    return out


def report_scores(data: StudyData, report_metric: str) -> pd.Series:
    """The reported metric per trial, diverged trials at the floor (same direction required)."""
    trials = data.trials
    if report_metric == data.metric:
        return trials["value"]
    if report_metric not in trials.columns:
        raise UserInputError(
            f"[claims].report_metric: `{report_metric}` is not a metric of study `{data.name}`; "
            f"expected one of: {', '.join(data.metrics) or data.metric}."
        )
    if metric_direction(report_metric) != data.direction:
        raise UserInputError(
            f"[claims].report_metric: `{report_metric}` is {metric_direction(report_metric)}d "
            f"but the selection metric `{data.metric}` is {data.direction}d; expected a metric "
            "with the same direction."
        )
    values = trials[report_metric].astype(float)
    return values.where(trials["outcome"] != "diverged", trials["floor"])


def build_grids(data: StudyData, seeds: list[int], report_metric: str) -> dict[str, Grid]:
    """One `Grid` per optimizer; the row order of `configs` is the matrix row order."""
    sign = 1.0 if data.direction == "maximize" else -1.0
    trials = data.trials.copy()
    trials["_rep"] = report_scores(data, report_metric)
    for column in ("value", "_rep"):
        trials[column] = _finite_floor(trials, column, sign)
    seed_pos = {s: i for i, s in enumerate(seeds)}
    grids = {}
    for optimizer in sorted(data.hyperparameters):
        hps = list(data.hyperparameters[optimizer])
        rows = trials[trials["optimizer"] == optimizer]
        if rows.empty:
            continue
        rows = rows.assign(config=config_ids(rows, hps))
        configs = (
            rows.drop_duplicates("config")[["config", *hps]].sort_values(hps or ["config"])
        ).reset_index(drop=True)
        index = pd.Series(np.arange(len(configs)), index=configs["config"])
        data_rows = rows[rows["outcome"].isin(DATA_OUTCOMES)]
        shape = (len(configs), len(seeds))
        sel = np.full(shape, np.nan)
        rep = np.full(shape, np.nan)
        diverged = np.zeros(shape)
        mask = np.zeros(shape, dtype=bool)
        r = index[data_rows["config"]].to_numpy()
        c = data_rows["seed"].map(seed_pos).to_numpy()
        # A repeated (config, seed) keeps the last trial: duplicates are storage's to prevent.
        sel[r, c] = sign * data_rows["value"].astype(float).to_numpy()
        rep[r, c] = sign * data_rows["_rep"].astype(float).to_numpy()
        diverged[r, c] = (data_rows["outcome"] == "diverged").to_numpy(dtype=float)
        mask[r, c] = np.isfinite(sel[r, c])
        errors = rows[rows["outcome"] == "error"]["config"].value_counts()
        n_error = errors.reindex(configs["config"]).fillna(0).to_numpy(dtype=int)
        space = data.search_spaces.get(optimizer, {})
        log = {
            h: bool(space[h]["log"])
            if "log" in space.get(h, {})
            else default_log_scale(configs[h].to_numpy(dtype=float))
            for h in hps
        }
        grids[optimizer] = Grid(optimizer, hps, configs, sel, rep, diverged, mask, n_error, log)
    return grids


def _finite_floor(trials: pd.DataFrame, column: str, sign: float) -> pd.Series:
    """Diverged trials whose floor was unknown were stored at -inf / inf (the worst possible);
    score them at the worst finite value of the study instead, so they stay in every mean."""
    values = trials[column].astype(float)
    data = trials["outcome"].isin(DATA_OUTCOMES)
    finite = values[data & np.isfinite(values)]
    bad = data & (trials["outcome"] == "diverged") & ~np.isfinite(values)
    if not bad.any() or finite.empty:
        return values
    worst = finite.min() if sign > 0 else finite.max()
    return values.where(~bad, worst)


def default_log_scale(values: np.ndarray) -> bool:
    """Log scale for a hyperparameter whose study does not say (an in-memory synthetic study):
    positive values spanning at least a decade. Stored studies carry their search space, whose
    `log` flag is the optimizer registry's (`hpsearch.spec.search_space`)."""
    finite = values[np.isfinite(values)]
    if not len(finite) or not np.all(finite > 0):
        return False
    return float(finite.max() / finite.min()) >= 10.0


def is_log_scale(grid: Grid, hp: str, values: np.ndarray) -> bool:
    """Whether `hp` of `grid` is placed on a log axis: as searched, and only for positive
    `values` (a log position needs them)."""
    finite = values[np.isfinite(values)]
    positive = bool(len(finite) and np.all(finite > 0))
    return grid.log.get(hp, default_log_scale(values)) and positive


def positions(values: np.ndarray, log: bool) -> np.ndarray:
    return np.log10(values) if log else values.astype(float)


def decades(low: float, high: float, log: bool) -> float:
    return math.log10(high / low) if log else math.nan
