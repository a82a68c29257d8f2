"""Study groups: one Optuna study per (spec, optimizer), tied together by user attributes.

A group is named after its spec; its studies `<spec>.<optimizer>` each carry the group's name
(`hpsearch_group`), the resolved spec and its hash, the metric and direction, the task and the
optimizer's search space, so that optuna-dashboard shows each as-is and hpsearch finds them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.study import StudyDirection

from hpsearch.errors import UserInputError
from hpsearch.storage.access import StoredStudy, TrialAccess
from hpsearch.storage.backends import reader_access, writer_access
from hpsearch.storage.connection import (
    jsonable,
    open_storage,
    read_engine,
    reports_storage_errors,
)
from hpsearch.storage.urls import redact_url


@dataclass
class GroupInfo:
    """What `prepare_group` needs to know about a spec (kept free of the spec module's types)."""

    name: str
    spec: dict[str, Any]
    spec_hash: str
    metric: str
    direction: str  # "maximize" | "minimize"
    task: str
    num_classes: int | None
    optimizers: dict[str, dict[str, dict[str, Any]]]  # optimizer -> search space (see spec.py)


@dataclass
class GroupStudy:
    """One study of a group: its id, name, optimizer and user attributes."""

    study_id: int
    name: str
    optimizer: str
    user_attrs: dict[str, Any]


def group_studies(access: TrialAccess, group: str) -> list[GroupStudy]:
    """The studies of group `group`, by optimizer."""
    out = []
    for study in access.studies():
        if study.user_attrs.get("hpsearch_group") == group:
            out.append(_group_study(study))
    return sorted(out, key=lambda s: s.optimizer)


def group_names(access: TrialAccess) -> list[str]:
    """Every group name in a storage."""
    return sorted(
        {
            str(s.user_attrs["hpsearch_group"])
            for s in access.studies()
            if "hpsearch_group" in s.user_attrs
        }
    )


def _group_study(study: StoredStudy) -> GroupStudy:
    optimizer = str(study.user_attrs.get("optimizer", study.name.split(".")[-1]))
    return GroupStudy(study.study_id, study.name, optimizer, study.user_attrs)


@reports_storage_errors
def check_group(url: str, group: GroupInfo, *, force: bool = False) -> None:
    """Refuse (exit 2) a spec whose content changed under the same name; writes nothing.

    Only reads: a fresh database (or file) is left as it was.
    """
    engine = read_engine(url, missing_ok=True)
    if engine is None:
        return
    access = reader_access(url, engine)
    ours = {f"{group.name}.{optimizer}" for optimizer in group.optimizers}
    for stored in access.studies():
        owner = stored.user_attrs.get("hpsearch_group")
        if stored.name in ours and owner is not None and owner != group.name:
            # Only an older hpsearch let an optimizer name hold a `.`: study `x` with `y.adam`
            # is the Optuna study of study `x.y` with `adam`. Never take another group's over.
            raise UserInputError(
                f"The Optuna study `{stored.name}` in `{redact_url(url)}` belongs to the study "
                f"`{owner}`, not `{group.name}`; rename this study (`name = ...`) or use another "
                "`--storage`."
            )
    for study in group_studies(access, group.name):
        old = study.user_attrs.get("spec_hash")
        if old is None:
            # Created but not yet labelled: another driver is inside `prepare_group` right now
            # (it creates the study, then sets its attributes). Not a different spec.
            continue
        if old != group.spec_hash and not force:
            raise UserInputError(
                f"The study `{group.name}` in `{redact_url(url)}` was created from a different "
                f"spec (hash {old}, now {group.spec_hash}; study `{study.name}`). "
                "Rename the study (`name = ...`), use another `--storage`, or pass `--force` to "
                "add to it."
            )


@reports_storage_errors
def prepare_group(url: str, group: GroupInfo, *, force: bool = False) -> dict[str, int]:
    """Create (or reopen) the study of every optimizer; returns optimizer → Optuna study id."""
    check_group(url, group, force=force)
    storage = open_storage(url)
    ids: dict[str, int] = {}
    direction = (
        StudyDirection.MAXIMIZE if group.direction == "maximize" else StudyDirection.MINIMIZE
    )
    attrs = {
        "hpsearch_group": group.name,
        "metric": group.metric,
        "direction": group.direction,
        "task": group.task,
        "num_classes": group.num_classes,
        "spec": group.spec,
        "spec_hash": group.spec_hash,
    }
    for optimizer, space in group.optimizers.items():
        name = f"{group.name}.{optimizer}"
        try:
            study_id = storage.get_study_id_from_name(name)
        except KeyError:
            try:
                study_id = storage.create_new_study([direction], name)
            except optuna.exceptions.DuplicatedStudyError:  # another driver just made it
                study_id = storage.get_study_id_from_name(name)
        for key, value in {**attrs, "optimizer": optimizer, "search_space": space}.items():
            storage.set_study_user_attr(study_id, key, jsonable(value))
        ids[optimizer] = study_id
    return ids


@reports_storage_errors
def group_attrs(url: str, name: str) -> dict[str, Any]:
    """The user attributes of group `name` (its first study's); {} where there is no such group
    or no database yet. Only reads."""
    engine = read_engine(url, missing_ok=True)
    if engine is None:
        return {}
    studies = group_studies(reader_access(url, engine), name)
    return dict(studies[0].user_attrs) if studies else {}


@reports_storage_errors
def set_group_attrs(url: str, study_ids: Iterable[int], attrs: Mapping[str, Any]) -> None:
    """Set user attributes on every study of a group (`study_ids`), so each reads the same."""
    storage = open_storage(url)
    for study_id in study_ids:
        for key, value in attrs.items():
            storage.set_study_user_attr(study_id, key, jsonable(value))


@reports_storage_errors
def finished_cells(url: str, study_ids: Iterable[int]) -> set[str]:
    """Keys of the cells with a COMPLETE trial (completed or diverged) in these studies."""
    ids = list(study_ids)
    if not ids:
        return set()
    return writer_access(url).cells(ids, "COMPLETE")


def is_cell_finished(url: str, study_id: int, cell: str) -> bool:
    """One cell's check, made right after claiming it (another driver may just have finished)."""
    return writer_access(url).has_cell(study_id, cell, "COMPLETE")
