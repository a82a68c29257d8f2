"""Storage URLs: which one a verb uses, whether it is one, and how it is shown.

The only place that reads a storage URL's text: every verb resolves `--storage` here, every
message shows it through `redact_url` (password as `***`), and a SQLite file that does not exist
is found here before anything could create it.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote_plus

import sqlalchemy as sa

from hpsearch.errors import StorageError, UserInputError

DEFAULT_STORAGE = "sqlite:///hpsearch.db"
STORAGE_ENV = "HPSEARCH_STORAGE"


def resolve_storage_url(url: str | None = None) -> str:
    """The `--storage` option, else `$HPSEARCH_STORAGE`, else `sqlite:///hpsearch.db`."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


# Query parameters that carry a credential (libpq's `password`, `sslpassword`, drivers' tokens
# and keys): matched on the lowercased name.
_SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|credential|auth|^key$|api_?key|private")


_HIDDEN = "hpsearchhidden"


def _is_secret_parameter(name: str) -> bool:
    return _SECRET_PARAMETER.search(name.lower()) is not None


def redact_url(url: str) -> str:
    """The URL with every credential it carries as `***`: the password of its user info and the
    value of each query parameter naming a secret (`password`, `sslpassword`, `token`, ...).
    What every message, log line and page shows."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # not a URL SQLAlchemy reads: hide what sits between `:` and `@`, and
        # the value of any `name=value` whose name says it is a secret
        hidden = re.sub(r"(?<=:)[^:@/\s]+(?=@)", "***", url)
        return re.sub(
            r"(?<=[?&;])([^=&;#\s]+)=([^&;#\s]*)",
            lambda m: f"{m[1]}=***" if _is_secret_parameter(m[1]) else m[0],
            hidden,
        )
    original = dict(parsed.query)
    query = {k: (_HIDDEN if _is_secret_parameter(k) else v) for k, v in original.items()}
    if not parsed.password and query == original:
        return url
    # A placeholder that survives URL quoting, then the `***` every message shows.
    return parsed.set(query=query).render_as_string(hide_password=True).replace(_HIDDEN, "***")


def _secrets(url: str) -> list[str]:
    """The credentials a URL carries, each as it may be spelled in a driver's message."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        return []
    found = [str(parsed.password)] if parsed.password else []
    for name, value in dict(parsed.query).items():
        if _is_secret_parameter(name):
            found += [value] if isinstance(value, str) else list(value)
    return [s for s in found if s]


def scrub(text: str, url: str) -> str:
    """`text` with the URL and its credentials hidden, wherever a driver quoted them."""
    text = text.replace(url, redact_url(url))
    for secret in _secrets(url):
        for spelled in {secret, sa.engine.url.quote(secret), quote_plus(secret)}:
            text = text.replace(f":{spelled}@", ":***@").replace(f"={spelled}", "=***")
            text = text.replace(f"'{spelled}'", "'***'").replace(f'"{spelled}"', '"***"')
            if len(spelled) >= 4:  # quoted bare by a driver ("password sec2 was wrong")
                text = text.replace(spelled, "***")
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
