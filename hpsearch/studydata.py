"""The tidy tables every reader of a study works from.

Storage produces a `StudyData` with one bulk read; analysis, export and the dashboards consume it
and never touch Optuna. Column names are a public contract (they become CSV columns):

`trials` — one row per trial:
    study, trial_number, optimizer, cell, seed, outcome, value, raw_value, floor,
    diverged_epoch, divergence_reason, error, wall_seconds, device,
    <every searched hyperparameter, bare name: lr, final_lr, gamma, momentum, ...>,
    <every final metric, bare name: train_loss, test_loss, test_accuracy, ...>
  `outcome` is one of completed / diverged / error / running (a reader shows `error` as
  "failed": `outcome_word`). `value` is the selection metric with diverged trials scored at
  `floor` (chance accuracy, or the initial loss) and NaN for error / running; `raw_value` is
  what was measured (may be NaN or inf).
`curves` — long format, one row per trial x epoch x metric:
    study, trial_number, optimizer, cell, seed, epoch, metric, value
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

TRIAL_COLUMNS = (
    "study",
    "trial_number",
    "optimizer",
    "cell",
    "seed",
    "outcome",
    "value",
    "raw_value",
    "floor",
    "diverged_epoch",
    "divergence_reason",
    "error",
    "wall_seconds",
    "device",
)
CURVE_COLUMNS = ("study", "trial_number", "optimizer", "cell", "seed", "epoch", "metric", "value")
OUTCOMES = ("completed", "diverged", "error", "running")
# The word every reader shows for an outcome (CLI, dashboard, report, CSV): Optuna stores such a
# trial as FAIL, so a user reads "failed"; the stored attribute stays "error", as in every
# storage written so far.
OUTCOME_WORDS = {"error": "failed"}
# The study-group attribute a sequential study's look schedule is stored under, before its first
# trial (`hpsearch.sequential`); storage reads it into `StudyData.schedule`.
SCHEDULE_ATTR = "sequential_schedule"


@dataclass
class StudyData:
    """All trials of one study group (every `<name>.<optimizer>` Optuna study of a spec)."""

    name: str
    metric: str  # the selection metric, e.g. test_accuracy
    direction: Literal["maximize", "minimize"]
    trials: pd.DataFrame
    curves: pd.DataFrame
    hyperparameters: dict[str, list[str]]  # optimizer -> its searched hyperparameters
    metrics: list[str] = field(default_factory=list)  # final-metric columns in `trials`
    spec: dict[str, Any] | None = None  # the resolved spec as stored with the study
    # optimizer -> hyperparameter -> {kind, low, high, log, ...} as searched (hpsearch.spec's
    # `search_space`); empty for in-memory synthetic studies
    search_spaces: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # a sequential study's look schedule as stored before its first trial
    # (`hpsearch.sequential.Schedule.to_json`); None for a fixed seed list
    schedule: dict[str, Any] | None = None


def outcome_word(outcome: str) -> str:
    """The word a user reads for a stored outcome: "failed" for `error`, the others as they are."""
    return OUTCOME_WORDS.get(outcome, outcome)
