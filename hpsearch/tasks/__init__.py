"""Training tasks: data + model + training loop, registered by name.

Public API (the contract the scheduler, spec validation and the CLI use):
- `list_tasks() -> list[TaskInfo]`, `get_task_info(name) -> TaskInfo` (unknown: did-you-mean);
- `train(task, optimizer, hyperparameters, seed, *, options=None, epochs=None, device="cpu",
  on_epoch=None) -> TrialResult`, where `on_epoch(epoch: int, metrics: dict[str, float])` is
  called after every epoch (epochs count from 1).
"""

from hpsearch.tasks.base import TaskInfo, TaskOption, TrialResult, metric_direction
from hpsearch.tasks.registry import TaskDefinition, common_options, get_task_info, list_tasks
from hpsearch.tasks.train import train

__all__ = [
    "TaskDefinition",
    "TaskInfo",
    "TaskOption",
    "TrialResult",
    "common_options",
    "get_task_info",
    "list_tasks",
    "metric_direction",
    "train",
]
