"""The mean regret over a range, T = μ* - mean over grid values v of P(v): what a pick of v at
random on the (log) grid loses against the best cell, the other hyperparameters tuned. It is the
"tunability" of Probst, Boulesteix & Bischl (2019) averaged over the range, and the statistic of the
comparative claim "A is less sensitive than B": ΔT = T_B - T_A > 0.

It uses every magnitude (how far the bad values fall, not just how many fall outside a band), and
it is paired over seeds. Both μ* and P(v) are maxima, so a plug-in estimate is biased upward by
the noise, and more so for the noisier optimizer. Each bound is therefore built from per-seed
values whose mean errs on the safe side for that bound:

- *in-sample* pick (the cell best on all seeds), scored at seed s: its mean is the largest seed
  mean, whose expectation is **at least** the true maximum;
- *cross-fitted* pick (the cell best on the other seeds), scored at seed s: its expectation is the
  true mean of a chosen cell, **at most** the true maximum.

So T errs high as "in-sample μ* - cross-fitted P(v)" and low as "cross-fitted μ* - in-sample P(v)";
ΔT's lower bound pairs B's low with A's high seed by seed, its upper bound the reverse. The picks
share seeds, so the per-seed values are correlated: the standard error is the larger of the
plain one and the delete-one-seed jackknife's (which re-runs every pick), with a t quantile on
S - 1 degrees of freedom. `benchmarks/calibration.py` measures the coverage and error rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hpsearch.analysis.bootstrap import t_upper_quantile


@dataclass(frozen=True)
class Scores:
    """One optimizer's oriented scores (N cells, S seeds) and the groups the profile maximises
    over: one array of cell rows per grid value in the range (or one per cell, jointly)."""

    sel: np.ndarray
    mask: np.ndarray
    groups: list[np.ndarray]


def mean_regret(scores: Scores) -> float:
    """The plug-in estimate of T: largest seed mean minus the mean over groups of each group's
    largest seed mean."""
    means = _means(scores.sel, scores.mask)
    if not np.isfinite(means).any() or not scores.groups:
        return math.nan
    profile = [float(np.max(means[g])) for g in scores.groups]
    return float(np.max(means) - np.mean(profile))


def per_seed(scores: Scores) -> tuple[np.ndarray, np.ndarray]:
    """(S,) values whose mean errs high, and (S,) whose mean errs low (NaN: seed unusable)."""
    sel, mask = scores.sel, scores.mask
    s_count = sel.shape[1]
    means = _means(sel, mask)
    loo = _leave_one_out(sel, mask)
    y = np.where(mask, sel, np.nan)
    folds = np.arange(s_count)
    all_rows = np.arange(sel.shape[0])

    def in_sample(rows: np.ndarray) -> np.ndarray:
        return y[rows[int(np.argmax(means[rows]))]]  # (S,)

    def cross_fitted(rows: np.ndarray) -> np.ndarray:
        sub = loo[rows]
        pick = rows[np.argmax(sub, axis=0)]
        return np.where(np.isfinite(sub).any(0), y[pick, folds], np.nan)

    if not scores.groups:
        empty = np.full(s_count, np.nan)
        return empty, empty
    high = in_sample(all_rows) - np.mean([cross_fitted(g) for g in scores.groups], axis=0)
    low = cross_fitted(all_rows) - np.mean([in_sample(g) for g in scores.groups], axis=0)
    return high, low


def difference_bounds(a: Scores, b: Scores, alpha: float) -> tuple[float, float, float]:
    """ΔT = T_B - T_A: the plug-in point and bounds that each err with at most `alpha`.

    Positive means A loses less to an untuned pick than B: A is less sensitive.
    """
    point = mean_regret(b) - mean_regret(a)
    low = _bound(a, b, alpha, upper=False)
    high = _bound(a, b, alpha, upper=True)
    if math.isfinite(point):  # the point stays inside its interval
        low, high = min(low, point), max(high, point)
    return point, low, high


def _bound(a: Scores, b: Scores, alpha: float, upper: bool) -> float:
    values = _paired(a, b, upper)
    ok = np.isfinite(values)
    k = int(ok.sum())
    if k < 2:
        return math.inf if upper else -math.inf
    mean = float(values[ok].mean())
    plain_se = float(values[ok].std(ddof=1) / math.sqrt(k))
    parts = []
    for j in np.flatnonzero(ok):
        kept_a = Scores(a.sel, a.mask & (np.arange(a.sel.shape[1]) != j), a.groups)
        kept_b = Scores(b.sel, b.mask & (np.arange(b.sel.shape[1]) != j), b.groups)
        again = _paired(kept_a, kept_b, upper)
        parts.append(float(np.nanmean(again)) if np.isfinite(again).any() else math.nan)
    jack = np.array(parts)
    jack_se = (
        math.sqrt((k - 1) / k * float(((jack - jack.mean()) ** 2).sum()))
        if np.isfinite(jack).all()
        else math.inf
    )
    half = float(t_upper_quantile(alpha, k - 1)) * max(plain_se, jack_se)
    return mean + half if upper else mean - half


def _paired(a: Scores, b: Scores, upper: bool) -> np.ndarray:
    """Per seed: B's T minus A's, erring high (`upper`) or low."""
    a_high, a_low = per_seed(a)
    b_high, b_low = per_seed(b)
    return b_high - a_low if upper else b_low - a_high


def _means(sel: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = mask.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(mask, sel, 0.0).sum(1) / n, -np.inf)


def _leave_one_out(sel: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, S) each cell's mean without seed s; -inf where the cell lacks seed s or another."""
    y = np.where(mask, sel, 0.0)
    n = mask.sum(1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mask & (n > 1), (y.sum(1)[:, None] - y) / (n - 1), -np.inf)


def regret_lower_cross_fitted(
    sel: np.ndarray, mask: np.ndarray, rows: np.ndarray, alpha: float
) -> float:
    """A lower bound on R = μ* - max over `rows` of μ_c that errs with at most `alpha`.

    Per seed: the cross-fitted best (low on average) minus the in-sample best of `rows` (high on
    average), so the mean errs low whatever was selected; no union over the other cells is
    needed, which matters where there are many of them and few seeds.
    """

    def gaps(keep: np.ndarray) -> np.ndarray:
        _, low = per_seed(Scores(sel, keep, [rows]))  # cross-fitted best - in-sample of rows
        return low

    values = gaps(mask)
    ok = np.isfinite(values)
    k = int(ok.sum())
    if k < 2:
        return 0.0
    mean = float(values[ok].mean())
    plain_se = float(values[ok].std(ddof=1) / math.sqrt(k))
    parts = []
    for j in np.flatnonzero(ok):
        again = gaps(mask & (np.arange(sel.shape[1]) != j))
        parts.append(float(np.nanmean(again)) if np.isfinite(again).any() else math.nan)
    jack = np.array(parts)
    if not np.isfinite(jack).all():
        return 0.0
    jack_se = math.sqrt((k - 1) / k * float(((jack - jack.mean()) ** 2).sum()))
    bound = mean - float(t_upper_quantile(alpha, k - 1)) * max(plain_se, jack_se)
    return max(0.0, bound)
