"""The verdicts stay calibrated and keep their power: a rule change that makes decisive verdicts
wrong more often than their bounds promise, or that throws power away, fails here (the full table,
300 repetitions a case: `benchmarks/calibration.py`).

Deterministic (fixed RNG seeds). The cases are those where earlier rules were found wrong: a
noisier value at the boundary, nine equal cells just above m, divergence near the floor and
clustered by seed, a seed offset shared by every cell, heavy-tailed noise, an interaction, V2 with
A noisier or with a nuisance grid, and the "lr = 1 fails" claims at their boundary. The limit per
case and side: at most `MAX_WRONG` of `REPS` (the promise is 2.5 %; with 30 repetitions one wrong
verdict is 3.3 %, so 2 allows for simulation noise while rules wrong 12 % of the time or more
fail).
"""

from __future__ import annotations

import pytest

from hpsearch.analysis.calibration import Case, CaseResult, cases, run_case

pytestmark = pytest.mark.slow  # about a minute of simulation: `make quick` leaves it out

REPS = 30
MAX_WRONG = 2
AUDITED = {
    ("regret 1.02 m, noisier value (sd 1.5 m)", 5),
    ("one noisy cell at 1.05 m among quiet ones", 10),
    ("nine equal cells at regret 1.02 m", 10),
    ("divergence 2 x 10 % at lr = 1, floor 0.5 m below", 5),
    ("divergence clustered by seed at 10 %, floor 5 m below", 10),
    ("seed offset shared by every cell (τ = m), regret = m", 10),
    ("Student-t (3 df) noise, regret 1.02 m", 10),
    ("interaction: gamma matters only at lr = 1", 5),
    ("regret = m", 3),
    ("V2 identical, peaked", 5),
    ("V2 identical, A noisier (1.5 m vs 0.5 m)", 5),
    ("V2 identical flat, nuisance gamma grid on A", 5),
    ("lr = 1 regret = m: tuned view", 5),
    ("lr = 1 regret 1.02 m: defaults view", 5),
}
POWER = {  # case, S -> least share of right decisive verdicts
    ("flat", 10): 0.8,  # measured 85-90 %, ceiling with the noise known 95 %
    ("regret 2.5 m at one of six values", 10): 0.3,  # measured ~50 %, ceiling ~60 %
    ("V2 A flat, lower than B's peak", 10): 0.7,  # measured ~85 %
    ("lr = 1 fails at defaults only: defaults view", 5): 0.9,
}
SUITE = [c for c in cases() if (c.name, c.seeds) in AUDITED | set(POWER)]


def _key(case: Case) -> str:
    return f"{case.name} {case.claim[0]} {case.claim[-1]} S={case.seeds}"


@pytest.fixture(scope="module")
def results() -> dict[str, CaseResult]:
    return {_key(c): run_case(c, REPS) for c in SUITE}


def test_the_suite_holds_every_audited_case() -> None:
    assert {(c.name, c.seeds) for c in SUITE} == AUDITED | set(POWER)


@pytest.mark.parametrize("case", SUITE, ids=_key)
def test_wrong_decisive_verdicts_stay_within_the_promise(
    case: Case, results: dict[str, CaseResult]
) -> None:
    r = results[_key(case)]
    assert r.wrong_supported <= MAX_WRONG, (case.name, r.truth, r.results)
    assert r.wrong_refuted <= MAX_WRONG, (case.name, r.truth, r.results)
    if case.seeds < 5:  # below min_seeds: nothing is decided at all
        assert r.decisive == 0, r.results


@pytest.mark.parametrize("case", [c for c in SUITE if (c.name, c.seeds) in POWER], ids=_key)
def test_the_power_the_data_allow_is_used(case: Case, results: dict[str, CaseResult]) -> None:
    r = results[_key(case)]
    assert r.right >= POWER[(case.name, case.seeds)] * REPS, r.results


def test_decisive_bounds_cover_their_truth(results: dict[str, CaseResult]) -> None:
    """The interval each verdict is decided on covers the true value it bounds (the largest
    regret, ΔT, a value's regret) in at least 92 % of repetitions, pooled over the suite."""
    covered = [x for r in results.values() for x in r.coverage["decisive bound"]]
    assert sum(covered) / len(covered) >= 0.92
