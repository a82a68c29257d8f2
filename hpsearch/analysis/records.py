"""The typed results of a sensitivity analysis, which the dashboard, report and export draw.

Everything here is computed by `hpsearch.analysis.analyze(data, claims)`; readers compute nothing.
Tables are pandas DataFrames with the documented columns below (a `_low` / `_high` pair is the 95 %
interval of the column before it, one method per kind of quantity: Student t over seeds for means,
cross-fitted selection-aware bounds for the best cell, profiles and regrets, exact Clopper-Pearson
for divergence rates, the paired bootstrap's SE with a t quantile for the rest; see
`bootstrap.py` and `selection.py`). Metric
values are in the study's own units (accuracy as stored, e.g. 0.93); `AnalysisSettings.points`
says how many metric units one "point" is (0.01 for a 0-1 accuracy), for display.

Diverged trials are in every table at the floor; `error` and `running` trials are excluded from the
statistics and only counted (`AnalysisSettings.n_error`, `n_running`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

# Columns of `StudyAnalysis.sensitivity` (and of sensitivity.csv).
SENSITIVITY_COLUMNS = (
    "optimizer",
    "hyperparameter",
    "value",
    "profile",
    "profile_low",
    "profile_high",
    "profile_config",
    "slice",
    "slice_low",
    "slice_high",
    "slice_config",
    "regret",
    "regret_low",
    "regret_high",
    "divergence_rate",
    "divergence_rate_low",
    "divergence_rate_high",
    "n_trials",
    "n_diverged",
    "in_range",
    "good",
)
SUMMARY_STATS = (
    "spread",
    "iqr",
    "width",
    "decades_within",
    "max_regret",
    "noise_ratio",
    "divergence_boundary",
)
SUMMARY_COLUMNS = (
    "optimizer",
    "hyperparameter",
    "log_scale",
    "range_low",
    "range_high",
    "decades",
    "n_values",
    *(f"{n}{s}" for n in SUMMARY_STATS for s in ("", "_low", "_high")),
)

Result = Literal["SUPPORTED", "REFUTED", "INCONCLUSIVE"]
VerdictKind = Literal["V1", "V2", "V3"]
PickRole = Literal["best", "boundary", "lr=1"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95 % interval (NaN where it cannot be computed)."""

    value: float
    low: float = math.nan
    high: float = math.nan

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class Look:
    """One look of a sequential study: its number (1-based), the seeds every open cell has then,
    its α per side for the claims (`replay.py`) and the α it spends on leaving cells that no
    open claim needs (`allocation.py`; 0: every cell of an open optimizer goes on)."""

    number: int
    seeds: tuple[int, ...]
    alpha: float
    allocation: float = 0.0


def schedule_looks(
    sizes: Sequence[int],
    seeds: Sequence[int],
    split: Sequence[float],
    alpha: float,
    allocation: float = 0.0,
) -> list[Look]:
    """The looks of a schedule (seeds per cell at each look, the seed order, the claims' shares
    of α, α per side, the share of α for leaving cells): the claims spend split[k] of the rest at
    look k, leaving cells spends its share in equal parts at every look but the last. The one
    place this arithmetic lives (`hpsearch.sequential.Schedule` and the readers use it)."""
    n = len(sizes)
    claims = alpha * (1 - allocation)
    leave = allocation * alpha / (n - 1) if n > 1 else 0.0
    return [
        Look(k + 1, tuple(seeds[:size]), share * claims, leave if k + 1 < n else 0.0)
        for k, (size, share) in enumerate(zip(sizes, split, strict=True))
    ]


@dataclass(frozen=True)
class AnalysisSettings:
    """Every setting that produced the numbers; shown next to each verdict."""

    metric: str  # the selection metric (y_sel)
    report_metric: str  # the reported metric (y_rep) used for best-of-k
    direction: Literal["maximize", "minimize"]
    points: float  # metric units per display point (0.01 for a 0-1 accuracy, else 1.0)
    delta: float  # where W is read: the claims' tolerance m (one tolerance), metric units
    tolerance: float  # m, the regret that matters (V1, V3), metric units
    bootstrap: int  # B, replicates of the paired seed bootstrap
    rng_seed: int
    confidence: float  # 0.95
    seeds: tuple[int, ...]  # the common seed list (S = len(seeds))
    low_power: bool  # S < min_seeds
    grid_sizes: dict[str, int]  # optimizer -> number of configurations
    ranges: dict[str, dict[str, tuple[float, float]]]  # optimizer -> hp -> [a, b] analysed
    n_trials: int
    n_completed: int
    n_diverged: int
    n_error: int  # infrastructure failures: not data, excluded, re-run them
    n_running: int
    per_optimizer_counts: dict[str, dict[str, int]]  # optimizer -> outcome -> count
    min_seeds: int = 5  # a cell with fewer finished seeds blocks every verdict on its optimizer

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


@dataclass
class Verdict:
    """One claim, decided SUPPORTED / REFUTED / INCONCLUSIVE by the rules in `verdicts.py`.

    `numbers` holds every statistic the rule looked at (V1: `max_regret`, `max_divergence`; V2:
    `delta_T` and beside it `delta_W`, `delta_E1`, `D_a`, `D_b`; V3: `regret_at`, `at_value`),
    `settings` the values it was decided with (m, δ, ranges in decades, S, B, grid sizes,
    diverged/failed counts; V3 also `view`, defaults or tuned, and `value`). `sentence` is built
    from the numbers, never written in advance.
    """

    claim: str
    kind: VerdictKind
    optimizers: tuple[str, ...]  # (A,) for V1 and V3, (A, B) for V2
    hyperparameter: str | None  # None: jointly over all hyperparameters (V2 only)
    result: Result
    numbers: dict[str, Estimate]
    settings: dict[str, Any]
    sentence: str
    reasons: list[str] = field(default_factory=list)  # why this result, rule by rule
    safe_range: tuple[float, float] | None = None  # V1: longest run of passing grid values
    blocking: list[str] = field(default_factory=list)  # cells that block a decision / fail
    decided_by: str = ""  # key of `numbers` whose interval decided the result (the headline)
    guarantee: str = ""  # one line: how often a decisive verdict of this kind may err


@dataclass
class StudyAnalysis:
    """The whole analysis of one study group.

    `configs` — one row per (optimizer, configuration):
        optimizer, config, <hyperparameters>, mean, median, se, std, n_seeds, n_diverged,
        n_error, divergence_rate, mean_low, mean_high, rep_mean (mean of the reported metric)
      `config` is a readable id ("lr=0.001 gamma=0.001"), unique within an optimizer.
    `sensitivity` — one row per optimizer x hyperparameter x grid value:
        optimizer, hyperparameter, value, profile, profile_low, profile_high, profile_config,
        slice, slice_low, slice_high, slice_config, regret, regret_low, regret_high,
        divergence_rate, divergence_rate_low, divergence_rate_high (exact), n_trials, n_diverged,
        in_range (inside the analysed range), good (profile within δ of the best)
    `summary` — one row per optimizer x hyperparameter:
        optimizer, hyperparameter, log_scale, range_low, range_high, decades, n_values,
        spread(+_low/_high), iqr(+), width (W(δ), fraction of the range)(+), decades_within(+),
        max_regret(+), noise_ratio (η)(+), divergence_boundary (lr only, NaN if none)(+)
    `optimizers` — one row per optimizer (the joint view):
        optimizer, n_configs, n_trials, n_diverged, n_error, best_config, best(+), best_se,
        width_joint (W_o(δ))(+), divergence_rate (exact)(+), e1(+), e4(+), e16(+), cpe(+),
        tunability_global, tunability_local
    `best_of_k` — optimizer, k, expected, expected_low, expected_high
    `win_probability` — optimizer, k, probability (that its best-of-k has the top reported score)
    `edf` — optimizer, regret, fraction, fraction_low, fraction_high (fraction of configurations
        whose seed mean is within `regret` of the optimizer's best)
    `importance` — optimizer, hyperparameter, importance, importance_low, importance_high
        (PED-ANOVA-style, descriptive only)
    `heatmaps` — optimizer, x, y (hyperparameter names), x_value, y_value, profile (best seed
        mean over the other hyperparameters), divergence_rate, n_trials, config
    `picks` — optimizer, role (best / boundary / lr=1), config, lr, trial_numbers (list), studies
        (list); the learning curves are `StudyData.curves` rows of those (study, trial_number)
    `points` — one row per trial that is data (completed or diverged): study, trial_number,
        optimizer, config, seed, outcome, value (floor for diverged), rep_value,
        diverged_epoch, <hyperparameters>
    """

    name: str
    settings: AnalysisSettings
    hyperparameters: dict[str, list[str]]  # optimizer -> searched hyperparameters
    configs: pd.DataFrame
    sensitivity: pd.DataFrame
    summary: pd.DataFrame
    optimizers: pd.DataFrame
    best_of_k: pd.DataFrame
    win_probability: pd.DataFrame
    edf: pd.DataFrame
    importance: pd.DataFrame
    heatmaps: pd.DataFrame
    picks: pd.DataFrame
    points: pd.DataFrame
    verdicts: list[Verdict]
    notes: list[str] = field(default_factory=list)  # caveats (low power, unmatched decades, ...)
