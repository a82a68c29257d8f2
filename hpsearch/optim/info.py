"""What the registry holds: one frozen record per optimizer, and one per hyperparameter.

Plain data, importable without torch: the CLI catalog, spec validation, reports and plugins all
read these records, and `hpsearch.optim.catalog` writes the built-in ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from hpsearch.errors import UnknownNameError, UserInputError

if TYPE_CHECKING:  # reading the records does not load torch
    import torch

    from hpsearch.optim.stacked import StackedOptimizer

Kind = Literal["float", "int", "bool"]


class StackedFactory(Protocol):
    """Builds the stacked form of an optimizer: stacked weights, hyperparameter -> `[K]` values,
    and whether to step with the one-pass CPU kernels (None: where the weights are on a CPU)."""

    def __call__(
        self,
        params: list[torch.Tensor],
        hyper: dict[str, torch.Tensor],
        *,
        kernels: bool | None = None,
    ) -> StackedOptimizer: ...


@dataclass(frozen=True)
class HyperParameter:
    """One hyperparameter: its default, valid range and natural search scale."""

    name: str
    default: float | bool
    doc: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    log: bool = False  # searched on a log scale (lr, final_lr, gamma, eps)
    kind: Kind = "float"

    def range_text(self) -> str:
        """The valid range in interval notation, e.g. `(0, 1)` or `[0, inf)`."""
        if self.kind == "bool":
            return "true or false"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "[" if self.low is not None and self.low_inclusive else "("
        right = "]" if self.high is not None and self.high_inclusive else ")"
        return f"{left}{lo}, {hi}{right}"

    def check(self, value: Any) -> None:
        """Raise `UserInputError` naming the hyperparameter if `value` is not valid."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise UserInputError(f"`{self.name}` must be true or false, got {value!r}.")
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserInputError(f"`{self.name}` must be a number, got {value!r}.")
        if self.kind == "int" and float(value) != int(value):
            raise UserInputError(f"`{self.name}` must be an integer, got {value!r}.")
        if not math.isfinite(value):
            raise UserInputError(f"`{self.name}` must be finite, got {value!r}.")
        too_low = self.low is not None and (
            value < self.low or (value == self.low and not self.low_inclusive)
        )
        too_high = self.high is not None and (
            value > self.high or (value == self.high and not self.high_inclusive)
        )
        if too_low or too_high:
            raise UserInputError(f"`{self.name}` must be in {self.range_text()}, got {value!r}.")


@dataclass(frozen=True)
class OptimizerInfo:
    """A registered optimizer: how to build it, which hyperparameters it takes, and whether it
    stacks (`stacked`: its population form, `hpsearch.optim.stacked`; None: one cell per trial)."""

    name: str
    description: str
    factory: Callable[..., torch.optim.Optimizer]
    hyperparameters: tuple[HyperParameter, ...]
    fixed: Mapping[str, Any] | None = None  # constructor arguments the entry always passes
    stacked: StackedFactory | None = None

    def hyperparameter(self, name: str) -> HyperParameter:
        for hp in self.hyperparameters:
            if hp.name == name:
                return hp
        raise UnknownNameError(
            f"hyperparameter of `{self.name}`", name, (h.name for h in self.hyperparameters)
        )

    def defaults(self) -> dict[str, float | bool]:
        return {hp.name: hp.default for hp in self.hyperparameters}
