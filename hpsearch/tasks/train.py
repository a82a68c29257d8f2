"""Trial runner (placeholder: the tasks issue fills this in)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hpsearch.tasks.base import TrialResult


def train(
    task: str,
    optimizer: str,
    hyperparameters: Mapping[str, Any],
    seed: int,
    *,
    options: Mapping[str, Any] | None = None,
    epochs: int | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> TrialResult:
    raise NotImplementedError("tasks are not built yet")
