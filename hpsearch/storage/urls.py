"""Storage URLs: which one a verb uses, whether it is one, and how it is shown.

The only place that reads a storage URL's text: every verb resolves `--storage` here, every
message shows it through `redact_url` (password as `***`), and a SQLite file that does not exist
is found here before anything could create it.
"""

from __future__ import annotations

import os
import re

import sqlalchemy as sa

from hpsearch.errors import StorageError, UserInputError

DEFAULT_STORAGE = "sqlite:///hpsearch.db"
STORAGE_ENV = "HPSEARCH_STORAGE"


def resolve_storage_url(url: str | None = None) -> str:
    """The `--storage` option, else `$HPSEARCH_STORAGE`, else `sqlite:///hpsearch.db`."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def redact_url(url: str) -> str:
    """The URL with its password as `***`: what every message, log line and page shows."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # not a URL SQLAlchemy reads: hide whatever sits between `:` and `@`
        return re.sub(r"(?<=:)[^:@/\s]+(?=@)", "***", url)
    if not parsed.password:
        return url
    return parsed.render_as_string(hide_password=True)


def scrub(text: str, url: str) -> str:
    """`text` with the URL and its password hidden, wherever a driver quoted them."""
    text = text.replace(url, redact_url(url))
    try:
        password = sa.engine.make_url(url).password
    except Exception:
        return text
    if password:
        for spelled in {str(password), sa.engine.url.quote(str(password))}:
            text = text.replace(f":{spelled}@", ":***@").replace(f"={spelled}", "=***")
    return text


def check_url(url: str) -> None:
    """Refuse (exit 2) a `--storage` that is no database URL, e.g. with its scheme forgotten."""
    if "://" not in url:
        raise UserInputError(
            f"`--storage {redact_url(url)}` is not a database URL; expected e.g. "
            "`sqlite:///hpsearch.db` or `postgresql+psycopg://user@host/db` (option `--storage` "
            "or $HPSEARCH_STORAGE)."
        )


def sqlite_path(url: str) -> str | None:
    """The file of a `sqlite:///` URL (None for other databases and `:memory:`)."""
    if not url.startswith("sqlite"):
        return None
    try:
        path = sa.engine.make_url(url).database
    except Exception:
        return None
    return path if path and path != ":memory:" else None


def is_missing_file(url: str) -> bool:
    """True for a SQLite URL whose file does not exist (opening it would create one)."""
    path = sqlite_path(url)
    return path is not None and not os.path.exists(path)


def check_readable(url: str) -> None:
    """Refuse a URL a reader cannot use without creating something: not a URL (exit 2), or a
    SQLite file that does not exist (exit 3, saying how to make one)."""
    check_url(url)
    if is_missing_file(url):
        raise StorageError(
            f"Cannot open the storage `{redact_url(url)}`: the file `{sqlite_path(url)}` does "
            "not exist. Run a study first (`hpsearch run studies/NAME.toml`) or pass "
            "`--storage` / $HPSEARCH_STORAGE."
        )
