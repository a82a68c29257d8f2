"""Population training: K cells of one task and optimizer trained at once, as one stacked model.

Sensitivity studies train hundreds of copies of a small model that differ only in hyperparameters
and seed. One at a time, each pays Python and kernel-launch overhead per step while the hardware
idles. Here the K members' weights are stacked (`hpsearch.tasks.stacking`) and stepped by the
stacked form of their optimizer (`hpsearch.optim.stacked`), with per-member hyperparameters.

Each member is the cell trained alone, up to float rounding: its weights are drawn after
`torch.manual_seed(seed)` exactly as `hpsearch.tasks.train` draws them, its batches come from its
own `torch.Generator` seeded with its seed, and its metrics and divergence are judged by the same
rules (`hpsearch.tasks.divergence`). A member that diverges (a non-finite loss, a blow-up,
non-finite weights, chance accuracy) is recorded as diverged at its epoch and removed from the
stack, so it can neither contaminate the others nor cost compute.

`epoch_seconds` and `wall_seconds` of a member are the pack's time divided by the members that
shared it: the compute a cell cost, comparable with a cell trained alone.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import stack_module_state

from hpsearch.errors import UserInputError
from hpsearch.optim import build_stacked_optimizer, get_optimizer_info, resolve_hyperparameters
from hpsearch.optim.stacked import StackedOptimizer
from hpsearch.tasks.base import TrialResult
from hpsearch.tasks.divergence import (
    INITIAL_TRAIN_EXAMPLES,
    chance_divergence,
    loss_divergence,
    record_divergence,
)
from hpsearch.tasks.registry import build_workload, get_task_info, resolve_options
from hpsearch.tasks.stacking import (
    Members,
    StackedNet,
    forward_members,
    member_losses,
    mlp_losses_and_gradients,
    mlp_plan,
    params_finite,
    select_members,
)
from hpsearch.tasks.train import CallbackError, resolve_device, training_scope
from hpsearch.tasks.workload import Classification

# Members' metrics after an epoch: member index (into the `members` argument) -> metrics.
OnPopulationEpoch = Callable[[int, dict[int, dict[str, float]]], None]

# Evaluation chunk: K members' activations of this many examples stay in cache (with train()'s
# 1024-row evaluation batches, K = 32 evaluation took about 1.5x as long per example on a CPU).
_EVAL_ROWS = 256


def population_unsupported(
    task: str, optimizer: str, options: Mapping[str, Any] | None = None
) -> str | None:
    """Why cells of `task` with `optimizer` cannot share a population, or None if they can:
    the task's and the optimizer's registry entries say whether they stack."""
    info = get_task_info(task)
    if not info.supports_population:
        return f"task `{task}` does not support population training"
    if get_optimizer_info(optimizer).stacked is None:
        return f"optimizer `{optimizer}` has no population implementation"
    resolved = resolve_options(task, options)
    if resolved.get("amp"):
        return "mixed precision (`amp`) is not supported in populations"
    if resolved.get("grad_clip", 0.0):
        return "gradient clipping is not supported in populations"
    return None


@torch.no_grad()
def _evaluate(
    base: StackedNet,
    members: Members,
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
        logits = forward_members(base, members, x, batched_input=False).float()
        total += member_losses(logits, y, "sum")
        # max's indices follow argmax's rule (the first maximum; NaN counts as one) and took a
        # fifth of its time on `[K, rows, classes]`
        correct += (logits.max(-1).indices == y).sum(1)
    n = max(len(y_all), 1)
    return (total / n).tolist(), (correct.double() / n).tolist()


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
    except CallbackError as failure:
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
    base = StackedNet(copy.deepcopy(models[0]).to("meta"), mlp_plan(models[0]))
    members = Members(
        index=list(range(len(specs))),
        params=params,
        buffers=buffers,
        generators=[torch.Generator().manual_seed(seed) for _, seed in specs],
    )
    optimizer = build_stacked_optimizer(
        optimizer_name, list(params.values()), [hp for hp, _ in specs]
    )
    milestones = sorted(options["lr_decay_epochs"])

    cap = INITIAL_TRAIN_EXAMPLES
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
        finite = params_finite(members)
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
                raise CallbackError(failure) from failure
        still: list[int] = []
        for pos, member in enumerate(members.index):
            metrics = metrics_by_member[member]
            ok = finite[pos] and math.isfinite(metrics["train_loss"])
            reason = loss_divergence(metrics, initial_loss[member], ok)
            if reason is None:
                still.append(pos)
            else:
                record_divergence(results[member], epoch, reason)
        for member in train_losses:  # those that left mid-epoch
            if member not in members.index:
                reason = loss_divergence(metrics_by_member[member], initial_loss[member], False)
                record_divergence(results[member], epoch, reason or "non-finite train_loss")
        if len(still) < len(members):
            members = _select(members, optimizer, still, in_place=True)
        if epoch in milestones:
            optimizer.scale_lr(options["lr_decay_factor"] ** milestones.count(epoch))
    for member in members.index:
        result = results[member]
        reason = chance_divergence(info, result.final)
        if reason is not None:
            record_divergence(result, len(result.epochs), reason)


def _select(
    members: Members, optimizer: StackedOptimizer, positions: list[int], *, in_place: bool = False
) -> Members:
    """The members at `positions`; with `in_place`, the optimizer keeps only them too."""
    if len(positions) == len(members):
        return members
    device = next(iter(members.params.values())).device
    index = torch.tensor(positions, dtype=torch.long, device=device)
    chosen = select_members(members, index)
    if in_place:
        optimizer.keep(index, list(chosen.params.values()))
    return chosen


def _train_epoch(
    base: StackedNet,
    members: Members,
    optimizer: StackedOptimizer,
    data: Classification,
    batch_size: int,
) -> tuple[dict[int, float], Members]:
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
            losses = mlp_losses_and_gradients(base.plan, members.params, x, data.y_train[index])
        else:
            logits = forward_members(base, members, x, batched_input=True)
            losses = member_losses(logits, data.y_train[index], "mean")
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
