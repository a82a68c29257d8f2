"""The three-valued verdicts of SENSITIVITY.md §4.6, with sentences built from the numbers.

V1 "A is insensitive to h over [a, b] within m": SUPPORTED when the bootstrap upper bound
(bias-corrected percentile, see `bootstrap.interval_bc`) of the largest regret over the range (one
statistic, so the coverage is simultaneous) is <= m and every value's upper bound on the
divergence rate is <= d_max; REFUTED when the lower bound of the largest regret is > m or some
value's lower bound on the divergence rate is > d_max; INCONCLUSIVE otherwise, with the values
that block the decision. The divergence-rate bounds come from the same paired seed bootstrap
(`[claims] divergence_interval = "bootstrap"`, the default, SENSITIVITY.md §4.5) or from the Wilson
interval of the pooled counts (`"wilson"`: stricter; 0 of n diverged has upper bound 3.84 / (n +
3.84), so a value needs at least 35 trials to pass d_max = 10 %).

Seeds: with fewer than `min_seeds` (default 5, SENSITIVITY.md §4.1) the seed bootstrap is too
coarse to trust (3 seeds have 10 distinct resamples; in simulation a flat optimizer with 1 point of
seed noise was "refuted" half the time), so only the divergence clause, which pools every trial
at a value, may decide; everything else stays INCONCLUSIVE.

V2 "A is less sensitive than B": paired differences ΔW (good-region width at δ, on the shared
hyperparameter or jointly), ΔE(1) (expected score of a random configuration) and the guard ΔD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.analysis.bootstrap import interval, interval_bc, wilson
from hpsearch.analysis.grid import format_value
from hpsearch.analysis.records import AnalysisSettings, Estimate, Result, Verdict
from hpsearch.analysis.stats import HyperparameterStats, OptimizerStats


@dataclass(frozen=True)
class Units:
    """Turns oriented metric units into the words of a sentence."""

    points: float  # metric units per point
    sign: float  # +1 maximise, -1 minimise
    percent: bool  # accuracy in [0, 1]: show as %

    def metric(self, oriented: float) -> str:
        value = self.sign * oriented
        if not math.isfinite(value):
            return "n/a"
        return f"{value * 100:.1f} %" if self.percent else f"{value:.4g}"

    def pts(self, amount: float) -> str:
        return "n/a" if not math.isfinite(amount) else f"{amount / self.points:.2f}"

    def signed_pts(self, amount: float) -> str:
        return "n/a" if not math.isfinite(amount) else f"{amount / self.points:+.2f}"


def estimate(stat: np.ndarray, confidence: float, scale: float = 1.0) -> Estimate:
    point, low, high = interval(np.asarray(stat, dtype=float), confidence)
    return Estimate(float(point) * scale, float(low) * scale, float(high) * scale)


def _oriented(est: Estimate, sign: float) -> Estimate:
    """An estimate of an oriented score back in the metric's own direction."""
    if sign > 0:
        return est
    return Estimate(-est.value, -est.high, -est.low)


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
        "divergence_interval": settings.divergence_interval,
        "low_power": settings.low_power,
        "grid_sizes": dict(settings.grid_sizes),
        "n_diverged": settings.n_diverged,
        "n_error": settings.n_error,
    }


def decide_insensitive(
    optimizer: str,
    hs: HyperparameterStats,
    opt: OptimizerStats,
    settings: AnalysisSettings,
    units: Units,
) -> Verdict:
    """V1 for one optimizer and hyperparameter, with the largest safe sub-range."""
    h, m, d_max, conf = hs.hyperparameter, settings.tolerance, settings.d_max, settings.confidence
    rows = np.flatnonzero(hs.in_range)
    values = [float(v) for v in hs.values[rows]]
    _, reg_low, reg_high = interval(hs.regret[rows], conf)
    if settings.divergence_interval == "wilson":
        bounds = [wilson(hs.n_diverged[i], hs.n_trials[i], conf) for i in rows]
        d_low = np.array([b[0] for b in bounds])
        d_high = np.array([b[1] for b in bounds])
    else:
        _, d_low, d_high = interval(hs.divergence[rows], conf)
        d_low, d_high = np.atleast_1d(d_low), np.atleast_1d(d_high)
    passes = (reg_high <= m) & (d_high <= d_max)
    fails = (reg_low > m) | (d_low > d_max)
    point, low, high = interval_bc(hs.max_regret, conf)
    max_regret = Estimate(float(point), float(low), float(high))
    worst = int(np.nanargmax(np.nan_to_num(hs.regret[rows, 0], nan=np.inf))) if len(rows) else 0
    rates = hs.n_diverged[rows] / np.maximum(hs.n_trials[rows], 1)
    most = int(np.argmax(rates)) if len(rows) else 0
    numbers = {
        "max_regret": max_regret,
        "best": _oriented(estimate(opt.best, conf), units.sign),
        "worst_profile": _oriented(estimate(hs.profile[rows[worst]], conf), units.sign)
        if len(rows)
        else Estimate(math.nan),
        "max_divergence": Estimate(float(rates[most]), float(d_low[most]), float(d_high[most]))
        if len(rows)
        else Estimate(math.nan),
    }
    reasons: list[str] = []
    few = settings.n_seeds < settings.min_seeds
    if not len(rows):
        result: Result = "INCONCLUSIVE"
        reasons.append(f"no grid value of {h} lies in [{hs.range[0]:g}, {hs.range[1]:g}]")
    else:
        refuted_regret = bool(max_regret.low > m) and not few
        refuted_div = bool((d_low > d_max).any())
        if refuted_regret:
            reasons.append(
                f"lower bound of the largest regret {units.pts(max_regret.low)} > m = "
                f"{units.pts(m)} points"
            )
        if refuted_div:
            reasons.append(f"divergence rate's lower bound > d_max = {d_max:.0%} at some value")
        if few:
            passes &= False
            fails &= d_low > d_max
        if refuted_regret or refuted_div:
            result = "REFUTED"
        elif few:
            result = "INCONCLUSIVE"
            reasons.append(
                f"only {settings.n_seeds} seed(s) (< min_seeds = {settings.min_seeds}): too few "
                "to bound the regret"
            )
        elif max_regret.high <= m and bool((d_high <= d_max).all()):
            result = "SUPPORTED"
            reasons.append(
                f"upper bound of the largest regret {units.pts(max_regret.high)} <= m and every "
                f"divergence upper bound <= {d_max:.0%}"
            )
        else:
            result = "INCONCLUSIVE"
            if not max_regret.high <= m:
                reasons.append(
                    f"the largest regret's interval [{units.pts(max_regret.low)}, "
                    f"{units.pts(max_regret.high)}] includes m = {units.pts(m)} points"
                )
            if not (d_high <= d_max).all():
                reasons.append(
                    f"too few trials to bound the divergence rate below {d_max:.0%} at some value"
                )

    interval_name = "Wilson" if settings.divergence_interval == "wilson" else "bootstrap"

    def describe(index: object) -> str:
        i = int(index)  # type: ignore[call-overload]
        r = rows[i]
        return (
            f"{h} = {format_value(values[i])}: regret {units.pts(hs.regret[r, 0])} "
            f"[{units.pts(reg_low[i])}, {units.pts(reg_high[i])}] points, diverged "
            f"{hs.n_diverged[r]}/{hs.n_trials[r]} ({interval_name} {d_low[i]:.0%}-{d_high[i]:.0%})"
        )

    if result == "REFUTED":
        blocking = [describe(i) for i in np.flatnonzero(fails)]
    elif result == "INCONCLUSIVE":
        blocking = [describe(i) for i in np.flatnonzero(~passes & ~fails)]
        blocking += [describe(i) for i in np.flatnonzero(fails)]
    else:
        blocking = []
    safe = _safe_range(values, passes, hs.log)

    span = _span(values) if values else f"[{hs.range[0]:g}, {hs.range[1]:g}]"
    tol = f"{units.pts(m)} point{'s' if m != units.points else ''}"
    regret_text = (
        f"largest regret {units.pts(max_regret.value)} [{units.pts(max_regret.low)}, "
        f"{units.pts(max_regret.high)}] points"
    )
    if result == "SUPPORTED":
        sentence = (
            f"{optimizer}: insensitive to {h} on {span} within {tol}; {regret_text}, "
            f"divergence at most {float(d_high.max()):.0%} (upper bound) at every value."
        )
    elif result == "REFUTED":
        bad = [i for i in np.flatnonzero(fails)]
        i = max(bad, key=lambda j: np.nan_to_num(hs.regret[rows[j], 0], nan=np.inf)) if bad else 0
        r = rows[i]
        prof = estimate(hs.profile[r], conf)
        prof = _oriented(prof, units.sign)
        if safe is None:
            safe_text = "no safe sub-range"
        elif safe[0] == safe[1]:
            safe_text = f"insensitive only at {h} = {format_value(safe[0])}"
        else:
            safe_text = f"insensitive on {_span(list(safe))}"
        sentence = (
            f"{optimizer}: sensitive to {h} on {span} at tolerance {tol}; {safe_text}; at "
            f"{h} = {format_value(values[i])} mean {units.metric(units.sign * prof.value)} "
            f"[{units.metric(units.sign * prof.low)}, {units.metric(units.sign * prof.high)}] "
            f"vs best {units.metric(opt.best[0])}, diverged {hs.n_diverged[r]}/{hs.n_trials[r]} "
            f"trials ({interval_name} {d_low[i]:.0%}-{d_high[i]:.0%}; d_max {d_max:.0%})."
        )
    else:
        blockers = ", ".join(format_value(values[i]) for i in np.flatnonzero(~passes & ~fails))
        sentence = (
            f"{optimizer}: undecided whether {h} matters on {span} within {tol}; "
            f"{regret_text}" + (f"; blocked at {h} = {blockers}" if blockers else "") + "."
        )
    sentence += _at_lr_one(hs, opt, units, conf)
    if settings.low_power:
        sentence += f" Low power: S = {settings.n_seeds} seeds (< 5)."
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

    def mean_ci(stat: np.ndarray) -> str:
        est = _oriented(estimate(stat, conf), units.sign)
        s = units.sign
        return (
            f"{units.metric(s * est.value)} [{units.metric(s * est.low)}, "
            f"{units.metric(s * est.high)}]"
        )

    text = f" At lr = 1: mean {mean_ci(hs.profile[r])} with the other hyperparameters tuned"
    if np.isfinite(hs.slice[r, 0]):
        text += f", {mean_ci(hs.slice[r])} with them at the best configuration"
    return text + (
        f", vs best {mean_ci(opt.best)}; diverged {hs.n_diverged[r]}/{hs.n_trials[r]} trials."
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
) -> Verdict:
    """V2 for A against B, on `hp` (the shared hyperparameter) or jointly (`hp` None)."""
    conf = settings.confidence
    sa, sb = stats[a], stats[b]
    if hp is None:
        wa, wb = sa.width_joint, sb.width_joint
        where = "jointly over all hyperparameters"
    else:
        wa, wb = hps[(a, hp)].width, hps[(b, hp)].width
        where = f"on {hp}"
    e1a, e1b = sa.best_of_k[0], sb.best_of_k[0]
    numbers = {
        "delta_W": estimate(wa - wb, conf),
        "W_a": estimate(wa, conf),
        "W_b": estimate(wb, conf),
        "delta_E1": estimate(e1a - e1b, conf),  # oriented: positive means A scores better
        "E1_a": _oriented(estimate(e1a, conf), units.sign),
        "E1_b": _oriented(estimate(e1b, conf), units.sign),
        "delta_D": estimate(sa.divergence - sb.divergence, conf),
        "D_a": estimate(sa.divergence, conf),
        "D_b": estimate(sb.divergence, conf),
    }
    dw, de, dd = numbers["delta_W"], numbers["delta_E1"], numbers["delta_D"]
    reasons: list[str] = []
    decades_text = ""
    unmatched = False
    if hp is not None:
        ha, hb = hps[(a, hp)], hps[(b, hp)]
        if ha.log and hb.log:
            decades_text = f", {ha.decades:.2g} vs {hb.decades:.2g} decades"
            unmatched = abs(ha.decades - hb.decades) > 0.05
    if settings.n_seeds < settings.min_seeds:
        result: Result = "INCONCLUSIVE"
        reasons.append(f"only {settings.n_seeds} seed(s) (< min_seeds = {settings.min_seeds})")
    elif unmatched:
        result = "INCONCLUSIVE"
        reasons.append(
            f"the {hp} ranges span different numbers of decades; declare matched ranges in "
            "[claims.ranges]"
        )
    elif dw.low > 0 and de.low > 0 and dd.high <= 0:
        result = "SUPPORTED"
        reasons.append("ΔW > 0 and ΔE(1) > 0 (lower bounds), and ΔD <= 0 (upper bound)")
    elif dw.high < 0 or de.high < 0:
        result = "REFUTED"
        if dw.high < 0:
            reasons.append("upper bound of ΔW < 0")
        if de.high < 0:
            reasons.append("upper bound of ΔE(1) < 0")
    else:
        result = "INCONCLUSIVE"
        if not dw.low > 0:
            reasons.append("ΔW's interval reaches 0 or below")
        if not de.low > 0:
            reasons.append("ΔE(1)'s interval reaches 0 or below")
        if not dd.high <= 0:
            reasons.append(f"{a} may diverge more often than {b} (ΔD upper bound > 0)")
    tail = {
        "SUPPORTED": f"{a} is less sensitive than {b}",
        "REFUTED": f"{a} is not less sensitive than {b}",
        "INCONCLUSIVE": f"undecided ({'; '.join(reasons)})",
    }[result]
    sentence = (
        f"{a} vs {b} {where} (δ = {units.pts(settings.delta)} points{decades_text}): "
        f"ΔW = {dw.value:+.2f} [{dw.low:+.2f}, {dw.high:+.2f}], ΔE(1) = "
        f"{units.signed_pts(de.value)} [{units.signed_pts(de.low)}, "
        f"{units.signed_pts(de.high)}] points, ΔD = {dd.value:+.2f} [{dd.low:+.2f}, "
        f"{dd.high:+.2f}]; {tail}."
    )
    if settings.low_power:
        sentence += f" Low power: S = {settings.n_seeds} seeds (< 5)."
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
    )
