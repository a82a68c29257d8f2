"""The three-valued verdicts of SENSITIVITY.md §4.6, with sentences built from the numbers.

Each decisive verdict rests on one-sided bounds that err with probability at most α = (1 -
confidence) / 2 (2.5 % at 95 %); `benchmarks/calibration.py` measures that on studies whose truth
is known, and `tests/test_calibration.py` keeps it so.

V1 "A is insensitive to h over [a, b] within m" (the regret R(v) = m* - P_h(v), diverged trials at
the floor, so divergence enters through the profile):
- SUPPORTED when every in-range value's regret upper bound is <= m (an intersection of tests:
  each at α, no multiplicity correction needed) — the upper bound of the largest regret;
- REFUTED when some value's regret lower bound, at α / V (Bonferroni over the V values, since
  "some value fails" is a union), exceeds m — the lower bound of the largest regret — or when a
  value's divergence rate surely exceeds the best value's by more than d_max (the matched guard:
  exact Clopper-Pearson bounds, every other hyperparameter and seed the same at each value);
- otherwise INCONCLUSIVE, naming the values that block it.
The regret bounds are selection-aware (`selection.py`): cross-fitted where the bound must not be
optimistic, in-sample where optimism is on the safe side.

V2 "A is less sensitive than B": ΔW (good-region width at δ, on the shared hyperparameter or
jointly) decides when its interval and the paired t interval of ΔW seed by seed (each seed as one
complete grid study, SENSITIVITY.md §4.4) exclude 0 on the same side. The width is a threshold
statistic whose resampling SE is unstable at S = 5 (with identical truths the interval alone was
decisive in 6-10 % of repetitions); the seed-by-seed difference has mean exactly 0 then, so its t
test keeps that rate at the nominal 2.5 % per side; REFUTED also when A surely diverges more
than d_max more often than B (ΔD, pooled rates, exact bounds). Like V1's guard it can only refute:
divergence is already in W through the floor, and an exact bound cannot show ΔD <= d_max on the
25 trials of a 5-value, 5-seed grid (0 of 25 has an upper bound of 16 %). ΔE(1), the expected
score of a random configuration, is reported as a *level*, never as a sensitivity: a flat A below
B's peak is still less sensitive.

A cell (configuration) with fewer than `min_seeds` finished seeds blocks every verdict that reads
its optimizer, by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.analysis.bootstrap import exact_rate, interval, t_interval
from hpsearch.analysis.grid import format_value
from hpsearch.analysis.records import AnalysisSettings, Estimate, Result, Verdict
from hpsearch.analysis.stats import HyperparameterStats, OptimizerStats
from hpsearch.units import format_display_estimate, format_estimate, format_share


@dataclass(frozen=True)
class Units:
    """Turns oriented metric units into the words of a sentence (spelled by `hpsearch.units`)."""

    points: float  # metric units per point
    sign: float  # +1 maximise, -1 minimise
    percent: bool  # accuracy in [0, 1]: show as %

    def pts(self, amount: float) -> str:
        return "n/a" if not math.isfinite(amount) else f"{amount / self.points:.2f}"

    def signed_pts(self, amount: float) -> str:
        return "n/a" if not math.isfinite(amount) else f"{amount / self.points:+.2f}"

    def metric_ci(self, est: Estimate) -> str:
        """An oriented (higher is better) estimate in the metric's own direction, spelled as the
        claim board spells it: "63.9 % [63.1, 64.6]"."""
        value, low, high = (self.sign * x for x in (est.value, est.low, est.high))
        low, high = min(low, high), max(low, high)
        scale = 1.0
        if self.percent:  # an accuracy's bounds stay in [0, 100] %
            low, high, scale = float(np.clip(low, 0.0, 1.0)), float(np.clip(high, 0.0, 1.0)), 100.0
        shown = (scale * x for x in (value, low, high))
        return format_display_estimate("best", *shown, percent=self.percent, short=True)

    def points_ci(self, est: Estimate) -> str:
        """A difference of metric values with its interval, as the board spells it:
        "2.08 points [0.00, 5.21]"."""
        shown = (x / self.points for x in (est.value, est.low, est.high))
        return format_display_estimate("max_regret", *shown, percent=self.percent, short=True)


def oriented_estimate(est: Estimate, sign: float) -> Estimate:
    """An estimate of an oriented score back in the metric's own direction."""
    if sign > 0:
        return est
    return Estimate(-est.value, -est.high, -est.low)


def rate_text(k: int, n: int, confidence: float) -> str:
    """ "3/45 (6.7 % [1.4, 18.3], exact interval)": the counts always, never a bare 0 %."""
    if n <= 0:
        return "no trials"
    rate = format_display_estimate(
        "divergence_rate", k / n, *exact_rate(k, n, confidence), percent=True, short=True
    )
    return f"{k}/{n} ({rate}, exact interval)"


def _span(values: list[float]) -> str:
    return f"[{format_value(values[0])}, {format_value(values[-1])}]"


def _common_settings(settings: AnalysisSettings, units: Units) -> dict[str, Any]:
    return {
        "delta_points": settings.delta / units.points,
        "tolerance_points": settings.tolerance / units.points,
        "d_max": settings.d_max,
        "S": settings.n_seeds,
        "B": settings.bootstrap,
        "rng_seed": settings.rng_seed,
        "confidence": settings.confidence,
        "min_seeds": settings.min_seeds,
        "low_power": settings.low_power,
        "grid_sizes": dict(settings.grid_sizes),
        "n_diverged": settings.n_diverged,
        "n_error": settings.n_error,
    }


def _thin_reason(thin: list[str], min_seeds: int) -> str:
    shown = "; ".join(thin[:4]) + (f"; and {len(thin) - 4} more" if len(thin) > 4 else "")
    return (
        f"{len(thin)} cell(s) have fewer than min_seeds = {min_seeds} finished seeds ({shown}): "
        "run the missing seeds"
    )


def decide_insensitive(
    optimizer: str,
    hs: HyperparameterStats,
    opt: OptimizerStats,
    settings: AnalysisSettings,
    units: Units,
    thin: list[str],
) -> Verdict:
    """V1 for one optimizer and hyperparameter, with the largest safe sub-range.

    `thin` names the optimizer's cells with fewer than `min_seeds` finished seeds.
    """
    h, m, d_max, conf = hs.hyperparameter, settings.tolerance, settings.d_max, settings.confidence
    alpha = (1.0 - conf) / 2.0
    b = hs.bounds
    rows = np.flatnonzero(hs.in_range)
    values = [float(v) for v in hs.values[rows]]
    n_v = max(len(rows), 1)

    reg = b.regret[rows]  # (V, 3) per value at α each side
    low_joint = b.regret_low_joint[rows]
    high_joint = b.regret_high_joint[rows]
    max_regret = Estimate(*b.max_regret)

    # The matched divergence guard: each value against the least-diverging value, exact bounds
    # that hold for all 2V rates together (each side α / (2V)).
    k = hs.n_diverged[rows]
    n = hs.n_trials[rows]
    guard = [exact_rate(int(ki), int(ni), 1.0 - alpha / n_v) for ki, ni in zip(k, n, strict=True)]
    g_low = np.array([x[0] for x in guard])
    g_high = np.array([x[1] for x in guard])
    rates = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    if len(rows):
        excess = rates - np.nanmin(rates)
        excess_low = g_low - np.nanmin(g_high)
        excess_high = g_high - np.nanmin(g_low)
        guard_fails = excess_low > d_max
        worst_guard = int(np.nanargmax(excess_low))
    else:
        excess = excess_low = excess_high = np.empty(0)
        guard_fails = np.zeros(0, dtype=bool)
        worst_guard = 0

    fails = (low_joint > m) | guard_fails
    passes = high_joint <= m  # simultaneous over the values: the safe sub-range
    worst = int(np.nanargmax(np.nan_to_num(reg[:, 0], nan=-np.inf))) if len(rows) else 0
    most = int(np.nanargmax(np.nan_to_num(rates, nan=-1.0))) if len(rows) else 0
    numbers = {
        "max_regret": max_regret,
        "best": oriented_estimate(Estimate(*b.best), units.sign),
        "worst_profile": oriented_estimate(Estimate(*b.profile[rows[worst]]), units.sign)
        if len(rows)
        else Estimate(math.nan),
        "max_divergence": Estimate(
            float(rates[most]), *exact_rate(int(k[most]), int(n[most]), conf)
        )
        if len(rows)
        else Estimate(math.nan),
        "divergence_excess": Estimate(
            float(excess[worst_guard]),
            float(excess_low[worst_guard]),
            float(excess_high[worst_guard]),
        )
        if len(rows)
        else Estimate(math.nan),
    }
    reasons: list[str] = []
    decided_by = "max_regret"
    if not len(rows):
        result: Result = "INCONCLUSIVE"
        reasons.append(f"no grid value of {h} lies in [{hs.range[0]:g}, {hs.range[1]:g}]")
    elif thin:
        result = "INCONCLUSIVE"
        reasons.append(_thin_reason(thin, settings.min_seeds))
    elif bool(max_regret.low > m) or bool(guard_fails.any()):
        result = "REFUTED"
        if max_regret.low > m:
            reasons.append(
                f"the largest regret's lower bound {units.pts(max_regret.low)} > m = "
                f"{units.pts(m)} points (simultaneous over {len(rows)} values)"
            )
        else:
            decided_by = "divergence_excess"
        if guard_fails.any():
            reasons.append(
                f"at {h} = {format_value(values[worst_guard])} the divergence rate surely exceeds "
                f"the least-diverging value's by more than d_max = {format_share(d_max)} (lower "
                f"bound {format_share(excess_low[worst_guard])})"
            )
    elif max_regret.high <= m:
        result = "SUPPORTED"
        reasons.append(
            f"the largest regret's upper bound {units.pts(max_regret.high)} <= m = "
            f"{units.pts(m)} points"
        )
    else:
        result = "INCONCLUSIVE"
        reasons.append(
            f"the largest regret's interval [{units.pts(max_regret.low)}, "
            f"{units.pts(max_regret.high)}] reaches both sides of m = {units.pts(m)} points"
        )

    def describe(i: int) -> str:
        r = rows[i]
        return (
            f"{h} = {format_value(values[i])}: regret {units.points_ci(Estimate(*reg[i]))}, "
            "diverged "
            f"{rate_text(int(hs.n_diverged[r]), int(hs.n_trials[r]), conf)}"
        )

    if result == "REFUTED":
        blocking = [describe(int(i)) for i in np.flatnonzero(fails)]
    elif result == "INCONCLUSIVE" and len(rows) and not thin:
        undecided = np.flatnonzero(~(reg[:, 2] <= m))
        blocking = [describe(int(i)) for i in undecided]
    elif thin:
        blocking = list(thin)
    else:
        blocking = []
    if result == "SUPPORTED":
        safe: tuple[float, float] | None = (values[0], values[-1])
    else:
        safe = _safe_range(values, passes, hs.log) if len(rows) and not thin else None

    span = _span(values) if values else f"[{hs.range[0]:g}, {hs.range[1]:g}]"
    tol = f"{units.pts(m)} point{'s' if m != units.points else ''}"
    regret_text = f"largest regret {units.points_ci(max_regret)}"
    in_range_k = int(k.sum()) if len(rows) else 0
    in_range_n = int(n.sum()) if len(rows) else 0
    if result == "SUPPORTED":
        sentence = (
            f"{optimizer}: insensitive to {h} on {span} within {tol}; {regret_text}; diverged "
            f"{rate_text(in_range_k, in_range_n, conf)} over the range."
        )
    elif result == "REFUTED":
        bad = list(np.flatnonzero(fails))
        i = max(bad, key=lambda j: low_joint[j] - m + (excess_low[j] - d_max) * guard_fails[j])
        r = rows[i]
        if safe is None:
            safe_text = "no value passes with simultaneous bounds"
        elif safe[0] == safe[1]:
            safe_text = f"only {h} = {format_value(safe[0])} passes (simultaneous bounds)"
        else:
            safe_text = f"every value in {_span(list(safe))} passes (simultaneous bounds)"
        profile = Estimate(*b.profile[r])
        sentence = (
            f"{optimizer}: sensitive to {h} on {span} at tolerance {tol}; at "
            f"{h} = {format_value(values[i])} the best mean is {units.metric_ci(profile)} vs "
            f"the best {units.metric_ci(Estimate(*b.best))}, regret {units.pts(reg[i, 0])} "
            f"(simultaneous lower bound {units.pts(low_joint[i])}), diverged "
            f"{rate_text(int(hs.n_diverged[r]), int(hs.n_trials[r]), conf)}; {safe_text}."
        )
    else:
        if thin:
            tail = f"; {reasons[-1]}"
        else:
            open_values = np.flatnonzero(~(reg[:, 2] <= m)) if len(rows) else np.empty(0, int)
            names = ", ".join(format_value(values[int(i)]) for i in open_values)
            tail = f"; not yet bounded below m at {h} = {names}" if names else ""
        sentence = f"{optimizer}: undecided whether {h} matters on {span} within {tol}; " + (
            f"{regret_text}{tail}."
        )
    sentence += _at_lr_one(hs, opt, units, conf)
    if settings.low_power:
        sentence += (
            f" Low power: S = {settings.n_seeds} seeds (< min_seeds = {settings.min_seeds})."
        )
    verdict_settings = _common_settings(settings, units) | {
        "range": hs.range,
        "decades": hs.decades,
        "grid_values": len(values),
    }
    return Verdict(
        claim=f"{optimizer} is insensitive to {h} over {span} within {tol}",
        kind="V1",
        optimizers=(optimizer,),
        hyperparameter=h,
        result=result,
        numbers=numbers,
        settings=verdict_settings,
        sentence=sentence,
        reasons=reasons,
        safe_range=safe,
        blocking=blocking,
        decided_by=decided_by,
    )


def _at_lr_one(hs: HyperparameterStats, opt: OptimizerStats, units: Units, conf: float) -> str:
    """The paper's one admitted failure, alpha = lr = 1, stated from the numbers when gridded.

    Both views are given: the profile (other hyperparameters tuned at lr = 1) and the slice (the
    others held at the best configuration, which is what the paper's appendix plots).
    """
    if hs.hyperparameter != "lr":
        return ""
    at_one = np.flatnonzero(np.isclose(hs.values, 1.0))
    if not len(at_one):
        return ""
    r = int(at_one[0])
    profile = Estimate(*hs.bounds.profile[r])
    best = Estimate(*hs.bounds.best)
    text = f" At lr = 1: {units.metric_ci(profile)} with the other hyperparameters tuned"
    if hs.slice_rows[r] >= 0:
        slice_ = Estimate(*hs.slice_interval[r])
        text += f", {units.metric_ci(slice_)} with them at the best configuration"
    return text + (
        f", vs best {units.metric_ci(best)}; diverged "
        f"{rate_text(int(hs.n_diverged[r]), int(hs.n_trials[r]), conf)}."
    )


def _safe_range(values: list[float], passes: np.ndarray, log: bool) -> tuple[float, float] | None:
    """The longest run of consecutive passing grid values (length on the analysis scale)."""
    best: tuple[float, int, int, int] | None = None
    start = None
    for i, ok in enumerate([*passes.tolist(), False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            lo, hi = values[start], values[i - 1]
            length = math.log10(hi / lo) if log else hi - lo
            key = (length, i - start, -start, start)
            if best is None or key[:3] > best[:3]:
                best = key
            start = None
    if best is None:
        return None
    run_start = best[3]
    return values[run_start], values[run_start + best[1] - 1]


def decide_less_sensitive(
    a: str,
    b: str,
    hp: str | None,
    stats: dict[str, OptimizerStats],
    hps: dict[tuple[str, str], HyperparameterStats],
    settings: AnalysisSettings,
    units: Units,
    thin: list[str],
) -> Verdict:
    """V2 for A against B, on `hp` (the shared hyperparameter) or jointly (`hp` None).

    `thin` names the cells of A and B with fewer than `min_seeds` finished seeds.
    """
    conf, d_max = settings.confidence, settings.d_max
    alpha = (1.0 - conf) / 2.0
    sa, sb = stats[a], stats[b]
    if hp is None:
        wa, wb = sa.width_joint, sb.width_joint
        seed_a, seed_b = sa.width_joint_per_seed, sb.width_joint_per_seed
        where = "jointly over all hyperparameters"
    else:
        wa, wb = hps[(a, hp)].width, hps[(b, hp)].width
        seed_a, seed_b = hps[(a, hp)].width_per_seed, hps[(b, hp)].width_per_seed
        where = f"on {hp}"
    seed_diff = seed_a - seed_b
    s = settings.n_seeds
    e1a, e1b = sa.per_seed_curve[:, 0], sb.per_seed_curve[:, 0]
    ok_a, ok_b = np.isfinite(e1a), np.isfinite(e1b)
    # ΔD's bounds: A's rate high and B's low (and the reverse), each erring α / 2.
    da_low, da_high = exact_rate(sa.n_diverged, sa.n_trials, 1.0 - alpha)
    db_low, db_high = exact_rate(sb.n_diverged, sb.n_trials, 1.0 - alpha)
    rate_a = sa.n_diverged / sa.n_trials if sa.n_trials else math.nan
    rate_b = sb.n_diverged / sb.n_trials if sb.n_trials else math.nan
    numbers = {
        "delta_W": Estimate(*(float(x) for x in interval(wa - wb, conf, s, (-1.0, 1.0)))),
        "W_a": Estimate(*(float(x) for x in interval(wa, conf, s, (0.0, 1.0)))),
        "W_b": Estimate(*(float(x) for x in interval(wb, conf, s, (0.0, 1.0)))),
        "delta_W_seedwise": Estimate(  # a difference of shares: within [-1, 1]
            *(
                float(np.clip(x, -1.0, 1.0))
                for x in t_interval(seed_diff, np.isfinite(seed_diff), conf)
            )
        ),
        # oriented: positive means a random configuration of A scores better
        "delta_E1": Estimate(*(float(x) for x in t_interval(e1a - e1b, ok_a & ok_b, conf))),
        "E1_a": oriented_estimate(
            Estimate(*(float(x) for x in t_interval(e1a, ok_a, conf))), units.sign
        ),
        "E1_b": oriented_estimate(
            Estimate(*(float(x) for x in t_interval(e1b, ok_b, conf))), units.sign
        ),
        "delta_D": Estimate(rate_a - rate_b, da_low - db_high, da_high - db_low),
        "D_a": Estimate(rate_a, *exact_rate(sa.n_diverged, sa.n_trials, conf)),
        "D_b": Estimate(rate_b, *exact_rate(sb.n_diverged, sb.n_trials, conf)),
    }
    dw, de, dd = numbers["delta_W"], numbers["delta_E1"], numbers["delta_D"]
    sw = numbers["delta_W_seedwise"]
    reasons: list[str] = []
    decided_by = "delta_W"
    decades_text = ""
    unmatched = False
    if hp is not None:
        ha, hb = hps[(a, hp)], hps[(b, hp)]
        if ha.log and hb.log:
            decades_text = f", {ha.decades:.2g} vs {hb.decades:.2g} decades"
            unmatched = abs(ha.decades - hb.decades) > 0.05
    if thin:
        result: Result = "INCONCLUSIVE"
        reasons.append(_thin_reason(thin, settings.min_seeds))
    elif unmatched:
        result = "INCONCLUSIVE"
        reasons.append(
            f"the {hp} ranges span different numbers of decades; declare matched ranges in "
            "[claims.ranges]"
        )
    elif (dw.high < 0 and sw.high < 0) or dd.low > d_max:
        result = "REFUTED"
        if dw.high < 0 and sw.high < 0:
            reasons.append(
                "ΔW's upper bound < 0, seed by seed too: A's good region is surely narrower"
            )
        else:
            decided_by = "delta_D"
        if dd.low > d_max:
            reasons.append(
                f"{a} surely diverges more often than {b}, by more than d_max = "
                f"{format_share(d_max)}"
            )
    elif dw.low > 0 and sw.low > 0:
        result = "SUPPORTED"
        reasons.append(
            f"ΔW's lower bound > 0, seed by seed too, and {a} does not surely diverge more than "
            f"d_max = {format_share(d_max)} more often than {b}"
        )
    else:
        result = "INCONCLUSIVE"
        if dw.low <= 0 <= dw.high:
            reasons.append("ΔW's interval includes 0")
        else:
            reasons.append(
                f"ΔW seed by seed {format_estimate('delta_W_seedwise', sw, settings, short=True)} "
                "does not confirm the sign"
            )
    tail = {
        "SUPPORTED": f"{a} is less sensitive than {b}",
        "REFUTED": f"{a} is not less sensitive than {b}",
        "INCONCLUSIVE": f"undecided ({'; '.join(reasons)})",
    }[result]
    if math.isfinite(de.value):
        more = "more" if de.value >= 0 else "less"
        level = (
            f"a random configuration of {a} scores {units.pts(abs(de.value))} points {more} than "
            f"one of {b} [{units.signed_pts(de.low)}, {units.signed_pts(de.high)}] (a level, "
            "not a sensitivity)"
        )
    else:
        level = "ΔE(1) n/a"
    sentence = (
        f"{a} vs {b} {where} (δ = {units.pts(settings.delta)} points{decades_text}): "
        f"ΔW = {format_estimate('delta_W', dw, settings, short=True)}, "
        f"ΔD = {format_estimate('delta_D', dd, settings, short=True)}; {tail}. "
        f"{level[0].upper()}{level[1:]}."
    )
    if settings.low_power:
        sentence += (
            f" Low power: S = {settings.n_seeds} seeds (< min_seeds = {settings.min_seeds})."
        )
    verdict_settings = _common_settings(settings, units)
    if hp is not None:
        verdict_settings |= {
            "range_a": hps[(a, hp)].range,
            "range_b": hps[(b, hp)].range,
            "decades_a": hps[(a, hp)].decades,
            "decades_b": hps[(b, hp)].decades,
        }
    return Verdict(
        claim=f"{a} is less sensitive than {b} {where}",
        kind="V2",
        optimizers=(a, b),
        hyperparameter=hp,
        result=result,
        numbers=numbers,
        settings=verdict_settings,
        sentence=sentence,
        reasons=reasons,
        decided_by=decided_by,
    )


def guarantee(verdict: Verdict, n_claims: int, confidence: float) -> str:
    """The one line that says how far a decisive verdict of this study can be trusted."""
    alpha = (1.0 - confidence) / 2.0
    if verdict.result == "INCONCLUSIVE":
        head = "Undecided: no error rate applies"
    else:
        head = f"A decisive verdict of this kind errs at most {alpha:.1%} of the time on its own"
    return (
        f"{head}; {n_claims} claims in this study, so about {n_claims * alpha:.2g} wrong "
        "decisive verdict(s) could arise by chance if every claim sat at its boundary "
        "(calibration: benchmarks/calibration.py)."
    )
