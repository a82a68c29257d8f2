"""The task registry: every task a study may name, its options, and how to build it.

A task entry is a `TaskInfo` (what the catalog and spec validation read) plus a builder that turns
validated options into a `Workload` (data + model factory) for the shared training loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hpsearch.errors import UnknownNameError
from hpsearch.tasks import data, models, readers
from hpsearch.tasks.base import TaskInfo, TaskOption
from hpsearch.tasks.workload import Classification, Tokens, Workload

Builder = Callable[[dict[str, Any]], Workload]


@dataclass(frozen=True)
class TaskDefinition:
    """A task as the registry holds it, and what a task plugin's factory returns: the facts
    (`TaskInfo`: options, metrics, chance level, population support) and `build(options)`, which
    loads the data and returns a `Workload` for the shared training loop."""

    info: TaskInfo
    build: Builder


_Entry = TaskDefinition
_REGISTRY: dict[str, _Entry] = {}


def register(info: TaskInfo, build: Builder, *, replace: bool = False) -> None:
    """Add a task; `replace` lets a plugin (`hpsearch.plugins`) be registered again."""
    if info.name in _REGISTRY and not replace:
        raise ValueError(f"task `{info.name}` is registered twice")
    _REGISTRY[info.name] = _Entry(info, build)


def unregister(name: str) -> None:
    """Drop a plugin's entry (built-ins are never dropped by hpsearch itself)."""
    _REGISTRY.pop(name, None)


def find(name: str) -> TaskDefinition | None:
    """The registry entry for `name`, or None."""
    return _REGISTRY.get(name)


def list_tasks() -> list[TaskInfo]:
    return [_REGISTRY[name].info for name in sorted(_REGISTRY)]


def get_task_info(name: str) -> TaskInfo:
    return _entry(name).info


def resolve_options(
    name: str | TaskInfo, options: Mapping[str, Any] | None = None, epochs: int | None = None
) -> dict[str, Any]:
    """Task defaults overlaid with `options` (and `epochs`), each checked; unknown keys rejected.
    `name` is a registered task's, or the `TaskInfo` of one that is registered nowhere."""
    info = get_task_info(name) if isinstance(name, str) else name
    name = info.name
    known = {option.name: option for option in info.options}
    resolved = info.option_defaults()
    given = dict(options or {})
    if epochs is not None:
        given["epochs"] = epochs
    for key, value in given.items():
        if key not in known:
            raise UnknownNameError(f"option of task `{name}`", key, known)
        resolved[key] = known[key].check(name, value)
    return resolved


def build_workload(name: str, options: dict[str, Any]) -> Workload:
    """Load the data and prepare the model factory (raises `UserInputError` for bad data)."""
    return _entry(name).build(options)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("task", name, _REGISTRY) from None


def common_options(
    epochs: int, batch_size: int, decay: tuple[int, ...] = ()
) -> tuple[TaskOption, ...]:
    """The options every task has, and the training loop reads: training length, batch,
    schedule, threads, precision. A task plugin starts its options with these."""
    return (
        TaskOption("epochs", epochs, "training epochs", low=1, high=1_000_000),
        TaskOption("batch_size", batch_size, "examples per step", low=1, high=1 << 24),
        TaskOption(
            "lr_decay_epochs",
            list(decay),
            "multiply lr by lr_decay_factor after each of these epochs",
            kind="int_list",
            low=1,
        ),
        TaskOption(
            "lr_decay_factor",
            0.1,
            "lr multiplier at each decay epoch",
            kind="float",
            low=0.0,
            high=1.0,
        ),
        TaskOption("threads", 1, "torch CPU threads for this trial", low=1, high=1_024),
        TaskOption(
            "amp",
            False,
            "mixed precision on CUDA (float16, loss scaling); no effect on CPU",
            kind="bool",
        ),
    )


def _classification(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classes: int,
) -> Classification:
    # torch.from_numpy shares memory with the read-only cached arrays; copy once per trial.
    return Classification(
        torch.tensor(x_train),
        torch.tensor(y_train),
        torch.tensor(x_test),
        torch.tensor(y_test),
        classes,
    )


def _build_digits(options: dict[str, Any]) -> Workload:
    x_train, y_train, x_test, y_test = data.load_digits_arrays()
    hidden = options["hidden"]
    return Workload(
        _classification(x_train, y_train, x_test, y_test, 10),
        lambda: models.MLP(64, (hidden,), 10),
    )


register(
    TaskInfo(
        name="digits-mlp",
        description="64-128-10 MLP on scikit-learn's bundled 8x8 digits (smoke tests)",
        options=(
            *common_options(epochs=20, batch_size=64),
            TaskOption("hidden", 128, "hidden units", low=1, high=65_536),
        ),
        metrics=("train_loss", "test_loss", "test_accuracy", "epoch_seconds"),
        default_metric="test_accuracy",
        num_classes=10,
        offline=True,
        supports_population=True,
    ),
    _build_digits,
)


_CLASSIFIER_METRICS = ("train_loss", "test_loss", "test_accuracy", "epoch_seconds")
_LANGUAGE_METRICS = ("train_loss", "test_loss", "test_perplexity", "epoch_seconds")


def _build_mnist1d_mlp(options: dict[str, Any]) -> Workload:
    arrays = data.load_mnist1d_arrays()
    hidden = options["hidden"]
    return Workload(_classification(*arrays, 10), lambda: models.MLP(40, (hidden, hidden), 10))


def _build_mnist1d_cnn(options: dict[str, Any]) -> Workload:
    arrays = data.load_mnist1d_arrays()
    channels = options["channels"]
    return Workload(_classification(*arrays, 10), lambda: models.Conv1dNet(40, channels, 10))


register(
    TaskInfo(
        name="mnist1d-mlp",
        description="40-100-100-10 MLP on MNIST-1D (generated by `mnist1d.make_dataset`)",
        options=(
            *common_options(epochs=20, batch_size=100),
            TaskOption("hidden", 100, "units in each of the two hidden layers", low=1, high=16_384),
        ),
        metrics=_CLASSIFIER_METRICS,
        default_metric="test_accuracy",
        num_classes=10,
        offline=True,
        supports_population=True,
    ),
    _build_mnist1d_mlp,
)
register(
    TaskInfo(
        name="mnist1d-cnn",
        description="three-layer 1-D CNN on MNIST-1D; hard enough to separate optimizers",
        options=(
            *common_options(epochs=50, batch_size=100),
            TaskOption("channels", 25, "channels of each convolution", low=1, high=4_096),
        ),
        metrics=_CLASSIFIER_METRICS,
        default_metric="test_accuracy",
        num_classes=10,
        offline=True,
        supports_population=True,
    ),
    _build_mnist1d_cnn,
)


def _lstm_options(
    *,
    epochs: int,
    batch_size: int,
    embed: int,
    hidden: int,
    layers: int,
    dropout: float,
    bptt: int,
    decay: tuple[int, ...] = (),
) -> tuple[TaskOption, ...]:
    return (
        *common_options(epochs=epochs, batch_size=batch_size, decay=decay),
        TaskOption("embed", embed, "embedding size", low=1, high=8_192),
        TaskOption("hidden", hidden, "LSTM hidden units", low=1, high=8_192),
        TaskOption("layers", layers, "stacked LSTM layers", low=1, high=3),
        TaskOption(
            "dropout",
            dropout,
            "dropout on embeddings and outputs",
            kind="float",
            low=0.0,
            high=0.95,
        ),
        TaskOption("bptt", bptt, "truncated back-propagation length", low=1, high=100_000),
        TaskOption("grad_clip", 0.25, "gradient-norm clip (0 = off)", kind="float", low=0.0),
    )


def _language_model(options: dict[str, Any], vocab: int) -> models.LSTMLanguageModel:
    return models.LSTMLanguageModel(
        vocab, options["embed"], options["hidden"], options["layers"], options["dropout"]
    )


def _build_charlstm(options: dict[str, Any]) -> Workload:
    train_ids, test_ids, vocab = data.load_text()
    tokens = Tokens(torch.tensor(train_ids), torch.tensor(test_ids), vocab, options["bptt"])
    return Workload(tokens, lambda: _language_model(options, vocab))


register(
    TaskInfo(
        name="charlstm",
        description="character-level LSTM language model on the KJV Book of Genesis (~197 KB, "
        "shipped); stands in for Penn Treebank",
        options=_lstm_options(
            epochs=10, batch_size=64, embed=32, hidden=128, layers=1, dropout=0.0, bptt=64
        ),
        metrics=_LANGUAGE_METRICS,
        default_metric="test_perplexity",
        num_classes=None,
        offline=True,
    ),
    _build_charlstm,
)


# --- tasks on user-supplied data (the paper's experiments) ------------------------------------


def _data_dir_option(what: str) -> TaskOption:
    return TaskOption("data_dir", None, f"directory holding {what}", kind="path")


def _build_mnist(options: dict[str, Any]) -> Workload:
    directory = readers.find_data_dir(
        "mnist-mlp",
        options["data_dir"],
        "mnist",
        readers.MNIST_FILES,
        readers.MNIST_SOURCE,
        gzip_ok=True,
    )
    x_train, y_train, x_test, y_test = readers.load_mnist(str(directory))
    pixels = x_train.shape[1] * x_train.shape[2]
    hidden = options["hidden"]
    data_set = _classification(x_train, y_train, x_test, y_test, 10)
    data_set.prepare = _scale_bytes
    return Workload(data_set, lambda: models.MLP(pixels, (hidden,), 10))


def _scale_bytes(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0


def _cifar_builder(task: str, classes: int, network: str) -> Builder:
    files = readers.CIFAR10_FILES if classes == 10 else readers.CIFAR100_FILES
    source = readers.CIFAR10_SOURCE if classes == 10 else readers.CIFAR100_SOURCE

    def build(options: dict[str, Any]) -> Workload:
        dataset = f"cifar{classes}"
        directory = readers.find_data_dir(task, options["data_dir"], dataset, files, source)
        data_set = _classification(*readers.load_cifar(str(directory), classes), classes)
        data_set.prepare = data.normalise_cifar
        if options["augment"]:
            data_set.augment = data.random_crop_flip
        if network == "resnet34":
            width = options["width"]
            return Workload(data_set, lambda: models.ResNet34(classes, width))
        growth = options["growth"]
        return Workload(data_set, lambda: models.DenseNet121(classes, growth))

    return build


def _register_cifar(task: str, classes: int, network: str) -> None:
    files = readers.CIFAR10_FILES if classes == 10 else readers.CIFAR100_FILES
    size = (
        TaskOption("width", 64, "channels of the first stage (64 in the paper)", low=1, high=512)
        if network == "resnet34"
        else TaskOption("growth", 32, "growth rate (32 in the paper)", low=1, high=512)
    )
    label = "ResNet-34" if network == "resnet34" else "DenseNet-121"
    register(
        TaskInfo(
            name=task,
            description=f"CIFAR-style {label} on CIFAR-{classes}, random crop + flip (GPU)",
            options=(
                # The paper: 200 epochs, batch 128, lr divided by 10 after epoch 150.
                *common_options(epochs=200, batch_size=128, decay=(150,)),
                _data_dir_option(f"CIFAR-{classes}'s python batches ({', '.join(files)})"),
                TaskOption(
                    "augment", True, "random crop (padding 4) and horizontal flip", kind="bool"
                ),
                size,
            ),
            metrics=_CLASSIFIER_METRICS,
            default_metric="test_accuracy",
            num_classes=classes,
            offline=False,
        ),
        _cifar_builder(task, classes, network),
    )


def _build_ptb(options: dict[str, Any]) -> Workload:
    corpus = options["corpus"]
    source = readers.PTB_SOURCE if corpus == "ptb" else readers.WIKITEXT2_SOURCE
    directory = readers.find_data_dir(
        "ptb-lstm", options["data_dir"], corpus, readers.TOKEN_FILES[corpus], source
    )
    train_ids, test_ids, vocab = readers.load_token_corpus(str(directory), corpus)
    tokens = Tokens(torch.tensor(train_ids), torch.tensor(test_ids), vocab, options["bptt"])
    return Workload(tokens, lambda: _language_model(options, vocab))


register(
    TaskInfo(
        name="mnist-mlp",
        description="784-256-10 MLP on MNIST (idx files)",
        options=(
            *common_options(epochs=100, batch_size=128),
            _data_dir_option("MNIST's four idx files (gzipped or not)"),
            TaskOption("hidden", 256, "hidden units", low=1, high=65_536),
        ),
        metrics=_CLASSIFIER_METRICS,
        default_metric="test_accuracy",
        num_classes=10,
        offline=False,
        supports_population=True,
    ),
    _build_mnist,
)
_register_cifar("cifar10-resnet34", 10, "resnet34")
_register_cifar("cifar10-densenet121", 10, "densenet121")
_register_cifar("cifar100-resnet34", 100, "resnet34")
register(
    TaskInfo(
        name="ptb-lstm",
        description="word-level 1-3 layer LSTM language model on Penn Treebank or WikiText-2 (GPU)",
        options=(
            # AWD-LSTM sizes as in the paper's PTB runs (without AWD's weight drop).
            *_lstm_options(
                epochs=200,
                batch_size=20,
                embed=400,
                hidden=1150,
                layers=3,
                dropout=0.4,
                bptt=70,
                decay=(100, 145),
            ),
            _data_dir_option("ptb.train.txt and ptb.test.txt (or wiki.*.tokens)"),
            TaskOption(
                "corpus",
                "ptb",
                "which token files: `ptb` or `wikitext2`",
                kind="str",
                choices=("ptb", "wikitext2"),
            ),
        ),
        metrics=_LANGUAGE_METRICS,
        default_metric="test_perplexity",
        num_classes=None,
        offline=False,
    ),
    _build_ptb,
)
