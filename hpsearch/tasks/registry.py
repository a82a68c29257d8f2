"""Task registry (placeholder: the tasks issue fills this in)."""

from __future__ import annotations

from hpsearch.errors import UnknownNameError
from hpsearch.tasks.base import TaskInfo

_REGISTRY: dict[str, TaskInfo] = {}


def list_tasks() -> list[TaskInfo]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_task_info(name: str) -> TaskInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("task", name, _REGISTRY) from None
