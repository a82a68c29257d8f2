"""Expected best-of-k (Sivaprasad et al.; Tang et al.'s exact, without-replacement estimator).

Per seed, the N configurations are ranked by the selection metric (ascending; higher is better).
The probability that the j-th ranked one is the maximum of a uniformly drawn k-subset is
C(j-1, k-1) / C(N, k); the expected *reported* score of the selected configuration is the sum of
the reported scores weighted by those probabilities. Tied selection scores are averaged over their
orders, which is the same as giving every member of a tie group the group's mean reported score.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import gammaln


def k_grid(n: int, dense_up_to: int = 512, points: int = 200) -> np.ndarray:
    """Every k for small grids; log-spaced k (always with 1, 4, 16 and N) for large ones."""
    if n <= dense_up_to:
        return np.arange(1, n + 1)
    ks = np.unique(np.round(np.logspace(0, np.log10(n), points)).astype(int))
    return np.unique(np.concatenate([ks, [1, 4, 16, n]]))


def selection_probabilities(n: int, ks: np.ndarray) -> np.ndarray:
    """(len(ks), n): P(rank j is the best of a random k-subset), ranks ascending from 1."""
    ks = np.asarray(ks, dtype=int)
    return _selection_probabilities(n, ks.tobytes())


@lru_cache(maxsize=64)
def _selection_probabilities(n: int, ks_bytes: bytes) -> np.ndarray:
    # Every seed of an optimizer shares N and the k grid: compute the matrix once.
    j = np.arange(1, n + 1)[None, :]
    k = np.frombuffer(ks_bytes, dtype=int)[:, None]
    with np.errstate(invalid="ignore"):
        log_p = _log_choose(j - 1, k - 1) - _log_choose(np.full_like(k, n), k)
    out = np.where(j >= k, np.exp(log_p), 0.0)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=64)
def cpe_rank_weights(n: int, chunk: int = 256) -> np.ndarray:
    """(n,) weights q_j so that CPE = sum_j y_(j) q_j = sum_k w_k E(k), w_k ∝ N - k + 1."""
    w_all = 2.0 * (n - np.arange(1, n + 1) + 1) / (n * (n + 1))
    q = np.zeros(n)
    for start in range(1, n + 1, chunk):
        ks = np.arange(start, min(n, start + chunk - 1) + 1)
        q += w_all[ks - 1] @ selection_probabilities(n, ks)
    q.flags.writeable = False
    return q


def tie_averaged(sel: np.ndarray, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by `sel` ascending; give each tie group of `sel` its mean `rep`."""
    order = np.argsort(sel, kind="stable")
    sel_sorted, rep_sorted = sel[order], rep[order]
    group = np.concatenate([[0], np.cumsum(np.diff(sel_sorted) != 0)])
    means = np.bincount(group, weights=rep_sorted) / np.bincount(group)
    return sel_sorted, means[group]


def selection_distribution(
    sel: np.ndarray, rep: np.ndarray, ks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The reported score of the best of k random configurations, as a distribution.

    Returns (reported scores sorted by `sel`, (len(ks), n) probabilities). Members of a tie in
    `sel` share their group's probability equally: averaging their *reported scores* instead (as
    `tie_averaged` may for an expectation) gives the right mean but the wrong distribution, so a
    win probability computed from it is wrong whenever the reported metric differs.
    """
    order = np.argsort(sel, kind="stable")
    sel_sorted, rep_sorted = sel[order], rep[order]
    n = len(sel_sorted)
    probs = selection_probabilities(n, np.minimum(ks, n))
    group = np.concatenate([[0], np.cumsum(np.diff(sel_sorted) != 0)])
    sizes = np.bincount(group)
    shared = np.stack([np.bincount(group, weights=row) for row in probs]) / sizes
    return rep_sorted, shared[:, group]


def expected_best_of_k(sel: np.ndarray, rep: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """E(k) for one seed: configurations' selection scores `sel`, reported scores `rep` (higher
    is better, NaN = missing and left out). k beyond the available count gives E(N)."""
    keep = np.isfinite(sel) & np.isfinite(rep)
    n = int(keep.sum())
    if n == 0:
        return np.full(len(ks), np.nan)
    _, rep_sorted = tie_averaged(sel[keep], rep[keep])
    return selection_probabilities(n, np.minimum(ks, n)) @ rep_sorted


def _log_choose(n: np.ndarray, r: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    r = np.asarray(r, dtype=float)
    return gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1)
