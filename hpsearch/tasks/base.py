"""What a task is, and what training one cell returns.

A task is data + model + training loop. It knows nothing of Ray or Optuna: the scheduler calls
`hpsearch.tasks.train(...)` and gets per-epoch metrics through a callback and a `TrialResult`.
These records are the contract between tasks, scheduling, storage and analysis.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Literal

from hpsearch.metrics import metric_direction

__all__ = ["TaskInfo", "TaskOption", "TrialResult", "merge_options", "metric_direction"]

Outcome = Literal["completed", "diverged", "error"]


OptionKind = Literal["int", "float", "bool", "str", "path", "int_list"]

# The largest integer an `int` option takes when its task declares no `high`: sizes (units,
# channels, lengths) are checked before a model is built, so `hidden = 100000000000` is bad
# input rather than a 25 TB allocation. A task that needs more declares its own `high`.
INT_OPTION_CEILING = 1 << 20


@dataclass(frozen=True)
class TaskOption:
    """One option of a task (epochs, batch size, hidden size, data directory...)."""

    name: str
    default: Any
    doc: str
    kind: OptionKind = "int"
    low: float | None = None  # inclusive lower bound for int / float / int_list items
    high: float | None = None  # inclusive upper bound (int: at most INT_OPTION_CEILING if None)
    choices: tuple[str, ...] | None = None  # allowed values of a `str` option

    def range_text(self) -> str:
        """The values a number option takes, e.g. `[1, 65536]` ("" for other kinds)."""
        if self.kind not in ("int", "float", "int_list"):
            return ""
        integer = self.kind != "float"
        high = INT_OPTION_CEILING if integer and self.high is None else self.high
        lo = "-inf" if self.low is None else _bound_text(self.low)
        return f"[{lo}, {'inf' if high is None else _bound_text(high)}]"

    def check(self, task: str, value: Any) -> Any:
        """The value normalised to the option's kind, or `UserInputError` naming task and option."""
        from hpsearch.errors import UserInputError

        where = f"Option `{self.name}` of task `{task}`"
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise UserInputError(f"{where} must be true or false, got {value!r}.")
            return value
        if self.kind == "path":
            if value is None:
                return None
            if not isinstance(value, str | PathLike) or not str(value) or "\x00" in str(value):
                raise UserInputError(f"{where} must be a directory path, got {value!r}.")
            # Absolute, because Ray Tune runs trials in their own working directories.
            return os.path.abspath(os.path.expanduser(value))
        if self.kind == "str":
            bad = not isinstance(value, str) or any(ord(c) < 32 or ord(c) == 127 for c in value)
            if bad or (self.choices and value not in self.choices):
                allowed = ", ".join(f"`{c}`" for c in self.choices or ())
                expected = f"one of {allowed}" if allowed else "text without control characters"
                raise UserInputError(f"{where} must be {expected}, got {value!r}.")
            return value
        if self.kind == "int_list":
            if not isinstance(value, list | tuple):
                raise UserInputError(f"{where} must be a list of integers, got {value!r}.")
            return [self._check_number(where, item, integer=True) for item in value]
        return self._check_number(where, value, integer=self.kind == "int")

    def _check_number(self, where: str, value: Any, *, integer: bool) -> int | float:
        from hpsearch.errors import UserInputError

        expected = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserInputError(f"{where} must be {expected}, got {value!r}.")
        if integer and float(value) != int(value):
            raise UserInputError(f"{where} must be {expected}, got {value!r}.")
        if not math.isfinite(value):
            raise UserInputError(f"{where} must be finite, got {value!r}.")
        high = INT_OPTION_CEILING if integer and self.high is None else self.high
        low_ok = self.low is None or value >= self.low
        high_ok = high is None or value <= high
        if not (low_ok and high_ok):
            lo = "-inf" if self.low is None else _bound_text(self.low)
            hi = "inf" if high is None else _bound_text(high)
            bound = " (the bound for an option that declares none)" if high != self.high else ""
            raise UserInputError(
                f"{where} must be {expected} in [{lo}, {hi}]{bound}, got {value!r}."
            )
        return int(value) if integer else float(value)


def _bound_text(bound: float) -> str:
    """`1e-08`, `0.5`, `16384`, `1048576`: whole bounds in full, not as `1.04858e+06`."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


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


def merge_options(info: TaskInfo, options: Mapping[str, Any]) -> dict[str, Any]:
    """Task defaults overlaid with `options` (unknown keys are the caller's to reject)."""
    merged = info.option_defaults()
    merged.update(options)
    return merged
