"""Optimizers: our AdaBound family and the registry of everything a study may name."""

from hpsearch.optim.adabound import (
    AdaBound,
    AdaBoundW,
    AMSBound,
    adabound_update,
    bound_schedule,
)
from hpsearch.optim.registry import (
    HyperParameter,
    OptimizerInfo,
    build_optimizer,
    get_optimizer_info,
    list_optimizers,
    resolve_hyperparameters,
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
    "get_optimizer_info",
    "list_optimizers",
    "resolve_hyperparameters",
]
