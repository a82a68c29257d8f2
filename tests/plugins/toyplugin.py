"""A plugin as a researcher would write one: an optimizer hpsearch does not ship and a task of
their own (Gaussian blobs, generated: no download). Studies name them by import path,
`tests.plugins.toyplugin:HeavyBall` and `tests.plugins.toyplugin:make_blobs_task`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from hpsearch.optim import HyperParameter
from hpsearch.tasks import TaskDefinition, TaskInfo, TaskOption, common_options
from hpsearch.tasks.workload import Classification, Supervised, Workload

__version__ = "0.1.0"


class HeavyBall(torch.optim.Optimizer):
    """Polyak's heavy ball, written here rather than taken from torch: v = mu v + g; p -= lr v."""

    hpsearch_hyperparameters = (
        HyperParameter("lr", 0.1, "step size", low=0.0, low_inclusive=False, log=True),
        HyperParameter("mu", 0.9, "momentum", low=0.0, high=1.0, high_inclusive=False),
    )

    def __init__(self, params: Iterable[Any], lr: float = 0.1, mu: float = 0.9) -> None:
        super().__init__(params, {"lr": lr, "mu": mu})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                velocity = self.state[p].setdefault("velocity", torch.zeros_like(p))
                velocity.mul_(group["mu"]).add_(p.grad)
                p.add_(velocity, alpha=-group["lr"])


def _blobs(seed: int, count: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, 2, generator=torch.Generator().manual_seed(0)) * 3
    labels = torch.randint(classes, (count,), generator=generator)
    return centres[labels] + torch.randn(count, 2, generator=generator), labels


def make_blobs_task() -> TaskDefinition:
    """Three Gaussian blobs in the plane and a small MLP: a task in a few lines."""

    def build(options: dict[str, Any]) -> Workload:
        x_train, y_train = _blobs(1, 600, 3)
        x_test, y_test = _blobs(2, 300, 3)
        hidden = options["hidden"]
        return Workload(
            Classification(x_train, y_train, x_test, y_test, num_classes=3),
            lambda: nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3)),
        )

    return TaskDefinition(
        info=TaskInfo(
            name="blobs",
            description="three Gaussian blobs, 2-16-3 MLP (a test plugin)",
            options=(
                *common_options(epochs=3, batch_size=32),
                TaskOption("hidden", 16, "hidden units", low=1),
            ),
            metrics=("train_loss", "test_loss", "test_accuracy", "epoch_seconds"),
            default_metric="test_accuracy",
            num_classes=3,  # chance accuracy 1/3: a cell at chance has diverged
            offline=True,
        ),
        build=build,
    )


def make_line_task() -> TaskDefinition:
    """A regression with the task's own loss: y = 3 x + 1 + noise, a linear model, mean squared
    error. No accuracy and no chance level (`num_classes=None`): test_loss is minimised."""

    def build(options: dict[str, Any]) -> Workload:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(400, 1, generator=generator)
        y = 3 * x + 1 + 0.1 * torch.randn(400, 1, generator=generator)
        return Workload(
            Supervised(x[:300], y[:300], x[300:], y[300:], loss=nn.functional.mse_loss),
            lambda: nn.Linear(1, 1),
        )

    return TaskDefinition(
        info=TaskInfo(
            name="line",
            description="y = 3x + 1 + noise, linear model, mean squared error (a test plugin)",
            options=common_options(epochs=5, batch_size=20),
            metrics=("train_loss", "test_loss", "epoch_seconds"),
            default_metric="test_loss",
            num_classes=None,
            offline=True,
        ),
        build=build,
    )
