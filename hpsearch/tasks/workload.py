"""What a task builder hands the training loop: data tensors and a model factory.

Tasks differ only in data and model; the loop in `hpsearch.tasks.train` is shared. The model is a
factory so the loop can seed torch before the weights are drawn.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Classification:
    """A labelled data set held in memory (uint8 images stay uint8 until a batch is drawn)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    # Applied to every batch (train and test) on the device, e.g. uint8 -> normalised float.
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None
    # Applied to training batches only, after `prepare`, with the trial's generator.
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

    def to(self, device: torch.device) -> Classification:
        return Classification(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.num_classes,
            self.prepare,
            self.augment,
        )


@dataclass
class Tokens:
    """A token stream for a language model: 1-D int64 tensors of token ids."""

    train: torch.Tensor
    test: torch.Tensor
    vocab_size: int
    bptt: int  # truncated back-propagation length

    def to(self, device: torch.device) -> Tokens:
        return Tokens(self.train.to(device), self.test.to(device), self.vocab_size, self.bptt)


@dataclass
class Supervised:
    """Inputs and targets with the task's own loss, for what is not classification (a
    regression, say): the loop reports `train_loss` and `test_loss` (minimised), no accuracy
    and no chance level."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    # (model output, targets) -> the batch's mean loss, a scalar tensor.
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None

    def to(self, device: torch.device) -> Supervised:
        return Supervised(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.loss,
            self.prepare,
        )


@dataclass
class Workload:
    data: Classification | Tokens | Supervised
    make_model: Callable[[], nn.Module]


def model_numel(make_model: Callable[[], nn.Module]) -> int | None:
    """The parameters (elements) of the model `make_model` builds, counted by building it on
    the meta device (no memory, no random draws); None if it cannot be built there."""
    try:
        with torch.device("meta"):
            model = make_model()
    except Exception:  # a model factory that needs real tensors: nothing to say in advance
        return None
    return sum(p.numel() for p in model.parameters())


def check_model_size(task: str, make_model: Callable[[], nn.Module], device: torch.device) -> None:
    """Refuse, before a byte is allocated, a model larger than the device's memory (a size
    option set far too high, say): a `UserInputError` naming the task, not an allocator crash."""
    from hpsearch.errors import UserInputError

    numel = model_numel(make_model)
    if numel is None:
        return
    if device.type == "cuda":
        memory = torch.cuda.get_device_properties(device).total_memory
    else:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    needed = 4 * numel  # float32 weights alone; training needs several times this
    if needed > memory:
        raise UserInputError(
            f"The model of task `{task}` has {numel:,} parameters ({needed / 2**30:,.1f} GiB of "
            f"weights), more than the {memory / 2**30:,.1f} GiB of memory of {device}; check "
            "the task's size options (`hpsearch catalog tasks`)."
        )
