"""The verdicts stay calibrated: a rule change that makes decisive verdicts wrong more often than
their intervals promise fails here (the full table: `benchmarks/calibration.py`).

Deterministic (fixed RNG seeds). Each case runs `REPS` known-answer studies at S = 5 and seed
noise m, the level the demo sees. The limits: at most `MAX_WRONG` wrong decisive verdicts per case
(the promise is 2.5 % per side, 5 % in all; with 30 repetitions one wrong verdict is 3.3 %, so 2
allows for simulation noise while the rules this replaced — wrong in 12-100 % of repetitions
on these cases — fail); 95 % intervals covering at least 92 %; and the clear cases decided.
"""

from __future__ import annotations

import pytest

from hpsearch.analysis.calibration import Case, CaseResult, M, cases, run_case

REPS = 30
MAX_WRONG = 2
SUITE = [
    c
    for c in cases(noises=(1.0,))
    if c.seeds != 10 and not (c.name.startswith("flat") and c.seeds == 3)
]


@pytest.fixture(scope="module")
def results() -> dict[str, CaseResult]:
    return {f"{c.name} σ={c.noise / M:g}": run_case(c, REPS, bootstrap=100) for c in SUITE}


@pytest.mark.parametrize("case", SUITE, ids=lambda c: f"{c.name} S={c.seeds}")
def test_wrong_decisive_verdicts_stay_within_the_promise(
    case: Case, results: dict[str, CaseResult]
) -> None:
    r = results[f"{case.name} σ={case.noise / M:g}"]
    assert r.wrong <= MAX_WRONG, (case.name, r.truth, r.results)
    if case.seeds < 5:  # below min_seeds: nothing is decided at all
        assert r.decisive == 0, r.results


def test_intervals_cover_at_least_92_percent(results: dict[str, CaseResult]) -> None:
    pooled: dict[str, list[float]] = {}
    for name, r in results.items():
        if "random divergence" in name:
            continue  # rare divergence the seeds never showed: see benchmarks/calibration.py
        for key, values in r.coverage.items():
            pooled.setdefault(key, []).extend(values)
    for key, values in pooled.items():
        assert values, key
        assert sum(values) / len(values) >= 0.92, (key, sum(values) / len(values))


def test_clear_cases_are_decided(results: dict[str, CaseResult]) -> None:
    steep = results["steep σ=1"]
    assert steep.results.get("REFUTED", 0) >= 0.9 * REPS, steep.results
    divergence = results["gamma: divergence from lr, final_lr only σ=1"]
    assert divergence.results.get("REFUTED", 0) == 0, divergence.results


def test_a_flat_grid_is_supported_once_seeds_suffice() -> None:
    """The power given up: at seed noise 0.5 m a flat grid needs about 20 seeds."""
    flat = next(c for c in cases(noises=(0.5,)) if c.name == "flat, S=5")
    many = Case(flat.name, flat.grids, flat.mean, flat.claim, seeds=20, noise=flat.noise)
    r = run_case(many, 10, bootstrap=50)
    assert r.results.get("SUPPORTED", 0) >= 9, r.results
