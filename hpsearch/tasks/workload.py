"""What a task builder hands the training loop: data tensors and a model factory.

Tasks differ only in data and model; the loop in `hpsearch.tasks.train` is shared. The model is a
factory so the loop can seed torch before the weights are drawn.
"""

from __future__ import annotations

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
