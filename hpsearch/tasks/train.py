"""The trial runner: train one (task, optimizer, hyperparameters, seed) cell and judge divergence.

Bad input (options, hyperparameters, data directories, device) raises `UserInputError` before any
step. Once training starts, `train` never raises for a training failure: a blow-up is the outcome
"diverged" (data), an exception is the outcome "error" (with its message). Exceptions raised by
the caller's `on_epoch` callback propagate unchanged, so a scheduler can still stop a trial.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hpsearch.errors import UserInputError
from hpsearch.optim import build_optimizer, resolve_hyperparameters
from hpsearch.tasks.base import TaskInfo, TrialResult
from hpsearch.tasks.divergence import (
    INITIAL_TRAIN_EXAMPLES,
    INITIAL_TRAIN_TOKENS,
    chance_divergence,
    loss_divergence,
    record_divergence,
)
from hpsearch.tasks.registry import build_workload, get_task_info, resolve_options
from hpsearch.tasks.workload import Classification, Supervised, Tokens, check_model_size

OnEpoch = Callable[[int, dict[str, float]], None]

_EVAL_BATCH = 1024
_LM_EVAL_COLUMNS = 32  # parallel streams when evaluating: the LSTM steps through each in order


class CallbackError(Exception):
    """Carries an exception out of `on_epoch` past the training-failure handler (of this loop
    and the population's): the caller re-raises `original`."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


def train(
    task: str,
    optimizer: str,
    hyperparameters: Mapping[str, Any],
    seed: int,
    *,
    options: Mapping[str, Any] | None = None,
    epochs: int | None = None,
    device: str = "cpu",
    on_epoch: OnEpoch | None = None,
) -> TrialResult:
    """Train one cell; metrics go to `on_epoch(epoch, metrics)` after every epoch (from 1)."""
    info = get_task_info(task)
    resolved = resolve_options(task, options, epochs)
    resolve_hyperparameters(optimizer, hyperparameters)  # bad values fail before data loads
    torch_device = resolve_device(device)
    workload = build_workload(task, resolved)
    check_metrics(info, workload.data)

    result = TrialResult(outcome="completed", device=str(torch_device))
    started = time.perf_counter()
    try:
        with training_scope(torch_device, resolved["threads"]):
            check_model_size(task, workload.make_model, torch_device)
            torch.manual_seed(seed)
            model = workload.make_model().to(torch_device)
            _run(
                info,
                resolved,
                optimizer,
                hyperparameters,
                seed,
                model,
                workload.data.to(torch_device),
                torch_device,
                on_epoch,
                result,
            )
    except CallbackError as failure:
        raise failure.original from None
    except Exception as failure:
        result.outcome = "error"
        result.error = f"{type(failure).__name__}: {failure}"
    finally:
        result.wall_seconds = time.perf_counter() - started
    return result


def check_metrics(info: TaskInfo, data: Classification | Tokens | Supervised) -> None:
    """A task (a plugin's, say) must declare only metrics its data kind makes the loop report,
    or its selection metric would be missing from every cell."""
    produced = {"train_loss", "epoch_seconds", *_test_metrics(data)}
    missing = [m for m in info.metrics if m not in produced]
    if missing:
        raise UserInputError(
            f"Task `{info.name}` declares the metrics {', '.join(missing)}, which the training "
            f"loop does not report for {type(data).__name__} data (it reports "
            f"{', '.join(sorted(produced))}); declare those in its TaskInfo."
        )


@contextmanager
def training_scope(device: torch.device, threads: int) -> Iterator[None]:
    """Train with `threads` CPU threads and a forked RNG (the CPU's, and the device's on CUDA).

    Seeding inside must not leak into, or depend on, the caller's global RNG state; the thread
    count is restored after; on CUDA the cached blocks are handed back, so an out-of-memory run
    does not starve the next one in the same worker. On one CPU thread, denormal floats are
    flushed to zero inside (`flushes_denormals`), and the caller's mode restored after.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    cuda = [device.index or 0] if device.type == "cuda" else []
    flush = flushes_denormals(device, threads)
    was_flushing = flush and flushing_denormals()
    if flush:
        torch.set_flush_denormal(True)
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        if flush:
            torch.set_flush_denormal(was_flushing)
        torch.set_num_threads(previous)
        if cuda:
            torch.cuda.empty_cache()


def flushes_denormals(device: torch.device, threads: int) -> bool:
    """Whether training on `device` with `threads` flushes denormal floats to zero.

    On x86 CPUs every operation on a denormal (below 1.2e-38 in float32) takes a microcode
    assist, and small gradients squared make many: a pack like the demo's trained 1.8x slower
    with them (`benchmarks/denormals.py`). Flushed, such a value becomes 0, a change far below
    the rounding of any weight or moment it is added to. The mode belongs to a thread, so it is
    set only when all the work runs on the calling thread (one thread on a CPU); torch's worker
    threads would keep whatever mode they started with, and a cell's numbers would depend on the
    process's past.
    """
    return device.type == "cpu" and threads == 1


def flushing_denormals() -> bool:
    """Whether this thread flushes denormals now (torch can set the mode, not read it): a
    quarter of a float32 just above the denormal range is a denormal, or zero when flushed."""
    return bool(torch.tensor(2e-38, dtype=torch.float32) * 0.25 == 0)


def resolve_device(device: str) -> torch.device:
    """`cpu`, `cuda`, `cuda:N`, or `auto` (CUDA when available); CUDA must exist when asked."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise UserInputError(
            f"Device `{device}` is not valid; use `cpu`, `cuda`, `cuda:N` or `auto`."
        ) from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(
            f"Device `{device}` was asked for but CUDA is not available on this machine; "
            "use `cpu` or `auto`."
        )
    if parsed.type not in ("cpu", "cuda"):
        raise UserInputError(f"Device `{device}` is not supported; use `cpu` or `cuda`.")
    return parsed


def _run(
    info: TaskInfo,
    options: dict[str, Any],
    optimizer_name: str,
    hyperparameters: Mapping[str, Any],
    seed: int,
    model: nn.Module,
    data: Classification | Tokens | Supervised,
    device: torch.device,
    on_epoch: OnEpoch | None,
    result: TrialResult,
) -> None:
    generator = torch.Generator().manual_seed(seed)  # shuffling and augmentation, on the CPU
    optimizer = build_optimizer(optimizer_name, model.parameters(), hyperparameters)
    schedule = None
    if options["lr_decay_epochs"]:
        schedule = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, sorted(options["lr_decay_epochs"]), gamma=options["lr_decay_factor"]
        )
    step = _Stepper(model, optimizer, device, options)

    result.initial = _evaluate(model, data, step, with_train=True)
    initial_loss = result.initial["train_loss"]
    for epoch in range(1, options["epochs"] + 1):
        started = time.perf_counter()
        if isinstance(data, Classification | Supervised):
            train_loss = _train_classifier(model, data, options["batch_size"], generator, step)
        else:
            train_loss = _train_language_model(model, data, options["batch_size"], step)
        healthy = math.isfinite(train_loss) and _parameters_finite(model)
        if healthy:
            metrics = {"train_loss": train_loss, **_evaluate(model, data, step)}
        else:  # evaluating a broken network measures nothing
            metrics = {"train_loss": train_loss, **{name: math.nan for name in _test_metrics(data)}}
        metrics["epoch_seconds"] = time.perf_counter() - started
        result.epochs.append(metrics)
        result.final = metrics
        if on_epoch is not None:
            try:
                on_epoch(epoch, dict(metrics))
            except Exception as failure:
                raise CallbackError(failure) from failure
        reason = loss_divergence(metrics, initial_loss, healthy)
        if reason is not None:
            record_divergence(result, epoch, reason)
            return
        if schedule is not None:
            schedule.step()
    reason = chance_divergence(info, result.final)
    if reason is not None:
        record_divergence(result, len(result.epochs), reason)


class _Stepper:
    """One optimisation step with optional mixed precision and gradient clipping."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        options: dict[str, Any],
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.device = device
        # Mixed precision is a CUDA feature here: float16 autocast with loss scaling. On the CPU
        # it has no effect (bfloat16 autocast breaks oneDNN's LSTM and rarely speeds CPUs up).
        self.amp = bool(options["amp"]) and device.type == "cuda"
        self.clip = float(options.get("grad_clip", 0.0))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp)

    def __call__(self, loss: torch.Tensor) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.item())


def _batch_loss(
    data: Classification | Supervised, output: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy for a classifier; the task's own loss for `Supervised` data."""
    if isinstance(data, Supervised):
        return data.loss(output, y)
    return F.cross_entropy(output, y)


def _train_classifier(
    model: nn.Module,
    data: Classification | Supervised,
    batch_size: int,
    generator: torch.Generator,
    step: _Stepper,
) -> float:
    model.train()
    count = len(data.y_train)
    order = torch.randperm(count, generator=generator).to(data.x_train.device)
    total = 0.0
    for start in range(0, count, batch_size):
        index = order[start : start + batch_size]
        x = data.x_train[index]
        if data.prepare is not None:
            x = data.prepare(x)
        if isinstance(data, Classification) and data.augment is not None:
            x = data.augment(x, generator)
        with step.autocast():
            loss = _batch_loss(data, model(x), data.y_train[index])
        value = step(loss)
        if not math.isfinite(value):
            return value  # no point finishing the epoch
        total += value * len(index)
    return total / count


def _columns(tokens: torch.Tensor, columns: int) -> torch.Tensor:
    """Cut a token stream into `columns` parallel streams, shape (columns, length)."""
    length = len(tokens) // columns
    return tokens[: length * columns].view(columns, length)


def _detach(
    state: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    return None if state is None else (state[0].detach(), state[1].detach())


def _train_language_model(model: nn.Module, data: Tokens, batch_size: int, step: _Stepper) -> float:
    model.train()
    stream = _columns(data.train, batch_size)
    state = None
    total, tokens = 0.0, 0
    for start in range(0, stream.shape[1] - 1, data.bptt):
        length = min(data.bptt, stream.shape[1] - 1 - start)
        x = stream[:, start : start + length]
        y = stream[:, start + 1 : start + 1 + length]
        with step.autocast():
            logits, state = model(x, _detach(state))
            loss = F.cross_entropy(logits.reshape(-1, data.vocab_size).float(), y.reshape(-1))
        value = step(loss)
        if not math.isfinite(value):
            return value
        total += value * y.numel()
        tokens += y.numel()
    return total / max(tokens, 1)


def _test_metrics(data: Classification | Tokens | Supervised) -> tuple[str, ...]:
    if isinstance(data, Supervised):
        return ("test_loss",)
    if isinstance(data, Classification):
        return ("test_loss", "test_accuracy")
    return ("test_loss", "test_perplexity")


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    data: Classification | Tokens | Supervised,
    step: _Stepper,
    *,
    with_train: bool = False,
) -> dict[str, float]:
    """Test metrics, plus the train loss on a capped prefix when `with_train` (initial metrics)."""
    model.eval()
    metrics: dict[str, float] = {}
    if isinstance(data, Supervised):
        metrics["test_loss"] = _supervised_loss(model, data, data.x_test, data.y_test, step)
        if with_train:
            cap = INITIAL_TRAIN_EXAMPLES
            metrics["train_loss"] = _supervised_loss(
                model, data, data.x_train[:cap], data.y_train[:cap], step
            )
    elif isinstance(data, Classification):
        loss, accuracy = _classifier_loss(model, data, data.x_test, data.y_test, step)
        metrics.update(test_loss=loss, test_accuracy=accuracy)
        if with_train:
            cap = INITIAL_TRAIN_EXAMPLES
            metrics["train_loss"], _ = _classifier_loss(
                model, data, data.x_train[:cap], data.y_train[:cap], step
            )
    else:
        loss = _language_model_loss(model, data, data.test, step)
        metrics.update(test_loss=loss, test_perplexity=_perplexity(loss))
        if with_train:
            metrics["train_loss"] = _language_model_loss(
                model, data, data.train[:INITIAL_TRAIN_TOKENS], step
            )
    return metrics


def _classifier_loss(
    model: nn.Module,
    data: Classification,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    step: _Stepper,
) -> tuple[float, float]:
    total = torch.zeros((), dtype=torch.float64, device=x_all.device)
    correct = torch.zeros((), dtype=torch.int64, device=x_all.device)
    for x, y in _eval_batches(data, x_all, y_all):
        with step.autocast():
            logits = model(x).float()
        total += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    count = max(len(y_all), 1)
    return total.item() / count, correct.item() / count


def _eval_batches(
    data: Classification | Supervised, x_all: torch.Tensor, y_all: torch.Tensor
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Evaluation batches of `_EVAL_BATCH` examples, prepared as the task's data asks."""
    for start in range(0, len(y_all), _EVAL_BATCH):
        x = x_all[start : start + _EVAL_BATCH]
        if data.prepare is not None:
            x = data.prepare(x)
        yield x, y_all[start : start + _EVAL_BATCH]


def _supervised_loss(
    model: nn.Module,
    data: Supervised,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    step: _Stepper,
) -> float:
    """The mean of the task's loss over `x_all`, weighting each batch by its size."""
    total = 0.0
    for x, y in _eval_batches(data, x_all, y_all):
        with step.autocast():
            output = model(x).float()
        total += float(data.loss(output, y).item()) * len(y)
    return total / max(len(y_all), 1)


def _language_model_loss(
    model: nn.Module, data: Tokens, tokens: torch.Tensor, step: _Stepper
) -> float:
    stream = _columns(tokens, _LM_EVAL_COLUMNS)
    state = None
    total = torch.zeros((), dtype=torch.float64, device=tokens.device)
    count = 0
    for start in range(0, stream.shape[1] - 1, data.bptt):
        length = min(data.bptt, stream.shape[1] - 1 - start)
        x = stream[:, start : start + length]
        y = stream[:, start + 1 : start + 1 + length]
        with step.autocast():
            logits, state = model(x, state)
        total += F.cross_entropy(
            logits.reshape(-1, data.vocab_size).float(), y.reshape(-1), reduction="sum"
        )
        count += y.numel()
    return total.item() / max(count, 1)


def _perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def _parameters_finite(model: nn.Module) -> bool:
    checks = [torch.isfinite(p).all() for p in model.parameters()]
    return bool(torch.stack(checks).all().item()) if checks else True
