"""Known-answer tests of the sensitivity analysis on synthetic studies with a constructed truth."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from hpsearch.analysis import analyze
from hpsearch.analysis.bestofk import expected_best_of_k, k_grid, selection_distribution
from hpsearch.analysis.bootstrap import exact_rate, interval, seed_weights, weighted_mean
from hpsearch.analysis.synthetic import synthetic_study
from hpsearch.claims import ClaimsSpec

LRS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
B = 400  # enough for stable 95 % bounds in these tests, and fast


def flat(optimizer: str, config: dict[str, float]) -> float:
    return 0.93


def steep(optimizer: str, config: dict[str, float]) -> float:
    """Best at lr = 1e-3, losing 10 points per decade away from it."""
    return 0.93 - 0.10 * abs(math.log10(config["lr"]) + 3)


def verdict(analysis, kind, optimizers, hp):  # type: ignore[no-untyped-def]
    for v in analysis.verdicts:
        if v.kind == kind and v.optimizers == optimizers and v.hyperparameter == hp:
            return v
    raise AssertionError(f"no {kind} verdict for {optimizers} {hp}: {analysis.verdicts}")


def test_flat_optimizer_is_supported_over_its_whole_range() -> None:
    # Seed noise 0.2 points against m = 1: the selection-aware upper bound has room.
    data = synthetic_study(
        {"adabound": {"lr": LRS, "gamma": [1e-3, 1e-2, 1e-1, 0.5]}},
        flat,
        seeds=range(10),
        noise=0.002,
    )
    analysis = analyze(data, ClaimsSpec(bootstrap=B, insensitive=["adabound.lr"]))
    v = verdict(analysis, "V1", ("adabound",), "lr")
    assert v.result == "SUPPORTED", v.sentence
    assert v.numbers["max_regret"].high <= 0.01
    assert v.safe_range == (1e-4, 1.0)
    assert v.blocking == []
    assert v.sentence.startswith("adabound: insensitive to lr on [0.0001, 1] within 1.00 point")
    assert "none of 200 runs diverged" in v.sentence
    # 0 of 40 at a value is stated with its exact bound over the 10 seeds, never as a bare 0 %.
    assert v.numbers["max_divergence"].value == 0.0
    assert v.numbers["max_divergence"].high == pytest.approx(1 - 0.025**0.1)


def test_steep_optimizer_is_refuted() -> None:
    data = synthetic_study({"adam": {"lr": LRS}}, steep, seeds=range(5))
    analysis = analyze(data, ClaimsSpec(bootstrap=B, insensitive=["adam.lr"]))
    v = verdict(analysis, "V1", ("adam",), "lr")
    assert v.result == "REFUTED"
    assert v.numbers["max_regret"].low > 0.01
    # lr = 1 is 3 decades from the best: 30 points of regret.
    assert v.numbers["max_regret"].value == pytest.approx(0.30, abs=0.01)
    # Every value but the best fails on regret; the best is the only safe one.
    assert [b.split(":")[0] for b in v.blocking] == [
        "lr = 0.0001",
        "lr = 0.01",
        "lr = 0.1",
        "lr = 1",
    ]
    assert v.safe_range == (1e-3, 1e-3)
    # A one-point "range" is worded as a point, and the bounds behind it are named.
    assert "only lr = 0.001 passes (simultaneous bounds)" in v.sentence
    assert "[0.001, 0.001]" not in v.sentence
    # The sentence cites the value with the largest simultaneous lower bound: lr = 1.
    assert "at lr = 1 the best mean is 63." in v.sentence


def test_one_seed_is_inconclusive_even_for_a_flat_optimizer() -> None:
    data = synthetic_study({"adabound": {"lr": LRS, "gamma": [1e-3, 1e-2]}}, flat, seeds=[0])
    analysis = analyze(data, ClaimsSpec(bootstrap=B, insensitive=["adabound.lr"]))
    v = verdict(analysis, "V1", ("adabound",), "lr")
    assert v.result == "INCONCLUSIVE"
    assert "10 cell(s) have fewer than min_seeds = 5 finished seeds" in v.reasons[0]
    assert v.blocking[0] == "adabound lr=0.0001 gamma=0.001 (1 seed(s))"
    assert v.safe_range is None
    assert analysis.settings.low_power


def test_few_noisy_seeds_are_inconclusive_where_many_decide() -> None:
    """Same truth (a 0.5-point dip at lr = 1 against m = 1 point), noise 1 point per seed."""

    def dip(optimizer: str, config: dict[str, float]) -> float:
        return 0.93 - (0.005 if config["lr"] == 1.0 else 0.0)

    claims = ClaimsSpec(bootstrap=B, insensitive=["adabound.lr"])
    grids = {"adabound": {"lr": LRS}}
    # With 3 seeds the largest regret's estimate is inflated by noise (2.2 points for this seed),
    # and a plain bootstrap would "refute" the claim.
    few = analyze(synthetic_study(grids, dip, seeds=range(3), noise=0.01, rng_seed=3), claims)
    many = analyze(synthetic_study(grids, dip, seeds=range(200), noise=0.01), claims)
    v = verdict(few, "V1", ("adabound",), "lr")
    assert v.result == "INCONCLUSIVE"
    assert "min_seeds" in v.reasons[-1]
    assert verdict(many, "V1", ("adabound",), "lr").result == "SUPPORTED"


def test_a_cell_below_min_seeds_blocks_every_verdict_by_name() -> None:
    """Even a divergence at every seed: 2 seeds are too few to decide anything."""
    data = synthetic_study(
        {"adabound": {"lr": LRS}}, flat, seeds=range(2), diverges=lambda o, c, s: c["lr"] == 1
    )
    v = verdict(analyze(data, ClaimsSpec(bootstrap=B)), "V1", ("adabound",), "lr")
    assert v.result == "INCONCLUSIVE"
    assert "adabound lr=1 (2 seed(s))" in v.blocking


def test_min_seeds_counts_per_cell_not_study_wide() -> None:
    """Six seeds in the study, but one cell has only four finished: it blocks, by name."""
    data = synthetic_study(
        {"adabound": {"lr": LRS}, "adam": {"lr": LRS}}, flat, seeds=range(6), noise=0.001
    )
    gone = (data.trials["optimizer"] == "adabound") & (data.trials["lr"] == 0.01)
    data.trials = data.trials[~(gone & data.trials["seed"].isin([0, 1]))]
    analysis = analyze(data, ClaimsSpec(bootstrap=B, compare=[("adabound", "adam")]))
    v = verdict(analysis, "V1", ("adabound",), "lr")
    assert v.result == "INCONCLUSIVE"
    assert v.blocking == ["adabound lr=0.01 (4 seed(s))"]
    assert "run the missing seeds" in v.reasons[0]
    assert verdict(analysis, "V2", ("adabound", "adam"), "lr").result == "INCONCLUSIVE"
    cell = analysis.configs.set_index(["optimizer", "config"]).loc[("adabound", "lr=0.01")]
    assert cell["n_seeds"] == 4


def test_a_cell_with_every_seed_diverged_breaks_v1_exactly_there() -> None:
    data = synthetic_study(
        {"adabound": {"lr": LRS, "gamma": [1e-3, 1e-2, 1e-1, 0.5]}},
        flat,
        seeds=range(10),
        noise=0.002,
        diverges=lambda o, c, s: c["lr"] == 1.0,
    )
    analysis = analyze(data, ClaimsSpec(bootstrap=B))  # default claims: adabound.lr, .gamma
    v = verdict(analysis, "V1", ("adabound",), "lr")
    assert v.result == "REFUTED"
    assert v.safe_range == (1e-4, 1e-1)
    assert len(v.blocking) == 1 and v.blocking[0].startswith("lr = 1:")
    assert "diverged 40/40" in v.blocking[0]
    assert "at lr = 1 the best mean is 10.0 %" in v.sentence
    # Divergence clusters by seed: its interval counts the 10 seeds, not the 40 trials.
    assert "diverged 40/40 (100.0 % [69.2, 100.0], exact over 10 seeds)" in v.sentence
    # Diverged trials are data at the floor, never dropped.
    row = analysis.sensitivity.query("optimizer == 'adabound' and hyperparameter == 'lr'")
    at_one = row[row["value"] == 1.0].iloc[0]
    assert at_one["profile"] == pytest.approx(0.1)
    assert at_one["divergence_rate"] == 1.0
    assert at_one["divergence_rate_low"] == pytest.approx(0.025**0.1)  # 10 of 10 seeds
    # The blocking sentence quotes the table's own (exact) interval.
    low, high = at_one["divergence_rate_low"], at_one["divergence_rate_high"]
    assert f"100.0 % [{100 * low:.1f}, {100 * high:.1f}], exact over 10 seeds" in v.blocking[0]
    assert analysis.settings.n_diverged == 40
    # gamma has no effect; every gamma value has lr = 1 diverging (a quarter of its trials),
    # which is lr's doing, not gamma's: tuned at each gamma, nothing is lost.
    g = verdict(analysis, "V1", ("adabound",), "gamma")
    assert g.result == "SUPPORTED", g.sentence
    assert g.numbers["max_regret"].high <= 0.01


def test_good_region_width_and_divergence_boundary_known_answers() -> None:
    def shaped(optimizer: str, config: dict[str, float]) -> float:
        # 0.9 up to lr = 1e-2, then 0.7 at 1e-1 (linear in log lr in between).
        return {1e-4: 0.9, 1e-3: 0.9, 1e-2: 0.9, 1e-1: 0.7, 1.0: 0.7}[config["lr"]]

    data = synthetic_study(
        {"adam": {"lr": LRS}},
        shaped,
        seeds=range(5),
        noise=1e-7,
        diverges=lambda o, c, s: (c["lr"] == 1.0) or (c["lr"] == 0.1 and s == 0),
    )
    analysis = analyze(data, ClaimsSpec(bootstrap=B, tolerance=5.0))
    row = analysis.summary.set_index(["optimizer", "hyperparameter"]).loc[("adam", "lr")]
    # lr = 0.1 has one seed of five at the floor: its mean is (4 x 0.7 + 0.1) / 5 = 0.58. With
    # m = 5 points the interpolated profile stays within m for 0.05 / 0.32 of [1e-2, 1e-1].
    assert row["width"] == pytest.approx((2 + 0.05 / 0.32) / 4, abs=1e-4)
    assert row["decades_within"] == pytest.approx(2 + 0.05 / 0.32, abs=1e-4)
    # D = 0.2 at lr = 0.1 and 1.0 at lr = 1: crosses 0.5 at 10^(-1 + 0.3 / 0.8).
    assert row["divergence_boundary"] == pytest.approx(10 ** (-1 + 0.3 / 0.8), rel=1e-6)
    # The lr at the floor (1.0) and lr 0.1 with one seed at the floor: the spread is 0.8.
    assert row["spread"] == pytest.approx(0.9 - 0.1, abs=1e-6)
    picks = analysis.picks.set_index("role")
    assert picks.loc["best", "lr"] <= 1e-2 and picks.loc["lr=1", "lr"] == 1.0
    assert picks.loc["boundary", "lr"] == 1.0
    assert len(picks.loc["lr=1", "trial_numbers"]) == 5


def test_less_sensitive_comparison_is_paired_and_three_valued() -> None:
    data = synthetic_study(
        {"adabound": {"lr": LRS}, "adam": {"lr": LRS}},
        lambda o, c: flat(o, c) if o == "adabound" else steep(o, c),
        seeds=range(5),
    )
    analysis = analyze(
        data, ClaimsSpec(bootstrap=B, compare=[("adabound", "adam"), ("adam", "adabound")])
    )
    assert verdict(analysis, "V2", ("adabound", "adam"), "lr").result == "SUPPORTED"
    assert verdict(analysis, "V2", ("adabound", "adam"), None).result == "SUPPORTED"
    against = verdict(analysis, "V2", ("adam", "adabound"), "lr")
    assert against.result == "REFUTED"
    assert against.numbers["delta_E1"].high < 0
    # ΔT = T_B - T_A: adam's mean regret is about 13.8 points (0, 10, 20, 10, 30 -> 14 less
    # noise), adabound's about 0, so A = adam loses 13.8 points more to an untuned pick.
    dt = against.numbers["delta_T"]
    assert dt.high < 0 and dt.value == pytest.approx(-0.14, abs=0.01)
    assert dt.low <= dt.value <= dt.high
    assert against.decided_by == "delta_T"


def test_unmatched_decades_make_the_comparison_inconclusive() -> None:
    data = synthetic_study(
        {"adabound": {"lr": LRS}, "adam": {"lr": LRS[:3]}},
        lambda o, c: flat(o, c) if o == "adabound" else steep(o, c),
    )
    analysis = analyze(data, ClaimsSpec(bootstrap=B))
    v = verdict(analysis, "V2", ("adabound", "adam"), "lr")
    assert v.result == "INCONCLUSIVE"
    assert "decades" in v.reasons[0]


def test_errors_are_excluded_and_counted_not_scored() -> None:
    data = synthetic_study({"adam": {"lr": LRS}}, flat, seeds=range(5), errors=3)
    analysis = analyze(data, ClaimsSpec(bootstrap=B))
    assert analysis.settings.n_error == 3
    first = analysis.configs.iloc[0]
    assert first["n_seeds"] == 2 and first["n_error"] == 3
    assert first["mean"] == pytest.approx(0.93, abs=0.01)  # not pulled down by the failures
    assert any("failed" in n for n in analysis.notes)


def test_a_minimised_metric_gets_the_same_verdicts() -> None:
    acc = synthetic_study(
        {"adabound": {"lr": LRS}, "adam": {"lr": LRS}},
        lambda o, c: flat(o, c) if o == "adabound" else steep(o, c),
        diverges=lambda o, c, s: o == "adam" and c["lr"] == 1.0,
    )
    loss = synthetic_study(
        {"adabound": {"lr": LRS}, "adam": {"lr": LRS}},
        lambda o, c: flat(o, c) if o == "adabound" else steep(o, c),
        diverges=lambda o, c, s: o == "adam" and c["lr"] == 1.0,
    )
    for column in ("value", "floor", "test_accuracy"):
        loss.trials[column] = 1.0 - loss.trials[column]
    loss.metric, loss.direction = "test_loss", "minimize"
    loss.trials = loss.trials.rename(columns={"test_accuracy": "test_loss"})
    claims = {"bootstrap": B, "insensitive": ["adabound.lr", "adam.lr"]}
    # Points are percentage points for an accuracy in [0, 1], metric units for a loss.
    a = analyze(acc, ClaimsSpec(**claims))
    b = analyze(loss, ClaimsSpec(**claims, tolerance=0.01))
    assert [v.result for v in a.verdicts] == [v.result for v in b.verdicts]
    best = b.optimizers.set_index("optimizer").loc["adam"]
    assert best["best"] == pytest.approx(1 - 0.93, abs=0.01)
    assert best["best_low"] <= best["best"] <= best["best_high"]


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_best_of_k_matches_brute_force_enumeration(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(5):
        sel = rng.integers(0, 3, n).astype(float)  # many ties
        rep = rng.normal(size=n)
        ks = np.arange(1, n + 1)
        brute = []
        for k in ks:
            picks = []
            for subset in itertools.combinations(range(n), k):
                s = np.array(subset)
                top = sel[s] == sel[s].max()
                picks.append(rep[s][top].mean())  # ties broken uniformly at random
            brute.append(np.mean(picks))
        np.testing.assert_allclose(expected_best_of_k(sel, rep, ks), brute, rtol=1e-10)


def test_best_of_k_curve_ends_at_the_mean_of_the_per_seed_best() -> None:
    data = synthetic_study({"adam": {"lr": LRS}}, steep, seeds=range(4), noise=0.02)
    analysis = analyze(data, ClaimsSpec(bootstrap=B))
    curve = analysis.best_of_k.query("optimizer == 'adam'")
    per_seed = data.trials.groupby("seed")["value"]
    assert curve["expected"].iloc[0] == pytest.approx(data.trials["value"].mean())
    assert curve["expected"].iloc[-1] == pytest.approx(per_seed.max().mean())
    assert list(curve["k"]) == [1, 2, 3, 4, 5]
    assert (np.diff(curve["expected"]) >= -1e-12).all()
    assert k_grid(10_000)[-1] == 10_000 and len(k_grid(10_000)) < 300


def test_bootstrap_interval_covers_the_truth_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(0)
    n_seeds, runs, truth = 20, 300, 0.5
    weights = seed_weights(n_seeds, 500, rng_seed=1)
    values = truth + rng.normal(0, 0.1, size=(runs, n_seeds))
    means = weighted_mean(values, np.ones_like(values, dtype=bool), weights)
    _, low, high = interval(means, 0.95, n_seeds)
    coverage = np.mean((low <= truth) & (truth <= high))
    # The bootstrap SE made unbiased and the t quantile: a mean's interval is Student's t.
    assert 0.92 <= coverage <= 0.98


def test_paired_bootstrap_cancels_a_shared_seed_effect() -> None:
    """Both optimizers share a large per-seed offset: the paired ΔE(1) interval is narrow."""
    offsets = {s: 0.05 * (s - 2) for s in range(5)}
    data = synthetic_study(
        {"adabound": {"lr": LRS}, "adam": {"lr": LRS}}, flat, seeds=range(5), noise=1e-6
    )
    data.trials["value"] = data.trials["value"] + data.trials["seed"].map(offsets)
    data.trials.loc[data.trials["optimizer"] == "adam", "value"] -= 0.01
    analysis = analyze(data, ClaimsSpec(bootstrap=B))
    v = verdict(analysis, "V2", ("adabound", "adam"), None)
    d = v.numbers["delta_E1"]
    assert d.value == pytest.approx(0.01, abs=1e-4)
    assert d.high - d.low < 1e-3  # unpaired, the seed offsets (±10 points) would dominate
    e1 = analysis.optimizers.set_index("optimizer").loc["adam"]
    assert e1["e1_high"] - e1["e1_low"] > 0.02


def test_exact_rate_known_values() -> None:
    # Clopper-Pearson: 0 of 5 -> upper 1 - 0.025^(1/5); 5 of 5 -> lower 0.025^(1/5).
    assert exact_rate(0, 5) == (0.0, pytest.approx(1 - 0.025**0.2))
    assert exact_rate(5, 5) == (pytest.approx(0.025**0.2), 1.0)
    low, high = exact_rate(10, 40)
    assert low == pytest.approx(0.1269, abs=1e-3) and high == pytest.approx(0.4119, abs=1e-3)
    assert all(math.isnan(x) for x in exact_rate(0, 0))


def test_the_analysis_records_its_settings() -> None:
    data = synthetic_study({"adam": {"lr": LRS}}, steep, seeds=range(3), errors=1)
    analysis = analyze(data, ClaimsSpec(bootstrap=50, rng_seed=7, tolerance=0.5))
    s = analysis.settings
    assert (s.bootstrap, s.rng_seed, s.n_seeds, s.n_error) == (50, 7, 3, 1)
    assert s.grid_sizes == {"adam": 5} and s.ranges["adam"]["lr"] == (1e-4, 1.0)
    assert s.delta == s.tolerance == pytest.approx(0.005)  # W at the claims' m, whatever the noise
    assert not analysis.importance.empty and not analysis.edf.empty


def test_a_study_still_running_analyses_without_verdicts_instead_of_crashing() -> None:
    data = synthetic_study({"adabound": {"lr": LRS}, "adam": {"lr": LRS}}, flat, seeds=range(3))
    running = data.trials["optimizer"] == "adam"
    data.trials.loc[running, "outcome"] = "running"
    data.trials.loc[running, "value"] = math.nan
    analysis = analyze(data, ClaimsSpec(bootstrap=B))
    # adam has nothing to compare yet; adabound's "lr = 1 fails" is decided (at defaults, tuned)
    assert [v.kind for v in analysis.verdicts] == ["V1", "V3"]  # lr alone: one view
    assert analysis.settings.n_running == 15
    assert any("adabound vs adam" in n for n in analysis.notes)
    data.trials["outcome"] = "running"
    empty = analyze(data, ClaimsSpec(bootstrap=B))
    assert empty.verdicts == [] and empty.notes[0].startswith("No completed or diverged")
    assert list(empty.sensitivity.columns)[:3] == ["optimizer", "hyperparameter", "value"]


def test_win_probability_and_edf_known_answers() -> None:
    better = synthetic_study(
        {"adabound": {"lr": LRS}, "adam": {"lr": LRS}},
        lambda o, c: 0.95 if o == "adabound" else 0.5 + 0.1 * (c["lr"] == 1e-3),
        seeds=range(3),
        noise=1e-4,
    )
    analysis = analyze(better, ClaimsSpec(bootstrap=B))
    wins = analysis.win_probability.pivot(index="k", columns="optimizer", values="probability")
    assert np.allclose(wins["adabound"], 1.0) and np.allclose(wins["adam"], 0.0)
    same = synthetic_study({"adabound": {"lr": [0.1]}, "adam": {"lr": [0.1]}}, flat, noise=0.0)
    ties = analyze(same, ClaimsSpec(bootstrap=B)).win_probability
    assert np.allclose(ties["probability"], 0.5)  # exact ties split evenly
    edf = analysis.edf.query("optimizer == 'adam'")
    assert edf["fraction"].iloc[0] == pytest.approx(1 / 5)  # only the best is within 0
    assert edf["fraction"].iloc[-1] == 1.0
    assert (np.diff(edf["fraction"]) >= 0).all()


def test_lr_one_is_stated_from_the_numbers_in_the_lr_verdict() -> None:
    """The paper's admitted failure (lr = 1) gets its own clause: tuned and at the best config."""

    def fails_at_one(optimizer: str, config: dict[str, float]) -> float:
        if config["lr"] < 1.0:
            return 0.93 if config["gamma"] < 0.05 else 0.92  # the best config has gamma = 1e-3
        return 0.90 if config["gamma"] > 0.05 else 0.40  # lr = 1 only survives a large gamma

    data = synthetic_study({"adabound": {"lr": LRS, "gamma": [1e-3, 1e-1]}}, fails_at_one)
    v = verdict(analyze(data, ClaimsSpec(bootstrap=B)), "V1", ("adabound",), "lr")
    at_one = v.sentence[v.sentence.index("At lr = 1:") :]
    assert at_one.startswith("At lr = 1: 90.")  # the profile tunes gamma
    slice_mean = float(re.search(r"tuned, ([0-9.]+) %", at_one).group(1))  # type: ignore[union-attr]
    assert abs(slice_mean - 40.0) < 1.0  # the slice keeps gamma at the best config's 1e-3
    assert "vs best 93." in at_one and "diverged 0/10 (0.0 %" in at_one
    no_one = synthetic_study({"adabound": {"lr": LRS[:-1]}}, flat)
    assert (
        "At lr = 1"
        not in verdict(analyze(no_one, ClaimsSpec(bootstrap=B)), "V1", ("adabound",), "lr").sentence
    )


def test_win_probability_draws_fairly_among_tied_selection_scores() -> None:
    """A ties its two configurations on the selection metric; their reported scores are 0.5 and
    1.0, B's only one is 0.8. A wins exactly when its draw is the 1.0: probability 1/2 (averaging
    A's reported scores to 0.75 first would say 0)."""
    _, probs = selection_distribution(np.array([0.9, 0.9]), np.array([0.5, 1.0]), [1, 2])
    np.testing.assert_allclose(probs, [[0.5, 0.5], [0.5, 0.5]])
    data = synthetic_study({"adabound": {"lr": [0.1, 1.0]}, "adam": {"lr": [0.1]}}, flat, noise=0)
    data.trials["test_loss"] = 0.0  # the reported metric: lower is better
    sel = {("adabound", 0.1): 0.9, ("adabound", 1.0): 0.9, ("adam", 0.1): 0.8}
    rep = {("adabound", 0.1): 0.5, ("adabound", 1.0): 1.0, ("adam", 0.1): 0.8}
    keys = list(zip(data.trials["optimizer"], data.trials["lr"], strict=True))
    data.trials["value"] = [sel[k] for k in keys]
    data.trials["test_accuracy"] = data.trials["value"]
    data.trials["train_accuracy"] = [rep[k] for k in keys]
    data.metrics = ["test_accuracy", "train_accuracy"]
    analysis = analyze(data, ClaimsSpec(bootstrap=B, report_metric="train_accuracy"))
    wins = analysis.win_probability.query("k == 1").set_index("optimizer")["probability"]
    assert wins["adabound"] == pytest.approx(0.5) and wins["adam"] == pytest.approx(0.5)


def test_a_flat_optimizer_below_the_other_peak_is_still_less_sensitive() -> None:
    """ΔE(1) < 0 is a level: A flat at 0.80; B 0.95 at lr = 1e-3 and 0.90 elsewhere."""
    data = synthetic_study(
        {"adabound": {"lr": LRS}, "adam": {"lr": LRS}},
        lambda o, c: 0.80 if o == "adabound" else 0.90 + 0.05 * (c["lr"] == 1e-3),
        seeds=range(5),
    )
    v = verdict(analyze(data, ClaimsSpec(bootstrap=B)), "V2", ("adabound", "adam"), "lr")
    assert v.result == "SUPPORTED", v.sentence
    assert v.numbers["delta_E1"].value < 0 and "(a level, not a sensitivity)" in v.sentence


def test_every_refuted_sentence_cites_a_failing_value() -> None:
    """Across noisy studies near the boundary, the value a REFUTED sentence cites is one of the
    values listed as failing (an empty list used to make it cite the first grid value)."""
    cited = 0
    for seed in range(12):

        def bump(optimizer: str, config: dict[str, float], seed: int = seed) -> float:
            return 0.9 - 0.012 * (config["lr"] == LRS[seed % 5]) * (1 + seed % 3)

        data = synthetic_study(
            {"adabound": {"lr": LRS, "gamma": [1e-3, 1e-2]}},
            bump,
            seeds=range(5),
            noise=0.004,
            rng_seed=seed,
        )
        v = verdict(analyze(data, ClaimsSpec(bootstrap=60)), "V1", ("adabound",), "lr")
        if v.result == "REFUTED":
            value = re.search(r"at lr = ([0-9.e-]+) the best mean", v.sentence).group(1)  # type: ignore[union-attr]
            assert any(b.startswith(f"lr = {value}:") for b in v.blocking), (v.sentence, v.blocking)
            cited += 1
    assert cited >= 3  # the check above ran on real refutations


def test_lr_one_fails_at_the_defaults_but_not_when_tuned() -> None:
    """The paper's claim, decided both ways: at final_lr = 0.1 and gamma = 1e-3 (the registered
    defaults) lr = 1 loses 30 points; with gamma tuned it loses nothing."""

    def truth(optimizer: str, config: dict[str, float]) -> float:
        return 0.93 - 0.30 * (config["lr"] == 1.0 and config["gamma"] == 1e-3)

    grids = {"adabound": {"lr": LRS, "final_lr": [0.1], "gamma": [1e-3, 1e-2]}}
    data = synthetic_study(grids, truth, seeds=range(10), noise=0.001)
    analysis = analyze(data, ClaimsSpec(bootstrap=50, fails=["adabound.lr = 1"]))
    views = {v.settings["view"]: v for v in analysis.verdicts if v.kind == "V3"}
    assert views["defaults"].result == "SUPPORTED", views["defaults"].sentence
    assert views["defaults"].numbers["regret_at"].low > 0.29
    assert views["defaults"].numbers["at_value"].value == pytest.approx(0.63, abs=0.002)
    assert views["tuned"].result == "REFUTED", views["tuned"].sentence
    assert views["tuned"].numbers["regret_at"].high <= 0.01
    assert views["tuned"].decided_by == "regret_at"


def test_a_failure_claim_at_a_value_off_the_grid_says_so() -> None:
    data = synthetic_study({"adam": {"lr": LRS}}, flat, seeds=range(5))
    analysis = analyze(data, ClaimsSpec(bootstrap=50, fails=["adam.lr = 3"]))
    (v,) = [v for v in analysis.verdicts if v.kind == "V3"]
    assert v.result == "INCONCLUSIVE"
    assert v.reasons == ["lr = 3 is not a value of the grid"]
