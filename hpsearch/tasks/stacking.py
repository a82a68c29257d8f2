"""The stacked model: K members of one architecture as one set of `[K, ...]` weights.

`torch.func.stack_module_state` stacks the members' weights and one `vmap(functional_call)` runs
all K forward passes, autograd the backward. Plain MLPs (`models.MLP`) get a plan instead: one
batched matrix product per layer forward, and their backward written out
(`mlp_losses_and_gradients`), which the loop in `hpsearch.tasks.population` uses for training.
Nothing here reduces across the member dimension except a sum of independent losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from hpsearch.tasks import models


@dataclass
class Members:
    """The members still training: their positions in the caller's list, weights, generators."""

    index: list[int]
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    generators: list[torch.Generator]

    def __len__(self) -> int:
        return len(self.index)


@dataclass
class StackedNet:
    """The members' architecture: a weightless (meta) copy of the model, and the hand-batched
    plan when it is a plain MLP."""

    module: nn.Module
    plan: list[tuple[str, str]] | None

    def train(self) -> None:
        self.module.train()

    def eval(self) -> None:
        self.module.eval()


def forward_members(net: StackedNet, members: Members, x: Tensor, batched_input: bool) -> Tensor:
    """All members' outputs `[K, B, ...]` for inputs `[K, B, ...]` (or `[B, ...]` shared)."""
    if net.plan is not None:
        if not batched_input:  # one batched product per layer beats broadcasting the input
            x = x.expand(len(members), *x.shape)
        return forward_mlp(net.plan, members.params, x)
    base = net.module

    def one(params: dict[str, Tensor], buffers: dict[str, Tensor], inputs: Tensor) -> Tensor:
        return functional_call(base, (params, buffers), (inputs,))

    in_dims = (0, 0, 0 if batched_input else None)
    return vmap(one, in_dims=in_dims)(members.params, members.buffers, x)


def mlp_plan(model: nn.Module) -> list[tuple[str, str]] | None:
    """The layers of a Flatten/Linear/ReLU stack (the MLP tasks) as (kind, name), else None.

    Such stacks get a hand-batched forward (one `baddbmm` per layer with the bias fused) and
    backward (`mlp_losses_and_gradients`); `vmap(functional_call)` and autograd pay module
    bookkeeping per call, a separate bias pass and copies of transposed gradients. Anything
    else goes through vmap.
    """
    # Only a model whose forward is exactly its modules in registration order qualifies.
    if type(model).forward is not models.MLP.forward:
        return None
    plan: list[tuple[str, str]] = []
    for name, module in model.named_modules():
        if name == "" or isinstance(module, nn.Sequential):
            continue
        if isinstance(module, nn.Linear) and module.bias is not None:
            plan.append(("linear", name))
        elif isinstance(module, nn.ReLU):
            plan.append(("relu", name))
        elif isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
            plan.append(("flatten", name))
        else:
            return None
    return plan


def forward_mlp(
    plan: list[tuple[str, str]],
    params: dict[str, Tensor],
    x: Tensor,
    saved: list[Tensor | None] | None = None,
) -> Tensor:
    """The members' outputs `[K, B, classes]` for their inputs `[K, B, ...]`. With `saved`, each
    layer appends what its backward needs: a linear its input, a ReLU its output (else None),
    as columns `[K, features, B]`.

    Activations travel as columns, so each layer is `W @ h + b` with neither operand
    transposed: on a CPU that product is about a third faster than `h @ W.T` for these shapes,
    and the bias is added along the columns.
    """
    h = x.flatten(2).transpose(1, 2)  # a Flatten layer then has nothing left to do
    owned = False  # h is a layer output no backward needs (may be overwritten), not the input
    for kind, name in plan:
        keep = None
        if kind == "relu":
            h = torch.relu_(h) if owned else torch.relu(h)
            owned = True
            keep = h
        elif kind == "linear":
            keep = h
            weight, bias = params[f"{name}.weight"], params[f"{name}.bias"]
            h = torch.baddbmm(bias.unsqueeze(2), weight, h)
            owned = True
        if saved is not None:
            saved.append(keep)
    return h.transpose(1, 2)


@torch.no_grad()
def mlp_losses_and_gradients(
    plan: list[tuple[str, str]], params: dict[str, Tensor], x: Tensor, y: Tensor
) -> Tensor:
    """Each member's mean cross-entropy `[K]` on its batch `x` `[K, B, ...]`, `y` `[K, B]`; the
    gradient of each member's loss with respect to its own weights is left in `.grad`.

    The MLP's backward pass written out, because autograd on the stacked graph copies the
    transposed weight gradients and masks ReLUs on strided views; here every `bmm` reads its
    operands where they lie, in `forward_mlp`'s column layout. `tests/test_population.py` holds
    it to autograd's result through the cells trained alone.
    """
    saved: list[Tensor | None] = []
    logits = forward_mlp(plan, params, x, saved)
    target = y.unsqueeze(-1)
    log_probs = log_softmax(logits)
    losses = log_probs.gather(-1, target).squeeze(-1).mean(1).neg_()
    # d(mean cross-entropy)/d(logits) = (softmax - one_hot(y)) / B, as columns
    grad = log_probs.exp_()
    grad.scatter_add_(-1, target, torch.full_like(target, -1, dtype=grad.dtype))
    grad = grad.mul_(1.0 / logits.shape[1]).transpose(1, 2)
    first = next(i for i, (kind, _) in enumerate(plan) if kind == "linear")
    for i in range(len(plan) - 1, first - 1, -1):
        kind, name = plan[i]
        if kind == "linear":
            weight, bias = params[f"{name}.weight"], params[f"{name}.bias"]
            layer_input = saved[i]
            assert layer_input is not None  # the forward saves every linear layer's input
            # Into last step's gradient buffers where they exist (the same products and sums):
            # a fresh weight gradient per step costs page faults and a cold cache.
            if weight.grad is None or bias.grad is None:
                weight.grad = torch.bmm(grad, layer_input.transpose(1, 2))
                bias.grad = grad.sum(2)
            else:
                torch.bmm(grad, layer_input.transpose(1, 2), out=weight.grad)
                torch.sum(grad, 2, out=bias.grad)
            if i > first:
                grad = torch.bmm(weight.transpose(1, 2), grad)
        elif kind == "relu":
            grad = torch.ops.aten.threshold_backward(grad, saved[i], 0)
    return losses


def log_softmax(logits: Tensor) -> Tensor:
    """`log_softmax` over the last dimension, as `logits - logsumexp(logits)`: the same value up
    to rounding, but torch's CPU `log_softmax` over a dimension of 10 classes takes 4x as long
    (it was 13 % of a pack's forward and backward)."""
    return logits - torch.logsumexp(logits, -1, keepdim=True)


def member_losses(logits: Tensor, y: Tensor, reduction: str) -> Tensor:
    """Cross-entropy per member: `[K]` means (`mean`) or sums (`sum`) over each member's batch."""
    count, batch = logits.shape[0], logits.shape[1]
    if y.dim() == 1:
        y = y.expand(count, batch)
    losses = log_softmax(logits).gather(-1, y.unsqueeze(-1)).squeeze(-1).neg_()
    return losses.mean(1) if reduction == "mean" else losses.sum(1)


def params_finite(members: Members) -> list[bool]:
    """Per member: are all its weights finite."""
    checks = [torch.isfinite(p).flatten(1).all(1) for p in members.params.values()]
    return torch.stack(checks).all(0).tolist()


def select_members(members: Members, index: Tensor) -> Members:
    """The members at positions `index` (a long tensor on the weights' device), as a new stack."""
    params = {
        k: v.detach()[index].requires_grad_(v.requires_grad) for k, v in members.params.items()
    }
    buffers = {k: v[index] for k, v in members.buffers.items()}
    positions = index.tolist()
    return Members(
        index=[members.index[p] for p in positions],
        params=params,
        buffers=buffers,
        generators=[members.generators[p] for p in positions],
    )
