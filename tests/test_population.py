"""Population training: each member is the cell trained alone, a diverging member is isolated."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.func import stack_module_state

from hpsearch.errors import UserInputError
from hpsearch.optim import list_optimizers
from hpsearch.optim.registry import stacking_optimizers
from hpsearch.population import balanced_pack_size, default_population
from hpsearch.runner import population_sizes
from hpsearch.spec import expand_cells, load_spec
from hpsearch.tasks import TrialResult, models, registry, train
from hpsearch.tasks.population import population_unsupported, train_population
from hpsearch.tasks.registry import build_workload, resolve_options
from hpsearch.tasks.stacking import mlp_losses_and_gradients, mlp_plan

EPOCHS = 2
SMALL = {"digits-mlp": {"hidden": 32}, "mnist1d-mlp": {"hidden": 32}}

# Two configurations and three seeds per optimizer, with the hyperparameters that take a
# different code path per member (momentum 0 vs not, Nesterov, weight decay).
MEMBERS: dict[str, list[tuple[dict[str, Any], int]]] = {
    "adabound": [
        ({"lr": 1e-3, "final_lr": 0.1}, 0),
        ({"lr": 3e-3, "final_lr": 0.03, "gamma": 1e-2, "weight_decay": 1e-4}, 1),
        ({"lr": 1e-3, "final_lr": 0.1}, 2),
    ],
    "amsbound": [
        ({"lr": 1e-3, "final_lr": 0.1}, 0),
        ({"lr": 3e-3, "final_lr": 0.03, "beta2": 0.99}, 1),
        ({"lr": 1e-3, "final_lr": 0.1}, 2),
    ],
    "adam": [
        ({"lr": 1e-3}, 0),
        ({"lr": 3e-3, "beta1": 0.8, "weight_decay": 1e-4}, 1),
        ({"lr": 1e-3}, 2),
    ],
    "sgd": [
        ({"lr": 0.1, "momentum": 0.9}, 0),
        ({"lr": 0.05, "momentum": 0.0, "weight_decay": 1e-4}, 1),
        ({"lr": 0.1, "momentum": 0.5, "nesterov": True}, 2),
    ],
}

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"


def assert_same_as_alone(
    member: TrialResult, alone: TrialResult, test_examples: int, where: str
) -> None:
    """Equal per-epoch metrics within float rounding (one test example may flip)."""
    assert member.outcome == alone.outcome, where
    assert member.diverged_epoch == alone.diverged_epoch, where
    assert len(member.epochs) == len(alone.epochs), where
    for key, value in alone.initial.items():
        assert member.initial[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (where, key)
    for epoch, (got, want) in enumerate(zip(member.epochs, alone.epochs, strict=True), 1):
        assert set(got) == set(want), where
        for key in ("train_loss", "test_loss"):
            assert got[key] == pytest.approx(want[key], rel=1e-4, nan_ok=True), (where, epoch, key)
        assert got["test_accuracy"] == pytest.approx(
            want["test_accuracy"], abs=1.5 / test_examples, nan_ok=True
        ), (where, epoch)


@pytest.mark.parametrize("task", ["digits-mlp", "mnist1d-mlp"])
@pytest.mark.parametrize("optimizer", ["adabound", "amsbound", "adam", "sgd"])
def test_each_member_matches_the_cell_trained_alone(task: str, optimizer: str) -> None:
    members = MEMBERS[optimizer]
    before = torch.random.get_rng_state()
    results = train_population(task, optimizer, members, options=SMALL[task], epochs=EPOCHS)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG is untouched
    test_examples = 360 if task == "digits-mlp" else 1000
    assert len(results) == len(members)
    for (hyperparameters, seed), result in zip(members, results, strict=True):
        alone = train(task, optimizer, hyperparameters, seed, options=SMALL[task], epochs=EPOCHS)
        assert result.outcome == "completed", result.error
        assert_same_as_alone(result, alone, test_examples, f"{optimizer} {hyperparameters} {seed}")
    # different seeds really differ: the members are not copies of one another
    assert results[0].epochs[-1]["train_loss"] != results[2].epochs[-1]["train_loss"]


@pytest.mark.parametrize("optimizer", [n for n in stacking_optimizers() if n not in MEMBERS])
def test_every_other_stacking_optimizer_in_the_registry_matches_too(optimizer: str) -> None:
    options = {"hidden": 32, "lr_decay_epochs": [1], "lr_decay_factor": 0.5}
    members = [({"lr": 1e-3, "weight_decay": 1e-3}, 0), ({"lr": 2e-3}, 1)]
    results = train_population("digits-mlp", optimizer, members, options=options, epochs=EPOCHS)
    for (hyperparameters, seed), result in zip(members, results, strict=True):
        alone = train("digits-mlp", optimizer, hyperparameters, seed, options=options, epochs=2)
        assert_same_as_alone(result, alone, 360, f"{optimizer} {hyperparameters}")


def test_a_model_without_a_batched_plan_goes_through_vmap_and_matches() -> None:
    options = {"channels": 4}
    members = [({"lr": 1e-3}, 0), ({"lr": 3e-3}, 1)]
    results = train_population("mnist1d-cnn", "adam", members, options=options, epochs=1)
    for (hyperparameters, seed), result in zip(members, results, strict=True):
        alone = train("mnist1d-cnn", "adam", hyperparameters, seed, options=options, epochs=1)
        assert_same_as_alone(result, alone, 1000, str(hyperparameters))


@pytest.mark.parametrize("hidden", [(), (7,), (5, 6, 4)])
def test_the_written_out_mlp_backward_gives_autograds_gradients(hidden: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    nets = [models.MLP(12, hidden, 3) for _ in range(4)]
    params, _ = stack_module_state(nets)  # type: ignore[arg-type]
    plan = mlp_plan(nets[0])
    assert plan is not None
    x, y = torch.randn(4, 5, 12), torch.randint(0, 3, (4, 5))
    losses = mlp_losses_and_gradients(plan, params, x, y)
    for k, net in enumerate(nets):
        loss = F.cross_entropy(net(x[k]), y[k])
        loss.backward()
        assert losses[k].item() == pytest.approx(loss.item(), rel=1e-6)
        for name, p in net.named_parameters():
            torch.testing.assert_close(params[name].grad[k], p.grad, rtol=1e-5, atol=1e-7)


def test_lr_decay_moves_adabound_bounds_as_alone() -> None:
    options = {"hidden": 32, "lr_decay_epochs": [1], "lr_decay_factor": 0.1}
    members = [({"lr": 1e-3, "final_lr": 0.1, "gamma": 0.05}, 0), ({"lr": 1e-2}, 1)]
    results = train_population("digits-mlp", "adabound", members, options=options, epochs=3)
    for (hyperparameters, seed), result in zip(members, results, strict=True):
        alone = train("digits-mlp", "adabound", hyperparameters, seed, options=options, epochs=3)
        assert_same_as_alone(result, alone, 360, str(hyperparameters))


def _epochs_by_member(
    task: str, optimizer: str, members: list[tuple[Mapping[str, Any], int]]
) -> tuple[list[TrialResult], dict[int, list[int]]]:
    seen: dict[int, list[int]] = {}

    def on_epoch(epoch: int, metrics: dict[int, dict[str, float]]) -> None:
        for member in metrics:
            seen.setdefault(member, []).append(epoch)

    results = train_population(
        task, optimizer, members, options={"hidden": 32}, epochs=3, on_epoch=on_epoch
    )
    return results, seen


@pytest.mark.parametrize(
    ("optimizer", "bad", "reason"),
    [
        ("adam", {"lr": 1.0}, "exceeds 10 x the initial loss"),  # a blow-up at epoch end
        ("sgd", {"lr": 1e30}, "non-finite train_loss"),  # NaN mid-epoch: frozen at once
    ],
)
def test_a_diverging_member_is_frozen_and_never_contaminates_the_others(
    optimizer: str, bad: dict[str, float], reason: str
) -> None:
    # Two healthy lrs, so the per-member (tensor) path runs with and without the bad member.
    good = [{"lr": 1e-3}, {"lr": 2e-3}] if optimizer == "adam" else [{"lr": 0.1}, {"lr": 0.05}]
    members = [(good[0], 0), (bad, 0), (good[1], 1)]
    results, seen = _epochs_by_member("digits-mlp", optimizer, members)
    healthy, _ = _epochs_by_member("digits-mlp", optimizer, [(good[0], 0), (good[1], 1)])

    diverged = results[1]
    alone = train("digits-mlp", optimizer, bad, 0, options={"hidden": 32}, epochs=3)
    assert diverged.outcome == alone.outcome == "diverged"
    assert diverged.diverged_epoch == alone.diverged_epoch == 1
    assert reason in (diverged.divergence_reason or "")
    assert len(diverged.epochs) == 1 and seen[1] == [1]  # reported at its epoch, then frozen
    if reason.startswith("non-finite"):
        assert math.isnan(diverged.epochs[0]["train_loss"])
        assert math.isnan(diverged.epochs[0]["test_accuracy"])
    # the healthy members are bit-for-bit what they are without the diverging one
    for mixed, clean in zip((results[0], results[2]), healthy, strict=True):
        assert mixed.outcome == "completed" and seen[0] == seen[2] == [1, 2, 3]
        for a, b in zip(mixed.epochs, clean.epochs, strict=True):
            assert {k: v for k, v in a.items() if k != "epoch_seconds"} == {
                k: v for k, v in b.items() if k != "epoch_seconds"
            }


@pytest.mark.parametrize("optimizer", ["adabound", "amsbound", "adam", "amsgrad"])
def test_a_members_numbers_do_not_depend_on_its_pack_mates(optimizer: str) -> None:
    """Bit for bit, whatever else shares its pack (so pack sizes, `--population` and a resumed
    study's leftovers never move a result): every hyperparameter reaches the one-pass kernel as
    the member's own value, and every batched product and reduction is per member."""
    cell = ({"lr": 1e-2, "weight_decay": 1e-4}, 3)
    mates = [({"lr": 1.0}, 1), ({"lr": 1e-4, "beta1": 0.8}, 2), (cell[0], 4)]  # one diverges
    options = {"hidden": 32}
    small = train_population("digits-mlp", optimizer, [cell], options=options, epochs=3)[0]
    packed = train_population("digits-mlp", optimizer, [*mates, cell], options=options, epochs=3)
    assert small.outcome == "completed"
    for a, b in zip(small.epochs, packed[-1].epochs, strict=True):
        assert {k: v for k, v in a.items() if k != "epoch_seconds"} == {
            k: v for k, v in b.items() if k != "epoch_seconds"
        }


def test_packs_are_evened_out_under_the_cap() -> None:
    assert balanced_pack_size(225, 32) == 29  # 8 packs (7 x 29 + 22), not 7 x 32 + 1
    assert balanced_pack_size(64, 32) == 32
    assert balanced_pack_size(25, 32) == 25
    assert balanced_pack_size(33, 32) == 17
    assert balanced_pack_size(5, 1) == 1
    assert balanced_pack_size(0, 32) == 32


def test_every_member_diverging_ends_the_population() -> None:
    members = [({"lr": 1e30}, 0), ({"lr": 1e30}, 1)]
    results = train_population("digits-mlp", "sgd", members, options={"hidden": 8}, epochs=3)
    assert [r.outcome for r in results] == ["diverged", "diverged"]
    assert [r.diverged_epoch for r in results] == [1, 1]


def test_large_or_unsupported_work_falls_back_to_one_cell_per_trial() -> None:
    assert population_unsupported("digits-mlp", "adabound") is None
    assert "does not support" in (population_unsupported("charlstm", "adam") or "")
    assert "does not support" in (population_unsupported("cifar10-resnet34", "adam") or "")
    for info in list_optimizers():  # the registry entry alone says whether an optimizer stacks
        reason = population_unsupported("digits-mlp", info.name)
        assert (reason is None) == (info.stacked is not None), info.name
    assert "no population" in (population_unsupported("digits-mlp", "adagrad") or "")
    assert "amp" in (population_unsupported("digits-mlp", "adam", {"amp": True}) or "")
    assert default_population("charlstm", None, cells=64, workers=2) == 1
    # never fewer packs than workers, never more than the CPU cap
    mlp = build_workload("mnist1d-mlp", resolve_options("mnist1d-mlp"))
    assert default_population("mnist1d-mlp", mlp, cells=64, workers=2) == 32
    assert default_population("mnist1d-mlp", mlp, cells=6, workers=2) == 3
    assert default_population("mnist1d-mlp", mlp, cells=1000, workers=2) == 32
    assert default_population("mnist1d-mlp", None, cells=1000, workers=2) == 32  # data not here
    with pytest.raises(UserInputError, match="charlstm"):
        train_population("charlstm", "adam", [({}, 0)], epochs=1)


def test_bad_member_hyperparameters_fail_before_training() -> None:
    with pytest.raises(UserInputError, match="lr"):
        train_population("digits-mlp", "adam", [({"lr": 1e-3}, 0), ({"lr": -1.0}, 1)])


def test_the_driver_builds_the_workload_once_for_all_optimizers_packs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = load_spec(SMOKE)
    cells = expand_cells(spec)
    built: list[str] = []
    real = registry.build_workload

    def counted(name: str, options: dict[str, Any]) -> Any:
        built.append(name)
        return real(name, options)

    monkeypatch.setattr(registry, "build_workload", counted)
    packs = population_sizes(spec, cells, None, workload=None, workers=2, gpu=False)
    assert built == ["digits-mlp"]  # one build for three stacking optimizers
    assert packs == {"adabound": 4, "adam": 4, "sgd": 2}  # 10 cells over 2 workers: up to 5
    workload = real("digits-mlp", resolve_options("digits-mlp", spec.task.options()))
    assert population_sizes(spec, cells, None, workload=workload, workers=2, gpu=False) == packs
    assert population_sizes(spec, cells, 1, workload=None, workers=2, gpu=False) == dict.fromkeys(
        packs, 1
    )
    assert built == ["digits-mlp"]  # a workload handed on, or no default needed: no build
