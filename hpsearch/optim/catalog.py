"""The built-in registry entries: variants are data, one record each (`BUILTINS`, what the
registry starts with).

Classes are named here, imported when an optimizer is built: reading the entries (a report's
defaults, a spec's validation) must not load torch and the stacked kernels.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any

from hpsearch.optim.info import HyperParameter, OptimizerInfo


def _deferred(module: str, name: str) -> Callable[..., Any]:
    """`module.name(...)`, importing `module` at the first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


_Adam, _AdamW, _SGD, _Adagrad = (
    _deferred("torch.optim", name) for name in ("Adam", "AdamW", "SGD", "Adagrad")
)
_AdaBound, _AdaBoundW = (_deferred("hpsearch.optim.adabound", n) for n in ("AdaBound", "AdaBoundW"))
_StackedAdam, _StackedSGD, _StackedAdaBound = (
    _deferred("hpsearch.optim.stacked", n) for n in ("StackedAdam", "StackedSGD", "StackedAdaBound")
)


def _lr(default: float) -> HyperParameter:
    return HyperParameter(
        "lr", default, "step size (alpha)", low=0.0, low_inclusive=False, log=True
    )


_BETA1 = HyperParameter("beta1", 0.9, "first-moment decay", low=0.0, high=1.0, high_inclusive=False)
_BETA2 = HyperParameter(
    "beta2", 0.999, "second-moment decay", low=0.0, high=1.0, high_inclusive=False
)
_EPS = HyperParameter("eps", 1e-8, "denominator offset", low=0.0, log=True)
_WD = HyperParameter("weight_decay", 0.0, "L2 penalty", low=0.0)


def _with_betas(factory: Any, params: Any, beta1: float, beta2: float, **kwargs: Any) -> Any:
    # Flat hyperparameter names (beta1, beta2) are what specs, Optuna and CSV use; torch wants a
    # tuple.
    return factory(params, betas=(beta1, beta2), **kwargs)


ADAM = OptimizerInfo(
    name="adam",
    description="Adam (Kingma & Ba), torch.optim.Adam",
    factory=partial(_with_betas, _Adam),
    hyperparameters=(_lr(1e-3), _BETA1, _BETA2, _EPS, _WD),
    stacked=partial(_StackedAdam, amsgrad=False, decoupled=False),
)
AMSGRAD = OptimizerInfo(
    name="amsgrad",
    description="AMSGrad (Reddi et al.), torch.optim.Adam(amsgrad=True)",
    factory=partial(_with_betas, _Adam),
    hyperparameters=(_lr(1e-3), _BETA1, _BETA2, _EPS, _WD),
    fixed={"amsgrad": True},
    stacked=partial(_StackedAdam, amsgrad=True, decoupled=False),
)
ADAMW = OptimizerInfo(
    name="adamw",
    description="AdamW (Loshchilov & Hutter), decoupled weight decay, torch.optim.AdamW",
    factory=partial(_with_betas, _AdamW),
    hyperparameters=(
        _lr(1e-3),
        _BETA1,
        _BETA2,
        _EPS,
        HyperParameter("weight_decay", 1e-2, "decoupled decay", low=0.0),
    ),
    stacked=partial(_StackedAdam, amsgrad=False, decoupled=True),
)
SGD = OptimizerInfo(
    name="sgd",
    description="SGD with (optionally Nesterov) momentum, torch.optim.SGD",
    factory=_SGD,
    hyperparameters=(
        _lr(0.1),
        HyperParameter("momentum", 0.9, "momentum factor", low=0.0, high=1.0, high_inclusive=False),
        HyperParameter("dampening", 0.0, "momentum dampening", low=0.0, high=1.0),
        HyperParameter("nesterov", False, "Nesterov momentum", kind="bool"),
        _WD,
    ),
    stacked=_StackedSGD,
)
ADAGRAD = OptimizerInfo(
    name="adagrad",
    description="Adagrad (Duchi et al.), torch.optim.Adagrad",
    factory=_Adagrad,
    hyperparameters=(
        _lr(1e-2),
        HyperParameter("eps", 1e-10, "denominator offset", low=0.0, log=True),
        _WD,
    ),
)


# AdaBound family: our implementation (hpsearch.optim.adabound), reference semantics.
_FINAL_LR = HyperParameter(
    "final_lr",
    0.1,
    "final (SGD-phase) step size the bounds close on",
    low=0.0,
    low_inclusive=False,
    log=True,
)
_GAMMA = HyperParameter(
    "gamma",
    1e-3,
    "convergence speed of the bounds, per optimizer step",
    low=0.0,
    high=1.0,
    low_inclusive=False,
    high_inclusive=False,
    log=True,
)
_ADABOUND_HPS = (_lr(1e-3), _FINAL_LR, _GAMMA, _BETA1, _BETA2, _EPS, _WD)

ADABOUND = OptimizerInfo(
    name="adabound",
    description="AdaBound (Luo et al. 2019), Adam clipped into bounds closing on final_lr",
    factory=partial(_with_betas, _AdaBound),
    hyperparameters=_ADABOUND_HPS,
    stacked=partial(_StackedAdaBound, amsbound=False, decoupled=False),
)
AMSBOUND = OptimizerInfo(
    name="amsbound",
    description="AMSBound (Luo et al. 2019), AdaBound on the running max of the second moment",
    factory=partial(_with_betas, _AdaBound),
    hyperparameters=_ADABOUND_HPS,
    fixed={"amsbound": True},
    stacked=partial(_StackedAdaBound, amsbound=True, decoupled=False),
)
ADABOUNDW = OptimizerInfo(
    name="adaboundw",
    description="AdaBoundW, AdaBound with decoupled decay p *= 1 - weight_decay*lr/initial_lr",
    factory=partial(_with_betas, _AdaBoundW),
    hyperparameters=(
        *_ADABOUND_HPS[:-1],
        HyperParameter("weight_decay", 0.0, "decoupled decay per step", low=0.0),
    ),
    stacked=partial(_StackedAdaBound, amsbound=False, decoupled=True),
)

BUILTINS = (ADAM, AMSGRAD, ADAMW, SGD, ADAGRAD, ADABOUND, AMSBOUND, ADABOUNDW)
