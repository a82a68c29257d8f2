"""Which cells a sequential look stops running: only those no open claim can still need, with
the cells that decide a claim (the best overall, the best at each value, a defaults cell)
always kept, and the left cells out of every later bound but still in its union."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.analysis.pairwise import PairBounds, cell_moments, regret_upper
from hpsearch.analysis.records import Look
from hpsearch.analysis.replay import decide_at
from hpsearch.analysis.synthetic import synthetic_study
from hpsearch.claims import ClaimsSpec

GRID = {"adabound": {"lr": [0.001, 0.01, 0.1], "final_lr": [0.01, 0.1]}, "adam": {"lr": [0.01]}}
LOOK = Look(1, tuple(range(5)), alpha=0.0025, allocation=0.000625)


def _truth(optimizer: str, config: dict[str, float]) -> float:
    # final_lr = 0.01 is 20 points below final_lr = 0.1 at every lr; lr itself is flat.
    return 0.4 if config.get("final_lr") == 0.01 else 0.6


def _claims(**claims: object) -> ClaimsSpec:
    return ClaimsSpec.model_validate(
        {"insensitive": [], "compare": [], "fails": [], "bootstrap": 100, **claims}
    )


def _left(claims: ClaimsSpec, look: Look = LOOK) -> dict[str, set[str]]:
    data = synthetic_study(GRID, _truth, seeds=range(5), noise=0.005, rng_seed=1)
    return decide_at(data, claims, look).left


def test_an_open_claim_on_lr_leaves_the_cells_below_another_at_their_lr() -> None:
    left = _left(_claims(insensitive=["adabound.lr"]))
    assert left == {
        "adabound": {"lr=0.001 final_lr=0.01", "lr=0.01 final_lr=0.01", "lr=0.1 final_lr=0.01"}
    }


def test_no_cell_is_left_without_the_allocation_level_or_a_claim_that_could_leave_it() -> None:
    assert _left(_claims(insensitive=["adabound.lr"]), Look(1, tuple(range(5)), 0.0025)) == {}
    # Both claims open (too few seeds to decide either): final_lr's own claim needs the best
    # cell at final_lr = 0.01, and at each final_lr every lr is as good, so no cell is left.
    few = {"min_seeds": 6}
    assert len(_left(_claims(insensitive=["adabound.lr"], **few))["adabound"]) == 3
    assert _left(_claims(insensitive=["adabound.lr", "adabound.final_lr"], **few)) == {}


def test_an_open_comparison_keeps_every_cell_of_its_optimizers() -> None:
    # Adam's single cell makes the V2 mean regret need every AdaBound cell at every seed.
    claims = _claims(insensitive=["adabound.lr"], compare=[["adabound", "adam"]])
    data = synthetic_study(GRID, _truth, seeds=range(5), noise=0.005, rng_seed=1)
    decision = decide_at(data, claims, LOOK)
    open_v2 = [v for v in decision.verdicts if v.kind == "V2" and v.result == "INCONCLUSIVE"]
    if open_v2:
        assert decision.left == {}
    else:  # decided at once: the comparison is final and needs nothing further
        assert "adabound" in decision.left


def test_the_defaults_cell_of_an_open_fails_claim_is_never_left() -> None:
    # AdaBound's registered final_lr is 0.1; make the defaults cell the one far below.
    def truth(optimizer: str, config: dict[str, float]) -> float:
        return 0.4 if config.get("final_lr") == 0.1 else 0.6

    data = synthetic_study(GRID, truth, seeds=range(5), noise=0.005, rng_seed=1)
    data.trials = data.trials[data.trials["optimizer"] == "adabound"].reset_index(drop=True)
    data.hyperparameters = {"adabound": ["final_lr", "lr"]}
    # lr = 0.1 is "fails" here only to have a value; the claim stays open at a 2-point tolerance
    claims = _claims(fails=["adabound.lr = 0.1"], tolerance=20.0)
    decision = decide_at(data, claims, LOOK)
    views = {v.settings["view"]: v.result for v in decision.verdicts}
    assert views["defaults"] == "INCONCLUSIVE", views
    left = decision.left.get("adabound", set())
    assert "final_lr=0.1 lr=0.1" not in left  # the defaults cell at lr = 0.1
    assert "final_lr=0.1 lr=0.001" in left  # the same kind of cell where no claim reads it


def test_a_left_cell_is_neither_candidate_nor_competitor_but_counts_in_the_union() -> None:
    rng = np.random.default_rng(0)
    means = np.array([0.50, 0.60, 0.60, 0.60])  # cells 0, 1 at value 0; cells 2, 3 at value 1
    sel = means[:, None] + rng.normal(0, 0.01, (4, 10))
    mask = np.ones_like(sel, dtype=bool)
    codes = np.array([0, 0, 1, 1])
    pairs = PairBounds(cell_moments(sel, mask))
    kept = regret_upper(pairs, codes, 2, 0.025)
    left = regret_upper(pairs, codes, 2, 0.025, left=np.array([False, True, False, False]))
    assert kept[0] < 0.03  # cell 1 is within reach of every other cell
    assert left[0] > 0.09  # without it value 0 has only cell 0, 10 points below
    # Left out, not forgotten: the union still counts two candidates at value 0 (α / 2).
    gone = regret_upper(
        PairBounds(cell_moments(sel[[0, 2, 3]], mask[[0, 2, 3]])), codes[[0, 2, 3]], 2, 0.025
    )
    assert left[0] > gone[0]
    assert left[1] == pytest.approx(kept[1], abs=0.0) or left[1] >= kept[1]


def test_a_left_cell_with_fewer_seeds_than_min_seeds_blocks_no_verdict() -> None:
    from hpsearch.analysis.decide import decide

    data = synthetic_study(GRID, _truth, seeds=range(10), noise=0.005, rng_seed=1)
    left_id = "lr=0.001 final_lr=0.01"
    rows = data.trials
    short = (rows["optimizer"] == "adabound") & (rows["lr"] == 0.001) & (rows["final_lr"] == 0.01)
    data.trials = rows[~(short & (rows["seed"] >= 3))].reset_index(drop=True)
    claims = _claims(insensitive=["adabound.lr"], min_seeds=5)
    blocked = decide(data, claims).verdicts[0]
    assert blocked.result == "INCONCLUSIVE" and left_id in " ".join(blocked.blocking)
    run = decide(data, claims, left={"adabound": {left_id}}).verdicts[0]
    assert left_id not in " ".join(run.blocking) and run.result == "SUPPORTED", run.sentence


def test_the_loop_leaves_the_far_below_third_and_stays_right_past_the_boundary() -> None:
    """The whole loop on a 45-cell grid whose final_lr = 0.01 third is 10 m below and whose lr
    claim is false by a hair (regret 1.05 m): the left cells cut the seeds a cell, and no run
    says SUPPORTED (the benchmark measures the rates at 100 runs)."""
    from hpsearch.analysis.calibration import leaving_cases, run_sequential_case

    case = next(c for c in leaving_cases() if c.name.startswith("regret 1.05 m"))
    leaving = run_sequential_case(case, (5, 10), reps=5)
    whole = run_sequential_case(case, (5, 10), reps=5, allocation=0.0)
    assert leaving.wrong_supported == 0 and whole.wrong_supported == 0
    assert leaving.mean_seeds() < 0.85 * whole.mean_seeds()
