"""Optimizers: our AdaBound family and the registry of everything a study may name."""

from hpsearch.optim.registry import (
    HyperParameter,
    OptimizerInfo,
    build_optimizer,
    get_optimizer_info,
    list_optimizers,
    resolve_hyperparameters,
)

__all__ = [
    "HyperParameter",
    "OptimizerInfo",
    "build_optimizer",
    "get_optimizer_info",
    "list_optimizers",
    "resolve_hyperparameters",
]
