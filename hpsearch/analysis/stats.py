"""Descriptive sensitivity statistics of one optimizer (profiles, widths, best-of-k), on bootstrap
arrays.

Every function takes and returns arrays whose last axis is [point, replicate 1..B] (see
`bootstrap.py`), so the same code yields the estimate and its paired-bootstrap distribution.
Scores are oriented so that higher is better; regret, spread and δ are non-negative metric units.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hpsearch.analysis.bestofk import (
    cpe_rank_weights,
    expected_best_of_k,
    k_grid,
    selection_distribution,
    tie_averaged,
)
from hpsearch.analysis.bootstrap import nan_quantiles, t_interval, weighted_mean
from hpsearch.analysis.grid import Grid, decades, is_log_scale, positions
from hpsearch.analysis.pairwise import RegretBounds, regret_bounds
from hpsearch.analysis.selection import SelectionBounds, selection_bounds

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class OptimizerStats:
    """Bootstrap arrays for one optimizer (last axis: point, replicates)."""

    means: np.ndarray  # (N, B+1) seed mean per configuration
    counts: np.ndarray  # (N, B+1) seeds behind each mean
    best: np.ndarray  # (B+1,) m*
    best_row: int  # configuration that is best on the original sample
    best_se: float  # its seed standard error
    div_counts: np.ndarray  # (N, B+1) diverged trials behind each mean
    seed_noise: np.ndarray  # (B+1,) mean over configurations of the squared seed SE
    n_diverged: int
    n_trials: int
    best_interval: tuple[float, float, float]  # m* with its selection-aware bounds (oriented)
    width_joint: np.ndarray = field(default_factory=lambda: np.empty(0))  # (B+1,) W_o(δ)
    ks: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    best_of_k: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))  # (K, B+1)
    cpe: np.ndarray = field(default_factory=lambda: np.empty(0))  # (B+1,)
    # (S, K + 1) per seed: E^(s)(k) for each k of `ks`, then CPE; NaN rows = seed unusable.
    # Intervals of E(k) are Student-t over these rows (a mean over seeds).
    per_seed_curve: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))


@dataclass
class HyperparameterStats:
    """Bootstrap arrays for one optimizer x hyperparameter."""

    hyperparameter: str
    log: bool
    values: np.ndarray  # (V,) grid values, sorted
    in_range: np.ndarray  # (V,) bool
    range: tuple[float, float]
    profile: np.ndarray  # (V, B+1)
    profile_rows: np.ndarray  # (V,) configuration row behind each profile point
    slice: np.ndarray  # (V, B+1), NaN where the best configuration has no neighbour at v
    slice_rows: np.ndarray  # (V,) row or -1
    divergence: np.ndarray  # (V, B+1) pooled divergence rate at each value
    n_trials: np.ndarray  # (V,) data trials at each value
    n_diverged: np.ndarray  # (V,)
    spread: np.ndarray
    iqr: np.ndarray
    width: np.ndarray  # W_h(δ), fraction of the range
    decades: float
    noise_ratio: np.ndarray
    boundary: np.ndarray | None  # lr only: divergence boundary, NaN where none
    bounds: SelectionBounds  # selection-aware m* and profile intervals (figures, tables)
    regret: RegretBounds  # the verdicts' regret bounds per value (`pairwise.py`)
    slice_interval: np.ndarray  # (V, 3) point, low, high of each slice cell (Student t)
    codes: np.ndarray  # (N,) grid-value index of each configuration


def optimizer_stats(grid: Grid, weights: np.ndarray, confidence: float = 0.95) -> OptimizerStats:
    means = weighted_mean(grid.sel, grid.mask, weights)
    counts = grid.mask.astype(float) @ weights.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = np.nanmax(means, axis=0)
    point = means[:, 0]
    best_row = int(np.nanargmax(np.where(np.isfinite(point), point, -np.inf)))
    seeds = grid.sel[best_row][grid.mask[best_row]]
    best_se = float(np.std(seeds, ddof=1) / math.sqrt(len(seeds))) if len(seeds) > 1 else math.nan
    div = (grid.diverged * grid.mask) @ weights.T
    square = weighted_mean(np.where(grid.mask, grid.sel, 0.0) ** 2, grid.mask, weights)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        var_seed = (square - means**2) * counts / (counts - 1)
        seed_noise = np.nanmean(np.clip(var_seed, 0, None) / counts, axis=0)
    return OptimizerStats(
        means=means,
        counts=counts,
        best=best,
        best_row=best_row,
        best_se=best_se,
        div_counts=div,
        seed_noise=seed_noise,
        n_diverged=int((grid.diverged * grid.mask).sum()),
        n_trials=int(grid.mask.sum()),
        best_interval=selection_bounds(
            grid.sel, grid.mask, np.zeros(grid.n, dtype=int), 1, confidence
        ).best,
    )


def finish_optimizer_stats(
    stats: OptimizerStats, grid: Grid, weights: np.ndarray, delta: float
) -> None:
    """Add the δ-dependent joint width and the best-of-k curve (needs the study-wide δ)."""
    finite = np.isfinite(stats.means)
    good = finite & (stats.means >= stats.best - delta)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats.width_joint = good.sum(0) / finite.sum(0)
    ks = k_grid(grid.n)
    per_seed = np.full((grid.sel.shape[1], len(ks) + 1), np.nan)
    cpe_weights = cpe_rank_weights(grid.n) if grid.n else np.empty(0)
    for s in range(grid.sel.shape[1]):
        sel, rep = grid.sel[:, s], grid.rep[:, s]
        per_seed[s, :-1] = expected_best_of_k(sel, rep, ks)
        keep = np.isfinite(sel) & np.isfinite(rep)
        n = int(keep.sum())
        if n:
            _, rep_sorted = tie_averaged(sel[keep], rep[keep])
            # CPE over the configurations this seed has (all of them unless some failed).
            per_seed[s, -1] = (cpe_weights if n == grid.n else cpe_rank_weights(n)) @ rep_sorted
    valid = np.isfinite(per_seed).all(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = (weights @ np.nan_to_num(per_seed * valid[:, None])) / (weights @ valid)[:, None]
    stats.ks = ks
    stats.best_of_k = curve[:, :-1].T
    stats.cpe = curve[:, -1]
    stats.per_seed_curve = np.where(valid[:, None] > 0, per_seed, np.nan)


def hyperparameter_stats(
    grid: Grid,
    stats: OptimizerStats,
    weights: np.ndarray,
    hp: str,
    delta: float,
    declared: tuple[float, float] | None,
    confidence: float = 0.95,
) -> HyperparameterStats:
    raw = grid.configs[hp].to_numpy(dtype=float)
    values, codes = np.unique(raw, return_inverse=True)
    log = is_log_scale(grid, hp, values)
    low, high = declared if declared else (float(values[0]), float(values[-1]))
    tol = 1e-9 * max(abs(low), abs(high), 1e-300)
    in_range = (values >= low - tol) & (values <= high + tol)

    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    means = stats.means[order]
    profile = np.fmax.reduceat(means, starts, axis=0)
    point = np.where(np.isfinite(means[:, 0]), means[:, 0], -np.inf)
    group_of_row = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(order)]))
    profile_rows = np.array(
        [order[starts[v] + int(np.argmax(point[group_of_row == v]))] for v in range(len(starts))]
    )
    slice_rows = _slice_rows(grid, stats.best_row, hp, values)
    slice_ = np.where((slice_rows >= 0)[:, None], stats.means[np.maximum(slice_rows, 0)], np.nan)

    div = stats.div_counts[order]
    cnt = stats.counts[order]
    div_v = np.add.reduceat(div, starts, axis=0)
    cnt_v = np.add.reduceat(cnt, starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        divergence = div_v / cnt_v

    inside = profile[in_range]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanmax(inside, axis=0) - np.nanmin(inside, axis=0)
        q75, q25 = nan_quantiles(inside, [0.75, 0.25], axis=0)
        var_p = np.nanvar(inside, axis=0, ddof=1) if inside.shape[0] > 1 else np.nan * spread
        with np.errstate(invalid="ignore", divide="ignore"):
            noise_ratio = var_p / (var_p + stats.seed_noise)

    x = positions(values, log)
    xa, xb = positions(np.array([low, high]), log)
    width = good_width(x[in_range], inside, stats.best - delta, xa, xb)
    boundary = _boundary(x, divergence, log) if hp == "lr" else None
    bounds = selection_bounds(grid.sel, grid.mask, codes, len(values), confidence)
    regrets = regret_bounds(
        grid.sel, grid.mask, codes, len(values), in_range, confidence, left=grid.left
    )
    cell = np.stack(t_interval(grid.sel, grid.mask, confidence), axis=1)  # (N, 3)
    slice_interval = np.where((slice_rows >= 0)[:, None], cell[np.maximum(slice_rows, 0)], np.nan)
    return HyperparameterStats(
        hyperparameter=hp,
        log=log,
        values=values,
        in_range=in_range,
        range=(low, high),
        profile=profile,
        profile_rows=profile_rows,
        slice=slice_,
        slice_rows=slice_rows,
        divergence=divergence,
        n_trials=cnt_v[:, 0].astype(int),
        n_diverged=div_v[:, 0].astype(int),
        spread=spread,
        iqr=q75 - q25,
        width=width,
        decades=decades(low, high, log),
        noise_ratio=noise_ratio,
        boundary=boundary,
        bounds=bounds,
        regret=regrets,
        slice_interval=slice_interval,
        codes=codes,
    )


def _slice_rows(grid: Grid, best_row: int, hp: str, values: np.ndarray) -> np.ndarray:
    """Row of the best configuration with `hp` set to each value (-1 where the grid lacks it)."""
    others = [h for h in grid.hyperparameters if h != hp]
    configs = grid.configs
    same = np.ones(len(configs), dtype=bool)
    for h in others:
        same &= (configs[h] == configs[h].iloc[best_row]).to_numpy()
    column = configs[hp].to_numpy(dtype=float)
    rows = np.full(len(values), -1)
    for i, v in enumerate(values):
        hit = np.flatnonzero(same & (column == v))
        if len(hit):
            rows[i] = hit[0]
    return rows


def good_width(
    x: np.ndarray, profile: np.ndarray, threshold: np.ndarray, xa: float, xb: float
) -> np.ndarray:
    """Fraction of [xa, xb] where the linearly interpolated profile is >= threshold."""
    above = np.where(np.isfinite(profile), profile - threshold[None, :], -np.inf)
    if len(x) < 2:
        return (above[0] >= 0).astype(float) if len(x) else np.full(threshold.shape, np.nan)
    a0, a1 = above[:-1], above[1:]
    length = np.diff(x)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        partial = np.maximum(a0, a1) / np.abs(a1 - a0)
    inside = np.where(
        (a0 >= 0) & (a1 >= 0), 1.0, np.where((a0 >= 0) | (a1 >= 0), np.nan_to_num(partial), 0.0)
    )
    return (inside * length).sum(0) / (xb - xa)


def _boundary(x: np.ndarray, divergence: np.ndarray, log: bool) -> np.ndarray:
    """Smallest grid lr with D > 0.5, interpolated (in log space) from the value below it."""
    over = np.nan_to_num(divergence) > 0.5
    first = np.argmax(over, axis=0)
    found = over.any(axis=0)
    prev = np.maximum(first - 1, 0)
    cols = np.arange(divergence.shape[1])
    d0, d1 = np.nan_to_num(divergence[prev, cols]), divergence[first, cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(first > 0, (0.5 - d0) / (d1 - d0), 0.0)
    pos = x[prev] + frac * (x[first] - x[prev])
    pos = np.where(found, pos, np.nan)
    return 10.0**pos if log else pos


def edf(stats: OptimizerStats, points: int = 51) -> tuple[np.ndarray, np.ndarray]:
    """Regret grid and (R, B+1) fraction of configurations within each regret of the best."""
    regret = stats.best[None, :] - stats.means
    finite = np.isfinite(regret)
    top = np.nanmax(regret[:, 0]) if finite[:, 0].any() else 0.0
    grid = np.linspace(0.0, top if top > 0 else 1.0, points)
    total = finite.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.stack([(finite & (regret <= r)).sum(0) / total for r in grid])
    return grid, fraction


def win_probability(
    grids: dict[str, Grid], points: int = 40
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """P(optimizer's best-of-k has the top reported score), per k, averaged over seeds.

    Each optimizer picks its best of k random configurations by the selection score (exact
    distribution, `bestofk.selection_distribution`: a tie in the selection score is a fair draw
    among its reported scores, not their average); ties between optimizers count half.
    """
    names = list(grids)
    largest = max(g.n for g in grids.values())
    ks = k_grid(largest, dense_up_to=points, points=points)
    out = {o: np.zeros(len(ks)) for o in names}
    n_seeds = next(iter(grids.values())).sel.shape[1]
    used = 0
    for s in range(n_seeds):
        dists = {}
        for o in names:
            g = grids[o]
            keep = np.isfinite(g.sel[:, s]) & np.isfinite(g.rep[:, s])
            if not keep.any():
                break
            dists[o] = selection_distribution(g.sel[keep, s], g.rep[keep, s], ks)
        else:
            used += 1
            for o in names:
                y, p = dists[o]
                win = p.copy()
                for other in names:
                    if other == o:
                        continue
                    u, q = dists[other]
                    order = np.argsort(u)
                    u_sorted, q_sorted = u[order], q[:, order]
                    cum = np.concatenate([np.zeros((len(ks), 1)), np.cumsum(q_sorted, 1)], 1)
                    lo = np.searchsorted(u_sorted, y, side="left")
                    hi = np.searchsorted(u_sorted, y, side="right")
                    rows = np.arange(len(ks))[:, None]
                    below = cum[rows, lo[None, :]]
                    ties = cum[rows, hi[None, :]] - below
                    win *= below + 0.5 * ties
                out[o] += win.sum(1)
    return ks, {o: v / max(used, 1) for o, v in out.items()}


def best_seed_mean(
    trials: pd.DataFrame, hyperparameters: Sequence[str], *, maximize: bool
) -> float:
    """The best configuration's mean `value` over its seeds: m*'s point estimate, read straight
    from one optimizer's trials (no grid, no bootstrap), so a study still running has one. NaN
    when no trial has a value. Configurations are the distinct values of `hyperparameters`
    (those absent from `trials` are ignored; none: one configuration).

    Values 0.6 and 0.8 at lr = 0.1, 0.9 and 0.3 at lr = 1: seed means 0.7 and 0.6, so 0.7 when
    maximizing (not the best single trial's 0.9), 0.6 when minimizing.
    """
    rows = trials[trials["value"].notna()]
    if rows.empty:
        return math.nan
    hps = [h for h in hyperparameters if h in rows.columns]
    if not hps:
        return float(rows["value"].mean())
    means = rows.groupby(hps, dropna=False)["value"].mean()
    return float(means.max() if maximize else means.min())
