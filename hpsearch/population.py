"""Population training: K cells of one task and optimizer trained at once, as one stacked model.

Sensitivity studies train hundreds of copies of a small model that differ only in hyperparameters
and seed. One at a time, each pays Python and kernel-launch overhead per step while the hardware
idles. Here the K members' weights are stacked along a leading dimension
(`torch.func.stack_module_state`) and one `vmap(functional_call)` runs all K forward and backward
passes (plain MLPs get batched matrix products and a backward pass written out instead); the
optimizers take per-member hyperparameters as tensors of shape `[K, 1, ...]`.

Each member is the cell trained alone, up to float rounding: its weights are drawn after
`torch.manual_seed(seed)` exactly as `hpsearch.tasks.train` draws them, its batches come from its
own `torch.Generator` seeded with its seed, and its metrics and divergence are judged by the same
rules. A member that diverges (a non-finite loss, a blow-up, non-finite weights, chance accuracy)
is recorded as diverged at its epoch and removed from the stack, so it can neither contaminate the
others nor cost compute. Members never mix: nothing in a step reduces across the member dimension
except the sum of independent losses, whose gradient with respect to member i is member i's own.

`epoch_seconds` and `wall_seconds` of a member are the pack's time divided by the members that
shared it: the compute a cell cost, comparable with a cell trained alone.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from hpsearch.errors import UserInputError
from hpsearch.optim import adabound_update, bound_schedule, resolve_hyperparameters
from hpsearch.tasks import models
from hpsearch.tasks.base import TrialResult
from hpsearch.tasks.registry import build_workload, get_task_info, resolve_options
from hpsearch.tasks.train import (
    _INITIAL_TRAIN_EXAMPLES,
    CHANCE_MARGIN,
    _CallbackError,
    _loss_divergence,
    resolve_device,
    training_scope,
)
from hpsearch.tasks.workload import Classification

# Members' metrics after an epoch: member index (into the `members` argument) -> metrics.
OnPopulationEpoch = Callable[[int, dict[int, dict[str, float]]], None]

# Optimizers with a stacked (per-member tensor hyperparameter) implementation here.
POPULATION_OPTIMIZERS = ("adabound", "adaboundw", "adam", "adamw", "amsbound", "amsgrad", "sgd")

# Default pack size caps: enough members to amortise per-step overhead on a CPU core, and to fill
# a GPU with a small model; memory is K times one cell's (weights, moments, one batch).
CPU_POPULATION = 32
GPU_POPULATION = 128
# Evaluation chunk: K members' activations of this many examples stay in cache (with train()'s
# `_EVAL_BATCH` rows, K = 32 evaluation took about 1.5x as long per example on a CPU).
_EVAL_ROWS = 256
# Stacked weights + optimizer state above this many floats per pack fall back to smaller packs.
_MAX_PACK_FLOATS = 64 * 1024 * 1024


# --- which cells may share a pack ----------------------------------------------------------------


def population_unsupported(
    task: str, optimizer: str, options: Mapping[str, Any] | None = None
) -> str | None:
    """Why cells of `task` with `optimizer` cannot share a population, or None if they can."""
    info = get_task_info(task)
    if not info.supports_population:
        return f"task `{task}` does not support population training"
    if optimizer not in POPULATION_OPTIMIZERS:
        return f"optimizer `{optimizer}` has no population implementation"
    resolved = resolve_options(task, options)
    if resolved.get("amp"):
        return "mixed precision (`amp`) is not supported in populations"
    if resolved.get("grad_clip", 0.0):
        return "gradient clipping is not supported in populations"
    return None


def default_population(
    task: str,
    options: Mapping[str, Any] | None,
    *,
    cells: int,
    workers: int,
    gpu: bool = False,
) -> int:
    """The pack size `hpsearch run` uses when `--population` is not given.

    Up to 32 members per CPU trial (128 per GPU trial), but never fewer packs than workers, so a
    short study still uses every core; 1 for tasks that do not support populations.
    """
    info = get_task_info(task)
    if not info.supports_population:
        return 1
    cap = GPU_POPULATION if gpu else CPU_POPULATION
    cap = min(cap, max_population(task, options))
    per_worker = math.ceil(max(cells, 1) / max(workers, 1))
    return max(1, min(cap, per_worker))


def max_population(task: str, options: Mapping[str, Any] | None = None) -> int:
    """The most members whose weights and optimizer state fit the per-pack memory budget."""
    resolved = resolve_options(task, options)
    try:
        workload = build_workload(task, resolved)
    except UserInputError:  # missing data: each cell will report it when it trains
        return GPU_POPULATION
    with torch.random.fork_rng():  # drawing weights must not move the caller's RNG
        model = workload.make_model()
    floats = 5 * sum(p.numel() for p in model.parameters())  # weights, grads, up to 3 moments
    return max(1, _MAX_PACK_FLOATS // max(floats, 1))


# --- stacked optimizers --------------------------------------------------------------------------


Arg = float | Tensor  # a hyperparameter all members share (float), or one per member (`[K]`)


class _Stacked:
    """Per-member hyperparameters as float64 vectors `[K]`.

    A value every member shares is passed to the update as a Python float, which takes torch's
    own scalar code path (same ops, same rounding, fewer passes); a value that differs becomes a
    `[K, 1, ...]` tensor in the parameter's dtype. Schedule arithmetic (bias corrections, step
    sizes) is done in float64 and rounded once, as torch does with a Python float.
    """

    def __init__(self, params: list[Tensor], hyper: dict[str, Tensor]) -> None:
        self.params = params
        self.hyper = hyper
        self.step_count = 0
        self.state: list[dict[str, Tensor]] = [{} for _ in params]
        # Values derived from `hyper` alone, reused every step until `hyper` changes.
        self.derived: dict[Any, Any] = {}

    @staticmethod
    def shared(value: Tensor) -> Arg:
        """A float if every member has the same value, else the `[K]` vector itself."""
        first = value[0]
        return float(first) if bool((value == first).all()) else value

    @staticmethod
    def col(value: Arg, like: Tensor) -> Arg:
        """A float unchanged; a `[K]` vector as `[K, 1, ...]` in `like`'s dtype and device."""
        if not isinstance(value, Tensor):
            return value
        shape = (value.shape[0],) + (1,) * (like.dim() - 1)
        return value.to(dtype=like.dtype, device=like.device).view(shape)

    def args(self, **values: Tensor) -> dict[str, Arg]:
        return {name: self.shared(value) for name, value in values.items()}

    def scale_lr(self, factor: float) -> None:
        self.hyper["lr"] = self.hyper["lr"] * factor
        self.derived.clear()

    def keep(self, index: Tensor, params: list[Tensor]) -> None:
        """Keep only the members at `index` (positions in the current stack)."""
        self.params = params
        self.hyper = {k: v[index.to(v.device)] for k, v in self.hyper.items()}
        self.derived.clear()
        self.state = [{k: v[index] for k, v in s.items()} for s in self.state]

    def step(self) -> None:
        raise NotImplementedError


def _add_scaled(target: Tensor, other: Tensor, scale: Arg) -> Tensor:
    """`target += scale * other` (torch's `add_(other, alpha=scale)` for a float)."""
    if isinstance(scale, Tensor):
        return target.add_(scale * other)
    return target.add_(other, alpha=scale)


def _is_zero(value: Arg) -> bool:
    return not isinstance(value, Tensor) and value == 0


class _StackedAdam(_Stacked):
    """torch.optim.Adam's single-tensor update (its CPU default), op for op, with per-member
    hyperparameters; `amsgrad` and AdamW's decoupled decay as in torch."""

    def __init__(
        self, params: list[Tensor], hyper: dict[str, Tensor], *, amsgrad: bool, decoupled: bool
    ) -> None:
        super().__init__(params, hyper)
        self.amsgrad = amsgrad
        self.decoupled = decoupled

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        h, step = self.hyper, self.step_count
        a = self.args(
            one_minus_beta1=1 - h["beta1"],
            beta2=h["beta2"],
            one_minus_beta2=1 - h["beta2"],
            eps=h["eps"],
            weight_decay=h["weight_decay"],
            decoupled_decay=1 - h["lr"] * h["weight_decay"],
            bias_correction2_sqrt=(1 - h["beta2"] ** step) ** 0.5,
            neg_step_size=-(h["lr"] / (1 - h["beta1"] ** step)),
        )
        for p, state in zip(self.params, self.state, strict=True):
            grad = p.grad
            if grad is None:
                continue
            c = {name: self.col(value, p) for name, value in a.items()}
            if not state:
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
                if self.amsgrad:
                    state["max_exp_avg_sq"] = torch.zeros_like(p)
            if not _is_zero(c["weight_decay"]):
                if self.decoupled:
                    p.mul_(c["decoupled_decay"])
                elif isinstance(c["weight_decay"], Tensor):
                    grad = grad + c["weight_decay"] * p
                else:
                    grad = grad.add(p, alpha=c["weight_decay"])
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, c["one_minus_beta1"])
            exp_avg_sq.mul_(c["beta2"])
            if isinstance(c["one_minus_beta2"], Tensor):
                exp_avg_sq.add_(c["one_minus_beta2"] * grad * grad)  # addcmul's (c * g) * g
            else:
                exp_avg_sq.addcmul_(grad, grad, value=c["one_minus_beta2"])
            second = exp_avg_sq
            if self.amsgrad:
                second = torch.maximum(
                    state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"]
                )
            denom = (second.sqrt() / c["bias_correction2_sqrt"]).add_(c["eps"])
            if isinstance(c["neg_step_size"], Tensor):
                p.add_((exp_avg / denom).mul_(c["neg_step_size"]))  # addcdiv's value * (m / d)
            else:
                p.addcdiv_(exp_avg, denom, value=c["neg_step_size"])


class _StackedSGD(_Stacked):
    """torch.optim.SGD's single-tensor update with per-member lr, momentum, dampening, Nesterov
    and weight decay. A member with momentum 0 is plain SGD, as in torch."""

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        h = self.hyper
        a = self.args(
            weight_decay=h["weight_decay"],
            momentum=h["momentum"],
            one_minus_dampening=1 - h["dampening"],
            nesterov=h["nesterov"],
            neg_lr=-h["lr"],
        )
        momentum_all = bool((h["momentum"] != 0).all())
        for p, state in zip(self.params, self.state, strict=True):
            grad = p.grad
            if grad is None:
                continue
            c = {name: self.col(value, p) for name, value in a.items()}
            if not _is_zero(c["weight_decay"]):
                grad = _add_scaled(grad.clone(), p, c["weight_decay"])
            update = grad
            if not _is_zero(c["momentum"]):
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.detach().clone()
                else:
                    _add_scaled(buf.mul_(c["momentum"]), grad, c["one_minus_dampening"])
                nesterov = c["nesterov"]
                if isinstance(nesterov, Tensor):
                    update = torch.where(
                        nesterov != 0, _add_scaled(grad.clone(), buf, c["momentum"]), buf
                    )
                elif nesterov:
                    update = _add_scaled(grad.clone(), buf, c["momentum"])
                else:
                    update = buf
                if not momentum_all:  # members without momentum take the plain gradient
                    moving = torch.as_tensor(c["momentum"]) != 0
                    update = torch.where(moving, update, grad)
            _add_scaled(p, update, c["neg_lr"])


class _StackedAdaBound(_Stacked):
    """The AdaBound family through `hpsearch.optim.adabound_update` with per-member
    hyperparameters: the same function the single-model reference path uses."""

    def __init__(
        self, params: list[Tensor], hyper: dict[str, Tensor], *, amsbound: bool, decoupled: bool
    ) -> None:
        super().__init__(params, hyper)
        self.initial_lr = hyper["lr"].clone()
        self.amsbound = amsbound
        self.decoupled = decoupled

    def keep(self, index: Tensor, params: list[Tensor]) -> None:
        self.initial_lr = self.initial_lr[index.to(self.initial_lr.device)]
        super().keep(index, params)

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        like = self.params[0]
        if "args" not in self.derived:
            names = ("lr", "final_lr", "gamma", "beta1", "beta2", "eps", "weight_decay")
            a = self.args(initial_lr=self.initial_lr, **{name: self.hyper[name] for name in names})
            # Per-member values in the weights' dtype, as the moments use them, so the bias
            # corrections match the betas the moments decay with; then the bounds once per step.
            self.derived["args"] = {
                k: v.to(device=like.device, dtype=like.dtype) if isinstance(v, Tensor) else v
                for k, v in a.items()
            }
        a = dict(self.derived["args"])
        bounds = bound_schedule(
            self.step_count,
            lr=a["lr"],
            final_lr=a["final_lr"],
            gamma=a["gamma"],
            beta1=a["beta1"],
            beta2=a["beta2"],
            initial_lr=a["initial_lr"],
        )
        schedule_names = ("step_size", "lower", "upper")
        columns: dict[int, dict[str, Arg]] = {}
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            if not state:
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
                if self.amsbound:
                    state["max_exp_avg_sq"] = torch.zeros_like(p)
            if p.dim() not in columns:
                key = ("columns", p.dim())
                if key not in self.derived:
                    self.derived[key] = {name: self.col(value, p) for name, value in a.items()}
                columns[p.dim()] = {
                    **self.derived[key],
                    **{n: self.col(v, p) for n, v in zip(schedule_names, bounds, strict=True)},
                }
            c = dict(columns[p.dim()])
            schedule = (c.pop("step_size"), c.pop("lower"), c.pop("upper"))
            adabound_update(
                p,
                p.grad,
                state["exp_avg"],
                state["exp_avg_sq"],
                step=self.step_count,
                max_exp_avg_sq=state.get("max_exp_avg_sq"),
                decoupled_weight_decay=self.decoupled,
                schedule=schedule,
                **c,  # type: ignore[arg-type]
            )


def _build_stacked_optimizer(
    name: str, params: list[Tensor], hyperparameters: Sequence[Mapping[str, Any]]
) -> _Stacked:
    resolved = [resolve_hyperparameters(name, hp) for hp in hyperparameters]
    hyper = {
        key: torch.tensor([float(r[key]) for r in resolved], dtype=torch.float64)
        for key in resolved[0]
    }
    if name in ("adam", "amsgrad", "adamw"):
        return _StackedAdam(params, hyper, amsgrad=name == "amsgrad", decoupled=name == "adamw")
    if name == "sgd":
        return _StackedSGD(params, hyper)
    if name in ("adabound", "amsbound", "adaboundw"):
        return _StackedAdaBound(
            params, hyper, amsbound=name == "amsbound", decoupled=name == "adaboundw"
        )
    raise UserInputError(
        f"Optimizer `{name}` has no population implementation; use one of "
        f"{', '.join(POPULATION_OPTIMIZERS)} or `--population 1`."
    )


# --- the stacked model -------------------------------------------------------------------------


@dataclass
class _Members:
    """The members still training: their positions in the caller's list, weights, generators."""

    index: list[int]
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    generators: list[torch.Generator]

    def __len__(self) -> int:
        return len(self.index)


@dataclass
class _Net:
    """The members' architecture: a weightless (meta) copy of the model, and the hand-batched
    plan when it is a plain MLP."""

    module: nn.Module
    plan: list[tuple[str, str]] | None

    def train(self) -> None:
        self.module.train()

    def eval(self) -> None:
        self.module.eval()


def _forward(net: _Net, members: _Members, x: Tensor, batched_input: bool) -> Tensor:
    """All members' outputs `[K, B, ...]` for inputs `[K, B, ...]` (or `[B, ...]` shared)."""
    if net.plan is not None:
        if not batched_input:  # one batched product per layer beats broadcasting the input
            x = x.expand(len(members), *x.shape)
        return _forward_mlp(net.plan, members.params, x)
    base = net.module

    def one(params: dict[str, Tensor], buffers: dict[str, Tensor], inputs: Tensor) -> Tensor:
        return functional_call(base, (params, buffers), (inputs,))

    in_dims = (0, 0, 0 if batched_input else None)
    return vmap(one, in_dims=in_dims)(members.params, members.buffers, x)


def _mlp_plan(model: nn.Module) -> list[tuple[str, str]] | None:
    """The layers of a Flatten/Linear/ReLU stack (the MLP tasks) as (kind, name), else None.

    Such stacks get a hand-batched forward (one `baddbmm` per layer with the bias fused) and
    backward (`_mlp_losses_and_gradients`); `vmap(functional_call)` and autograd pay module
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


def _forward_mlp(
    plan: list[tuple[str, str]],
    params: dict[str, Tensor],
    x: Tensor,
    saved: list[Tensor | None] | None = None,
) -> Tensor:
    """The members' outputs `[K, B, classes]` for their inputs `[K, B, ...]`. With `saved`, each
    layer appends what its backward needs: a linear its input, a ReLU its output (else None)."""
    h = x
    owned = False  # h is a layer output no backward needs (may be overwritten), not the input
    for kind, name in plan:
        keep = None
        if kind == "flatten":
            h = h.flatten(2)
        elif kind == "relu":
            h = torch.relu_(h) if owned else torch.relu(h)
            owned = True
            keep = h
        else:
            keep = h
            weight, bias = params[f"{name}.weight"], params[f"{name}.bias"]
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
            owned = True
        if saved is not None:
            saved.append(keep)
    return h


@torch.no_grad()
def _mlp_losses_and_gradients(
    plan: list[tuple[str, str]], params: dict[str, Tensor], x: Tensor, y: Tensor
) -> Tensor:
    """Each member's mean cross-entropy `[K]` on its batch `x` `[K, B, ...]`, `y` `[K, B]`; the
    gradient of each member's loss with respect to its own weights is left in `.grad`.

    The MLP's backward pass written out, because autograd on the stacked graph copies the
    transposed weight gradients and masks ReLUs on strided views; here every `bmm` reads its
    operands where they lie. `tests/test_population.py` holds it to autograd's result through
    the cells trained alone.
    """
    saved: list[Tensor | None] = []
    logits = _forward_mlp(plan, params, x, saved)
    target = y.unsqueeze(-1)
    log_probs = torch.log_softmax(logits, -1)
    losses = log_probs.gather(-1, target).squeeze(-1).mean(1).neg_()
    # d(mean cross-entropy)/d(logits) = (softmax - one_hot(y)) / B
    grad = log_probs.exp_()
    grad.scatter_add_(-1, target, torch.full_like(target, -1, dtype=grad.dtype))
    grad.mul_(1.0 / logits.shape[1])
    first = next(i for i, (kind, _) in enumerate(plan) if kind == "linear")
    for i in range(len(plan) - 1, first - 1, -1):
        kind, name = plan[i]
        if kind == "linear":
            weight, bias = params[f"{name}.weight"], params[f"{name}.bias"]
            layer_input = saved[i]
            assert layer_input is not None  # the forward saves every linear layer's input
            weight.grad = torch.bmm(grad.transpose(1, 2), layer_input)
            bias.grad = grad.sum(1)
            if i > first:
                grad = torch.bmm(grad, weight)
        elif kind == "relu":
            grad = torch.ops.aten.threshold_backward(grad, saved[i], 0)
        # a flatten after the first linear sees `[K, B, features]` already: nothing to undo
    return losses


def _member_losses(logits: Tensor, y: Tensor, reduction: str) -> Tensor:
    """Cross-entropy per member: `[K]` means (`mean`) or sums (`sum`) over each member's batch."""
    count, batch = logits.shape[0], logits.shape[1]
    if y.dim() == 1:
        y = y.expand(count, batch)
    losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(count, batch)
    return losses.mean(1) if reduction == "mean" else losses.sum(1)


@torch.no_grad()
def _evaluate(
    base: _Net,
    members: _Members,
    data: Classification,
    x_all: Tensor,
    y_all: Tensor,
) -> tuple[list[float], list[float]]:
    """Per-member mean loss and accuracy on `x_all`, in chunks of `_EVAL_ROWS` examples."""
    base.eval()
    count = len(members)
    total = torch.zeros(count, dtype=torch.float64, device=x_all.device)
    correct = torch.zeros(count, dtype=torch.int64, device=x_all.device)
    for start in range(0, len(y_all), _EVAL_ROWS):
        x = x_all[start : start + _EVAL_ROWS]
        y = y_all[start : start + _EVAL_ROWS]
        if data.prepare is not None:
            x = data.prepare(x)
        logits = _forward(base, members, x, batched_input=False).float()
        total += _member_losses(logits, y, "sum")
        correct += (logits.argmax(-1) == y).sum(1)
    n = max(len(y_all), 1)
    return (total / n).tolist(), (correct.double() / n).tolist()


def _params_finite(members: _Members) -> list[bool]:
    checks = [torch.isfinite(p).flatten(1).all(1) for p in members.params.values()]
    return torch.stack(checks).all(0).tolist()


def train_population(
    task: str,
    optimizer: str,
    members: Sequence[tuple[Mapping[str, Any], int]],
    *,
    options: Mapping[str, Any] | None = None,
    epochs: int | None = None,
    device: str = "cpu",
    on_epoch: OnPopulationEpoch | None = None,
) -> list[TrialResult]:
    """Train `members` (hyperparameters, seed) of one task and optimizer at once.

    Returns one `TrialResult` per member, in order, as `hpsearch.tasks.train` would for that cell
    alone. `on_epoch(epoch, {member: metrics})` is called after every epoch with the members that
    trained in it (a diverged member's last epoch included; exceptions it raises propagate).
    """
    if not members:
        return []
    reason = population_unsupported(task, optimizer, options)
    if reason is not None:
        raise UserInputError(f"Cannot train a population: {reason}.")
    resolved = resolve_options(task, options, epochs)
    for hyperparameters, _ in members:
        resolve_hyperparameters(optimizer, hyperparameters)  # bad values fail before data loads
    torch_device = resolve_device(device)
    workload = build_workload(task, resolved)
    if not isinstance(workload.data, Classification) or workload.data.augment is not None:
        raise UserInputError(f"Cannot train a population: task `{task}` is not a plain classifier.")

    results = [TrialResult(outcome="completed", device=str(torch_device)) for _ in members]
    started = time.perf_counter()
    try:
        with training_scope(torch_device, resolved["threads"]):
            models = []
            for _, seed in members:  # each member's weights exactly as train() draws them
                torch.manual_seed(seed)
                models.append(workload.make_model().to(torch_device))
            _run(
                task,
                resolved,
                optimizer,
                members,
                models,
                workload.data.to(torch_device),
                on_epoch,
                results,
            )
    except _CallbackError as failure:
        raise failure.original from None
    except Exception as failure:
        message = f"{type(failure).__name__}: {failure}"
        for result in results:
            if result.outcome == "completed" and result.error is None:
                result.outcome, result.error = "error", message
    finally:
        share = (time.perf_counter() - started) / len(members)
        for result in results:
            result.wall_seconds = share
    return results


def _run(
    task: str,
    options: dict[str, Any],
    optimizer_name: str,
    specs: Sequence[tuple[Mapping[str, Any], int]],
    models: list[nn.Module],
    data: Classification,
    on_epoch: OnPopulationEpoch | None,
    results: list[TrialResult],
) -> None:
    info = get_task_info(task)
    params, buffers = stack_module_state(models)  # type: ignore[arg-type]
    base = _Net(copy.deepcopy(models[0]).to("meta"), _mlp_plan(models[0]))
    members = _Members(
        index=list(range(len(specs))),
        params=params,
        buffers=buffers,
        generators=[torch.Generator().manual_seed(seed) for _, seed in specs],
    )
    optimizer = _build_stacked_optimizer(
        optimizer_name, list(params.values()), [hp for hp, _ in specs]
    )
    milestones = sorted(options["lr_decay_epochs"])

    cap = _INITIAL_TRAIN_EXAMPLES
    test_loss, test_accuracy = _evaluate(base, members, data, data.x_test, data.y_test)
    train_loss0, _ = _evaluate(base, members, data, data.x_train[:cap], data.y_train[:cap])
    for i in range(len(specs)):
        results[i].initial = {
            "test_loss": test_loss[i],
            "test_accuracy": test_accuracy[i],
            "train_loss": train_loss0[i],
        }
    initial_loss = train_loss0

    batch_size = options["batch_size"]
    for epoch in range(1, options["epochs"] + 1):
        if not len(members):
            break
        started = time.perf_counter()
        sharing = len(members)
        train_losses, members = _train_epoch(base, members, optimizer, data, batch_size)
        # Members whose loss went non-finite this epoch left the stack already.
        finite = _params_finite(members)
        healthy_positions = [pos for pos, ok in enumerate(finite) if ok]
        metrics_by_member: dict[int, dict[str, float]] = {}
        if healthy_positions:
            healthy = _select(members, optimizer, healthy_positions)
            losses, accuracies = _evaluate(base, healthy, data, data.x_test, data.y_test)
            for pos, member in enumerate(healthy.index):
                metrics_by_member[member] = {
                    "train_loss": train_losses[member],
                    "test_loss": losses[pos],
                    "test_accuracy": accuracies[pos],
                }
        for member, loss in train_losses.items():
            if member not in metrics_by_member:  # evaluating a broken network measures nothing
                metrics_by_member[member] = {
                    "train_loss": loss,
                    "test_loss": math.nan,
                    "test_accuracy": math.nan,
                }
        seconds = (time.perf_counter() - started) / sharing
        for member in sorted(metrics_by_member):
            metrics_by_member[member]["epoch_seconds"] = seconds
            results[member].epochs.append(metrics_by_member[member])
            results[member].final = metrics_by_member[member]
        if on_epoch is not None:
            try:
                on_epoch(epoch, {m: dict(v) for m, v in sorted(metrics_by_member.items())})
            except Exception as failure:
                raise _CallbackError(failure) from failure
        still: list[int] = []
        for pos, member in enumerate(members.index):
            metrics = metrics_by_member[member]
            ok = finite[pos] and math.isfinite(metrics["train_loss"])
            reason = _loss_divergence(metrics, initial_loss[member], ok)
            if reason is None:
                still.append(pos)
            else:
                _diverge(results[member], epoch, reason)
        for member in train_losses:  # those that left mid-epoch
            if member not in members.index:
                reason = _loss_divergence(metrics_by_member[member], initial_loss[member], False)
                _diverge(results[member], epoch, reason or "non-finite train_loss")
        if len(still) < len(members):
            members = _select(members, optimizer, still, in_place=True)
        if epoch in milestones:
            optimizer.scale_lr(options["lr_decay_factor"] ** milestones.count(epoch))
    if info.num_classes is not None:
        chance = 1.0 / info.num_classes
        for member in members.index:
            result = results[member]
            accuracy = result.final.get("test_accuracy", math.nan)
            if accuracy <= chance + CHANCE_MARGIN:
                result.outcome, result.diverged_epoch = "diverged", len(result.epochs)
                result.divergence_reason = (
                    f"final test_accuracy {accuracy:.4f} is within {CHANCE_MARGIN:g} of chance "
                    f"({chance:.4f})"
                )


def _diverge(result: TrialResult, epoch: int, reason: str) -> None:
    result.outcome, result.diverged_epoch, result.divergence_reason = "diverged", epoch, reason


def _select(
    members: _Members, optimizer: _Stacked, positions: list[int], *, in_place: bool = False
) -> _Members:
    """The members at `positions`; with `in_place`, the optimizer keeps only them too."""
    if len(positions) == len(members):
        return members
    device = next(iter(members.params.values())).device
    index = torch.tensor(positions, dtype=torch.long, device=device)
    params = {
        k: v.detach()[index].requires_grad_(v.requires_grad) for k, v in members.params.items()
    }
    buffers = {k: v[index] for k, v in members.buffers.items()}
    chosen = _Members(
        index=[members.index[p] for p in positions],
        params=params,
        buffers=buffers,
        generators=[members.generators[p] for p in positions],
    )
    if in_place:
        optimizer.keep(index, list(params.values()))
    return chosen


def _train_epoch(
    base: _Net,
    members: _Members,
    optimizer: _Stacked,
    data: Classification,
    batch_size: int,
) -> tuple[dict[int, float], _Members]:
    """One epoch for every member; a member whose loss turns non-finite stops there (its epoch
    loss is that value, as in `train()`) and leaves the stack. Returns losses by member."""
    base.train()
    count = len(data.y_train)
    device = data.x_train.device
    orders = torch.stack([torch.randperm(count, generator=g) for g in members.generators])
    orders = orders.to(device)
    totals = [0.0] * len(members)
    losses_out: dict[int, float] = {}
    for start in range(0, count, batch_size):
        index = orders[:, start : start + batch_size]
        x = data.x_train[index]
        if data.prepare is not None:
            x = data.prepare(x)
        if base.plan is not None:
            losses = _mlp_losses_and_gradients(base.plan, members.params, x, data.y_train[index])
        else:
            logits = _forward(base, members, x, batched_input=True)
            losses = _member_losses(logits, data.y_train[index], "mean")
            for p in optimizer.params:
                p.grad = None
            losses.sum().backward()
        optimizer.step()
        values = losses.tolist()
        length = index.shape[1]
        bad = [pos for pos, v in enumerate(values) if not math.isfinite(v)]
        for pos, value in enumerate(values):
            totals[pos] += value * length
        if bad:
            for pos in bad:
                losses_out[members.index[pos]] = values[pos]
            keep = [pos for pos in range(len(members)) if pos not in bad]
            totals = [totals[pos] for pos in keep]
            orders = orders[keep]
            members = _select(members, optimizer, keep, in_place=True)
            if not len(members):
                return losses_out, members
    for pos, member in enumerate(members.index):
        losses_out[member] = totals[pos] / count
    return losses_out, members
