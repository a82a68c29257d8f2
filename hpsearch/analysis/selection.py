"""Intervals for statistics that *select*: the best cell m*, the profile P_h(v), the regret R_h(v).

m* = max over cells of a seed mean is biased upward when the cells are close (the maximum of noisy
means), and a bootstrap of it inherits the bias: a flat grid at S = 5 was "refuted" in up to 27 %
of repetitions. Each bound here is built from a per-seed quantity whose mean errs on the safe side
for that bound, then given a one-sided Student-t bound with n - 1 degrees of freedom:

- *cross-fitted* (leave one seed out): the cell chosen on the other seeds, scored on the left-out
  seed. Its expectation is the true mean of a chosen cell, so it is **at most** the true maximum;
- *in-sample*: the cell chosen and scored on all seeds. Its expectation is **at least** the true
  maximum of the group (a maximum of unbiased means).

So the regret R(v) = m* - P(v) gets its lower bound from "cross-fitted m* minus in-sample P(v)"
and its upper bound from "in-sample m* minus cross-fitted P(v)", each paired seed by seed.
The largest regret over the range is bounded below by the largest per-value lower bound at level
α / V (Bonferroni: "some value fails" is a union over V values) and above by the largest per-value
upper bound at level α (every value must pass, so no correction is needed). SENSITIVITY.md §4.5;
coverage and error rates are measured by `benchmarks/calibration.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpsearch.analysis.bootstrap import one_sided_t_bound, t_interval, t_quantile


@dataclass(frozen=True)
class SelectionBounds:
    """Selection-aware estimates of one optimizer's m*, and of each grid value's profile/regret.

    Every (point, low, high) triple is oriented (higher is better) and its interval has the
    study's confidence; `max_regret_*` is over the values flagged `in_range`.
    """

    best: tuple[float, float, float]  # m*
    profile: np.ndarray  # (V, 3) P(v): in-sample point, cross-fitted low, max-of-cells high
    regret: np.ndarray  # (V, 3) R(v) = m* - P(v), per-value interval (level α / 2 each side)
    regret_low_joint: np.ndarray  # (V,) lower bounds at level α / (2 V): "this value fails"
    regret_high_joint: np.ndarray  # (V,) upper bounds at level α / (2 V): "this value passes"
    max_regret: tuple[float, float, float]  # over in-range values (simultaneous)


def cell_intervals(
    sel: np.ndarray, mask: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cell's seed mean with Student's t interval (the configs table, the slice view)."""
    return t_interval(sel, mask, confidence)


def selection_bounds(
    sel: np.ndarray,
    mask: np.ndarray,
    codes: np.ndarray,
    n_values: int,
    in_range: np.ndarray,
    confidence: float,
) -> SelectionBounds:
    """Bounds for m*, P(v) and R(v) of one optimizer's (N cells, S seeds) oriented scores.

    `codes[c]` is the grid-value index (0..n_values-1) of cell c's hyperparameter.
    """
    alpha = (1.0 - confidence) / 2.0  # one-sided error of each bound
    y = np.where(mask, sel, 0.0)
    n = mask.sum(1)
    total = y.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(n > 0, total / n, -np.inf)
        # Leave-one-seed-out means: eligible at fold s only if the cell has seed s and another.
        loo = np.where(mask & (n[:, None] > 1), (total[:, None] - y) / (n[:, None] - 1), -np.inf)
    s_count = sel.shape[1]
    folds = np.arange(s_count)
    groups = [np.flatnonzero(codes == v) for v in range(n_values)]

    best = int(np.argmax(means))
    in_best = sel[best]
    in_best_mask = mask[best]
    cf_best, cf_best_mask = _cross_fitted(sel, loo, np.arange(len(means)), folds)

    group_best = np.array([g[int(np.argmax(means[g]))] for g in groups])
    cf_group = np.full((n_values, s_count), np.nan)
    cf_group_mask = np.zeros((n_values, s_count), dtype=bool)
    for v, g in enumerate(groups):
        cf_group[v], cf_group_mask[v] = _cross_fitted(sel, loo, g, folds)

    _, _, cell_high = t_interval(sel, mask, 1.0 - 2.0 * alpha)
    best_high = float(np.nanmax(cell_high)) if np.isfinite(cell_high).any() else np.nan
    best_low = _cross_fitted_lower(sel, mask, np.arange(len(means)), alpha)
    best_point = float(means[best])

    profile = np.full((n_values, 3), np.nan)
    regret = np.full((n_values, 3), np.nan)
    n_in = max(int(in_range.sum()), 1)
    joint = alpha / n_in
    regret_low_joint = np.full(n_values, np.nan)
    regret_high_joint = np.full(n_values, np.nan)
    for v, g in enumerate(groups):
        c = group_best[v]
        p_low = _cross_fitted_lower(sel, mask, g, alpha)
        p_high = np.nanmax(cell_high[g]) if np.isfinite(cell_high[g]).any() else np.nan
        if not np.isfinite(means[c]):  # no finished trial at this value: nothing to bound
            continue
        profile[v] = (means[c], _lower(p_low, float(means[c]), floor=-np.inf), p_high)

        # Low side: cross-fitted m* minus in-sample P(v), seed by seed.
        down = cf_best - sel[c]
        down_mask = cf_best_mask & mask[c]
        # High side: in-sample m* minus cross-fitted P(v), seed by seed.
        up = in_best - cf_group[v]
        up_mask = in_best_mask & cf_group_mask[v]
        _, r_low = one_sided_t_bound(down, down_mask, alpha, upper=False)
        _, r_high = one_sided_t_bound(up, up_mask, alpha, upper=True)
        _, r_low_joint = one_sided_t_bound(down, down_mask, joint, upper=False)
        _, r_high_joint = one_sided_t_bound(up, up_mask, joint, upper=True)
        point = best_point - float(means[c])
        # A regret is never negative; the point estimate stays inside its interval.
        regret[v] = (point, _lower(r_low, point), _upper(r_high, point))
        regret_low_joint[v] = _lower(r_low_joint, point)
        regret_high_joint[v] = _upper(r_high_joint, point)

    inside = np.flatnonzero(in_range)
    if len(inside):
        lows = regret_low_joint[inside]
        max_regret = (
            float(np.nanmax(regret[inside, 0])) if np.isfinite(regret[inside, 0]).any() else np.nan,
            float(np.nanmax(lows)) if np.isfinite(lows).any() else np.nan,
            float(np.max(regret[inside, 2])),  # NaN (undecidable) wins
        )
    else:
        max_regret = (np.nan, np.nan, np.nan)
    return SelectionBounds(
        best=(
            best_point,
            _lower(best_low, best_point, floor=-np.inf),
            _upper(best_high, best_point),
        ),
        profile=profile,
        regret=regret,
        regret_low_joint=regret_low_joint,
        regret_high_joint=regret_high_joint,
        max_regret=max_regret,
    )


def _cross_fitted_lower(sel: np.ndarray, mask: np.ndarray, rows: np.ndarray, alpha: float) -> float:
    """Lower bound on the true maximum over `rows`: the cross-fitted mean minus t x its
    jackknife (delete-one-seed) standard error.

    The folds' scores are positively correlated (neighbouring folds tend to pick the same cell),
    so their own spread understates the mean's variance: in simulation the naive bound exceeded a
    flat grid's maximum in 9-21 % of repetitions. The jackknife over seeds re-runs the whole
    selection and errs on the wide side (Efron-Stein).
    """
    s_count = sel.shape[1]
    point = _cross_fitted_mean(sel, mask, rows)
    parts = []
    for j in range(s_count):
        if not mask[rows, j].any():
            continue
        kept = mask.copy()
        kept[:, j] = False
        parts.append(_cross_fitted_mean(sel, kept, rows))
    values = np.array(parts)
    k = len(values)
    if k < 2 or not np.isfinite(point) or not np.isfinite(values).all():
        return np.nan
    se = np.sqrt((k - 1) / k * ((values - values.mean()) ** 2).sum())
    return float(point - float(t_quantile(1.0 - 2.0 * alpha, k - 1)) * se)


def _cross_fitted_mean(sel: np.ndarray, mask: np.ndarray, rows: np.ndarray) -> float:
    y = np.where(mask, sel, 0.0)
    n = mask.sum(1)
    total = y.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = np.where(mask & (n[:, None] > 1), (total[:, None] - y) / (n[:, None] - 1), -np.inf)
    values, has = _cross_fitted(sel, loo, rows, np.arange(sel.shape[1]))
    return float(values[has].mean()) if has.any() else np.nan


def _cross_fitted(
    sel: np.ndarray, loo: np.ndarray, rows: np.ndarray, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per seed s: the score at s of the cell (among `rows`) best on the other seeds."""
    sub = loo[rows]  # (R, S)
    has = np.isfinite(sub).any(0)
    pick = rows[np.argmax(sub, axis=0)]
    values = np.where(has, sel[pick, folds], np.nan)
    return values, has


def _lower(bound: float | np.ndarray, point: float, floor: float = 0.0) -> float:
    """A lower bound no higher than its point and (for a regret) not below 0; NaN stays NaN."""
    b = float(bound)
    return b if np.isnan(b) else max(floor, min(b, point))


def _upper(bound: float | np.ndarray, point: float) -> float:
    b = float(bound)
    return b if np.isnan(b) else max(b, point)
