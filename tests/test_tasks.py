"""The task registry and the trial runner on the offline tasks (no network, tiny settings)."""

from __future__ import annotations

import importlib
import math
import random
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import UnknownNameError, UserInputError
from hpsearch.tasks import TrialResult, data, get_task_info, list_tasks, train
from hpsearch.tasks.population import train_population
from hpsearch.tasks.train import flushing_denormals

# The package exports the function `train`, which hides the module of the same name.
train_module = importlib.import_module("hpsearch.tasks.train")

OFFLINE = {
    # task -> options small enough for a test, optimizer hyperparameters that learn quickly
    "digits-mlp": ({}, {"lr": 3e-3}),
    "mnist1d-mlp": ({}, {"lr": 3e-3}),
    "mnist1d-cnn": ({}, {"lr": 3e-3}),
    "charlstm": ({"hidden": 32, "batch_size": 128, "bptt": 32}, {"lr": 1e-2}),
}
EXPECTED_TASKS = {
    "digits-mlp",
    "mnist1d-mlp",
    "mnist1d-cnn",
    "charlstm",
    "mnist-mlp",
    "cifar10-resnet34",
    "cifar10-densenet121",
    "cifar100-resnet34",
    "ptb-lstm",
}


def _curve(result: TrialResult) -> list[dict[str, float]]:
    return [{k: v for k, v in e.items() if k != "epoch_seconds"} for e in result.epochs]


def test_registry_lists_every_task_with_the_common_options() -> None:
    assert {t.name for t in list_tasks()} == EXPECTED_TASKS
    assert set(OFFLINE) == {t.name for t in list_tasks() if t.offline}
    for task in list_tasks():
        names = {o.name for o in task.options}
        assert {"epochs", "batch_size", "threads", "amp", "lr_decay_epochs"} <= names
        assert task.default_metric in task.metrics
        assert ("data_dir" in names) == (not task.offline)


def test_catalog_verb_shows_every_task_and_its_options() -> None:
    result = CliRunner().invoke(app, ["catalog", "tasks"])
    assert result.exit_code == 0, result.output
    for task in list_tasks():
        assert f"  {task.name} " in result.output
    assert "lr_decay_factor" in result.output and "data_dir" in result.output


@pytest.mark.parametrize("task", sorted(OFFLINE))
def test_offline_task_trains_and_improves_on_its_initial_loss(task: str) -> None:
    options, hyperparameters = OFFLINE[task]
    seen: list[tuple[int, dict[str, float]]] = []
    epochs = 1 if task == "charlstm" else 2
    result = train(
        task,
        "adam",
        hyperparameters,
        0,
        options=options,
        epochs=epochs,
        on_epoch=lambda epoch, metrics: seen.append((epoch, metrics)),
    )
    info = get_task_info(task)
    assert result.outcome == "completed", result.divergence_reason or result.error
    assert [epoch for epoch, _ in seen] == list(range(1, epochs + 1))
    assert set(seen[-1][1]) == set(info.metrics)
    assert result.final == seen[-1][1] == result.epochs[-1]
    measure = "test_accuracy" if info.num_classes else "test_perplexity"
    assert set(result.initial) == {"train_loss", "test_loss", measure}
    assert result.final["test_loss"] < result.initial["test_loss"]
    assert result.final["train_loss"] < result.initial["train_loss"]


def test_adam_lr_1_on_digits_is_diverged_and_lr_1e3_is_not() -> None:
    bad = train("digits-mlp", "adam", {"lr": 1.0}, 0, epochs=5)
    good = train("digits-mlp", "adam", {"lr": 1e-3}, 0, epochs=5)
    assert bad.outcome == "diverged"
    assert bad.diverged_epoch is not None and 1 <= bad.diverged_epoch <= 5
    assert bad.divergence_reason
    assert len(bad.epochs) == bad.diverged_epoch  # training stopped there
    assert good.outcome == "completed" and good.diverged_epoch is None
    assert good.final["test_accuracy"] > 0.5


def test_loss_far_above_initial_stops_training_early() -> None:
    result = train("digits-mlp", "sgd", {"lr": 1e4}, 0, epochs=5)
    assert result.outcome == "diverged" and result.diverged_epoch == 1
    assert len(result.epochs) == 1
    assert "initial loss" in (result.divergence_reason or "") or "non-finite" in (
        result.divergence_reason or ""
    )


def test_non_finite_loss_is_diverged_not_an_error() -> None:
    result = train("digits-mlp", "sgd", {"lr": 1e38, "momentum": 0.0}, 0, epochs=3)
    assert result.outcome == "diverged", result.error
    assert result.diverged_epoch == 1
    assert not math.isfinite(result.final["train_loss"]) or "initial loss" in str(
        result.divergence_reason
    )


def test_chance_level_final_accuracy_is_diverged() -> None:
    # A step size that changes nothing leaves the network at chance: the third clause.
    result = train("digits-mlp", "sgd", {"lr": 1e-12}, 0, epochs=1)
    assert result.outcome == "diverged"
    assert result.diverged_epoch == 1
    # In the tables' units: "final test_accuracy 9.4 % is within 2 points of chance (10.0 %)".
    reason = result.divergence_reason or ""
    assert re.fullmatch(
        r"final test_accuracy \d+\.\d % is within 2 points of chance \(10\.0 %\)", reason
    ), reason


@pytest.mark.parametrize(
    ("task", "options"),
    [("mnist1d-mlp", {}), ("charlstm", {"hidden": 16, "batch_size": 256, "dropout": 0.2})],
)
def test_same_seed_gives_the_same_curve_and_another_seed_does_not(
    task: str, options: dict[str, object]
) -> None:
    epochs = 2 if task == "mnist1d-mlp" else 1
    first = train(task, "adam", {}, 7, epochs=epochs, options=options)
    second = train(task, "adam", {}, 7, epochs=epochs, options=options)
    other = train(task, "adam", {}, 8, epochs=epochs, options=options)
    assert _curve(first) == _curve(second)
    assert first.initial == second.initial
    assert _curve(first) != _curve(other)


def test_training_leaves_global_random_state_and_threads_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    seen: list[int] = []
    train(
        "digits-mlp",
        "adam",
        {},
        0,
        epochs=1,
        on_epoch=lambda *_: seen.append(torch.get_num_threads()),
    )
    assert torch.equal(torch.rand(3), expected)
    assert seen == [1]  # one torch thread per trial by default
    assert torch.get_num_threads() == threads
    train(
        "digits-mlp",
        "adam",
        {},
        0,
        epochs=1,
        options={"threads": 2},
        on_epoch=lambda *_: seen.append(torch.get_num_threads()),
    )
    assert seen == [1, 2]


def test_training_on_one_cpu_thread_flushes_denormals_and_restores_the_callers_mode() -> None:
    # Denormal arithmetic made a demo-like pack train 1.8x slower (benchmarks/denormals.py).
    seen: list[bool] = []

    def train_with(threads: int) -> None:
        options = {"threads": threads}
        train(
            "digits-mlp",
            "adam",
            {},
            0,
            epochs=1,
            options=options,
            on_epoch=lambda *_: seen.append(flushing_denormals()),
        )
        train_population(
            "digits-mlp",
            "adam",
            [({}, 0), ({}, 1)],
            epochs=1,
            options=options,
            on_epoch=lambda *_: seen.append(flushing_denormals()),
        )

    assert not flushing_denormals()
    train_with(1)
    assert seen == [True, True]
    assert not flushing_denormals()
    train_with(2)  # torch's worker threads would not flush: none does, so no cell depends on it
    assert seen == [True, True, False, False]
    torch.set_flush_denormal(True)
    try:
        train_with(1)
        assert flushing_denormals()  # a caller's own mode survives
    finally:
        torch.set_flush_denormal(False)


def test_step_decay_multiplies_the_learning_rate_after_the_given_epoch() -> None:
    # Factor 0 after epoch 1: from then on nothing moves, so epochs 1-3 evaluate equal.
    result = train(
        "digits-mlp",
        "sgd",
        {},
        0,
        epochs=3,
        options={"lr_decay_epochs": [1], "lr_decay_factor": 0.0},
    )
    plain = train("digits-mlp", "sgd", {}, 0, epochs=3)
    losses = [e["test_loss"] for e in result.epochs]
    assert losses[0] < result.initial["test_loss"]  # epoch 1 trained at the full lr
    assert losses[0] == losses[1] == losses[2]
    assert plain.epochs[0]["test_loss"] != plain.epochs[1]["test_loss"]


def test_mixed_precision_has_no_effect_on_cpu() -> None:
    mixed = train(
        "charlstm", "adam", {}, 0, epochs=1, options={"amp": True, "hidden": 8, "batch_size": 512}
    )
    plain = train(
        "charlstm", "adam", {}, 0, epochs=1, options={"amp": False, "hidden": 8, "batch_size": 512}
    )
    assert mixed.outcome == "completed", mixed.error
    assert _curve(mixed) == _curve(plain)


def test_an_exception_during_training_is_an_error_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(train_module, "build_optimizer", broken)
    result = train("digits-mlp", "adam", {}, 0, epochs=1)
    assert result.outcome == "error"
    assert result.error == "RuntimeError: CUDA out of memory (simulated)"


def test_an_exception_from_on_epoch_propagates() -> None:
    class Stop(Exception):
        pass

    def stop(epoch: int, metrics: dict[str, float]) -> None:
        raise Stop

    with pytest.raises(Stop):
        train("digits-mlp", "adam", {}, 0, epochs=2, on_epoch=stop)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"hiden": 3}, ["hiden", "digits-mlp", "hidden"]),
        ({"batch_size": 0}, ["batch_size", "digits-mlp", "0"]),
        ({"epochs": 2.5}, ["epochs", "digits-mlp", "2.5"]),
        ({"amp": "yes"}, ["amp", "digits-mlp", "yes"]),
        ({"lr_decay_epochs": 3}, ["lr_decay_epochs", "list"]),
    ],
)
def test_bad_options_are_rejected_before_training(
    options: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(UserInputError) as caught:
        train(
            "digits-mlp",
            "adam",
            {},
            0,
            options=options,
            on_epoch=lambda *_: pytest.fail("trained despite a bad option"),
        )
    for word in words:
        assert word in str(caught.value)


def test_unknown_task_and_bad_hyperparameters_are_user_errors() -> None:
    with pytest.raises(UnknownNameError, match="digits-mlp"):
        train("digit-mlp", "adam", {}, 0)
    with pytest.raises(UserInputError, match="lr"):
        train("digits-mlp", "adam", {"lr": -1.0}, 0)
    with pytest.raises(UserInputError, match="charlstm"):
        train("charlstm", "adam", {}, 0, options={"layers": 4})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_asking_for_cuda_without_it_is_a_clear_error() -> None:
    with pytest.raises(UserInputError, match="CUDA is not available"):
        train("digits-mlp", "adam", {}, 0, device="cuda")


def test_mnist1d_is_cached_on_disk_and_leaves_global_seeds_alone(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", str(tmp_path))
    data.load_mnist1d_arrays.cache_clear()
    np.random.seed(5)
    random.seed(5)
    expected_numpy, expected_python = np.random.rand(), random.random()
    np.random.seed(5)
    random.seed(5)
    first = data.load_mnist1d_arrays(200)
    assert (np.random.rand(), random.random()) == (expected_numpy, expected_python)
    assert [p.name for p in tmp_path.iterdir()] == ["mnist1d-200-seed42-v1.npz"]
    data.load_mnist1d_arrays.cache_clear()
    again = data.load_mnist1d_arrays(200)  # read back from the file
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert first[0].shape == (160, 40) and first[2].shape == (40, 40)
    data.load_mnist1d_arrays.cache_clear()


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("task", "options"), [("mnist1d-cnn", {}), ("charlstm", {"hidden": 32, "batch_size": 128})]
)
def test_cuda_with_mixed_precision_trains(task: str, options: dict[str, object]) -> None:
    for amp in (False, True):
        result = train(
            task, "adam", {"lr": 3e-3}, 0, epochs=2, device="cuda", options={**options, "amp": amp}
        )
        assert result.outcome == "completed", result.error or result.divergence_reason
        assert result.device.startswith("cuda")
        assert result.final["test_loss"] < result.initial["test_loss"]
