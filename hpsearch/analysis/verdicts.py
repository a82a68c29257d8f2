"""The three-valued verdicts (SUPPORTED / REFUTED / INCONCLUSIVE), with sentences built from the
numbers.

What every claim is about (the estimand): the *expected score* μ_c of each grid cell c, with
diverged runs scored at the floor (chance accuracy, or the initial loss), so divergence costs what
it costs and is never dropped; and only the grid values that were run (a good region between two
grid points is invisible). Each decisive verdict rests on one one-sided bound that errs with
probability at most α = (1 - confidence) / 2 (2.5 % at 95 %) when the seed-to-seed noise has light
tails; `benchmarks/calibration.py` measures that on studies whose truth is known, and
`tests/test_calibration.py` keeps it so.

V1 "A is insensitive to h over [a, b] within m": every grid value v in [a, b] has regret
R(v) = μ* - max over cells at v of μ_c at most m.
- SUPPORTED when every value's upper bound U(v) <= m (`pairwise.py`: an intersection-union test,
  no correction for the V values or for picking a cell);
- REFUTED when some value's lower bound at α / V exceeds m (Bonferroni: "some value fails" is a
  union);
- otherwise INCONCLUSIVE, naming the values that block it.

V2 "A is less sensitive than B" (on the shared hyperparameter, or jointly): the mean regret over
the range T = μ* - mean over v of P(v) (`tunability.py`) is smaller for A: ΔT = T_B - T_A > 0.
SUPPORTED when ΔT's lower bound > 0, REFUTED when its upper bound < 0, one statistic, one interval.
The good-region width W(δ), ΔE(1) (a level: what a random configuration scores) and the divergence
rates are reported beside it, never decided on.

V3 "h = v fails" (the paper's alpha = lr = 1): v's regret exceeds m. Decided twice: tuned (the
profile, R(v) > m: SUPPORTED when L(v) > m, REFUTED when U(v) <= m) and with the other
hyperparameters at their registered defaults (one fixed cell, `pairwise.cell_regret_bounds`).

A cell (configuration) with fewer than `min_seeds` finished seeds blocks every verdict that reads
its optimizer, by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.analysis.bootstrap import interval, seed_rate, t_interval
from hpsearch.analysis.grid import Grid, format_value
from hpsearch.analysis.pairwise import cell_regret_bounds
from hpsearch.analysis.records import AnalysisSettings, Estimate, Look, Result, Verdict
from hpsearch.analysis.stats import HyperparameterStats, OptimizerStats
from hpsearch.analysis.tunability import Scores, difference_bounds, mean_regret
from hpsearch.units import format_display_estimate, format_estimate, format_probability


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


def rate_text(k: int, n: int, n_seeds: int, confidence: float) -> str:
    """ "3/45 (6.7 % [0.5, 52.2], exact over 5 seeds)": the counts always, never a bare 0 %, and
    an interval that counts seeds, since divergence clusters by seed (`bootstrap.seed_rate`)."""
    if n <= 0:
        return "no trials"
    rate = format_display_estimate(
        "divergence_rate", k / n, *seed_rate(k, n, n_seeds, confidence), percent=True, short=True
    )
    return f"{k}/{n} ({rate}, exact over {n_seeds} seeds)"


def _span(values: list[float]) -> str:
    return f"[{format_value(values[0])}, {format_value(values[-1])}]"


def _common_settings(settings: AnalysisSettings, units: Units) -> dict[str, Any]:
    return {
        "delta_points": settings.delta / units.points,
        "tolerance_points": settings.tolerance / units.points,
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


def _low_power(settings: AnalysisSettings) -> str:
    if not settings.low_power:
        return ""
    seeds = f"{settings.n_seeds} seed{'' if settings.n_seeds == 1 else 's'}"
    return f" Low power: S = {seeds} (< min_seeds = {settings.min_seeds})."


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
    h, m, conf = hs.hyperparameter, settings.tolerance, settings.confidence
    rows = np.flatnonzero(hs.in_range)
    values = [float(v) for v in hs.values[rows]]
    reg = hs.regret.per_value[rows]  # (V, 3): point, L(v), U(v), each side at α
    low_joint = hs.regret.low_joint[rows]
    high_joint = hs.regret.high_joint[rows]
    max_regret = Estimate(*hs.regret.max_regret)
    k, n = hs.n_diverged[rows], hs.n_trials[rows]
    rates = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    most = int(np.nanargmax(np.nan_to_num(rates, nan=-1.0))) if len(rows) else 0
    worst = int(np.nanargmax(np.nan_to_num(reg[:, 0], nan=-np.inf))) if len(rows) else 0
    s_count = settings.n_seeds
    numbers = {
        "max_regret": max_regret,
        "best": oriented_estimate(Estimate(*hs.bounds.best), units.sign),
        "worst_profile": oriented_estimate(Estimate(*hs.bounds.profile[rows[worst]]), units.sign)
        if len(rows)
        else Estimate(math.nan),
        "max_divergence": Estimate(
            float(rates[most]), *seed_rate(int(k[most]), int(n[most]), s_count, conf)
        )
        if len(rows)
        else Estimate(math.nan),
    }
    fails = low_joint > m
    reasons: list[str] = []
    if not len(rows):
        result: Result = "INCONCLUSIVE"
        reasons.append(f"no grid value of {h} lies in [{hs.range[0]:g}, {hs.range[1]:g}]")
    elif thin:
        result = "INCONCLUSIVE"
        reasons.append(_thin_reason(thin, settings.min_seeds))
    elif max_regret.low > m:
        result = "REFUTED"
        reasons.append(
            f"the largest regret's lower bound {units.pts(max_regret.low)} > m = "
            f"{units.pts(m)} points (Bonferroni over {len(rows)} values)"
        )
    elif max_regret.high <= m:
        result = "SUPPORTED"
        reasons.append(
            f"every value's regret upper bound is <= m = {units.pts(m)} points (largest "
            f"{units.pts(max_regret.high)})"
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
            f"diverged {rate_text(int(hs.n_diverged[r]), int(hs.n_trials[r]), s_count, conf)}"
        )

    open_values = np.flatnonzero(~(reg[:, 2] <= m)) if len(rows) else np.empty(0, int)
    if result == "REFUTED":
        blocking = [describe(int(i)) for i in np.flatnonzero(fails)]
    elif result == "INCONCLUSIVE" and len(rows) and not thin:
        blocking = [describe(int(i)) for i in open_values]
    elif thin:
        blocking = list(thin)
    else:
        blocking = []
    if result == "SUPPORTED":
        safe: tuple[float, float] | None = (values[0], values[-1])
    elif len(rows) and not thin:
        safe = _safe_range(values, high_joint <= m, hs.log)
    else:
        safe = None

    span = _span(values) if values else f"[{hs.range[0]:g}, {hs.range[1]:g}]"
    tol = f"{units.pts(m)} point{'s' if m != units.points else ''}"
    regret_text = f"largest regret {units.points_ci(max_regret)}"
    if result == "SUPPORTED":
        if k.sum():
            diverged = (
                f"most divergence at {h} = {format_value(values[most])}: "
                f"{rate_text(int(k[most]), int(n[most]), s_count, conf)}"
            )
        else:
            diverged = f"none of {int(n.sum())} runs diverged"
        sentence = (
            f"{optimizer}: insensitive to {h} on {span} within {tol}; {regret_text}; {diverged}."
        )
    elif result == "REFUTED":
        i = int(np.argmax(np.where(fails, low_joint, -np.inf)))
        r = rows[i]
        if safe is None:
            safe_text = "no value passes with simultaneous bounds"
        elif safe[0] == safe[1]:
            safe_text = f"only {h} = {format_value(safe[0])} passes (simultaneous bounds)"
        else:
            safe_text = f"every value in {_span(list(safe))} passes (simultaneous bounds)"
        profile = Estimate(*hs.bounds.profile[r])
        sentence = (
            f"{optimizer}: sensitive to {h} on {span} at tolerance {tol}; at "
            f"{h} = {format_value(values[i])} the best mean is {units.metric_ci(profile)} vs "
            f"the best {units.metric_ci(Estimate(*hs.bounds.best))}, regret "
            f"{units.pts(reg[i, 0])} points (lower bound {units.pts(low_joint[i])} over "
            f"{len(rows)} values), diverged "
            f"{rate_text(int(hs.n_diverged[r]), int(hs.n_trials[r]), s_count, conf)}; "
            f"{safe_text}."
        )
    else:
        if thin:
            tail = f"; {reasons[-1]}"
        else:
            names = ", ".join(format_value(values[int(i)]) for i in open_values)
            tail = f"; not yet bounded below m at {h} = {names}" if names else ""
        sentence = f"{optimizer}: undecided whether {h} matters on {span} within {tol}; " + (
            f"{regret_text}{tail}."
        )
    sentence += _at_lr_one(hs, units, s_count, conf) + _low_power(settings)
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
        decided_by="max_regret",
    )


def _at_lr_one(hs: HyperparameterStats, units: Units, n_seeds: int, conf: float) -> str:
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
        f"{rate_text(int(hs.n_diverged[r]), int(hs.n_trials[r]), n_seeds, conf)}."
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


def decide_fails(
    optimizer: str,
    value: float,
    hs: HyperparameterStats,
    grid: Grid,
    defaults: dict[str, Any] | None,
    settings: AnalysisSettings,
    units: Units,
    thin: list[str],
) -> list[Verdict]:
    """V3 "h = value fails" for one optimizer: once with the other hyperparameters tuned (the
    profile at `value`) and once at their registered `defaults` (None: unknown)."""
    h, m, conf = hs.hyperparameter, settings.tolerance, settings.confidence
    alpha = (1.0 - conf) / 2.0
    shown = format_value(value)
    tol = f"{units.pts(m)} point{'s' if m != units.points else ''}"
    at = np.flatnonzero(np.isclose(hs.values, value, rtol=1e-9, atol=0.0))
    others = [x for x in grid.hyperparameters if x != h]
    defaults_at, missing_default = (
        default_row(grid, h, value, others, defaults) if len(at) else (None, "")
    )
    best = Estimate(*hs.bounds.best)
    verdicts = []
    for view in ("defaults", "tuned"):
        reasons: list[str] = []
        numbers: dict[str, Estimate] = {"best": oriented_estimate(best, units.sign)}
        regret = Estimate(math.nan)
        level = Estimate(math.nan)
        k = n = 0
        if not len(at):
            reasons.append(f"{h} = {shown} is not a value of the grid")
        elif view == "tuned":
            r = int(at[0])
            regret = Estimate(*hs.regret.per_value[r])
            level = Estimate(*hs.bounds.profile[r])
            k, n = int(hs.n_diverged[r]), int(hs.n_trials[r])
        elif defaults_at is None:
            reasons.append(missing_default)
        else:
            regret = Estimate(
                *cell_regret_bounds(grid.sel, grid.mask, defaults_at, alpha, left=grid.left)
            )
            mean, low, high = t_interval(grid.sel[defaults_at], grid.mask[defaults_at], conf)
            level = Estimate(float(mean), float(low), float(high))
            k = int((grid.diverged[defaults_at] * grid.mask[defaults_at]).sum())
            n = int(grid.mask[defaults_at].sum())
        numbers["regret_at"] = regret
        numbers["at_value"] = oriented_estimate(level, units.sign)
        if reasons:
            result: Result = "INCONCLUSIVE"
        elif thin:
            result = "INCONCLUSIVE"
            reasons.append(_thin_reason(thin, settings.min_seeds))
        elif regret.low > m:
            result = "SUPPORTED"
            reasons.append(f"the regret's lower bound {units.pts(regret.low)} > m = {tol}")
        elif regret.high <= m:
            result = "REFUTED"
            reasons.append(f"the regret's upper bound {units.pts(regret.high)} <= m = {tol}")
        else:
            result = "INCONCLUSIVE"
            reasons.append(
                f"the regret's interval [{units.pts(regret.low)}, {units.pts(regret.high)}] "
                f"reaches both sides of m = {tol}"
            )
        where = (
            "the other hyperparameters at their registered defaults"
            if view == "defaults"
            else "the other hyperparameters tuned"
        )
        if not others:
            where = "its only hyperparameter"
        head = {
            "SUPPORTED": f"{h} = {shown} fails",
            "REFUTED": f"{h} = {shown} does not fail",
            "INCONCLUSIVE": f"undecided whether {h} = {shown} fails",
        }[result]
        if math.isfinite(regret.value):
            detail = (
                f"{units.metric_ci(level)} vs the best {units.metric_ci(best)}, regret "
                f"{units.points_ci(regret)}; diverged "
                f"{rate_text(k, n, settings.n_seeds, conf)}"
            )
        else:
            detail = "; ".join(reasons)
        sentence = f"{optimizer}: {head} with {where} (tolerance {tol}): {detail}."
        sentence += _low_power(settings)
        verdicts.append(
            Verdict(
                claim=f"{optimizer} fails at {h} = {shown} with {where}, by more than {tol}",
                kind="V3",
                optimizers=(optimizer,),
                hyperparameter=h,
                result=result,
                numbers=numbers,
                settings=_common_settings(settings, units) | {"view": view, "value": value},
                sentence=sentence,
                reasons=reasons,
                blocking=list(thin) if thin else [],
                decided_by="regret_at",
            )
        )
        if not others:
            break  # one view: nothing to tune or default
    return verdicts


def default_row(
    grid: Grid, h: str, value: float, others: list[str], defaults: dict[str, Any] | None
) -> tuple[int | None, str]:
    """The row of the cell with `h` = `value` and every other hyperparameter at its registered
    default, or None with the reason it cannot be found."""
    hits = np.isclose(grid.configs[h].to_numpy(dtype=float), value, rtol=1e-9, atol=0.0)
    known = defaults or {}
    for x in others:
        if x not in known:
            return None, f"the registered default of {x} is unknown in this process"
        hits &= np.isclose(grid.configs[x].to_numpy(dtype=float), float(known[x]))
    found = np.flatnonzero(hits)
    if len(found):
        return int(found[0]), ""
    at_defaults = ", ".join(f"{x} = {format_value(known[x])}" for x in others)
    return None, f"the grid has no configuration with {at_defaults} at {h} = {format_value(value)}"


def decide_less_sensitive(
    a: str,
    b: str,
    hp: str | None,
    grids: dict[str, Grid],
    stats: dict[str, OptimizerStats],
    hps: dict[tuple[str, str], HyperparameterStats],
    settings: AnalysisSettings,
    units: Units,
    thin: list[str],
) -> Verdict:
    """V2 for A against B, on `hp` (the shared hyperparameter) or jointly (`hp` None).

    `thin` names the cells of A and B with fewer than `min_seeds` finished seeds.
    """
    conf = settings.confidence
    alpha = (1.0 - conf) / 2.0
    sa, sb = stats[a], stats[b]
    if hp is None:
        wa, wb = sa.width_joint, sb.width_joint
        groups = {o: [np.array([c]) for c in range(grids[o].n)] for o in (a, b)}
        where = "jointly over all hyperparameters"
    else:
        wa, wb = hps[(a, hp)].width, hps[(b, hp)].width
        groups = {o: _value_groups(hps[(o, hp)]) for o in (a, b)}
        where = f"on {hp}"
    score = {o: Scores(grids[o].sel, grids[o].mask, groups[o]) for o in (a, b)}
    delta_t = Estimate(*difference_bounds(score[a], score[b], alpha))
    s = settings.n_seeds
    e1a, e1b = sa.per_seed_curve[:, 0], sb.per_seed_curve[:, 0]
    ok_a, ok_b = np.isfinite(e1a), np.isfinite(e1b)
    rate_a = sa.n_diverged / sa.n_trials if sa.n_trials else math.nan
    rate_b = sb.n_diverged / sb.n_trials if sb.n_trials else math.nan
    numbers = {
        "delta_T": delta_t,
        "T_a": Estimate(mean_regret(score[a])),
        "T_b": Estimate(mean_regret(score[b])),
        "delta_W": Estimate(*(float(x) for x in interval(wa - wb, conf, s, (-1.0, 1.0)))),
        "W_a": Estimate(*(float(x) for x in interval(wa, conf, s, (0.0, 1.0)))),
        "W_b": Estimate(*(float(x) for x in interval(wb, conf, s, (0.0, 1.0)))),
        # oriented: positive means a random configuration of A scores better
        "delta_E1": Estimate(*(float(x) for x in t_interval(e1a - e1b, ok_a & ok_b, conf))),
        "E1_a": oriented_estimate(
            Estimate(*(float(x) for x in t_interval(e1a, ok_a, conf))), units.sign
        ),
        "E1_b": oriented_estimate(
            Estimate(*(float(x) for x in t_interval(e1b, ok_b, conf))), units.sign
        ),
        "D_a": Estimate(rate_a, *seed_rate(sa.n_diverged, sa.n_trials, s, conf)),
        "D_b": Estimate(rate_b, *seed_rate(sb.n_diverged, sb.n_trials, s, conf)),
    }
    reasons: list[str] = []
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
    elif delta_t.low > 0:
        result = "SUPPORTED"
        reasons.append(
            f"ΔT's lower bound {units.signed_pts(delta_t.low)} > 0: an untuned pick of {a} "
            f"surely loses less than one of {b}"
        )
    elif delta_t.high < 0:
        result = "REFUTED"
        reasons.append(
            f"ΔT's upper bound {units.signed_pts(delta_t.high)} < 0: an untuned pick of {a} "
            f"surely loses more than one of {b}"
        )
    else:
        result = "INCONCLUSIVE"
        reasons.append("ΔT's interval includes 0")
    tail = {
        "SUPPORTED": f"{a} is less sensitive than {b}",
        "REFUTED": f"{a} is more sensitive than {b}",
        "INCONCLUSIVE": f"undecided ({'; '.join(reasons)})",
    }[result]
    de = numbers["delta_E1"]
    if math.isfinite(de.value):
        # Signed throughout, so the estimate and its bounds read alike.
        level = (
            f"a random configuration of {a} scores {units.signed_pts(de.value)} points against "
            f"one of {b} [{units.signed_pts(de.low)}, {units.signed_pts(de.high)}] (a level, "
            "not a sensitivity)"
        )
    else:
        level = "ΔE(1) n/a"
    sentence = (
        f"{a} vs {b} {where}{decades_text}: mean regret {units.pts(numbers['T_a'].value)} vs "
        f"{units.pts(numbers['T_b'].value)} points, "
        f"ΔT = {format_estimate('delta_T', delta_t, settings, short=True)}; {tail}. "
        f"{level[0].upper()}{level[1:]}."
    ) + _low_power(settings)
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
        decided_by="delta_T",
    )


def _value_groups(hs: HyperparameterStats) -> list[np.ndarray]:
    """The cell rows at each in-range grid value (the groups a profile maximises over)."""
    return [np.flatnonzero(hs.codes == v) for v in np.flatnonzero(hs.in_range)]


def guarantee(
    verdict: Verdict, n_claims: int, confidence: float, looks: Sequence[Look] | None = None
) -> str:
    """The one line that says how far a decisive verdict of this study can be trusted, how it
    was reached, and what it is about."""
    alpha = (1.0 - confidence) / 2.0
    if verdict.result == "INCONCLUSIVE":
        head = "Undecided: no error rate applies"
    else:
        head = (
            f"A decisive verdict of this kind errs at most {format_probability(alpha)} of the time "
            "on its own "
            "(measured: benchmarks/calibration.py)"
        )
    if looks:
        shares = " / ".join(f"{look.alpha / alpha:.2g}" for look in looks)
        leaving = sum(look.allocation for look in looks) / alpha
        cells = f", {leaving:.2g} on leaving cells no open claim needs" if leaving else ""
        head += (
            f", decided look by look (looks at {', '.join(str(len(k.seeds)) for k in looks)} "
            f"seeds per cell, α split {shares}{cells}; a decided claim is final, and by the union "
            "bound over the looks the error stays within α)"
        )
    return (
        f"{head}. It speaks of the grid values only (a good region between grid points is "
        "invisible), with diverged runs at the floor, and assumes seed noise without heavy "
        f"tails (rare bad runs not flagged as diverged can defeat it). {n_claims} claims in "
        f"this study: about {n_claims * alpha:.2g} wrong decisive verdict(s) could arise by "
        "chance if every claim sat at its boundary."
    )
