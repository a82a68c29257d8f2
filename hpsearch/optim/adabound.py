"""AdaBound, AMSBound and AdaBoundW (Luo et al., ICLR 2019), numerically the reference package.

The reference is PyPI `adabound` 0.0.5, whose `AdaBound` class updates each parameter as follows,
with a per-parameter step counter t: coupled L2 (`g + weight_decay * p`), raw moment EMAs, the
denominator `sqrt(v) + eps` (eps outside the square root), Adam's bias correction folded into the
step size and so *inside* the clip, and the step clipped to `[f * (1 - 1 / (gamma * t + 1)),
f * (1 + 1 / (gamma * t))]` with `f = final_lr * lr / initial_lr`. `tests/test_optim.py` checks
our trajectories against that package bit for bit. We keep its trajectory for every argument
and fix its latent bugs:

- the initial lr lives in each param group as `initial_lr` (the key torch LR schedulers use), so it
  is saved in `state_dict`, a resumed run keeps scaling the bounds by `lr / initial_lr`, and groups
  added with `add_param_group` are updated (the reference silently skips them);
- `lr=0` at construction is refused instead of dividing by zero at the first step;
- `gamma=0` means "no upper bound" instead of a `ZeroDivisionError`.

Interchangeable code paths compute the same update:

- `adabound_update`: one tensor at a time, the reference's op order; public, and its
  hyperparameters may be tensors broadcastable against the parameter, so K stacked models can be
  trained at once with per-member hyperparameters (population training reuses exactly this);
- the default, chosen by device and tensor size: the multi-tensor paths of
  `hpsearch.optim.multi_tensor`, which clamp the *denominator* instead of the rate (same result
  up to rounding) so the whole step makes about as many passes over memory as
  `torch.optim.Adam(foreach=True)`: small tensors in flat buffers, larger ones with the foreach
  ops on an accelerator and one at a time through a reused scratch buffer on CPU;
  `foreach=True` forces the foreach ops everywhere;
- `fused=True`: one compiled kernel per large tensor (`hpsearch.optim.fused`), opt-in because
  `torch.compile` costs seconds to minutes of warm-up per process.

`AdaBound.step` buckets a group's tensors by step count, computes each bucket's scalars once (a
`BoundedStep`) and hands the bucket to one of these paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, overload

import numpy as np
import torch
from torch import Tensor

from hpsearch.optim.multi_tensor import (
    FLAT_MAX_NUMEL,
    BoundedStep,
    Bucket,
    FlatState,
    foreach_update,
    scratch_update,
)

Scalar = float | Tensor
Array = np.ndarray


def _sqrt(x: Scalar | Array) -> Scalar | Array:
    if isinstance(x, Tensor):
        return torch.sqrt(x)
    return np.sqrt(x) if isinstance(x, np.ndarray) else math.sqrt(x)


@overload
def bound_schedule(
    step: int,
    *,
    lr: Array,
    final_lr: Array,
    gamma: Array,
    beta1: Array,
    beta2: Array,
    initial_lr: Array | None = None,
) -> tuple[Array, Array, Array]: ...


@overload
def bound_schedule(
    step: int | Tensor,
    *,
    lr: Scalar,
    final_lr: Scalar,
    gamma: Scalar,
    beta1: Scalar,
    beta2: Scalar,
    initial_lr: Scalar | None = None,
) -> tuple[Scalar, Scalar, Scalar]: ...


def bound_schedule(
    step: int | Tensor,
    *,
    lr: Scalar | Array,
    final_lr: Scalar | Array,
    gamma: Scalar | Array,
    beta1: Scalar | Array,
    beta2: Scalar | Array,
    initial_lr: Scalar | Array | None = None,
) -> tuple[Scalar | Array, Scalar | Array, Scalar | Array]:
    """The step size and the lower/upper bounds on the element-wise rate at step `step` (>= 1).

    Returns `(step_size, lower, upper)`: the rate of each element is
    `clamp(step_size / (sqrt(v) + eps), lower, upper)`. Adam's bias correction is folded into
    `step_size`, i.e. inside the clip, as in the reference. The bounds close around
    `final_lr * lr / initial_lr`, so a torch LR scheduler that changes `lr` also moves them.
    Floats give floats; any tensor argument gives broadcast tensors; NumPy arrays give arrays
    (the stacked CPU kernels' schedule: a dozen array ops on `[K]` cost a fraction of torch's).
    """
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr * _sqrt(bias_correction2) / bias_correction1
    # Written as in the reference (final_lr * lr / base_lr) so floats round identically.
    target = final_lr if initial_lr is None else final_lr * lr / initial_lr
    lower = target * (1 - 1 / (gamma * step + 1))
    gamma_step = gamma * step
    upper: Scalar | Array
    if isinstance(gamma_step, Tensor):
        upper = target * (1 + 1 / gamma_step)  # 1/0 is inf for tensors
    elif isinstance(gamma_step, np.ndarray):
        with np.errstate(divide="ignore"):
            upper = target * (1 + 1 / gamma_step)
    else:
        upper = target * (1 + 1 / gamma_step) if gamma_step != 0 else (math.inf if target else 0.0)
    return step_size, lower, upper


def adabound_update(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    *,
    step: int | Tensor,
    lr: Scalar,
    final_lr: Scalar,
    gamma: Scalar,
    beta1: Scalar,
    beta2: Scalar,
    eps: Scalar,
    weight_decay: Scalar = 0.0,
    initial_lr: Scalar | None = None,
    max_exp_avg_sq: Tensor | None = None,
    decoupled_weight_decay: bool = False,
    schedule: tuple[Scalar, Scalar, Scalar] | None = None,
    scratch: Tensor | None = None,
) -> None:
    """One AdaBound step of one tensor, in place on `param`, `exp_avg`, `exp_avg_sq` (and
    `max_exp_avg_sq`, which switches on AMSBound).

    `step` counts this step (1 on the first call). Every hyperparameter may be a Python float or a
    tensor broadcastable against `param`: stacking K models along a leading dimension and passing
    hyperparameters of shape `[K, 1, ...]` gives exactly K independent AdaBound runs in one call.
    `initial_lr` (default: `lr`) is the lr the bounds were set for; the bounds scale by
    `lr / initial_lr`. Weight decay is coupled L2 (added to the gradient), or with
    `decoupled_weight_decay` the AdaBoundW shrink `param *= 1 - weight_decay * lr / initial_lr`.
    The op order is the reference's, so float hyperparameters reproduce it to the last bit.
    `schedule` is this step's `bound_schedule(...)`, for a caller that steps many tensors with the
    same hyperparameters and computes it once. `scratch` (shaped and typed like `param`) holds the
    step's one temporary, the rate, instead of a fresh allocation: a caller stepping many tensors
    reuses one buffer, which stays in cache and is not handed back to the OS between steps.
    """
    step_size, lower, upper = schedule or bound_schedule(
        step,
        lr=lr,
        final_lr=final_lr,
        gamma=gamma,
        beta1=beta1,
        beta2=beta2,
        initial_lr=initial_lr,
    )
    wd_is_tensor = isinstance(weight_decay, Tensor)
    if decoupled_weight_decay:
        if wd_is_tensor or weight_decay != 0:
            lr_scale = 1.0 if initial_lr is None else lr / initial_lr
            param.mul_(1 - weight_decay * lr_scale)
    elif wd_is_tensor:
        grad = grad + weight_decay * param
    elif weight_decay != 0:
        grad = grad.add(param, alpha=float(weight_decay))

    if isinstance(beta1, Tensor):
        exp_avg.mul_(beta1).add_((1 - beta1) * grad)
    else:
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    if isinstance(beta2, Tensor):
        exp_avg_sq.mul_(beta2).add_((1 - beta2) * grad * grad)
    else:
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    second = exp_avg_sq
    if max_exp_avg_sq is not None:
        torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    denom = torch.sqrt(second, out=scratch) if scratch is not None else second.sqrt()
    denom.add_(eps)

    # The reference's full_like(denom, s).div_(denom) in one pass: a float s rounds to denom's
    # dtype. The rate overwrites the denominator (the same division element by element, no second
    # temporary) unless a tensor step size promotes it to a wider dtype.
    if not isinstance(step_size, Tensor):
        step_size = torch.tensor(step_size, dtype=denom.dtype)
    if torch.result_type(step_size, denom) == denom.dtype:
        rate = torch.div(step_size, denom, out=denom)
    else:
        rate = step_size / denom
    if isinstance(lower, Tensor) or isinstance(upper, Tensor):
        # clamp(rate, lower, upper) with broadcast tensor bounds, bit for bit, as max then min:
        # torch's clamp with tensor bounds takes a slow path (4x the time of these two passes).
        torch.maximum(rate, torch.as_tensor(lower), out=rate)
        torch.minimum(rate, torch.as_tensor(upper), out=rate)
    else:
        rate.clamp_(lower, upper)
    param.sub_(rate.mul_(exp_avg))


def _check_hyperparameters(group: dict[str, Any]) -> None:
    """Raise ValueError naming the hyperparameter if a param group's value is out of range."""
    lr, initial_lr = group["lr"], group.get("initial_lr", group["lr"])
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate `lr`={lr}: must be >= 0.")
    if not initial_lr > 0.0:
        raise ValueError(
            f"Invalid initial learning rate `lr`={initial_lr}: AdaBound scales its bounds by "
            "lr / initial lr, so the lr a group starts with must be > 0 (a scheduler may lower it "
            "to 0 later; to freeze parameters, leave them out)."
        )
    betas = group["betas"]
    if len(betas) != 2:
        raise ValueError(f"Invalid `betas`={betas!r}: expected two numbers (beta1, beta2).")
    for index, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta}; must be in [0, 1).")
    if not group["final_lr"] >= 0.0:
        raise ValueError(
            f"Invalid final learning rate `final_lr`={group['final_lr']}: must be >= 0."
        )
    if not 0.0 <= group["gamma"] < 1.0:
        raise ValueError(f"Invalid `gamma`={group['gamma']}: must be in [0, 1).")
    if not group["eps"] >= 0.0:
        raise ValueError(f"Invalid epsilon value `eps`={group['eps']}: must be >= 0.")
    if not group["weight_decay"] >= 0.0:
        raise ValueError(f"Invalid `weight_decay`={group['weight_decay']}: must be >= 0.")


class AdaBound(torch.optim.Optimizer):
    """AdaBound (Luo et al., ICLR 2019): Adam whose element-wise rate is clipped to bounds that
    close around `final_lr`, so training turns into SGD with (dampened) momentum.

    Same trajectory as PyPI `adabound` 0.0.5 for every argument: bias correction inside the clip,
    eps outside the sqrt, coupled L2 `weight_decay`, a per-parameter step counter, bounds scaled
    by `lr / initial_lr` when a scheduler changes lr, `amsbound=True` for AMSBound. Differences
    from the reference are fixes: `initial_lr` is kept per param group (in `state_dict`, and set by
    `add_param_group`), `lr=0` at construction is a ValueError, `gamma=0` means no upper bound.

    With the defaults the late phase is SGD with lr `final_lr * (1 - beta1)` in torch's undampened
    convention (0.01 for `final_lr=0.1`), and `gamma` counts optimizer steps, not epochs.

    `foreach=None` (default) picks the fastest path for the device and tensor size (the module
    docstring says which); `foreach=True` forces the multi-tensor path; `foreach=False` the
    single-tensor reference path (`adabound_update`). `fused=True` compiles one kernel per large
    tensor with `torch.compile` (fastest per step; pays compilation once per process).
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsbound: bool = False,
        *,
        foreach: bool | None = None,
        fused: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            final_lr=final_lr,
            gamma=gamma,
            eps=eps,
            weight_decay=weight_decay,
            amsbound=amsbound,
            foreach=foreach,
            fused=fused,
        )
        self._flat: dict[int, FlatState] = {}
        self._scratch: dict[tuple[torch.dtype, torch.device], Tensor] = {}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; it gets its own `initial_lr` (its lr now) unless it brings one."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        _check_hyperparameters(group)
        group.setdefault("initial_lr", group["lr"])

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._flat = {}  # rebuilt from the (possibly loaded) state at the next step
        self._scratch = {}
        for group in self.param_groups:
            group.setdefault("amsbound", False)
            group.setdefault("foreach", None)
            group.setdefault("fused", False)
            group.setdefault("initial_lr", group["lr"])

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimization step; `closure` re-evaluates the loss (with grad enabled)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            self._step_group(index, group)
        return loss

    def _step_group(self, index: int, group: dict[str, Any]) -> None:
        """Step one param group: each bucket of tensors at one step count by the path its
        options and device choose (the module docstring says which)."""
        buckets = self._buckets(group)
        for step, params in buckets.items():
            if group["foreach"] is False and not group["fused"]:
                self._step_single_tensor(group, step, params)
                continue
            states = [self.state[p] for p in params]  # one lookup each: hashing a tensor costs
            bucket = Bucket(
                params,
                [p.grad for p in params if p.grad is not None],  # all of them: bucketed
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
                [s["max_exp_avg_sq"] for s in states] if group["amsbound"] else None,
            )
            bounded = self._bounded_step(group, step)
            if len(buckets) == 1:
                bucket = self._step_small_flat(index, group["amsbound"], bucket, bounded)
            if not bucket.params:
                continue
            if group["fused"]:
                from hpsearch.optim.fused import fused_update

                fused_update(bucket, bounded)
            elif group["foreach"] is None and _cpu_one_dtype(bucket.params):
                copies = 2 if bounded.weight_decay != 0 else 1
                scratch_update(bucket, bounded, self._scratch_for(bucket.params, copies))
            else:
                foreach_update(bucket, bounded)

    def _buckets(self, group: dict[str, Any]) -> dict[int, list[Tensor]]:
        """The group's parameters with a gradient by their own step count, counting this step
        (the reference's per-parameter counter; normally there is one bucket). Creates the
        state of a parameter's first step."""
        buckets: dict[int, list[Tensor]] = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("AdaBound does not support sparse gradients.")
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsbound"] and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            buckets.setdefault(state["step"], []).append(p)
        return buckets

    def _step_single_tensor(self, group: dict[str, Any], step: int, params: list[Tensor]) -> None:
        """`foreach=False`: the reference's op order, tensor by tensor (`adabound_update`)."""
        beta1, beta2 = group["betas"]
        for p in params:
            state = self.state[p]
            assert p.grad is not None  # bucketed
            adabound_update(
                p,
                p.grad,
                state["exp_avg"],
                state["exp_avg_sq"],
                step=step,
                lr=group["lr"],
                final_lr=group["final_lr"],
                gamma=group["gamma"],
                beta1=beta1,
                beta2=beta2,
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                initial_lr=group["initial_lr"],
                max_exp_avg_sq=state["max_exp_avg_sq"] if group["amsbound"] else None,
                decoupled_weight_decay=self._decoupled,
            )

    def _bounded_step(self, group: dict[str, Any], step: int) -> BoundedStep:
        """The scalars every tensor of the group at step `step` shares."""
        beta1, beta2 = group["betas"]
        step_size, lower, upper = bound_schedule(
            step,
            lr=group["lr"],
            final_lr=group["final_lr"],
            gamma=group["gamma"],
            beta1=beta1,
            beta2=beta2,
            initial_lr=group["initial_lr"],
        )
        weight_decay = group["weight_decay"]
        decay = 1.0
        if self._decoupled:
            decay = 1 - weight_decay * group["lr"] / group["initial_lr"]
            weight_decay = 0.0
        return BoundedStep(
            step_size=float(step_size),
            lower=float(lower),
            upper=float(upper),
            beta1=beta1,
            beta2=beta2,
            eps=group["eps"],
            weight_decay=weight_decay,
            decay=decay,
        )

    def _scratch_for(self, params: list[Tensor], copies: int) -> Tensor:
        """A reused buffer of `copies` x the largest tensor's elements, per dtype and device."""
        first = params[0]
        need = copies * max(p.numel() for p in params)
        key = (first.dtype, first.device)
        buffer = self._scratch.get(key)
        if buffer is None or buffer.numel() < need:
            buffer = self._scratch[key] = torch.empty(need, dtype=first.dtype, device=first.device)
        return buffer

    def _step_small_flat(
        self, index: int, amsbound: bool, bucket: Bucket, step: BoundedStep
    ) -> Bucket:
        """Step the small tensors through flat buffers; return the tensors still to step."""
        params = bucket.params
        small = [i for i, p in enumerate(params) if p.numel() < FLAT_MAX_NUMEL]
        if len(small) < 2:
            return bucket
        first = params[small[0]]
        if any(params[i].dtype != first.dtype or params[i].device != first.device for i in small):
            return bucket
        small_params = [params[i] for i in small]
        states = [self.state[p] for p in small_params]
        flat = self._flat.get(index)
        if flat is None or not flat.serves(small_params, states):
            flat = self._flat[index] = FlatState(small_params, states, amsbound)
        flat.update(step)
        return bucket.subset([i for i, p in enumerate(params) if p.numel() >= FLAT_MAX_NUMEL])


def _cpu_one_dtype(params: list[Tensor]) -> bool:
    first = params[0]
    return all(p.device.type == "cpu" and p.dtype == first.dtype for p in params)


class AMSBound(AdaBound):
    """AMSBound: AdaBound on the running maximum of the second moment (`amsbound=True`)."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        fused: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            final_lr=final_lr,
            gamma=gamma,
            eps=eps,
            weight_decay=weight_decay,
            amsbound=True,
            foreach=foreach,
            fused=fused,
        )


class AdaBoundW(AdaBound):
    """AdaBound with decoupled weight decay: `p <- p * (1 - weight_decay * lr / initial_lr)`.

    The decay is applied to the weights before the bounded step and never enters the moments.
    Why this form: it is the decoupled decay of Loshchilov & Hutter, scaled by the schedule
    multiplier `lr / initial_lr` but not by the Adam lr `lr` itself. Without a scheduler it is
    exactly the reference author's AdaBoundW (GitHub master, never released: `p -= wd * p` each
    step), and like AdamW it follows the schedule, whereas `p * (1 - lr * wd)` (pytorch_optimizer)
    would tie the decay to the Adam-phase lr that AdaBound leaves behind (1e-3 by default).
    Note the per-step shrink is `weight_decay` itself: values around 1e-5 to 1e-4 compare with
    SGD's coupled 5e-4 at lr 0.1. `amsbound=True` combines it with AMSBound.
    """

    _decoupled = True
