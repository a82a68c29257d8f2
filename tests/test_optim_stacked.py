"""Stacked optimizers: every registry entry that stacks steps each member as it steps alone."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from hpsearch.errors import UserInputError
from hpsearch.optim import build_optimizer, get_optimizer_info
from hpsearch.optim.registry import build_stacked_optimizer, stacking_optimizers

SHAPES = [(4, 3), (3,)]  # a weight matrix and a bias
STEPS = 25


def member_hyperparameters(name: str, shared: bool) -> list[dict[str, Any]]:
    """Three members: the defaults, or (not `shared`) three learning rates and weight decays."""
    if shared:
        return [{}, {}, {}]
    lr = float(get_optimizer_info(name).hyperparameter("lr").default)
    return [{"lr": lr}, {"lr": 2 * lr, "weight_decay": 1e-3}, {"lr": 0.5 * lr}]


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "eager"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per-member"])
@pytest.mark.parametrize("name", stacking_optimizers())
def test_each_member_steps_as_its_optimizer_alone(name: str, shared: bool, kernels: bool) -> None:
    hyperparameters = member_hyperparameters(name, shared)
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(len(hyperparameters), *shape, generator=generator) for shape in SHAPES]
    grads = [
        [torch.randn(len(hyperparameters), *shape, generator=generator) for shape in SHAPES]
        for _ in range(STEPS)
    ]
    stacked_params = [p.clone() for p in start]
    stacked = build_stacked_optimizer(name, stacked_params, hyperparameters, kernels=kernels)
    for step_grads in grads:
        for p, g in zip(stacked_params, step_grads, strict=True):
            p.grad = g.clone()
        stacked.step()
    for k, hp in enumerate(hyperparameters):
        alone = [torch.nn.Parameter(p[k].clone()) for p in start]
        optimizer = build_optimizer(name, alone, hp)
        for step_grads in grads:
            for p, g in zip(alone, step_grads, strict=True):
                p.grad = g[k].clone()
            optimizer.step()
        for p, mine in zip(alone, stacked_params, strict=True):
            torch.testing.assert_close(mine[k], p.detach(), msg=f"{name} member {k}")


def test_an_optimizer_without_a_stacked_form_is_refused_by_name() -> None:
    assert get_optimizer_info("adagrad").stacked is None
    with pytest.raises(UserInputError, match="`adagrad` has no population implementation"):
        build_stacked_optimizer("adagrad", [torch.zeros(2, 3)], [{}, {}])


def test_on_a_cpu_the_adam_and_adabound_families_step_with_the_one_pass_kernels() -> None:
    params = [torch.zeros(2, 3)]
    for name in ("adabound", "amsbound", "adaboundw", "adam", "amsgrad", "adamw"):
        assert build_stacked_optimizer(name, params, [{}, {}]).uses_kernels(), name
        assert not build_stacked_optimizer(name, params, [{}, {}], kernels=False).uses_kernels()


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "eager"])
@pytest.mark.parametrize("name", ["adabound", "amsbound", "adam", "amsgrad"])
def test_a_non_finite_gradient_spoils_its_own_member_only(name: str, kernels: bool) -> None:
    """Divergence is data: a NaN or inf gradient makes that member's weights non-finite (so it
    is judged diverged), in both paths, and leaves the other members' steps as they were."""
    members = [{}, {}, {}]
    weights = [torch.ones(3, 4, 5), torch.ones(3, 5)]
    optimizer = build_stacked_optimizer(name, weights, members, kernels=kernels)
    for step in range(3):
        for p in weights:
            p.grad = torch.full_like(p, 0.5)
            p.grad[1] = math.nan if step == 1 else 0.5
            p.grad[2] = math.inf if step == 1 else 0.5
        optimizer.step()
    for p in weights:
        assert torch.isfinite(p[0]).all()
        assert not torch.isfinite(p[1]).any() and not torch.isfinite(p[2]).any()
    alone = [torch.nn.Parameter(torch.ones(4, 5)), torch.nn.Parameter(torch.ones(5))]
    reference = build_optimizer(name, alone, {})
    for _ in range(3):
        for p in alone:
            p.grad = torch.full_like(p, 0.5)
        reference.step()
    for p, mine in zip(alone, weights, strict=True):
        torch.testing.assert_close(mine[0], p.detach())
