"""Regret bounds per grid value from pairwise comparisons of cells: valid without a selection
correction, and with the power the seeds allow.

The regret of grid value v is R(v) = μ* - max over cells c at v of μ_c, where μ_c is a cell's
expected score (diverged runs at the floor) and μ* the best cell's. It is a max of a min of
pairwise differences, R(v) = min over c at v of max over c' of (μ_c' - μ_c), so it is bounded from
pairwise bounds on μ_c' - μ_c alone, each a Welch t bound (the two cells' own seed variances,
Welch-Satterthwaite degrees of freedom):

- **upper bound U(v)** (an intersection-union test): v passes "R(v) <= m" when some cell c at v is
  within m of *every* other cell, each pair bounded at level α / |cells at v|. If R(v) > m, every
  cell at v is more than m below the true best cell, so v can pass only if that one pair's bound
  errs for the cell that passed: at most α over the |cells at v| candidates. No correction for
  picking the best cell is needed, because no cell is picked.
- **lower bound L(v)**, the larger of two bounds at α / 2 each (Bonferroni: either may decide):
  - pairwise: every cell at v shown more than m below *some* cell c'. The search over c' is a
    union, so each pair is bounded at level α / (N - 1); if R(v) <= m, the cell at v within m of
    all others could only be shown bad by one of those pairs erring. Strong with few cells;
  - cross-fitted (`tunability.regret_lower_cross_fitted`): per seed, the cell best on the other
    seeds minus v's best on all seeds, whose mean errs low whatever was selected. No union over
    cells, so it keeps its power on a 45-cell grid at 5 seeds, where the pairwise bound's α / 44
    quantile is too wide (measured: 99 % against 40 % on a demo-like "lr = 1 at the defaults").

Why Welch with each cell's own variance: a variance pooled over the cells at one value gave 3.8 %
wrong SUPPORTED verdicts where one noisy cell (sd 2 m) sat among quiet ones at its value, and one
pooled over all cells 11-12 % where one value was noisier (`benchmarks/calibration.py`). A seed
offset shared by every cell (data order, initialisation) only inflates the unpaired variance, so
it costs power, never validity.

With `known_sd` the same tests run with the true noise (normal quantiles): the ceiling a procedure
of this shape could reach, for the calibration's power table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpsearch.analysis.bootstrap import t_upper_quantile
from hpsearch.analysis.tunability import regret_lower_cross_fitted


@dataclass(frozen=True)
class CellMoments:
    """Each cell's seed mean, variance of that mean, and the variance's degrees of freedom."""

    mean: np.ndarray  # (N,) -inf where the cell has no data
    mean_var: np.ndarray  # (N,) s^2 / n (NaN with fewer than 2 seeds)
    df: np.ndarray  # (N,) n - 1 (inf when the variance is known)


def cell_moments(
    sel: np.ndarray, mask: np.ndarray, known_sd: np.ndarray | None = None
) -> CellMoments:
    """Moments of each row of `sel` (N cells, S seeds) over the seeds where `mask`."""
    n = mask.sum(1).astype(float)
    y = np.where(mask, sel, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, y.sum(1) / n, -np.inf)
        if known_sd is not None:
            return CellMoments(mean, np.asarray(known_sd, float) ** 2 / n, np.full(len(n), np.inf))
        dev = np.where(mask, sel - mean[:, None], 0.0)
        var = np.where(n > 1, (dev**2).sum(1) / (n - 1), np.nan)
    return CellMoments(mean, var / np.maximum(n, 1), n - 1)


class PairBounds:
    """One-sided bounds on μ_c' - μ_c for every pair (row c', column c), at any level.

    The Welch standard errors and degrees of freedom are computed once; a bound at a new level
    costs one quantile per pair. A pair whose variance is unknown (fewer than 2 seeds) gets +inf
    as an upper bound and -inf as a lower one: it can neither pass nor fail anything.
    """

    def __init__(self, cells: CellMoments) -> None:
        a, b = cells.mean_var[:, None], cells.mean_var[None, :]
        se2 = a + b
        with np.errstate(invalid="ignore", divide="ignore"):
            df = se2**2 / (a**2 / cells.df[:, None] + b**2 / cells.df[None, :])
            self.diff = cells.mean[:, None] - cells.mean[None, :]
        # Both variances 0 (every seed at the floor, say): the difference is exact.
        self.df = np.where(se2 > 0, df, np.minimum(cells.df[:, None], cells.df[None, :]))
        self.se = np.sqrt(se2)
        self.unknown = ~np.isfinite(se2) | ~np.isfinite(self.diff)
        self._half: dict[float, np.ndarray] = {}

    def bound(self, level: float, upper: bool) -> np.ndarray:
        """(N, N) bounds that each err with probability `level`."""
        if level not in self._half:
            self._half[level] = t_upper_quantile(level, self.df) * self.se
        with np.errstate(invalid="ignore"):
            out = self.diff + self._half[level] if upper else self.diff - self._half[level]
        return np.where(self.unknown, np.inf if upper else -np.inf, out)


def regret_upper(
    pairs: PairBounds,
    codes: np.ndarray,
    n_values: int,
    alpha: float,
    left: np.ndarray | None = None,
) -> np.ndarray:
    """(V,) U(v): an upper bound on each value's regret that errs with at most `alpha` each.

    v passes "R(v) <= m" exactly when U(v) <= m (the intersection-union test above). Cells
    `left` at an earlier look (`allocation.py`) are neither candidates nor competitors, but the
    union still counts them: which cells were left depends on the data.
    """
    n = pairs.diff.shape[0]
    out = np.full(n_values, np.nan)
    for v in range(n_values):
        at = np.flatnonzero(codes == v)
        if len(at):
            bounds = pairs.bound(alpha / len(at), upper=True)
            out[v] = 0.0 if n == 1 else _min_max(bounds, at, left)
    return out


def regret_lower(
    pairs: PairBounds,
    sel: np.ndarray,
    mask: np.ndarray,
    codes: np.ndarray,
    n_values: int,
    alpha: float,
    left: np.ndarray | None = None,
) -> np.ndarray:
    """(V,) L(v): a lower bound on each value's regret that errs with at most `alpha` each.

    v surely fails "R(v) <= m" exactly when L(v) > m. Once cells were `left` at an earlier look,
    the cross-fitted half says nothing (0): it picks a cell among those still run, a set chosen
    on the same seeds, and would lose its guarantee; the pairwise half keeps its union over
    every cell.
    """
    n = pairs.diff.shape[0]
    out = np.full(n_values, np.nan)
    bounds = pairs.bound(alpha / 2 / max(n - 1, 1), upper=False)
    reduced = left is not None and bool(left.any())
    for v in range(n_values):
        at = np.flatnonzero(codes == v)
        if len(at):
            pairwise = 0.0 if n == 1 else _min_max(bounds, at, left)
            crossed = 0.0 if reduced else regret_lower_cross_fitted(sel, mask, at, alpha / 2)
            out[v] = max(pairwise, crossed)
    return out


def cell_regret_bounds(
    sel: np.ndarray,
    mask: np.ndarray,
    cell: int,
    alpha: float,
    known_sd: np.ndarray | None = None,
    left: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Point, lower and upper bound (each erring with `alpha`) of one cell's regret μ* - μ_c.

    The "lr = 1 fails at the registered defaults" claim reads this: one fixed cell, a value of
    its own, so both bounds are those of a one-cell value. `left`: as in `regret_upper`.
    """
    cells = cell_moments(sel, mask, known_sd)
    n = len(cells.mean)
    run = np.ones(n, dtype=bool) if left is None else ~left
    point = float(np.max(cells.mean[run]) - cells.mean[cell])
    if n == 1:
        return 0.0, 0.0, 0.0
    codes = np.where(np.arange(n) == cell, 0, 1)
    pairs = PairBounds(cells)
    high = float(regret_upper(pairs, codes, 1, alpha, left)[0])
    low = float(regret_lower(pairs, sel, mask, codes, 1, alpha, left)[0])
    return point, low, high


def _min_max(bounds: np.ndarray, at: np.ndarray, left: np.ndarray | None = None) -> float:
    """min over candidate cells c (columns `at`) of max over the other cells c' (rows); cells
    `left` at an earlier look are neither."""
    block = bounds[:, at].copy()
    block[at, np.arange(len(at))] = -np.inf  # a cell is not compared with itself
    if left is not None:
        block[left, :] = -np.inf
        block[:, left[at]] = np.inf
    # A regret is never negative (the best cell's is 0), so neither is a bound on one.
    return float(max(0.0, block.max(0).min()))


@dataclass(frozen=True)
class RegretBounds:
    """One hyperparameter's regrets R(v) with the bounds its verdicts read (oriented units)."""

    per_value: np.ndarray  # (V, 3) point, L(v) and U(v) each erring with α: a 95 % interval each
    low_joint: np.ndarray  # (V,) L(v) at α / V_in: "some value fails" is a union over V_in values
    high_joint: np.ndarray  # (V,) U(v) at α / V_in: a safe sub-range picked from the data holds
    max_regret: tuple[float, float, float]  # over in-range values: point, max L_joint, max U


def regret_bounds(
    sel: np.ndarray,
    mask: np.ndarray,
    codes: np.ndarray,
    n_values: int,
    in_range: np.ndarray,
    confidence: float,
    known_sd: np.ndarray | None = None,
    left: np.ndarray | None = None,
) -> RegretBounds:
    """Every regret bound of one optimizer x hyperparameter (N cells, S seeds, oriented).

    The largest regret's upper bound is the largest U(v): it errs only if U errs at the value whose
    regret is largest (α). Its lower bound is the largest L(v) at α / V_in (a union over values).
    Cells `left` at an earlier look of a sequential study count in no estimate or bound.
    """
    alpha = (1.0 - confidence) / 2.0
    cells = cell_moments(sel, mask, known_sd)
    finite = np.isfinite(cells.mean) & (True if left is None else ~left)
    best = float(cells.mean[finite].max()) if finite.any() else np.nan
    point = np.full(n_values, np.nan)
    for v in range(n_values):
        at = np.flatnonzero((codes == v) & finite)
        if len(at):
            point[v] = best - float(cells.mean[at].max())
    pairs = PairBounds(cells)
    low = regret_lower(pairs, sel, mask, codes, n_values, alpha, left)
    high = regret_upper(pairs, codes, n_values, alpha, left)
    n_in = max(int(in_range.sum()), 1)
    low_joint = regret_lower(pairs, sel, mask, codes, n_values, alpha / n_in, left)
    high_joint = regret_upper(pairs, codes, n_values, alpha / n_in, left)
    has = np.isfinite(point)
    low, high, low_joint, high_joint = (
        np.where(has, x, np.nan) for x in (low, high, low_joint, high_joint)
    )
    inside = np.flatnonzero(in_range & has)
    if len(inside):
        # An in-range value with no data at all could hold any regret: nothing bounds it above.
        top = np.inf if (in_range & ~has).any() else float(high[inside].max())
        max_regret = (float(point[inside].max()), float(low_joint[inside].max()), top)
    else:
        max_regret = (np.nan, np.nan, np.nan)
    return RegretBounds(np.stack([point, low, high], axis=1), low_joint, high_joint, max_regret)
