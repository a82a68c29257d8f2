"""PED-ANOVA-style hyperparameter importance (Watanabe et al. 2023), a descriptive extra.

For each hyperparameter, compare how its values are distributed among the top-γ configurations
(by seed mean) with how they are distributed over the whole grid: the Pearson χ² divergence
Σ_v p_all(v) (p_top(v) / p_all(v) - 1)². Zero means the good configurations are spread like the
grid (the value does not matter); large means the good ones concentrate on a few values. Values are
binned into at most `bins` log- or linear-spaced groups for sampled (non-grid) searches. It is
descriptive only: no verdict uses it.
"""

from __future__ import annotations

import math

import numpy as np

from hpsearch.analysis.grid import Grid, is_log_scale, positions


def importances(
    grid: Grid, means: np.ndarray, gamma: float = 0.1, bins: int = 10
) -> dict[str, np.ndarray]:
    """hyperparameter -> (B+1,) importance; `means` is (N, B+1) seed means, higher better."""
    n = grid.n
    if n < 4:
        return {}
    k_top = max(2, math.ceil(gamma * n))
    filled = np.where(np.isfinite(means), means, -np.inf)
    kth = -np.partition(-filled, k_top - 1, axis=0)[k_top - 1]
    top = (filled >= kth[None, :]) & np.isfinite(means)
    out = {}
    for hp in grid.hyperparameters:
        raw = grid.configs[hp].to_numpy(dtype=float)
        values, codes = np.unique(raw, return_inverse=True)
        if len(values) < 2:
            continue
        if len(values) > bins:
            x = positions(raw, is_log_scale(grid, hp, values))
            edges = np.linspace(x.min(), x.max(), bins + 1)[1:-1]
            codes = np.searchsorted(edges, x, side="right")
        onehot = np.eye(codes.max() + 1)[codes]
        p_all = onehot.mean(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_top = (onehot.T @ top) / top.sum(0)[None, :]
            ratio = np.where(p_all[:, None] > 0, p_top / p_all[:, None], 0.0)
        out[hp] = (p_all[:, None] * (ratio - 1.0) ** 2).sum(0)
    return out
