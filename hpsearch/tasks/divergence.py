"""When a cell counts as diverged: the one rule every training loop applies.

A cell trained alone (`hpsearch.tasks.train`) and a member of a population
(`hpsearch.tasks.population`) are judged by these functions, so the two record the same outcome,
epoch and reason for the same run. Divergence is data (an outcome), never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hpsearch.tasks.base import TaskInfo, TrialResult
from hpsearch.units import format_level

DIVERGENCE_FACTOR = 10.0  # kappa: train loss above this times the initial loss has diverged
CHANCE_MARGIN = 0.02  # final accuracy at or below chance + this has diverged
# The initial loss the factor multiplies is measured on a capped prefix of the training data.
INITIAL_TRAIN_EXAMPLES = 10_000  # classification and supervised data
INITIAL_TRAIN_TOKENS = 50_000  # language models


def loss_divergence(metrics: Mapping[str, float], initial_loss: float, healthy: bool) -> str | None:
    """Why an epoch's `metrics` mean the run has diverged, or None; `healthy` is False when the
    weights went non-finite."""
    train_loss = metrics["train_loss"]
    if not math.isfinite(train_loss):
        return f"non-finite train_loss ({train_loss})"
    if not healthy:
        return "non-finite parameters"
    if not math.isfinite(metrics["test_loss"]):
        return f"non-finite test_loss ({metrics['test_loss']})"
    if train_loss > DIVERGENCE_FACTOR * initial_loss:
        return (
            f"train_loss {train_loss:.4g} exceeds {DIVERGENCE_FACTOR:g} x the initial "
            f"loss {initial_loss:.4g}"
        )
    return None


def chance_divergence(info: TaskInfo, final: Mapping[str, float]) -> str | None:
    """Why a finished classifier's final metrics count as diverged (accuracy at chance), or None;
    always None for a task without classes (a language model, a regression)."""
    if info.num_classes is None:
        return None
    chance = 1.0 / info.num_classes
    accuracy = final.get("test_accuracy", math.nan)
    if accuracy <= chance + CHANCE_MARGIN:
        # In the units the tables show an accuracy in (%, a difference in points).
        return (
            f"final test_accuracy {format_level(accuracy, percent=True)} is within "
            f"{100 * CHANCE_MARGIN:g} points of chance ({format_level(chance, percent=True)})"
        )
    return None


def record_divergence(result: TrialResult, epoch: int, reason: str) -> None:
    """Mark `result` diverged at `epoch` (from 1) for `reason`."""
    result.outcome, result.diverged_epoch, result.divergence_reason = "diverged", epoch, reason
