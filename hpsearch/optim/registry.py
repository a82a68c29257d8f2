"""The optimizer registry: every optimizer a study may name, as data.

Each entry is a frozen record (`hpsearch.optim.info`: name, factory, hyperparameters with
defaults and valid ranges, and the stacked form population training uses, if any), so the CLI
catalog, study validation and the tests all read the same facts, and a new optimizer is covered
by every registry-parametrised test automatically. The registry starts with the built-in entries
(`hpsearch.optim.catalog`); plugins (`hpsearch.plugins`) add theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.errors import UnknownNameError, UserInputError
from hpsearch.optim.catalog import BUILTINS
from hpsearch.optim.info import HyperParameter, OptimizerInfo, StackedFactory

if TYPE_CHECKING:  # reading the registry (names, defaults, ranges) does not load torch
    import torch

    from hpsearch.optim.stacked import StackedOptimizer

__all__ = [
    "HyperParameter",
    "OptimizerInfo",
    "StackedFactory",
    "build_optimizer",
    "build_stacked_optimizer",
    "find",
    "get_optimizer_info",
    "list_optimizers",
    "register",
    "resolve_hyperparameters",
    "stacking_optimizers",
    "unregister",
]

_REGISTRY: dict[str, OptimizerInfo] = {info.name: info for info in BUILTINS}


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
    return _REGISTRY.get(name)


def list_optimizers() -> list[OptimizerInfo]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_optimizer_info(name: str) -> OptimizerInfo:
    """The registry entry for `name`; an unknown name gets a "did you mean" error."""
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


def stacking_optimizers() -> list[str]:
    """The registered optimizers with a stacked implementation, by name."""
    return [info.name for info in list_optimizers() if info.stacked is not None]


def build_stacked_optimizer(
    name: str,
    params: list[torch.Tensor],
    hyperparameters: Sequence[Mapping[str, Any]],
    *,
    kernels: bool | None = None,
) -> StackedOptimizer:
    """The stacked form of optimizer `name` over `params` (`[K, ...]` each), one member per
    entry of `hyperparameters` (validated against the registry, defaults filled in).
    `kernels`: step with the one-pass CPU kernels (default: where every stack is on a CPU)."""
    import torch

    info = get_optimizer_info(name)
    if info.stacked is None:
        raise UserInputError(
            f"Optimizer `{name}` has no population implementation; use one of "
            f"{', '.join(stacking_optimizers())} or `--population 1`."
        )
    resolved = [resolve_hyperparameters(name, hp) for hp in hyperparameters]
    hyper = {
        key: torch.tensor([float(r[key]) for r in resolved], dtype=torch.float64)
        for key in resolved[0]
    }
    return info.stacked(params, hyper, kernels=kernels)
