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

import torch
from torch import Tensor

from hpsearch.optim.multi_tensor import BoundedStep, Bucket, foreach_update

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


def fused_update(bucket: Bucket, step: BoundedStep) -> None:
    """`foreach_update`'s contract; large contiguous tensors go through the compiled kernel."""
    kernel = _compiled_kernel()
    packed: dict[tuple[torch.dtype, torch.device], Tensor] = {}
    rest: list[int] = []
    maxes = bucket.max_exp_avg_sqs
    for i, (p, g, m, v) in enumerate(
        zip(bucket.params, bucket.grads, bucket.exp_avgs, bucket.exp_avg_sqs, strict=True)
    ):
        vmax = None if maxes is None else maxes[i]
        flat_ok = (
            p.numel() >= FUSED_MIN_NUMEL
            and all(t.is_contiguous() for t in (p, g, m, v))
            and (vmax is None or vmax.is_contiguous())
        )
        if not flat_ok:
            rest.append(i)
            continue
        key = (p.dtype, p.device)
        if key not in packed:
            packed[key] = torch.tensor(step.as_tuple(), dtype=p.dtype, device=p.device)
        kernel(
            p.view(-1),
            g.view(-1),
            m.view(-1),
            v.view(-1),
            None if vmax is None else vmax.view(-1),
            packed[key],
        )
    if rest:
        foreach_update(bucket.subset(rest), step)
