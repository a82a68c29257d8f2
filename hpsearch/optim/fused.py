"""The opt-in compiled AdaBound step (`AdaBound(..., fused=True)`).

Why it exists: on large tensors the step is memory-bound, and any sequence of separate tensor ops
reads and writes every element many times (the reference ~28 passes, our foreach path ~18). One
compiled kernel per tensor reads p, g, m, v and writes p, m, v once. `torch.compile` is traced on
flat 1-D views with dynamic sizes, so one compilation serves every large tensor of a dtype; small
tensors, where call overhead dominates, stay on the foreach path. The compilation (tens of seconds
on CPU, see `benchmarks/optim_step.py`) is paid once per process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from hpsearch.optim.adabound import _foreach_update

# Below this many elements a tensor goes through the foreach path: the compiled call's fixed
# overhead (guards, launch) outweighs the passes it saves.
FUSED_MIN_NUMEL = 1 << 13

_compiled: Callable[..., None] | None = None


def _kernel(p: Tensor, g: Tensor, m: Tensor, v: Tensor, vmax: Tensor | None, h: Tensor) -> None:
    # Same rule as `adabound_update`, written as one expression graph so inductor emits a single
    # loop. The hyperparameters come as one tensor `h`, not as floats: floats are specialised into
    # the graph and would recompile every step as the bounds move. Always adding
    # `weight_decay * p` avoids a recompile when it is 0: p is read anyway.
    step_size, lower, upper, beta1, beta2, eps, weight_decay, decay = h.unbind()
    g = g + weight_decay * p
    m_new = torch.lerp(m, g, 1 - beta1)
    v_new = v * beta2 + (1 - beta2) * g * g
    second = v_new
    if vmax is not None:
        second = torch.maximum(vmax, v_new)
        vmax.copy_(second)
    rate = torch.clamp(step_size / (second.sqrt() + eps), lower, upper)
    p.copy_(p * decay - rate * m_new)
    m.copy_(m_new)
    v.copy_(v_new)


def _compiled_kernel() -> Callable[..., None]:
    global _compiled
    if _compiled is None:
        _compiled = torch.compile(_kernel, dynamic=True, fullgraph=True)
    return _compiled


def fused_update(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor] | None,
    **scalars: Any,
) -> None:
    """The foreach step's contract; large contiguous tensors go through the compiled kernel."""
    kernel = _compiled_kernel()
    order = ("step_size", "lower", "upper", "beta1", "beta2", "eps", "weight_decay", "decay")
    packed: dict[tuple[torch.dtype, torch.device], Tensor] = {}
    rest: list[list[Tensor]] = [[], [], [], [], []]
    maxes = max_exp_avg_sqs if max_exp_avg_sqs is not None else [None] * len(params)
    for p, g, m, v, vmax in zip(params, grads, exp_avgs, exp_avg_sqs, maxes, strict=True):
        flat_ok = (
            p.numel() >= FUSED_MIN_NUMEL
            and all(t.is_contiguous() for t in (p, g, m, v) if t is not None)
            and (vmax is None or vmax.is_contiguous())
        )
        if flat_ok:
            key = (p.dtype, p.device)
            if key not in packed:
                packed[key] = torch.tensor(
                    [float(scalars[name]) for name in order], dtype=p.dtype, device=p.device
                )
            kernel(
                p.view(-1),
                g.view(-1),
                m.view(-1),
                v.view(-1),
                None if vmax is None else vmax.view(-1),
                packed[key],
            )
        else:
            for bucket, tensor in zip(rest, (p, g, m, v, vmax), strict=True):
                if tensor is not None:
                    bucket.append(tensor)
    if rest[0]:
        _foreach_update(
            rest[0],
            rest[1],
            rest[2],
            rest[3],
            rest[4] if max_exp_avg_sqs is not None else None,
            **scalars,
        )
