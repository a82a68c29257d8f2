"""Files the CLI writes (CSV exports, the HTML report): checked before any work, written
atomically, with the permissions the user's umask asks for.

A bad `--out` (a path through a file, a folder where a file is wanted, a place that cannot be
written) is bad input: a `UserInputError` saying what is wrong, raised before the study is even
read. Files are written under a temporary name in the same folder and renamed into place, so a
reader never sees half a file; `tempfile.mkstemp` makes them 0600, which would hide a shared
report from its readers, so they get `0666 & ~umask` like any file `open()` creates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from hpsearch.errors import UserInputError


def _writable_ancestor(path: Path, option: str) -> None:
    """Refuse `path` unless its nearest existing ancestor is a folder we may write into."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserInputError(
            f"{option} {path}: `{ancestor}` is a file, so `{path}` cannot be created under it."
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserInputError(
            f"{option} {path}: cannot create it, `{ancestor}` is not writable for this user."
        )


def check_output_dir(path: str | Path, option: str = "--out") -> Path:
    """The folder `path` if it is one we can write into or create; nothing is created yet."""
    out = Path(path)
    if out.exists():
        if not out.is_dir():
            raise UserInputError(f"{option} {out}: exists and is not a folder; give a folder.")
        if not os.access(out, os.W_OK | os.X_OK):
            raise UserInputError(f"{option} {out}: the folder is not writable for this user.")
        return out
    _writable_ancestor(out, option)
    return out


def make_output_dir(path: str | Path, option: str = "--out") -> Path:
    """`check_output_dir`, then create the folder (and its parents)."""
    out = check_output_dir(path, option)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. /proc, a read-only file system: the checks can't see all
        raise UserInputError(
            f"{option} {out}: cannot create the folder ({error.strerror})."
        ) from None
    return out


def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """The file `path` if it can be written (its folder exists or can be created)."""
    out = Path(path)
    if out.is_dir():
        raise UserInputError(
            f"{option} {out}: is a folder; give a file name, e.g. `{out / 'report.html'}`."
        )
    if out.exists() and not out.is_file():
        raise UserInputError(f"{option} {out}: exists and is not a regular file.")
    _writable_ancestor(out, option)
    return out


def file_mode() -> int:
    """The mode `open()` would give a new file under the current umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def temp_file(final: Path) -> Path:
    """An empty file next to `final` (same file system, so a rename is atomic), mode per umask."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as error:
        raise UserInputError(f"--out {final}: cannot write there ({error.strerror}).") from None
    os.close(fd)
    os.chmod(name, file_mode())
    return Path(name)


def write_atomically(
    final: str | Path, write: Callable[[Path], None], option: str = "--out"
) -> Path:
    """Create `final`'s folder, call `write(temporary path)`, then rename it to `final`."""
    final = check_output_file(final, option)
    make_output_dir(final.parent, option)
    tmp = temp_file(final)
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return final
