"""`decide(data, claims)`: the statistics and the verdicts of one study group, without the
readers' tables — what `analyze` builds on, and what a sequential look and the calibration need.

Steps: the per-trial table becomes per-optimizer (configuration x seed) matrices over one common
seed list (`grid.py`); one paired seed-bootstrap weight matrix is drawn for the whole study
(`bootstrap.py`) and the descriptive statistics are computed for the original sample and all
replicates at once (`stats.py`); the verdicts read the pairwise and mean-regret bounds
(`verdicts.py`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from hpsearch.analysis.bootstrap import seed_weights
from hpsearch.analysis.defaults import optimizer_defaults
from hpsearch.analysis.grid import DATA_OUTCOMES, Grid, build_grids
from hpsearch.analysis.records import AnalysisSettings, Verdict
from hpsearch.analysis.stats import (
    HyperparameterStats,
    OptimizerStats,
    finish_optimizer_stats,
    hyperparameter_stats,
    optimizer_stats,
)
from hpsearch.analysis.verdicts import (
    Units,
    decide_fails,
    decide_insensitive,
    decide_less_sensitive,
    guarantee,
)
from hpsearch.claims import ClaimsSpec
from hpsearch.errors import UserInputError
from hpsearch.studydata import StudyData
from hpsearch.units import is_percent_metric

# Settings that studies stored by earlier versions carry and that mean nothing now (`delta`:
# W is read at the claims' tolerance m).
REMOVED_CLAIM_SETTINGS = ("divergence_interval", "d_max", "delta")


def claims_of(data: StudyData) -> ClaimsSpec:
    """The `[claims]` stored with the study's resolved spec, or the defaults."""
    raw = dict((data.spec or {}).get("claims") or {})
    for key in REMOVED_CLAIM_SETTINGS:
        raw.pop(key, None)
    try:
        return ClaimsSpec.model_validate(raw)
    except Exception as error:  # pydantic's ValidationError, re-worded for the user
        raise UserInputError(f"[claims] of study `{data.name}`: {error}") from None


@dataclass(frozen=True)
class Decided:
    """The statistics and verdicts of one study group, before any table is built."""

    settings: AnalysisSettings
    grids: dict[str, Grid]
    stats: dict[str, OptimizerStats]
    hstats: dict[tuple[str, str], HyperparameterStats]
    verdicts: list[Verdict]
    notes: list[str]
    percent: bool


def decide(
    data: StudyData, claims: ClaimsSpec, left: Mapping[str, Collection[str]] | None = None
) -> Decided:
    """The statistics and the verdicts of `claims` on `data`, without the readers' tables: what
    the calibration and the sequential looks need, at a fraction of `analyze`'s cost.

    `left`: per optimizer, the configuration ids a sequential study stopped adding seeds to at an
    earlier look (`allocation.py`); the regret bounds leave them out."""
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
    # W is read at the claims' own m (one tolerance per claim: a figure never draws a second)
    delta = claims.tolerance * points

    grids = build_grids(data, seeds, report_metric) if seeds else {}
    for o, ids in (left or {}).items():
        if o in grids and ids:
            grids[o].left = grids[o].configs["config"].isin(list(ids)).to_numpy()
    weights = (
        seed_weights(len(seeds), claims.bootstrap, claims.rng_seed)
        if seeds
        else np.ones((claims.bootstrap + 1, 0))
    )
    stats: dict[str, OptimizerStats] = {}
    for o, grid in grids.items():
        if grid.mask.any():
            stats[o] = optimizer_stats(grid, weights, claims.confidence)
            finish_optimizer_stats(stats[o], grid, weights, delta)

    hstats: dict[tuple[str, str], HyperparameterStats] = {}
    for o in stats:
        for hp in grids[o].hyperparameters:
            declared = claims.ranges.get(o, {}).get(hp)
            hstats[(o, hp)] = hyperparameter_stats(
                grids[o], stats[o], weights, hp, delta, declared, claims.confidence
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
        delta=delta,
        tolerance=claims.tolerance * points,
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
    defaults = optimizer_defaults(data)
    for failure in claims.failure_claims(data.hyperparameters):
        hs = hstats.get((failure.optimizer, failure.hyperparameter))
        if hs is None:
            continue  # no finished trial of this optimizer yet
        if claims.fails is None and not np.isclose(hs.values, failure.value).any():
            continue  # the default "lr = 1 fails" where the grid has no lr = 1
        verdicts += decide_fails(
            failure.optimizer,
            failure.value,
            hs,
            grids[failure.optimizer],
            defaults.get(failure.optimizer),
            settings,
            units,
            thin[failure.optimizer],
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
                    grids,
                    stats,
                    hstats,
                    settings,
                    units,
                    thin[comp.a] + thin[comp.b],
                )
            )
    for v in verdicts:
        v.guarantee = guarantee(v, len(verdicts), claims.confidence)

    notes = _notes(settings, hstats, stats)
    if not seeds:
        notes.insert(0, "No completed or diverged trials yet: nothing to analyse.")
    if skipped:
        notes.append(
            f"Not compared yet (an optimizer has no finished trials): {', '.join(skipped)}."
        )
    return Decided(settings, grids, stats, hstats, verdicts, notes, percent)


def _thin_cells(grid: Grid, min_seeds: int) -> list[str]:
    """Cells with fewer than `min_seeds` finished seeds, named with their seed count (a cell a
    sequential study left counts in no verdict, so its seeds block none)."""
    n = grid.mask.sum(1)
    ids = grid.configs["config"].to_numpy()
    thin = n < min_seeds
    if grid.left is not None:
        thin &= ~grid.left
    return [f"{grid.optimizer} {ids[i]} ({n[i]} seed(s))" for i in np.flatnonzero(thin)]


def _notes(
    settings: AnalysisSettings,
    hstats: dict[tuple[str, str], HyperparameterStats],
    stats: dict[str, OptimizerStats],
) -> list[str]:
    notes = []
    if settings.low_power:
        notes.append(
            f"Low power: S = {settings.n_seeds} seed{'' if settings.n_seeds == 1 else 's'} "
            f"(< min_seeds = {settings.min_seeds}): every verdict stays INCONCLUSIVE."
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
    # m stays what the user declared; where seed noise is coarser, the W(m) figures say so here.
    noisy = [
        f"{o} ({2.0 * s.best_se / settings.points:.3g})"
        for o, s in stats.items()
        if math.isfinite(s.best_se) and 2.0 * s.best_se > settings.delta
    ]
    if noisy:
        notes.append(
            f"m = {settings.delta / settings.points:g} points is finer than twice the best cell's "
            f"seed standard error for {', '.join(noisy)}: their W(m) figures mostly show noise "
            "(no verdict reads W(m))."
        )
    notes.append(
        "Intervals: Student t over seeds for means; pairwise Welch bounds for the regrets the "
        "verdicts read; selection-aware (cross-fitted) bounds for the best cell and profiles; "
        "exact bounds over seeds for divergence rates; for widths, spreads and importances the "
        "larger of the paired bootstrap's and the jackknife's standard errors with the same t "
        "quantile."
    )
    return notes
