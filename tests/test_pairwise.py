"""The verdicts' building blocks on examples small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hpsearch.analysis.pairwise import (
    PairBounds,
    cell_moments,
    cell_regret_bounds,
    regret_bounds,
)
from hpsearch.analysis.tunability import (
    Scores,
    difference_bounds,
    mean_regret,
    regret_lower_cross_fitted,
)

# Two cells, four seeds: seed means 0.62 and 0.60.
SEL = np.array([[0.61, 0.63, 0.62, 0.62], [0.60, 0.58, 0.61, 0.61]])
MASK = np.ones_like(SEL, dtype=bool)


def test_a_pair_bound_is_the_welch_bound() -> None:
    cells = cell_moments(SEL, MASK)
    va, vb = SEL[0].var(ddof=1) / 4, SEL[1].var(ddof=1) / 4
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 3)
    expected = (SEL[0].mean() - SEL[1].mean()) + stats.t.ppf(0.99, df) * math.sqrt(va + vb)
    assert PairBounds(cells).bound(0.01, upper=True)[0, 1] == pytest.approx(expected)


def test_regret_bounds_of_two_values_by_hand() -> None:
    """Value 0 holds the best cell (regret 0); value 1 loses 0.02, bounded by its one pair."""
    cells = cell_moments(SEL, MASK)
    pairs = PairBounds(cells)
    bounds = regret_bounds(SEL, MASK, np.array([0, 1]), 2, np.array([True, True]), 0.95)
    point, low, high = bounds.per_value[1]
    assert point == pytest.approx(0.02)
    # Upper: one candidate at value 1, compared with cell 0, at α = 2.5 %.
    assert high == pytest.approx(pairs.bound(0.025, upper=True)[0, 1])
    # Lower: the larger of the pairwise bound (the one other cell) and the cross-fitted one,
    # each at α / 2 = 1.25 %.
    pairwise = max(0.0, pairs.bound(0.0125, upper=False)[0, 1])
    crossed = regret_lower_cross_fitted(SEL, MASK, np.array([1]), 0.0125)
    assert low == pytest.approx(max(pairwise, crossed))
    # The largest regret's lower bound is Bonferroni over the two values.
    joint = max(
        max(0.0, pairs.bound(0.00625, upper=False)[0, 1]),
        regret_lower_cross_fitted(SEL, MASK, np.array([1]), 0.00625),
    )
    assert bounds.max_regret[1] == pytest.approx(joint)
    assert bounds.per_value[0, 0] == 0.0


def test_a_single_cell_regret_needs_only_its_own_pairs() -> None:
    point, low, high = cell_regret_bounds(SEL, MASK, 1, 0.025)
    assert point == pytest.approx(0.02)
    assert low <= point <= high


def test_a_cell_with_one_seed_can_neither_pass_nor_fail() -> None:
    mask = MASK.copy()
    mask[1, 1:] = False
    bounds = regret_bounds(SEL, mask, np.array([0, 1]), 2, np.array([True, True]), 0.95)
    _, low, high = bounds.per_value[1]
    assert low == 0.0 and high == math.inf


def test_mean_regret_by_hand() -> None:
    """Three lr values, one cell each: best 0.9, profile mean (0.9 + 0.8 + 0.4) / 3 = 0.7."""
    sel = np.array([[0.9] * 3, [0.8] * 3, [0.4] * 3])
    scores = Scores(sel, np.ones_like(sel, dtype=bool), [np.array([i]) for i in range(3)])
    assert mean_regret(scores) == pytest.approx(0.2)


def test_identical_optimizers_have_delta_t_zero_inside_its_interval() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([0.6, 0.59, 0.55, 0.4])[:, None]
    a = truth + rng.normal(0, 0.01, (4, 8))
    b = truth + rng.normal(0, 0.01, (4, 8))
    groups = [np.array([i]) for i in range(4)]
    point, low, high = difference_bounds(
        Scores(a, np.ones_like(a, bool), groups), Scores(b, np.ones_like(b, bool), groups), 0.025
    )
    assert low <= 0.0 <= high
    assert low <= point <= high
