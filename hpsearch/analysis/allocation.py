"""Which cells a sequential study stops adding seeds to: those no open claim needs any more.

Every claim the looks decide reads, for its optimizer and its hyperparameter h, only the best
cell overall (μ*) and the best cell at each value of h (the regrets R(v), the mean regret T, a
defaults cell's regret). A cell x shown below another cell y at the same value of h is neither.
So after a look, a cell is left at the seeds it has when, for every open claim on its
optimizer, a one-sided Welch bound puts some cell y at x's value of that claim's
hyperparameter above it (μ_y - μ_x > 0); the defaults cell of an open "fails at the registered
defaults" claim is never left, and an optimizer in an open comparison (V2) keeps every cell:
its mean regret is bounded with cross-fitted picks that need every cell at every seed.

Error: a cell wrongly left can change a claim only if it is the best cell overall or the best
at a value, and then only through one of the bounds against the other cells at its value. Each
bound errs at most `level / (cells at the value - 1)`, so each look's leaving errs at most
`level` for the cell that matters, on either side. The schedule spends that level out of α
(`hpsearch.sequential.Schedule`), so the union over looks still holds α per side. Later looks
leave the left cells out of every regret bound but still count them in each union
(`pairwise.py`), and drop the cross-fitted half of the lower bound, which would pick among the
cells still run, a set chosen on the same seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hpsearch.analysis.grid import Grid
from hpsearch.analysis.pairwise import PairBounds, cell_moments
from hpsearch.analysis.records import Verdict


def cells_left(
    grids: Mapping[str, Grid],
    open_claims: Sequence[Verdict],
    defaults_rows: Mapping[str, Sequence[int]],
    level: float,
) -> dict[str, set[str]]:
    """Per optimizer, the configuration ids left after this look (those left before included).

    `open_claims`: the verdicts still open after the look; `defaults_rows`: per optimizer, the
    rows of defaults cells an open claim reads; `level`: the α this look spends on leaving."""
    hps: dict[str, set[str]] = {}
    whole: set[str] = set()
    for verdict in open_claims:
        if verdict.kind == "V2" or verdict.hyperparameter is None:
            whole.update(verdict.optimizers)
        else:
            hps.setdefault(verdict.optimizers[0], set()).add(verdict.hyperparameter)
    out: dict[str, set[str]] = {}
    for optimizer, grid in grids.items():
        before = _left(grid)
        if optimizer in hps and optimizer not in whole and level > 0:
            leave = before | _dominated(grid, sorted(hps[optimizer]), level)
            leave[list(defaults_rows.get(optimizer, ()))] = False
            leave |= before
        else:
            leave = before
        ids = grid.configs["config"].to_numpy()
        if leave.any():
            out[optimizer] = {str(c) for c in ids[leave]}
    return out


def _left(grid: Grid) -> np.ndarray:
    return np.zeros(grid.n, dtype=bool) if grid.left is None else grid.left.copy()


def _dominated(grid: Grid, hps: Sequence[str], level: float) -> np.ndarray:
    """(N,) cells still run that, for every hyperparameter in `hps`, are shown below another
    cell still run at their value of it."""
    run = ~_left(grid)
    cells = cell_moments(grid.sel, grid.mask)
    pairs = PairBounds(cells)
    out = run.copy()
    for hp in hps:
        _, codes = np.unique(grid.configs[hp].to_numpy(dtype=float), return_inverse=True)
        shown = np.zeros(grid.n, dtype=bool)
        for v in np.unique(codes):
            at = np.flatnonzero(codes == v)
            if len(at) < 2:
                continue
            # Row y, column x: a lower bound on μ_y - μ_x; a union over the other cells at v.
            low = pairs.bound(level / (len(at) - 1), upper=False)[np.ix_(at, at)]
            low[~run[at], :] = -np.inf  # only a cell still run shows another below it
            np.fill_diagonal(low, -np.inf)
            shown[at] = (low > 0).any(axis=0)
        out &= shown
    return out
