"""AdaBound's step over many tensors at once: what one step of a bucket is, and how it runs.

`AdaBound` steps the tensors of a param group that share a step count together (a *bucket*).
Every path here computes the rule of `hpsearch.optim.adabound.adabound_update` with one change:
it clamps the *denominator* instead of the rate (same result up to rounding), so the whole step
makes about as many passes over memory as `torch.optim.Adam(foreach=True)`:

- `foreach_update`: the multi-tensor (`torch._foreach_*`) ops, the default on an accelerator;
- `scratch_update`: one tensor at a time through a reused scratch buffer, the default on CPU
  (bitwise the numbers of `foreach_update`);
- `FlatState`: tensors under `FLAT_MAX_NUMEL` elements keep their state in flat buffers and step
  as a handful of whole-buffer ops (per-tensor dispatch dominates for them).

The compiled path (`hpsearch.optim.fused`) takes the same two records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

# Tensors smaller than this share flat state buffers (see `FlatState`).
FLAT_MAX_NUMEL = 1 << 14

# From this size on, one clamp pass per tensor beats foreach clamp_min_ + clamp_max_ (two passes):
# the Python loop is noise next to the tensor.
_CLAMP_LOOP_NUMEL = 1 << 15


@dataclass(frozen=True)
class BoundedStep:
    """The scalars of one step, shared by every tensor of a bucket: Adam's step size with the
    bias corrections folded in, the rate's bounds, the moment decays, eps, coupled L2
    `weight_decay` and the decoupled `decay` factor the weights are multiplied by (1: none)."""

    step_size: float
    lower: float
    upper: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    decay: float

    def as_tuple(self) -> tuple[float, ...]:
        """The fields in declaration order, as floats (the compiled kernel's one tensor)."""
        return (
            float(self.step_size),
            float(self.lower),
            float(self.upper),
            float(self.beta1),
            float(self.beta2),
            float(self.eps),
            float(self.weight_decay),
            float(self.decay),
        )


@dataclass(frozen=True)
class Bucket:
    """The tensors one step updates, aligned by position: parameters, their gradients and
    moments (`max_exp_avg_sqs` for AMSBound, else None)."""

    params: list[Tensor]
    grads: list[Tensor]
    exp_avgs: list[Tensor]
    exp_avg_sqs: list[Tensor]
    max_exp_avg_sqs: list[Tensor] | None = None

    def subset(self, indices: Sequence[int]) -> Bucket:
        """The same tensors at `indices` only."""

        def pick(tensors: list[Tensor]) -> list[Tensor]:
            return [tensors[i] for i in indices]

        maxes = self.max_exp_avg_sqs
        return Bucket(
            pick(self.params),
            pick(self.grads),
            pick(self.exp_avgs),
            pick(self.exp_avg_sqs),
            None if maxes is None else pick(maxes),
        )


def foreach_update(bucket: Bucket, step: BoundedStep) -> None:
    """The step for many tensors in few full-memory passes of the multi-tensor ops.

    Instead of clamping the rate `s / d` to `[lower, upper]` (which needs a rate buffer and three
    more passes), clamp the denominator `d` to `[s / upper, s / lower]` and let `addcdiv_` apply
    `s * m / d`: equal up to rounding, and no pass more than torch's foreach Adam.
    """
    params, grads = bucket.params, bucket.grads
    if step.weight_decay != 0:
        grads = list(torch._foreach_add(grads, params, alpha=step.weight_decay))
    torch._foreach_lerp_(bucket.exp_avgs, grads, 1 - step.beta1)
    torch._foreach_mul_(bucket.exp_avg_sqs, step.beta2)
    torch._foreach_addcmul_(bucket.exp_avg_sqs, grads, grads, value=1 - step.beta2)
    second = bucket.exp_avg_sqs
    if bucket.max_exp_avg_sqs is not None:
        torch._foreach_maximum_(bucket.max_exp_avg_sqs, bucket.exp_avg_sqs)
        second = bucket.max_exp_avg_sqs
    if step.decay != 1:
        torch._foreach_mul_(params, step.decay)
    if not step.upper > 0:  # final_lr or lr is 0: every rate is clamped to 0
        return
    denom = torch._foreach_sqrt(second)
    torch._foreach_add_(denom, step.eps)
    low_denom = step.step_size / step.upper  # 0 when there is no upper bound
    high_denom = step.step_size / step.lower if step.lower > 0 else math.inf
    if low_denom > 0 and high_denom < math.inf:
        small = []
        for d in denom:
            if d.numel() >= _CLAMP_LOOP_NUMEL:
                d.clamp_(low_denom, high_denom)
            else:
                small.append(d)
        if small:
            torch._foreach_clamp_min_(small, low_denom)
            torch._foreach_clamp_max_(small, high_denom)
    elif low_denom > 0:
        torch._foreach_clamp_min_(denom, low_denom)
    elif high_denom < math.inf:
        torch._foreach_clamp_max_(denom, high_denom)
    torch._foreach_addcdiv_(params, bucket.exp_avgs, denom, value=-step.step_size)


def scratch_update(bucket: Bucket, step: BoundedStep, scratch: Tensor) -> None:
    """`foreach_update` one tensor at a time, with its temporaries in `scratch` (CPU).

    Why: on CPU a foreach op is a loop over the same per-tensor kernels, but `_foreach_sqrt` (and
    the weight-decay add) allocate a new tensor per parameter every step. For a large model those
    are fresh pages from the OS each time: about 19,000 page faults per ResNet-34 step, which cost
    more than the arithmetic (the reference pays the same, twice over). Same ops in the same order
    per tensor, so the numbers are bitwise those of the foreach path. `scratch` holds at least the
    largest tensor's elements (twice that with weight decay); its contents are not kept.
    """
    step_size, lower, upper = step.step_size, step.lower, step.upper
    low_denom = step_size / upper if upper > 0 else 0.0  # 0 when there is no upper bound
    high_denom = step_size / lower if lower > 0 else math.inf
    params = bucket.params
    maxes = bucket.max_exp_avg_sqs if bucket.max_exp_avg_sqs is not None else [None] * len(params)
    for p, grad, exp_avg, exp_avg_sq, max_sq in zip(
        params, bucket.grads, bucket.exp_avgs, bucket.exp_avg_sqs, maxes, strict=True
    ):
        n = p.numel()
        if step.weight_decay != 0:
            grad = torch.add(grad, p, alpha=step.weight_decay, out=scratch[n : 2 * n].view(p.shape))
        exp_avg.lerp_(grad, 1 - step.beta1)
        exp_avg_sq.mul_(step.beta2).addcmul_(grad, grad, value=1 - step.beta2)
        second = exp_avg_sq
        if max_sq is not None:
            second = torch.maximum(max_sq, exp_avg_sq, out=max_sq)
        if step.decay != 1:
            p.mul_(step.decay)
        if not upper > 0:  # final_lr or lr is 0: every rate is clamped to 0
            continue
        denom = torch.sqrt(second, out=scratch[:n].view(p.shape)).add_(step.eps)
        if low_denom > 0 or high_denom < math.inf:
            denom.clamp_(
                low_denom if low_denom > 0 else None, high_denom if high_denom < math.inf else None
            )
        p.addcdiv_(exp_avg, denom, value=-step_size)


class FlatState:
    """Flat moment buffers for a group's small tensors, so the step is a few whole-buffer ops.

    On CPU a foreach op still dispatches one kernel per tensor, which dominates for hundreds of
    tiny tensors (biases, norms). Here each parameter's `exp_avg`/`exp_avg_sq` in optimizer state
    is a *view* into one flat buffer, so `state_dict` and the other paths see ordinary per-parameter
    tensors. Per step: gather the gradients into a flat buffer (one foreach copy), update the
    moments and the rate on the flat buffers, scatter the update with one foreach add.
    """

    def __init__(self, params: list[Tensor], states: list[dict[str, Any]], amsbound: bool) -> None:
        self.params = params
        self.keys = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsbound else [])
        numels = [p.numel() for p in params]
        like = params[0]
        total = sum(numels)

        def flat() -> tuple[Tensor, list[Tensor]]:
            buffer = torch.empty(total, dtype=like.dtype, device=like.device)
            views = [v.view(p.shape) for v, p in zip(buffer.split(numels), params, strict=True)]
            return buffer, views

        self.buffers: dict[str, Tensor] = {}
        self.views: dict[str, list[Tensor]] = {}
        for key in [*self.keys, "grad", "work"]:
            self.buffers[key], self.views[key] = flat()
        for key in self.keys:  # move the current state in, and point the state at the views
            torch._foreach_copy_(self.views[key], [s[key] for s in states])
            for state, view in zip(states, self.views[key], strict=True):
                state[key] = view

    def serves(self, params: list[Tensor], states: list[dict[str, Any]]) -> bool:
        """Whether these buffers still back exactly these parameters' state."""
        return (
            len(params) == len(self.params)
            and all(a is b for a, b in zip(params, self.params, strict=True))
            and all(
                state.get(key) is view
                for key in self.keys
                for state, view in zip(states, self.views[key], strict=True)
            )
        )

    def update(self, step: BoundedStep) -> None:
        """The rule of `foreach_update` on the flat buffers (same rounding: s * (m / d))."""
        grad, work = self.buffers["grad"], self.buffers["work"]
        exp_avg, exp_avg_sq = self.buffers["exp_avg"], self.buffers["exp_avg_sq"]
        torch._foreach_copy_(self.views["grad"], [p.grad for p in self.params])  # type: ignore[misc]
        if step.weight_decay != 0:
            torch._foreach_copy_(self.views["work"], self.params)
            grad.add_(work, alpha=step.weight_decay)
        exp_avg.lerp_(grad, 1 - step.beta1)
        exp_avg_sq.mul_(step.beta2).addcmul_(grad, grad, value=1 - step.beta2)
        second = exp_avg_sq
        if "max_exp_avg_sq" in self.buffers:
            second = torch.maximum(
                self.buffers["max_exp_avg_sq"], exp_avg_sq, out=self.buffers["max_exp_avg_sq"]
            )
        if step.decay != 1:
            torch._foreach_mul_(self.params, step.decay)
        if not step.upper > 0:
            return
        torch.sqrt(second, out=work).add_(step.eps)
        low_denom = step.step_size / step.upper
        high_denom = step.step_size / step.lower if step.lower > 0 else math.inf
        if low_denom > 0 or high_denom < math.inf:
            work.clamp_(
                low_denom if low_denom > 0 else None, high_denom if high_denom < math.inf else None
            )
        torch.div(exp_avg, work, out=work)
        torch._foreach_add_(self.params, self.views["work"], alpha=-step.step_size)
