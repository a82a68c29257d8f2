"""The one rule for names that become storage keys, CSV headers and terminal lines.

A study's name, its optimizers' names, their hyperparameters' names and its task's option names
end up as Optuna study names (`NAME.OPTIMIZER`), Optuna param names, CSV column headers and
words on a terminal. Each is checked here, the same way for a built-in and for a plugin, before
anything is written:

- study: letters, digits, `.`, `_`, `-`, starting with a letter or digit; `NAME.OPTIMIZER` must
  fit the storage's name column;
- optimizer: letters, digits, `_`, `-`, starting with a letter or digit, at most 64 characters.
  No `.`: it separates the study from the optimizer in `NAME.OPTIMIZER`, so study `x` with
  optimizer `y.adam` and study `x.y` with `adam` would be the same Optuna study;
- hyperparameter and task option: a Python identifier of ASCII letters, digits and `_` (they are
  keyword arguments), at most 64 characters, and never a column hpsearch's tables already have
  (`RESERVED_COLUMNS`: `seed`, `value`, ...) or one of the task's metrics.

No rule allows a control character, so no name can carry a NUL, a newline or an ANSI escape to
a database or a terminal; `printable` shows any other text (a description, a name read from an
older storage) with its control characters escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS

NAME_LENGTH = 64  # optimizer, hyperparameter and task option names
STUDY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
OPTIMIZER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Columns of trials.csv / curves.csv and the analysis tables that a hyperparameter would shadow
# (trials.csv holds one column per hyperparameter beside these, and `config` is its config id).
RESERVED_COLUMNS = frozenset(
    (*TRIAL_COLUMNS, *CURVE_COLUMNS, "config", "hyperparameter", "params", "trial_id", "state")
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def printable(text: object, *, lines: bool = False) -> str:
    """`text` with every control character (NUL, newline, ESC, ...) escaped, for a terminal;
    with `lines`, newlines are kept (a message of several lines whose names are escaped)."""
    control = _CONTROL_BUT_NEWLINE if lines else _CONTROL
    return control.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def optimizer_name_problem(name: str) -> str | None:
    """Why `name` cannot name an optimizer, or None."""
    if not isinstance(name, str) or not OPTIMIZER_PATTERN.fullmatch(name):
        return (
            f"{printable(repr(name))} is not a valid optimizer name; use letters, digits, `_` and "
            "`-`, starting with a letter or digit (no `.`: it separates the study from the "
            "optimizer in storage)."
        )
    if len(name) > NAME_LENGTH:
        return f"the optimizer name has {len(name)} characters; at most {NAME_LENGTH} are allowed."
    return None


def identifier_problem(
    kind: str, name: str, *, columns: bool = False, metrics: Iterable[str] = ()
) -> str | None:
    """Why `name` cannot name a hyperparameter or a task option (`kind`), or None. A name that
    becomes a column (`columns`: a hyperparameter) must not be a reserved one or one of the
    task's `metrics`, which are columns of trials.csv too."""
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.fullmatch(name):
        return (
            f"{printable(repr(name))} is not a valid {kind} name; use ASCII letters, digits and "
            "`_`, not starting with a digit."
        )
    if len(name) > NAME_LENGTH:
        return f"the {kind} name `{name}` has {len(name)} characters; at most {NAME_LENGTH}."
    reserved = RESERVED_COLUMNS | set(metrics)
    if columns and name in reserved:
        return (
            f"`{name}` is a column of hpsearch's tables and cannot name a {kind}; the reserved "
            f"names are {', '.join(sorted(reserved))}."
        )
    return None
