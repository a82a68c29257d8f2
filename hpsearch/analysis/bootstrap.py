"""The paired seed bootstrap and the Wilson interval.

A replicate resamples the seed index vector (S draws with replacement) once and applies it to every
cell of every optimizer, so differences between optimizers are paired. We represent a replicate by
its seed *counts* (how often each seed was drawn): a mean over resampled seeds is then one matrix
product, which keeps B = 2000 replicates of every statistic cheap. Row 0 of the weight matrix is
all ones (the original sample), so every statistic is computed once as an array whose last axis is
[point, replicate 1, ..., replicate B].
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def seed_weights(n_seeds: int, replicates: int, rng_seed: int) -> np.ndarray:
    """(B + 1, S) draw counts: row 0 the original sample, rows 1..B the paired replicates."""
    rng = np.random.default_rng(rng_seed)
    counts = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=replicates)
    return np.vstack([np.ones((1, n_seeds)), counts]).astype(float)


def interval(
    stat: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and percentile interval of `stat[..., 0]` from `stat[..., 1:]`."""
    tail = (1.0 - confidence) / 2.0
    low, high = nan_quantiles(stat[..., 1:], [tail, 1.0 - tail])
    return stat[..., 0], low, high


def nan_quantiles(values: np.ndarray, qs: list[float], axis: int = -1) -> list[np.ndarray]:
    """Quantiles along `axis` ignoring NaN (linear interpolation, like `np.nanquantile`).

    Vectorised: numpy's own nan-quantile loops in Python over every slice that holds a NaN, which
    made a 2,000-replicate bootstrap spend seconds there.
    """
    a = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    ordered = np.sort(a, axis=-1)  # NaN sorts last
    n = (~np.isnan(ordered)).sum(-1)
    top = np.maximum(n - 1, 0)
    out = []
    for q in qs:
        pos = q * top
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, top)
        frac = pos - lo
        a_lo = np.take_along_axis(ordered, lo[..., None], -1)[..., 0]
        a_hi = np.take_along_axis(ordered, hi[..., None], -1)[..., 0]
        with np.errstate(invalid="ignore"):
            result = np.where(frac > 0, a_lo + (a_hi - a_lo) * frac, a_lo)
        out.append(np.where(n > 0, result, np.nan))
    return out


def interval_bc(
    stat: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias-corrected percentile interval (BCa without acceleration) of a 1-D `stat`.

    For max-type statistics (the largest regret) the replicates sit systematically above the
    estimate, as the estimate sits above the truth: the plain percentile interval would then
    refute a flat optimizer on seed noise alone. The correction shifts the percentiles by the
    replicates' median bias z0.
    """
    from scipy.special import ndtr, ndtri  # scipy.stats takes seconds to import

    point = stat[0]
    reps = stat[1:][np.isfinite(stat[1:])]
    if not len(reps) or not np.isfinite(point):
        return interval(stat, confidence)
    below = (np.mean(reps < point) + 0.5 * np.mean(reps == point)).clip(
        0.5 / len(reps), 1 - 0.5 / len(reps)
    )
    z0 = ndtri(below)
    z = ndtri(0.5 + confidence / 2.0)
    q_low, q_high = ndtr(2 * z0 - z) * 100.0, ndtr(2 * z0 + z) * 100.0
    low, high = np.percentile(reps, [q_low, q_high])
    return point, low, high


def weighted_mean(values: np.ndarray, mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, B + 1) means over seeds of `values` (N, S) where `mask`, under each replicate."""
    total = np.where(mask, values, 0.0) @ weights.T
    count = mask.astype(float) @ weights.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def wilson(successes: float, trials: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion: honest at 0/n and n/n, unlike the normal one."""
    if trials <= 0:
        return math.nan, math.nan
    z = Z95 if confidence == 0.95 else _z(confidence)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _z(confidence: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(0.5 + confidence / 2.0))
