"""The errors hpsearch shows to users.

Every user-facing failure is one of these, so the CLI can print a clear message and pick the exit
code (2 for bad input, 1 for a failed run, 3 for a storage or Ray cluster that cannot be opened
or reached) without a traceback unless `--debug` is given.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HpsearchError(Exception):
    """Base class: a message meant for the user."""

    exit_code = 1


class UserInputError(HpsearchError):
    """Bad input (a spec, an option, a name): exit code 2, nothing written."""

    exit_code = 2


class UnknownNameError(UserInputError, KeyError):
    """A registry key that does not exist; the message suggests the closest names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
        message = f"Unknown {kind} `{name}`.{hint} Known: {', '.join(known)}."
        super().__init__(message)
        self.kind = kind
        self.name = name

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(UserInputError):
    """A data directory or file that is missing or malformed."""


class UnknownStudyError(UserInputError):
    """A study name that is not in the storage: exit code 2, like any bad input."""


class ClusterError(HpsearchError):
    """A Ray cluster (`--ray-address`) that cannot be joined: exit code 3, like a storage that
    cannot be reached (an unreachable service or a missing credential, not a failed run)."""

    exit_code = 3


class StorageError(HpsearchError):
    """A storage that cannot be opened or reached: exit code 3, whatever the verb, so scripts
    can tell "try again later" from "bad input" and "failed run"."""

    exit_code = 3
