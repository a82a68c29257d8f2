"""Optimizers: our AdaBound family and the registry of everything a study may name.

The registry's facts (names, defaults, valid ranges) import without torch, so the verbs that only
read results (`report`, `dashboard`, ...) do not pay for it; the AdaBound family loads on first
use.
"""

from typing import TYPE_CHECKING, Any

from hpsearch.optim.registry import (
    HyperParameter,
    OptimizerInfo,
    build_optimizer,
    build_stacked_optimizer,
    get_optimizer_info,
    list_optimizers,
    resolve_hyperparameters,
    stacking_optimizers,
)

__all__ = [
    "AMSBound",
    "AdaBound",
    "AdaBoundW",
    "HyperParameter",
    "OptimizerInfo",
    "adabound_update",
    "bound_schedule",
    "build_optimizer",
    "build_stacked_optimizer",
    "get_optimizer_info",
    "list_optimizers",
    "resolve_hyperparameters",
    "stacking_optimizers",
]

if TYPE_CHECKING:
    from hpsearch.optim.adabound import (
        AdaBound,
        AdaBoundW,
        AMSBound,
        adabound_update,
        bound_schedule,
    )

_ADABOUND = {"AMSBound", "AdaBound", "AdaBoundW", "adabound_update", "bound_schedule"}


def __getattr__(name: str) -> Any:
    if name in _ADABOUND:
        from hpsearch.optim import adabound

        return getattr(adabound, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
