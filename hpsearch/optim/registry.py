"""The optimizer registry: every optimizer a study may name, as data.

Each entry is a frozen record (name, factory, hyperparameters with defaults and valid ranges, and
the stacked form population training uses, if any), so
the CLI catalog, study validation and the tests all read the same facts, and a new optimizer is
covered by every registry-parametrised test automatically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from hpsearch.errors import UnknownNameError, UserInputError

if TYPE_CHECKING:  # reading the registry (names, defaults, ranges) does not load torch
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


_REGISTRY: dict[str, OptimizerInfo] = {}


def register(info: OptimizerInfo, *, replace: bool = False) -> OptimizerInfo:
    """Add `info`; `replace` lets a plugin (`hpsearch.plugins`) be registered again, e.g. by a
    second spec in the same process."""
    if info.name in _REGISTRY and not replace:
        raise ValueError(f"optimizer `{info.name}` is registered twice")
    _REGISTRY[info.name] = info
    return info


def unregister(name: str) -> None:
    """Drop a plugin's entry (built-ins are never dropped by hpsearch itself)."""
    _REGISTRY.pop(name, None)


def find(name: str) -> OptimizerInfo | None:
    """The registry entry for `name`, or None."""
    _load_builtins()
    return _REGISTRY.get(name)


def list_optimizers() -> list[OptimizerInfo]:
    _load_builtins()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_optimizer_info(name: str) -> OptimizerInfo:
    """The registry entry for `name`; an unknown name gets a "did you mean" error."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("optimizer", name, _REGISTRY) from None


def resolve_hyperparameters(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with `values`, each checked against its valid range."""
    info = get_optimizer_info(name)
    resolved = info.defaults()
    for key, value in values.items():
        hp = info.hyperparameter(key)
        hp.check(value)
        resolved[key] = int(value) if hp.kind == "int" else value
    return resolved


def build_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]],
    hyperparameters: Mapping[str, Any],
) -> torch.optim.Optimizer:
    """Construct the registered optimizer `name` over `params` with validated hyperparameters."""
    info = get_optimizer_info(name)
    kwargs = resolve_hyperparameters(name, hyperparameters)
    kwargs.update(info.fixed or {})
    return info.factory(params, **kwargs)


def _load_builtins() -> None:
    # The built-in entries live in `hpsearch.optim.catalog`; importing it registers them once.
    import hpsearch.optim.catalog  # noqa: F401
