"""Connections to the database: engines, errors as users see them, and patience through outages.

Writers open an Optuna `RDBStorage` (`open_storage`, which creates the schema); readers get a
plain engine (`read_engine`) that never creates anything, so a read-only verb leaves an empty
database or a 0-byte file as it was. A database that cannot be opened or reached is a
`StorageError` (exit 3) in one line, without SQL text and without the password.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

import numpy as np
import optuna
import sqlalchemy as sa
from optuna.storages import RDBStorage

from hpsearch.errors import HpsearchError, StorageError, UserInputError
from hpsearch.storage.urls import check_readable, check_url, is_missing_file, redact_url, scrub

# How long `hpsearch run` keeps retrying writes while the database is unreachable (a restart, a
# failover) before it stops with the resume hint; finished results wait in memory meanwhile.
RETRY_ENV = "HPSEARCH_STORAGE_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 300.0
# The table every Optuna schema has: a database without it holds no study yet.
OPTUNA_STUDIES_TABLE = "studies"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage_reason(error: BaseException, url: str = "") -> str:
    """A driver error in one line, without SQLAlchemy's "[SQL: ...]" and "Background on this
    error" text, and with no password."""
    orig = getattr(error, "orig", None)
    text = str(orig) if orig is not None else str(error)
    text = text.split("[SQL:")[0].split("(Background on this error")[0]
    text = " ".join(text.split()) or type(error).__name__
    return scrub(text, url) if url else text


def storage_failure(url: str, error: BaseException) -> StorageError:
    """The one error for a storage that cannot be opened or reached (exit code 3)."""
    return StorageError(
        f"Cannot open or reach the storage `{redact_url(url)}`: {storage_reason(error, url)}"
    )


_P = ParamSpec("_P")
_R = TypeVar("_R")


def reports_storage_errors(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn driver errors of a function whose first argument is the URL into `storage_failure`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except HpsearchError:
            raise
        except (sa.exc.SQLAlchemyError, OSError) as error:
            raise storage_failure(str(args[0]), error) from error

    return wrapper


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """The same as a block: driver errors inside become `storage_failure(url, ...)`."""
    try:
        yield
    except HpsearchError:
        raise
    except (sa.exc.SQLAlchemyError, OSError) as error:
        raise storage_failure(url, error) from error


def is_unreachable(error: BaseException) -> bool:
    """True for a lost or refused connection (or a locked SQLite file): worth retrying, as
    opposed to an error in what was sent. Optuna wraps driver errors, so follow the chain."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, sa.exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, sa.exc.OperationalError | sa.exc.InterfaceError):
            return True
        if type(seen).__module__.startswith("psycopg") and type(seen).__name__ in (
            "OperationalError",
            "InterfaceError",
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_seconds() -> float:
    """`$HPSEARCH_STORAGE_RETRY_SECONDS`, else `DEFAULT_RETRY_SECONDS`."""
    raw = os.environ.get(RETRY_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_RETRY_SECONDS
    except ValueError:
        raise UserInputError(f"${RETRY_ENV}: expected a number of seconds, got {raw!r}.") from None


def with_retries(
    fn: Callable[[], _R],
    *,
    seconds: float,
    on_wait: Callable[[BaseException, float], None] | None = None,
) -> _R:
    """`fn()`, called again with backoff (0.5 s doubling to 10 s) while the database is
    unreachable, for at most `seconds`; then the last error. `on_wait(error, waited)` is told
    before each pause. Callers retry whole transactions, so a retry never half-applies."""
    started = time.monotonic()
    delay = 0.5
    while True:
        try:
            return fn()
        except Exception as error:
            waited = time.monotonic() - started
            if not is_unreachable(error) or waited + delay > seconds:
                raise
            if on_wait is not None:
                on_wait(error, waited)
            time.sleep(delay)
            delay = min(2 * delay, 10.0)


def engine_kwargs(url: str) -> dict[str, Any]:
    # SQLite: a 60 s busy timeout (5 s lost writes under load). Everywhere: test a pooled
    # connection before use, so a database restarted under a long study is simply reconnected.
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
    return kwargs


_OPEN: dict[str, RDBStorage] = {}
_READ: dict[str, sa.Engine] = {}
_READ_API: dict[str, RDBStorage] = {}


def open_storage(url: str) -> RDBStorage:
    """An Optuna RDB storage for writing: creates the schema (and a SQLite file) if missing.

    Only `hpsearch run` calls it, after every check on the input has passed; readers use
    `read_engine`, which creates nothing.
    """
    if url in _OPEN:
        return _OPEN[url]
    check_url(url)
    try:
        storage = RDBStorage(url, engine_kwargs=engine_kwargs(url))
    except Exception as first:
        # Two drivers opening a brand-new PostgreSQL database race to create Optuna's schema;
        # the loser sees a duplicate type or table. The winner's schema is then there: retry.
        time.sleep(1.0)
        try:
            storage = RDBStorage(url, engine_kwargs=engine_kwargs(url))
        except Exception as error:
            raise storage_failure(url, error) from first
    _OPEN[url] = storage
    return storage


def read_engine(url: str, *, missing_ok: bool = False) -> sa.Engine | None:
    """An engine for reading that never writes: None when the database holds no Optuna schema
    yet (an empty PostgreSQL database, a 0-byte file; a missing SQLite file too if
    `missing_ok`, else a `StorageError`)."""
    if url in _OPEN:
        return _OPEN[url].engine
    if missing_ok and is_missing_file(url):
        return None
    check_readable(url)
    engine = _READ.get(url)
    if engine is None:
        try:
            engine = sa.create_engine(url, **engine_kwargs(url))
        except Exception as error:  # a malformed URL or a missing driver
            raise storage_failure(url, error) from error
        _READ[url] = engine
    with storage_errors(url), engine.connect() as conn:
        if not sa.inspect(conn).has_table(OPTUNA_STUDIES_TABLE):
            return None
    return engine


def read_storage(url: str) -> RDBStorage:
    """Optuna's own storage over an existing schema, for reading through its public API (it
    creates no table: `read_engine` found the schema first)."""
    if url in _OPEN:
        return _OPEN[url]
    if url not in _READ_API:
        _READ_API[url] = RDBStorage(url, engine_kwargs=engine_kwargs(url), skip_table_creation=True)
    return _READ_API[url]


def close_storages() -> None:
    """Dispose every open engine (tests stop their PostgreSQL server after this)."""
    for storage in [*_OPEN.values(), *_READ_API.values()]:
        storage.engine.dispose()
    for engine in _READ.values():
        engine.dispose()
    _OPEN.clear()
    _READ.clear()
    _READ_API.clear()


def jsonable(value: Any) -> Any:
    """JSON that browsers accept: non-finite floats travel as strings ("nan", "inf"), as
    `JSON.parse` in optuna-dashboard rejects NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return value
