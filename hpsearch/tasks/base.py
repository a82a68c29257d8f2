"""What a task is, and what training one cell returns.

A task is data + model + training loop. It knows nothing of Ray or Optuna: the scheduler calls
`hpsearch.tasks.train(...)` and gets per-epoch metrics through a callback and a `TrialResult`.
These records are the contract between tasks, scheduling, storage and analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["completed", "diverged", "error"]


@dataclass(frozen=True)
class TaskOption:
    """One option of a task (epochs, batch size, hidden size, data directory...)."""

    name: str
    default: Any
    doc: str


@dataclass(frozen=True)
class TaskInfo:
    """A registered task."""

    name: str
    description: str
    options: tuple[TaskOption, ...]
    metrics: tuple[str, ...]  # per-epoch metrics it reports, e.g. train_loss, test_accuracy
    default_metric: str  # the default selection metric
    num_classes: int | None  # None for language models (no chance accuracy)
    offline: bool  # True: needs no user-supplied data
    supports_population: bool = False

    def option_defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}


@dataclass
class TrialResult:
    """Everything one cell's training produced; divergence is an outcome, not an exception."""

    outcome: Outcome
    epochs: list[dict[str, float]] = field(default_factory=list)  # index 0 = epoch 1
    final: dict[str, float] = field(default_factory=dict)
    initial: dict[str, float] = field(default_factory=dict)  # metrics before any step
    diverged_epoch: int | None = None
    divergence_reason: str | None = None
    error: str | None = None
    wall_seconds: float = 0.0
    device: str = "cpu"


def metric_direction(metric: str) -> Literal["maximize", "minimize"]:
    """Accuracy is maximised; losses and perplexities are minimised."""
    return "maximize" if metric.endswith("accuracy") else "minimize"


def merge_options(info: TaskInfo, options: Mapping[str, Any]) -> dict[str, Any]:
    """Task defaults overlaid with `options` (unknown keys are the caller's to reject)."""
    merged = info.option_defaults()
    merged.update(options)
    return merged
