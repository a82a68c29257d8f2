"""`analyze(data, claims) -> StudyAnalysis`: every statistic, table and verdict of one study group.

Steps: the per-trial table becomes per-optimizer (configuration x seed) matrices over one common
seed list (`grid.py`); one paired seed-bootstrap weight matrix is drawn for the whole study
(`bootstrap.py`) and every statistic is computed for the original sample and all replicates at
once (`stats.py`); the verdicts read those arrays (`verdicts.py`).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from hpsearch.analysis.bootstrap import exact_rate, interval, seed_weights, t_interval
from hpsearch.analysis.grid import DATA_OUTCOMES, Grid, build_grids, config_ids
from hpsearch.analysis.importance import importances
from hpsearch.analysis.records import (
    SENSITIVITY_COLUMNS,
    SUMMARY_COLUMNS,
    AnalysisSettings,
    StudyAnalysis,
    Verdict,
)
from hpsearch.analysis.selection import selection_bounds
from hpsearch.analysis.stats import (
    HyperparameterStats,
    OptimizerStats,
    edf,
    finish_optimizer_stats,
    hyperparameter_stats,
    optimizer_stats,
    win_probability,
)
from hpsearch.analysis.verdicts import (
    Units,
    decide_insensitive,
    decide_less_sensitive,
    guarantee,
)
from hpsearch.claims import ClaimsSpec
from hpsearch.errors import UserInputError
from hpsearch.studydata import StudyData
from hpsearch.units import is_percent_metric


def claims_of(data: StudyData) -> ClaimsSpec:
    """The `[claims]` stored with the study's resolved spec, or the defaults."""
    raw = dict((data.spec or {}).get("claims") or {})
    # Studies stored before the calibrated rules carry this removed setting: it has no meaning now.
    raw.pop("divergence_interval", None)
    try:
        return ClaimsSpec.model_validate(raw)
    except Exception as error:  # pydantic's ValidationError, re-worded for the user
        raise UserInputError(f"[claims] of study `{data.name}`: {error}") from None


def analyze(data: StudyData, claims: ClaimsSpec | None = None) -> StudyAnalysis:
    """Analyse one study group; `claims` defaults to the spec's `[claims]` table."""
    claims = claims if claims is not None else claims_of(data)
    claims.check_against(data.hyperparameters)
    trials = data.trials
    sign = 1.0 if data.direction == "maximize" else -1.0
    data_rows = trials[trials["outcome"].isin(DATA_OUTCOMES)]
    seeds = sorted(int(s) for s in data_rows["seed"].dropna().unique())
    finite = data_rows["value"].astype(float)
    finite = finite[np.isfinite(finite)]
    percent = is_percent_metric(data.metric, finite)
    points = 0.01 if percent else 1.0
    units = Units(points=points, sign=sign, percent=percent)
    report_metric: str = claims.report_metric or data.metric

    grids = build_grids(data, seeds, report_metric) if seeds else {}
    weights = (
        seed_weights(len(seeds), claims.bootstrap, claims.rng_seed)
        if seeds
        else np.ones((claims.bootstrap + 1, 0))
    )
    stats: dict[str, OptimizerStats] = {}
    for o, grid in grids.items():
        if grid.mask.any():
            stats[o] = optimizer_stats(grid, weights)
    ses = [2.0 * s.best_se for s in stats.values() if math.isfinite(s.best_se)]
    delta = max([claims.delta * points, *ses])
    for o, s in stats.items():
        finish_optimizer_stats(s, grids[o], weights, delta)

    hstats: dict[tuple[str, str], HyperparameterStats] = {}
    for o, s in stats.items():
        for hp in grids[o].hyperparameters:
            declared = claims.ranges.get(o, {}).get(hp)
            hstats[(o, hp)] = hyperparameter_stats(
                grids[o], s, weights, hp, delta, declared, claims.confidence
            )
    thin = {o: _thin_cells(g, claims.min_seeds) for o, g in grids.items()}

    counts = trials["outcome"].value_counts()
    per_opt = {
        str(o): {str(k): int(v) for k, v in g["outcome"].value_counts().items()}
        for o, g in trials.groupby("optimizer")
    }
    settings = AnalysisSettings(
        metric=data.metric,
        report_metric=report_metric,
        direction=data.direction,
        points=points,
        delta_user=claims.delta * points,
        delta=delta,
        tolerance=claims.tolerance * points,
        d_max=claims.d_max,
        bootstrap=claims.bootstrap,
        rng_seed=claims.rng_seed,
        confidence=claims.confidence,
        min_seeds=claims.min_seeds,
        seeds=tuple(seeds),
        low_power=len(seeds) < claims.min_seeds,
        grid_sizes={o: g.n for o, g in grids.items()},
        ranges={o: {hp: hs.range for (oo, hp), hs in hstats.items() if oo == o} for o in stats},
        n_trials=len(trials),
        n_completed=int(counts.get("completed", 0)),
        n_diverged=int(counts.get("diverged", 0)),
        n_error=int(counts.get("error", 0)),
        n_running=int(counts.get("running", 0)),
        per_optimizer_counts=per_opt,
    )

    verdicts: list[Verdict] = []
    for claim in claims.insensitivity_claims(data.hyperparameters):
        hs = hstats.get((claim.optimizer, claim.hyperparameter))
        if hs is None or (claims.insensitive is None and len(hs.values) < 2):
            continue  # a default claim about a hyperparameter the grid does not vary
        verdicts.append(
            decide_insensitive(
                claim.optimizer, hs, stats[claim.optimizer], settings, units, thin[claim.optimizer]
            )
        )
    skipped = []
    for comp in claims.comparison_claims(data.hyperparameters):
        if comp.a not in stats or comp.b not in stats:
            skipped.append(f"{comp.a} vs {comp.b}")
            continue
        on: list[str | None] = [comp.hyperparameter, None]  # the shared one, then jointly
        for shared in on:
            verdicts.append(
                decide_less_sensitive(
                    comp.a,
                    comp.b,
                    shared,
                    stats,
                    hstats,
                    settings,
                    units,
                    thin[comp.a] + thin[comp.b],
                )
            )
    for v in verdicts:
        v.guarantee = guarantee(v, len(verdicts), claims.confidence)

    notes = _notes(settings, hstats)
    if not seeds:
        notes.insert(0, "No completed or diverged trials yet: nothing to analyse.")
    if skipped:
        notes.append(
            f"Not compared yet (an optimizer has no finished trials): {', '.join(skipped)}."
        )
    conf = claims.confidence
    n_seeds = len(seeds)
    limits = (0.0, 1.0) if percent else LEVELS
    return StudyAnalysis(
        name=data.name,
        settings=settings,
        hyperparameters={o: list(h) for o, h in data.hyperparameters.items()},
        configs=_configs_table(grids, stats, sign, conf, limits),
        sensitivity=_sensitivity_table(grids, hstats, sign, delta, conf, limits),
        summary=_summary_table(hstats, sign, conf, n_seeds),
        optimizers=_optimizers_table(grids, stats, sign, conf, n_seeds, limits),
        best_of_k=_best_of_k_table(stats, sign, conf, limits),
        win_probability=_win_table(grids, stats),
        edf=_edf_table(stats, sign, conf, n_seeds),
        importance=_importance_table(grids, stats, conf, n_seeds),
        heatmaps=_heatmaps_table(grids, stats, sign),
        picks=_picks_table(grids, stats, hstats, data),
        points=_points_table(data, report_metric),
        verdicts=verdicts,
        notes=notes,
    )


LEVELS = (-math.inf, math.inf)


def _thin_cells(grid: Grid, min_seeds: int) -> list[str]:
    """Cells with fewer than `min_seeds` finished seeds, named with their seed count."""
    n = grid.mask.sum(1)
    ids = grid.configs["config"].to_numpy()
    return [f"{grid.optimizer} {ids[i]} ({n[i]} seed(s))" for i in np.flatnonzero(n < min_seeds)]


def _oriented(
    point: Any, low: Any, high: Any, sign: float, limits: tuple[float, float] = LEVELS
) -> tuple[Any, Any, Any]:
    """Point, low, high of an oriented score, back in the metric's direction; the bounds never
    leave the metric's possible values (an accuracy in [0, 1]: a 2-seed t interval can reach
    past 100 %)."""
    if sign < 0:
        point, low, high = -point, -high, -low
    return point, np.clip(low, *limits), np.clip(high, *limits)


def _notes(
    settings: AnalysisSettings, hstats: dict[tuple[str, str], HyperparameterStats]
) -> list[str]:
    notes = []
    if settings.low_power:
        notes.append(
            f"Low power: S = {settings.n_seeds} seeds (< min_seeds = {settings.min_seeds}): "
            "every verdict stays INCONCLUSIVE."
        )
    if settings.n_error:
        notes.append(
            f"{settings.n_error} trial(s) failed (infrastructure errors): excluded, not data; "
            "re-run them."
        )
    if settings.n_running:
        notes.append(f"{settings.n_running} trial(s) still running: excluded.")
    for (o, hp), hs in hstats.items():
        if hs.in_range.any() and (
            hs.values[hs.in_range][0] > hs.range[0] * (1 + 1e-9)
            or hs.values[hs.in_range][-1] < hs.range[1] * (1 - 1e-9)
        ):
            notes.append(
                f"{o}.{hp}: the grid does not reach the ends of the declared range "
                f"[{hs.range[0]:g}, {hs.range[1]:g}]; the uncovered part counts as not good in W."
            )
    if settings.delta > settings.delta_user:
        notes.append(
            f"δ raised from {settings.delta_user / settings.points:g} to "
            f"{settings.delta / settings.points:.3g} points (2 x the best cell's seed SE)."
        )
    notes.append(
        "Intervals: Student t over seeds for means; selection-aware (cross-fitted) bounds for the "
        "best cell, profiles and regrets; exact (Clopper-Pearson) for divergence rates; for "
        "widths, spreads and importances the larger of the paired bootstrap's and the "
        "jackknife's standard errors with the same t quantile."
    )
    return notes


def _configs_table(grids, stats, sign, conf, limits) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frames = []
    for o in stats:
        g = grids[o]
        point, low, high = _oriented(*t_interval(g.sel, g.mask, conf), sign, limits)
        n = g.mask.sum(1)
        sel = np.where(g.mask, g.sel, np.nan)
        with np.errstate(invalid="ignore"), _quiet():
            std = np.nanstd(sel, axis=1, ddof=1) if sel.shape[1] > 1 else np.full(g.n, np.nan)
            median = sign * np.nanmedian(sel, axis=1)
            rep_mean = sign * np.nanmean(np.where(g.mask, g.rep, np.nan), axis=1)
        frame = g.configs.copy()
        frame.insert(0, "optimizer", o)
        ndiv = (g.diverged * g.mask).sum(1).astype(int)
        frame = frame.assign(
            mean=point,
            median=median,
            se=std / np.sqrt(np.maximum(n, 1)),
            std=std,
            n_seeds=n,
            n_diverged=ndiv,
            n_error=g.n_error,
            divergence_rate=np.where(n > 0, ndiv / np.maximum(n, 1), np.nan),
            mean_low=low,
            mean_high=high,
            rep_mean=rep_mean,
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _sensitivity_table(grids, hstats, sign, delta, conf, limits) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    rows = []
    for (o, hp), hs in hstats.items():
        configs = grids[o].configs["config"].to_numpy()
        b = hs.bounds
        prof, prof_lo, prof_hi = _oriented(
            b.profile[:, 0], b.profile[:, 1], b.profile[:, 2], sign, limits
        )
        sl, sl_lo, sl_hi = _oriented(
            hs.slice_interval[:, 0], hs.slice_interval[:, 1], hs.slice_interval[:, 2], sign, limits
        )
        reg, reg_lo, reg_hi = b.regret.T
        for i, v in enumerate(hs.values):
            lo, hi = exact_rate(hs.n_diverged[i], hs.n_trials[i], conf)
            rows.append(
                {
                    "optimizer": o,
                    "hyperparameter": hp,
                    "value": float(v),
                    "profile": prof[i],
                    "profile_low": prof_lo[i],
                    "profile_high": prof_hi[i],
                    "profile_config": configs[hs.profile_rows[i]],
                    "slice": sl[i],
                    "slice_low": sl_lo[i],
                    "slice_high": sl_hi[i],
                    "slice_config": configs[hs.slice_rows[i]] if hs.slice_rows[i] >= 0 else None,
                    "regret": reg[i],
                    "regret_low": reg_lo[i],
                    "regret_high": reg_hi[i],
                    "divergence_rate": hs.n_diverged[i] / hs.n_trials[i]
                    if hs.n_trials[i]
                    else math.nan,
                    "divergence_rate_low": lo,
                    "divergence_rate_high": hi,
                    "n_trials": int(hs.n_trials[i]),
                    "n_diverged": int(hs.n_diverged[i]),
                    "in_range": bool(hs.in_range[i]),
                    "good": bool(reg[i] <= delta),
                }
            )
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


def _summary_table(hstats, sign, conf, n_seeds) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    rows = []
    for (o, hp), hs in hstats.items():
        row: dict[str, Any] = {
            "optimizer": o,
            "hyperparameter": hp,
            "log_scale": hs.log,
            "range_low": hs.range[0],
            "range_high": hs.range[1],
            "decades": hs.decades,
            "n_values": int(hs.in_range.sum()),
        }
        stats_ = {
            "spread": hs.spread,
            "iqr": hs.iqr,
            "width": hs.width,
            "decades_within": hs.width * hs.decades,
            "noise_ratio": hs.noise_ratio,
            "divergence_boundary": hs.boundary
            if hs.boundary is not None
            else np.full(hs.width.shape, np.nan),
        }
        limits = {
            "width": (0.0, 1.0),
            "decades_within": (0.0, hs.decades if math.isfinite(hs.decades) else np.inf),
            "noise_ratio": (0.0, 1.0),
            "spread": (0.0, np.inf),
            "iqr": (0.0, np.inf),
        }
        for name, arr in stats_.items():
            point, low, high = interval(arr, conf, n_seeds, limits.get(name, (-np.inf, np.inf)))
            row |= {name: float(point), f"{name}_low": float(low), f"{name}_high": float(high)}
        point, low, high = hs.bounds.max_regret
        row |= {"max_regret": point, "max_regret_low": low, "max_regret_high": high}
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _optimizers_table(grids, stats, sign, conf, n_seeds, limits) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    rows = []
    e_final = {o: s.best_of_k[-1, 0] for o, s in stats.items()}
    top = max(e_final.values()) if e_final else math.nan
    for o, s in stats.items():
        g = grids[o]
        lo, hi = exact_rate(s.n_diverged, s.n_trials, conf)
        row: dict[str, Any] = {
            "optimizer": o,
            "n_configs": g.n,
            "n_trials": s.n_trials,
            "n_diverged": s.n_diverged,
            "n_error": int(g.n_error.sum()),
            "best_config": g.configs["config"].iloc[s.best_row],
            "best_se": s.best_se,
            "divergence_rate": s.n_diverged / s.n_trials if s.n_trials else math.nan,
            "divergence_rate_low": lo,
            "divergence_rate_high": hi,
        }
        one_group = np.zeros(g.n, dtype=int)
        best = selection_bounds(g.sel, g.mask, one_group, 1, np.ones(1, bool), conf).best
        p, lo_, hi_ = _oriented(*best, sign, limits)
        row |= {"best": float(p), "best_low": float(lo_), "best_high": float(hi_)}
        p, lo_, hi_ = interval(s.width_joint, conf, n_seeds, (0.0, 1.0))
        row |= {
            "width_joint": float(p),
            "width_joint_low": float(lo_),
            "width_joint_high": float(hi_),
        }
        columns = {"cpe": -1} | {
            f"e{k}": int(np.searchsorted(s.ks, min(k, g.n))) for k in (1, 4, 16)
        }
        per_seed = s.per_seed_curve
        for name, idx in columns.items():
            p, lo_, hi_ = _oriented(*_seed_mean(per_seed[:, idx], conf), sign, limits)
            row |= {name: float(p), f"{name}_low": float(lo_), f"{name}_high": float(hi_)}
        # α-tunability (α = 0.95) on oriented scores: for a minimised metric "α of the best"
        # means within a factor 1/α of it.
        curve_point = s.best_of_k[:, 0]
        row["tunability_global"] = _first_k(s.ks, curve_point, top, sign)
        row["tunability_local"] = _first_k(s.ks, curve_point, e_final[o], sign)
        rows.append(row)
    return pd.DataFrame(rows)


def _first_k(
    ks: np.ndarray, curve: np.ndarray, target: float, sign: float, alpha: float = 0.95
) -> float:
    goal = alpha * target if sign > 0 else target / alpha  # oriented: target = -loss
    hit = np.flatnonzero(curve >= goal - 1e-12)
    return float(ks[hit[0]]) if len(hit) else math.nan


def _seed_mean(values: np.ndarray, conf: float) -> tuple[Any, Any, Any]:
    """Mean over seeds (axis 0; NaN = unusable seed) with Student's t interval."""
    v = np.asarray(values, dtype=float).T
    return t_interval(v, np.isfinite(v), conf)


def _best_of_k_table(stats, sign, conf, limits) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frames = []
    for o, s in stats.items():
        p, lo, hi = _oriented(*_seed_mean(s.per_seed_curve[:, :-1], conf), sign, limits)
        frames.append(
            pd.DataFrame(
                {"optimizer": o, "k": s.ks, "expected": p, "expected_low": lo, "expected_high": hi}
            )
        )
    columns = ["optimizer", "k", "expected", "expected_low", "expected_high"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _win_table(grids, stats) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    usable = {o: grids[o] for o in stats}
    if len(usable) < 2:
        return pd.DataFrame(columns=["optimizer", "k", "probability"])
    ks, probs = win_probability(usable)
    return pd.concat(
        [pd.DataFrame({"optimizer": o, "k": ks, "probability": p}) for o, p in probs.items()],
        ignore_index=True,
    )


def _edf_table(stats, sign, conf, n_seeds) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frames = []
    for o, s in stats.items():
        regret, fraction = edf(s)
        p, lo, hi = interval(fraction, conf, n_seeds, (0.0, 1.0))
        frames.append(
            pd.DataFrame(
                {
                    "optimizer": o,
                    "regret": regret,
                    "fraction": p,
                    "fraction_low": lo,
                    "fraction_high": hi,
                }
            )
        )
    columns = ["optimizer", "regret", "fraction", "fraction_low", "fraction_high"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _importance_table(grids, stats, conf, n_seeds) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    rows = []
    for o, s in stats.items():
        for hp, arr in importances(grids[o], s.means).items():
            p, lo, hi = interval(arr, conf, n_seeds, (0.0, np.inf))
            rows.append(
                {
                    "optimizer": o,
                    "hyperparameter": hp,
                    "importance": float(p),
                    "importance_low": float(lo),
                    "importance_high": float(hi),
                }
            )
    return pd.DataFrame(
        rows,
        columns=["optimizer", "hyperparameter", "importance", "importance_low", "importance_high"],
    )


def _heatmaps_table(grids, stats, sign) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frames = []
    for o, s in stats.items():
        g = grids[o]
        hps = [h for h in g.hyperparameters if 2 <= g.configs[h].nunique() <= 30]
        frame = g.configs.assign(
            _mean=s.means[:, 0],
            _div=(g.diverged * g.mask).sum(1),
            _n=g.mask.sum(1),
        )
        for i, x in enumerate(hps):
            for y in hps[i + 1 :]:
                ordered = frame.sort_values("_mean", ascending=False, na_position="last")
                grouped = ordered.groupby([x, y], sort=True)
                table = grouped.agg(
                    profile=("_mean", "max"),
                    div=("_div", "sum"),
                    n=("_n", "sum"),
                    config=("config", "first"),
                ).reset_index()
                frames.append(
                    pd.DataFrame(
                        {
                            "optimizer": o,
                            "x": x,
                            "y": y,
                            "x_value": table[x].astype(float),
                            "y_value": table[y].astype(float),
                            "profile": sign * table["profile"],
                            "divergence_rate": table["div"] / table["n"].where(table["n"] > 0),
                            "n_trials": table["n"].astype(int),
                            "config": table["config"],
                        }
                    )
                )
    columns = [
        "optimizer",
        "x",
        "y",
        "x_value",
        "y_value",
        "profile",
        "divergence_rate",
        "n_trials",
        "config",
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _picks_table(grids, stats, hstats, data: StudyData) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    trials = data.trials
    rows = []
    for o, s in stats.items():
        g = grids[o]
        picks: list[tuple[str, int]] = [("best", s.best_row)]
        hs = hstats.get((o, "lr"))
        if hs is not None:
            if hs.boundary is not None and np.isfinite(hs.boundary[0]):
                i = int(np.searchsorted(hs.values, hs.boundary[0] * (1 - 1e-9)))
                i = min(i, len(hs.values) - 1)
                picks.append(("boundary", int(hs.profile_rows[i])))
            one = np.flatnonzero(np.isclose(hs.values, 1.0))
            if len(one):
                i = int(one[0])
                row = hs.slice_rows[i] if hs.slice_rows[i] >= 0 else hs.profile_rows[i]
                picks.append(("lr=1", int(row)))
        ids = config_ids(trials[trials["optimizer"] == o], g.hyperparameters)
        mine = trials[trials["optimizer"] == o].assign(config=ids)
        for role, row in picks:
            config = g.configs["config"].iloc[row]
            chosen = mine[(mine["config"] == config) & mine["outcome"].isin(DATA_OUTCOMES)]
            lr = float(g.configs["lr"].iloc[row]) if "lr" in g.configs else math.nan
            rows.append(
                {
                    "optimizer": o,
                    "role": role,
                    "config": config,
                    "lr": lr,
                    "trial_numbers": [int(t) for t in chosen["trial_number"]],
                    "studies": [str(x) for x in chosen["study"]],
                }
            )
    return pd.DataFrame(
        rows, columns=["optimizer", "role", "config", "lr", "trial_numbers", "studies"]
    )


def _points_table(data: StudyData, report_metric: str) -> pd.DataFrame:
    from hpsearch.analysis.grid import report_scores

    trials = data.trials
    keep = trials["outcome"].isin(DATA_OUTCOMES)
    frames = []
    for o, hps in data.hyperparameters.items():
        mine = trials[keep & (trials["optimizer"] == o)]
        if mine.empty:
            continue
        frame = mine[
            [
                "study",
                "trial_number",
                "optimizer",
                "seed",
                "outcome",
                "value",
                "diverged_epoch",
                *hps,
            ]
        ].copy()
        frame.insert(3, "config", config_ids(mine, list(hps)))
        frame.insert(7, "rep_value", report_scores(data, report_metric)[mine.index])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's empty-slice warnings where NaN is the intended answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
