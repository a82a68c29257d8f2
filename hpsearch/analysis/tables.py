"""The tables of `StudyAnalysis` (columns documented on it in `records.py`), built from the
statistics `stats.py`, `selection.py` and `pairwise.py` computed: nothing here computes a statistic
of its own, it only arranges them, orients them back to the metric's direction and clips bounds to
the metric's possible values.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hpsearch.analysis.bootstrap import interval, seed_rate, t_interval
from hpsearch.analysis.grid import DATA_OUTCOMES, Grid, config_ids, report_scores
from hpsearch.analysis.importance import importances
from hpsearch.analysis.records import SENSITIVITY_COLUMNS, SUMMARY_COLUMNS
from hpsearch.analysis.stats import (
    HyperparameterStats,
    OptimizerStats,
    edf,
    win_probability,
)
from hpsearch.studydata import StudyData

LEVELS = (-math.inf, math.inf)


@dataclass(frozen=True)
class TableInputs:
    """What every table builder reads: the grids and their statistics, oriented (`sign`)."""

    grids: dict[str, Grid]
    stats: dict[str, OptimizerStats]
    hstats: dict[tuple[str, str], HyperparameterStats]
    sign: float  # +1 maximise, -1 minimise
    confidence: float
    n_seeds: int
    delta: float  # δ of W(δ), metric units
    limits: tuple[float, float]  # the metric's possible values (an accuracy: [0, 1])


def oriented(
    point: Any, low: Any, high: Any, sign: float, limits: tuple[float, float] = LEVELS
) -> tuple[Any, Any, Any]:
    """Point, low, high of an oriented score, back in the metric's direction; the bounds never
    leave the metric's possible values (an accuracy in [0, 1]: a 2-seed t interval can reach
    past 100 %)."""
    if sign < 0:
        point, low, high = -point, -high, -low
    return point, np.clip(low, *limits), np.clip(high, *limits)


def configs_table(t: TableInputs) -> pd.DataFrame:
    """One row per (optimizer, configuration): seed mean with its t interval, spread, counts."""
    grids, stats, sign, conf, limits = t.grids, t.stats, t.sign, t.confidence, t.limits
    frames = []
    for o in stats:
        g = grids[o]
        point, low, high = oriented(*t_interval(g.sel, g.mask, conf), sign, limits)
        n = g.mask.sum(1)
        sel = np.where(g.mask, g.sel, np.nan)
        with np.errstate(invalid="ignore"), _quiet():
            std = np.nanstd(sel, axis=1, ddof=1) if sel.shape[1] > 1 else np.full(g.n, np.nan)
            median = sign * np.nanmedian(sel, axis=1)
            rep_mean = sign * np.nanmean(np.where(g.mask, g.rep, np.nan), axis=1)
        frame = g.configs.copy()
        frame.insert(0, "optimizer", o)
        ndiv = (g.diverged * g.mask).sum(1).astype(int)
        frame = frame.assign(
            mean=point,
            median=median,
            se=std / np.sqrt(np.maximum(n, 1)),
            std=std,
            n_seeds=n,
            n_diverged=ndiv,
            n_error=g.n_error,
            divergence_rate=np.where(n > 0, ndiv / np.maximum(n, 1), np.nan),
            mean_low=low,
            mean_high=high,
            rep_mean=rep_mean,
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def sensitivity_table(t: TableInputs) -> pd.DataFrame:
    """One row per optimizer x hyperparameter x grid value: profile, slice, regret, divergence."""
    grids, hstats, sign, delta, conf, limits = (
        t.grids,
        t.hstats,
        t.sign,
        t.delta,
        t.confidence,
        t.limits,
    )
    rows = []
    for (o, hp), hs in hstats.items():
        configs = grids[o].configs["config"].to_numpy()
        b = hs.bounds
        prof, prof_lo, prof_hi = oriented(
            b.profile[:, 0], b.profile[:, 1], b.profile[:, 2], sign, limits
        )
        sl, sl_lo, sl_hi = oriented(
            hs.slice_interval[:, 0], hs.slice_interval[:, 1], hs.slice_interval[:, 2], sign, limits
        )
        reg, reg_lo, reg_hi = hs.regret.per_value.T
        for i, v in enumerate(hs.values):
            lo, hi = seed_rate(hs.n_diverged[i], hs.n_trials[i], t.n_seeds, conf)
            rows.append(
                {
                    "optimizer": o,
                    "hyperparameter": hp,
                    "value": float(v),
                    "profile": prof[i],
                    "profile_low": prof_lo[i],
                    "profile_high": prof_hi[i],
                    "profile_config": configs[hs.profile_rows[i]],
                    "slice": sl[i],
                    "slice_low": sl_lo[i],
                    "slice_high": sl_hi[i],
                    "slice_config": configs[hs.slice_rows[i]] if hs.slice_rows[i] >= 0 else None,
                    "regret": reg[i],
                    "regret_low": reg_lo[i],
                    "regret_high": reg_hi[i],
                    "divergence_rate": hs.n_diverged[i] / hs.n_trials[i]
                    if hs.n_trials[i]
                    else math.nan,
                    "divergence_rate_low": lo,
                    "divergence_rate_high": hi,
                    "n_trials": int(hs.n_trials[i]),
                    "n_diverged": int(hs.n_diverged[i]),
                    "in_range": bool(hs.in_range[i]),
                    "good": bool(reg[i] <= delta),
                }
            )
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


def summary_table(t: TableInputs) -> pd.DataFrame:
    """One row per optimizer x hyperparameter: spread, IQR, W(δ), max regret, η, boundary."""
    hstats, conf, n_seeds = t.hstats, t.confidence, t.n_seeds
    rows = []
    for (o, hp), hs in hstats.items():
        row: dict[str, Any] = {
            "optimizer": o,
            "hyperparameter": hp,
            "log_scale": hs.log,
            "range_low": hs.range[0],
            "range_high": hs.range[1],
            "decades": hs.decades,
            "n_values": int(hs.in_range.sum()),
        }
        stats_ = {
            "spread": hs.spread,
            "iqr": hs.iqr,
            "width": hs.width,
            "decades_within": hs.width * hs.decades,
            "noise_ratio": hs.noise_ratio,
            "divergence_boundary": hs.boundary
            if hs.boundary is not None
            else np.full(hs.width.shape, np.nan),
        }
        limits = {
            "width": (0.0, 1.0),
            "decades_within": (0.0, hs.decades if math.isfinite(hs.decades) else np.inf),
            "noise_ratio": (0.0, 1.0),
            "spread": (0.0, np.inf),
            "iqr": (0.0, np.inf),
        }
        for name, arr in stats_.items():
            point, low, high = interval(arr, conf, n_seeds, limits.get(name, (-np.inf, np.inf)))
            row |= {name: float(point), f"{name}_low": float(low), f"{name}_high": float(high)}
        top, top_low, top_high = hs.regret.max_regret
        row |= {"max_regret": top, "max_regret_low": top_low, "max_regret_high": top_high}
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def optimizers_table(t: TableInputs) -> pd.DataFrame:
    """One row per optimizer (the joint view): best, W_o(δ), E(k), CPE, divergence."""
    grids, stats, sign, conf, n_seeds, limits = (
        t.grids,
        t.stats,
        t.sign,
        t.confidence,
        t.n_seeds,
        t.limits,
    )
    rows = []
    e_final = {o: s.best_of_k[-1, 0] for o, s in stats.items()}
    top = max(e_final.values()) if e_final else math.nan
    for o, s in stats.items():
        g = grids[o]
        lo, hi = seed_rate(s.n_diverged, s.n_trials, n_seeds, conf)
        row: dict[str, Any] = {
            "optimizer": o,
            "n_configs": g.n,
            "n_trials": s.n_trials,
            "n_diverged": s.n_diverged,
            "n_error": int(g.n_error.sum()),
            "best_config": g.configs["config"].iloc[s.best_row],
            "best_se": s.best_se,
            "divergence_rate": s.n_diverged / s.n_trials if s.n_trials else math.nan,
            "divergence_rate_low": lo,
            "divergence_rate_high": hi,
        }
        p, lo_, hi_ = oriented(*s.best_interval, sign, limits)
        row |= {"best": float(p), "best_low": float(lo_), "best_high": float(hi_)}
        p, lo_, hi_ = interval(s.width_joint, conf, n_seeds, (0.0, 1.0))
        row |= {
            "width_joint": float(p),
            "width_joint_low": float(lo_),
            "width_joint_high": float(hi_),
        }
        columns = {"cpe": -1} | {
            f"e{k}": int(np.searchsorted(s.ks, min(k, g.n))) for k in (1, 4, 16)
        }
        per_seed = s.per_seed_curve
        for name, idx in columns.items():
            p, lo_, hi_ = oriented(*_seed_mean(per_seed[:, idx], conf), sign, limits)
            row |= {name: float(p), f"{name}_low": float(lo_), f"{name}_high": float(hi_)}
        # α-tunability (α = 0.95) on oriented scores: for a minimised metric "α of the best"
        # means within a factor 1/α of it.
        curve_point = s.best_of_k[:, 0]
        row["tunability_global"] = _first_k(s.ks, curve_point, top, sign)
        row["tunability_local"] = _first_k(s.ks, curve_point, e_final[o], sign)
        rows.append(row)
    return pd.DataFrame(rows)


def _first_k(
    ks: np.ndarray, curve: np.ndarray, target: float, sign: float, alpha: float = 0.95
) -> float:
    goal = alpha * target if sign > 0 else target / alpha  # oriented: target = -loss
    hit = np.flatnonzero(curve >= goal - 1e-12)
    return float(ks[hit[0]]) if len(hit) else math.nan


def _seed_mean(values: np.ndarray, conf: float) -> tuple[Any, Any, Any]:
    """Mean over seeds (axis 0; NaN = unusable seed) with Student's t interval."""
    v = np.asarray(values, dtype=float).T
    return t_interval(v, np.isfinite(v), conf)


def best_of_k_table(t: TableInputs) -> pd.DataFrame:
    """E[best of k] per optimizer and k, with Student t intervals over seeds."""
    stats, sign, conf, limits = t.stats, t.sign, t.confidence, t.limits
    frames = []
    for o, s in stats.items():
        p, lo, hi = oriented(*_seed_mean(s.per_seed_curve[:, :-1], conf), sign, limits)
        frames.append(
            pd.DataFrame(
                {"optimizer": o, "k": s.ks, "expected": p, "expected_low": lo, "expected_high": hi}
            )
        )
    columns = ["optimizer", "k", "expected", "expected_low", "expected_high"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def win_table(t: TableInputs) -> pd.DataFrame:
    """P(an optimizer's best-of-k has the top reported score), per k."""
    grids, stats = t.grids, t.stats
    usable = {o: grids[o] for o in stats}
    if len(usable) < 2:
        return pd.DataFrame(columns=["optimizer", "k", "probability"])
    ks, probs = win_probability(usable)
    return pd.concat(
        [pd.DataFrame({"optimizer": o, "k": ks, "probability": p}) for o, p in probs.items()],
        ignore_index=True,
    )


def edf_table(t: TableInputs) -> pd.DataFrame:
    """The EDF of cell means against regret, per optimizer."""
    stats, conf, n_seeds = t.stats, t.confidence, t.n_seeds
    frames = []
    for o, s in stats.items():
        regret, fraction = edf(s)
        p, lo, hi = interval(fraction, conf, n_seeds, (0.0, 1.0))
        frames.append(
            pd.DataFrame(
                {
                    "optimizer": o,
                    "regret": regret,
                    "fraction": p,
                    "fraction_low": lo,
                    "fraction_high": hi,
                }
            )
        )
    columns = ["optimizer", "regret", "fraction", "fraction_low", "fraction_high"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def importance_table(t: TableInputs) -> pd.DataFrame:
    """PED-ANOVA-style importances (descriptive only)."""
    grids, stats, conf, n_seeds = t.grids, t.stats, t.confidence, t.n_seeds
    rows = []
    for o, s in stats.items():
        for hp, arr in importances(grids[o], s.means).items():
            p, lo, hi = interval(arr, conf, n_seeds, (0.0, np.inf))
            rows.append(
                {
                    "optimizer": o,
                    "hyperparameter": hp,
                    "importance": float(p),
                    "importance_low": float(lo),
                    "importance_high": float(hi),
                }
            )
    return pd.DataFrame(
        rows,
        columns=["optimizer", "hyperparameter", "importance", "importance_low", "importance_high"],
    )


def heatmaps_table(t: TableInputs) -> pd.DataFrame:
    """Pairs of hyperparameters: the best seed mean over the others, with divergence shares."""
    grids, stats, sign = t.grids, t.stats, t.sign
    frames = []
    for o, s in stats.items():
        g = grids[o]
        hps = [h for h in g.hyperparameters if 2 <= g.configs[h].nunique() <= 30]
        frame = g.configs.assign(
            _mean=s.means[:, 0],
            _div=(g.diverged * g.mask).sum(1),
            _n=g.mask.sum(1),
        )
        for i, x in enumerate(hps):
            for y in hps[i + 1 :]:
                ordered = frame.sort_values("_mean", ascending=False, na_position="last")
                grouped = ordered.groupby([x, y], sort=True)
                table = grouped.agg(
                    profile=("_mean", "max"),
                    div=("_div", "sum"),
                    n=("_n", "sum"),
                    config=("config", "first"),
                ).reset_index()
                frames.append(
                    pd.DataFrame(
                        {
                            "optimizer": o,
                            "x": x,
                            "y": y,
                            "x_value": table[x].astype(float),
                            "y_value": table[y].astype(float),
                            "profile": sign * table["profile"],
                            "divergence_rate": table["div"] / table["n"].where(table["n"] > 0),
                            "n_trials": table["n"].astype(int),
                            "config": table["config"],
                        }
                    )
                )
    columns = [
        "optimizer",
        "x",
        "y",
        "x_value",
        "y_value",
        "profile",
        "divergence_rate",
        "n_trials",
        "config",
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def picks_table(t: TableInputs, data: StudyData) -> pd.DataFrame:
    """The configurations whose learning curves are drawn: best, divergence boundary, lr = 1."""
    grids, stats, hstats = t.grids, t.stats, t.hstats
    trials = data.trials
    rows = []
    for o, s in stats.items():
        g = grids[o]
        picks: list[tuple[str, int]] = [("best", s.best_row)]
        hs = hstats.get((o, "lr"))
        if hs is not None:
            if hs.boundary is not None and np.isfinite(hs.boundary[0]):
                i = int(np.searchsorted(hs.values, hs.boundary[0] * (1 - 1e-9)))
                i = min(i, len(hs.values) - 1)
                picks.append(("boundary", int(hs.profile_rows[i])))
            one = np.flatnonzero(np.isclose(hs.values, 1.0))
            if len(one):
                i = int(one[0])
                row = hs.slice_rows[i] if hs.slice_rows[i] >= 0 else hs.profile_rows[i]
                picks.append(("lr=1", int(row)))
        ids = config_ids(trials[trials["optimizer"] == o], g.hyperparameters)
        mine = trials[trials["optimizer"] == o].assign(config=ids)
        for role, row in picks:
            config = g.configs["config"].iloc[row]
            chosen = mine[(mine["config"] == config) & mine["outcome"].isin(DATA_OUTCOMES)]
            lr = float(g.configs["lr"].iloc[row]) if "lr" in g.configs else math.nan
            rows.append(
                {
                    "optimizer": o,
                    "role": role,
                    "config": config,
                    "lr": lr,
                    "trial_numbers": [int(t) for t in chosen["trial_number"]],
                    "studies": [str(x) for x in chosen["study"]],
                }
            )
    return pd.DataFrame(
        rows, columns=["optimizer", "role", "config", "lr", "trial_numbers", "studies"]
    )


def points_table(data: StudyData, report_metric: str) -> pd.DataFrame:
    """One row per trial that is data (completed or diverged)."""
    trials = data.trials
    keep = trials["outcome"].isin(DATA_OUTCOMES)
    frames = []
    for o, hps in data.hyperparameters.items():
        mine = trials[keep & (trials["optimizer"] == o)]
        if mine.empty:
            continue
        frame = mine[
            [
                "study",
                "trial_number",
                "optimizer",
                "seed",
                "outcome",
                "value",
                "diverged_epoch",
                *hps,
            ]
        ].copy()
        frame.insert(3, "config", config_ids(mine, list(hps)))
        frame.insert(7, "rep_value", report_scores(data, report_metric)[mine.index])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's empty-slice warnings where NaN is the intended answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
