"""The Optuna database: the only module that knows Optuna's storage API and tables.

Layout: one Optuna study per (spec, optimizer), named `<spec>.<optimizer>`, whose user
attributes tie it to its group (`hpsearch_group`), the resolved spec and its hash. One trial per
cell: the searched hyperparameters are Optuna params, everything else is a user attribute
(`cell`, `seed`, `fixed`, `outcome`, `curves`, `final`, ...). Diverged cells are COMPLETE at the
floor; errors are FAIL with the message.

Writes are few and batched, because each SQLite commit costs milliseconds: a trial is created
RUNNING in one transaction and finished in one (values, curves, attributes and state together).
Attributes are written before the state, as Optuna refuses changes to a finished trial.

Exactly-once across concurrent drivers: `CellClaims` keeps a small table of our own in the same
database with a unique (study, cell) key, the owner and a heartbeat. A driver runs a cell only
after claiming it; a claim whose owner is dead (same host and pid gone, or heartbeat stale) is
taken over with a compare-and-set on the owner.

Readers (`check_group`, `list_study_groups`, `load_study_data`) use a plain engine and never
create Optuna's schema: a read-only verb or a refused run leaves an empty database or a 0-byte
file as it was. Every message shows the URL with its password as `***` (`redact_url`), and a
database that cannot be opened or reached is a `StorageError` (exit 3) without SQL internals.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np
import optuna
import pandas as pd
import sqlalchemy as sa
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.study import StudyDirection
from optuna.trial import TrialState, create_trial

from hpsearch.errors import HpsearchError, StorageError, UnknownStudyError, UserInputError
from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS, StudyData

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "sqlite:///hpsearch.db"
STORAGE_ENV = "HPSEARCH_STORAGE"
STALE_SECONDS = 120.0  # a claim not heartbeaten for this long belongs to a dead driver
# How long `hpsearch run` keeps retrying writes while the database is unreachable (a restart, a
# failover) before it stops with the resume hint; finished results wait in memory meanwhile.
RETRY_ENV = "HPSEARCH_STORAGE_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 300.0

optuna.logging.set_verbosity(optuna.logging.WARNING)


def resolve_storage_url(url: str | None = None) -> str:
    """The `--storage` option, else `$HPSEARCH_STORAGE`, else `sqlite:///hpsearch.db`."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


# --- URLs and errors as users see them ---------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL with its password as `***`: what every message, log line and page shows."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # not a URL SQLAlchemy reads: hide whatever sits between `:` and `@`
        return re.sub(r"(?<=:)[^:@/\s]+(?=@)", "***", url)
    if not parsed.password:
        return url
    return parsed.render_as_string(hide_password=True)


def _scrub(text: str, url: str) -> str:
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


def storage_reason(error: BaseException, url: str = "") -> str:
    """A driver error in one line, without SQLAlchemy's "[SQL: ...]" and "Background on this
    error" text, and with no password."""
    orig = getattr(error, "orig", None)
    text = str(orig) if orig is not None else str(error)
    text = text.split("[SQL:")[0].split("(Background on this error")[0]
    text = " ".join(text.split()) or type(error).__name__
    return _scrub(text, url) if url else text


def storage_failure(url: str, error: BaseException) -> StorageError:
    """The one error for a storage that cannot be opened or reached (exit code 3)."""
    return StorageError(
        f"Cannot open or reach the storage `{redact_url(url)}`: {storage_reason(error, url)}"
    )


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _storage_errors(fn: Callable[_P, _R]) -> Callable[_P, _R]:
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


# --- engines -----------------------------------------------------------------------------------


def _engine_kwargs(url: str) -> dict[str, Any]:
    # SQLite: a 60 s busy timeout (5 s lost writes under load). Everywhere: test a pooled
    # connection before use, so a database restarted under a long study is simply reconnected.
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
    return kwargs


def check_url(url: str) -> None:
    """Refuse (exit 2) a `--storage` that is no database URL, e.g. with its scheme forgotten."""
    if "://" not in url:
        raise UserInputError(
            f"`--storage {redact_url(url)}` is not a database URL; expected e.g. "
            "`sqlite:///hpsearch.db` or `postgresql+psycopg://user@host/db` (option `--storage` "
            "or $HPSEARCH_STORAGE)."
        )


def _sqlite_path(url: str) -> str | None:
    """The file of a `sqlite:///` URL (None for other databases and `:memory:`)."""
    if not url.startswith("sqlite"):
        return None
    try:
        path = sa.engine.make_url(url).database
    except Exception:
        return None
    return path if path and path != ":memory:" else None


_OPEN: dict[str, RDBStorage] = {}
_READ: dict[str, sa.Engine] = {}


def open_storage(url: str) -> RDBStorage:
    """An Optuna RDB storage for writing: creates the schema (and a SQLite file) if missing.

    Only `hpsearch run` calls it, after every check on the input has passed; readers use
    `_read_engine`, which creates nothing.
    """
    if url in _OPEN:
        return _OPEN[url]
    check_url(url)
    try:
        storage = RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except Exception as first:
        # Two drivers opening a brand-new PostgreSQL database race to create Optuna's schema;
        # the loser sees a duplicate type or table. The winner's schema is then there: retry.
        time.sleep(1.0)
        try:
            storage = RDBStorage(url, engine_kwargs=_engine_kwargs(url))
        except Exception as error:
            raise storage_failure(url, error) from first
    _OPEN[url] = storage
    return storage


def _read_engine(url: str, *, missing_ok: bool = False) -> sa.Engine | None:
    """An engine for reading that never writes: None when the database holds no Optuna schema
    yet (an empty PostgreSQL database, a 0-byte file; a missing SQLite file too if
    `missing_ok`, else a `StorageError`)."""
    if url in _OPEN:
        return _OPEN[url].engine
    check_url(url)
    path = _sqlite_path(url)
    if path is not None and not os.path.exists(path):
        if missing_ok:
            return None
        raise StorageError(
            f"Cannot open the storage `{redact_url(url)}`: the file `{path}` does not exist. Run "
            "a study first (`hpsearch run studies/NAME.toml`) or pass `--storage` / "
            "$HPSEARCH_STORAGE."
        )
    engine = _READ.get(url)
    if engine is None:
        try:
            engine = sa.create_engine(url, **_engine_kwargs(url))
        except Exception as error:  # a malformed URL or a missing driver
            raise storage_failure(url, error) from error
        _READ[url] = engine
    with storage_errors(url), engine.connect() as conn:
        if not sa.inspect(conn).has_table(models.StudyModel.__tablename__):
            return None
    return engine


def close_storages() -> None:
    """Dispose every open engine (tests stop their PostgreSQL server after this)."""
    for storage in _OPEN.values():
        storage.engine.dispose()
    for engine in _READ.values():
        engine.dispose()
    _OPEN.clear()
    _READ.clear()


# --- JSON that browsers accept: non-finite floats travel as strings ---------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf": JSON.parse in optuna-dashboard rejects NaN
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def _as_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# --- study groups -----------------------------------------------------------------------------


def _distribution(space: Mapping[str, Any]) -> BaseDistribution:
    if space["kind"] == "bool":
        return CategoricalDistribution(list(space["choices"]))
    if space["kind"] == "int":
        return IntDistribution(int(space["low"]), int(space["high"]), log=space["log"])
    return FloatDistribution(float(space["low"]), float(space["high"]), log=space["log"])


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


@_storage_errors
def check_group(url: str, group: GroupInfo, *, force: bool = False) -> None:
    """Refuse (exit 2) a spec whose content changed under the same name; writes nothing.

    Only reads: a fresh database (or file) is left as it was.
    """
    engine = _read_engine(url, missing_ok=True)
    if engine is None:
        return
    summaries = {s.optimizer: s for s in _group_studies(engine, group.name)}
    for optimizer, summary in summaries.items():
        old = summary.user_attrs.get("spec_hash")
        if old is None:
            # Created but not yet labelled: another driver is inside `prepare_group` right now
            # (it creates the study, then sets its attributes). Not a different spec.
            continue
        if old != group.spec_hash and not force:
            raise UserInputError(
                f"The study `{group.name}` in `{redact_url(url)}` was created from a different "
                f"spec (hash {old}, now {group.spec_hash}; study `{group.name}.{optimizer}`). "
                "Rename the study (`name = ...`), use another `--storage`, or pass `--force` to "
                "add to it."
            )


@_storage_errors
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
            storage.set_study_user_attr(study_id, key, _jsonable(value))
        ids[optimizer] = study_id
    return ids


@_storage_errors
def finished_cells(url: str, study_ids: Iterable[int]) -> set[str]:
    """Keys of the cells with a COMPLETE trial (completed or diverged) in these studies."""
    ids = list(study_ids)
    if not ids:
        return set()
    engine = open_storage(url).engine
    query = sa.text(
        "SELECT a.value_json FROM trial_user_attributes a JOIN trials t ON a.trial_id = t.trial_id "
        "WHERE a.key = 'cell' AND t.state = 'COMPLETE' AND t.study_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    with engine.connect() as conn:
        return {json.loads(row[0]) for row in conn.execute(query, {"ids": ids})}


def is_cell_finished(url: str, study_id: int, cell: str) -> bool:
    """One cell's check, made right after claiming it (another driver may just have finished)."""
    engine = open_storage(url).engine
    query = sa.text(
        "SELECT 1 FROM trial_user_attributes a JOIN trials t ON a.trial_id = t.trial_id "
        "WHERE a.key = 'cell' AND a.value_json = :cell AND t.state = 'COMPLETE' "
        "AND t.study_id = :sid LIMIT 1"
    )
    with engine.connect() as conn:
        return conn.execute(query, {"cell": json.dumps(cell), "sid": study_id}).first() is not None


# --- claims: exactly-once across concurrent drivers -------------------------------------------

_claims_meta = sa.MetaData()
_claims = sa.Table(
    "hpsearch_cell_claims",
    _claims_meta,
    sa.Column("study", sa.String(255), primary_key=True),
    sa.Column("cell", sa.String(512), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("heartbeat", sa.Float, nullable=False),
)


# The longest Optuna study name (`NAME.OPTIMIZER`) both tables keep: spec names are checked
# against it before anything is written (`hpsearch.spec.check_study_name`).
STUDY_NAME_LENGTH: int = min(
    getattr(_claims.c.study.type, "length", None) or 255,
    getattr(models.StudyModel.__table__.c.study_name.type, "length", None) or 512,
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CellClaims:
    """This driver's claims on cells: claim before running, release after recording."""

    def __init__(self, url: str, *, stale_seconds: float = STALE_SECONDS) -> None:
        self.engine = open_storage(url).engine
        with storage_errors(url):
            try:
                _claims_meta.create_all(self.engine)
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                # Two drivers starting together race to create the table; PostgreSQL lets the
                # loser fail on the duplicate type. The winner's table is there now: check again.
                time.sleep(0.5)
                _claims_meta.create_all(self.engine)
        self.host = socket.gethostname()[:255]
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self.stale_seconds = stale_seconds
        self._last_beat = 0.0

    def _stale(self, row: Any, now: float) -> bool:
        if row.owner == self.owner:
            return True  # ours already (a retried trial)
        if row.host == self.host:
            # Same machine: the pid tells. Our own pid with another token is an earlier run
            # in this process, which has ended (runs in one process are sequential).
            return row.pid == self.pid or not _pid_alive(row.pid)
        return now - row.heartbeat > self.stale_seconds

    def claim(self, study: str, cell: str) -> bool:
        """Atomically take `cell`; False when a live driver holds it."""
        now = time.time()
        values = {
            "study": study,
            "cell": cell,
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "heartbeat": now,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(_claims.insert().values(**values))
            return True
        except sa.exc.IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(_claims).where(_claims.c.study == study, _claims.c.cell == cell)
            ).first()
            if row is None:  # released in between: try once more from the top
                return self._insert_or_false(values)
            if not self._stale(row, now):
                return False
            # Compare-and-set on the old owner: of two drivers taking over, one wins.
            done = conn.execute(
                _claims.update()
                .where(
                    _claims.c.study == study,
                    _claims.c.cell == cell,
                    _claims.c.owner == row.owner,
                    _claims.c.heartbeat == row.heartbeat,
                )
                .values(owner=self.owner, host=self.host, pid=self.pid, heartbeat=now)
            )
            return done.rowcount == 1

    def _insert_or_false(self, values: Mapping[str, Any]) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(_claims.insert().values(**values))
            return True
        except sa.exc.IntegrityError:
            return False

    def heartbeat(self, *, every: float = 15.0) -> None:
        """Refresh all our claims (throttled); called from the driver's event loop."""
        now = time.time()
        if now - self._last_beat < every:
            return
        with self.engine.begin() as conn:
            conn.execute(
                _claims.update().where(_claims.c.owner == self.owner).values(heartbeat=now)
            )
        self._last_beat = now  # only once written: a retry after an outage must write again

    def release(self, study: str, cell: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                _claims.delete().where(
                    _claims.c.study == study, _claims.c.cell == cell, _claims.c.owner == self.owner
                )
            )

    def release_all(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(_claims.delete().where(_claims.c.owner == self.owner))


# --- recording --------------------------------------------------------------------------------


@dataclass
class CellRecord:
    """What the recorder knows about a cell it is writing (keyed by cell, so packs fan out)."""

    study_id: int
    trial_id: int
    metric: str
    epochs: dict[int, dict[str, float]] = field(default_factory=dict)
    flushed_steps: int = 0
    reused: bool = False  # a RUNNING leftover: its rows from the dead driver get replaced
    last_flush: float = field(default_factory=time.monotonic)


class TrialWriter:
    """Writes cells as Optuna trials: created RUNNING, curves flushed now and then, finished once.

    Methods raise on database errors; the Ray recorder wraps every call and logs instead.
    """

    def __init__(
        self,
        url: str,
        study_ids: Mapping[str, int],
        spaces: Mapping[str, Mapping[str, Mapping[str, Any]]],
        metric: str,
    ) -> None:
        self.storage = open_storage(url)
        self.study_ids = dict(study_ids)
        self.metric = metric
        self.distributions = {
            opt: {name: _distribution(s) for name, s in space.items()}
            for opt, space in spaces.items()
        }

    def start(
        self, optimizer: str, cell: str, params: Mapping[str, Any], attrs: Mapping[str, Any]
    ) -> CellRecord:
        """The trial for `cell`: a RUNNING leftover (killed driver) is reused, else created."""
        study_id = self.study_ids[optimizer]
        leftover = self._running_trial(study_id, cell)
        if leftover is not None:
            return CellRecord(study_id, leftover, self.metric, reused=True)
        dists = self.distributions[optimizer]
        template = create_trial(
            state=TrialState.RUNNING,
            params={k: v for k, v in params.items() if k in dists},
            distributions={k: dists[k] for k in params if k in dists},
            user_attrs={**_jsonable(dict(attrs)), "cell": cell},
        )
        trial_id = self.storage.create_new_trial(study_id, template_trial=template)
        return CellRecord(study_id, trial_id, self.metric)

    def _running_trial(self, study_id: int, cell: str) -> int | None:
        query = sa.text(
            "SELECT t.trial_id FROM trial_user_attributes a JOIN trials t "
            "ON a.trial_id = t.trial_id WHERE a.key = 'cell' AND a.value_json = :cell "
            "AND t.state = 'RUNNING' AND t.study_id = :sid ORDER BY t.number LIMIT 1"
        )
        with self.storage.engine.connect() as conn:
            row = conn.execute(query, {"cell": json.dumps(cell), "sid": study_id}).first()
        return None if row is None else int(row[0])

    def add_epoch(
        self,
        record: CellRecord,
        epoch: int,
        metrics: Mapping[str, float],
        *,
        flush_every: float = 2.0,
    ) -> None:
        """Buffer one epoch; written at most every `flush_every` s so live views stay current
        while a short trial costs one write at the end."""
        record.epochs[epoch] = {k: float(v) for k, v in metrics.items()}
        if time.monotonic() - record.last_flush >= flush_every:
            self._write(record, None)

    def finish(
        self,
        record: CellRecord,
        *,
        state: TrialState,
        value: float | None,
        attrs: Mapping[str, Any],
    ) -> None:
        """Curves, attributes, value and state in one transaction (attributes first)."""
        self._write(record, (state, value, attrs))

    def _write(
        self, record: CellRecord, final: tuple[TrialState, float | None, Mapping[str, Any]] | None
    ) -> None:
        steps = sorted(record.epochs)
        curves = _curves(record.epochs)
        attrs: dict[str, Any] = {"curves": curves}
        if final is not None:
            attrs.update(final[2])
        session = self.storage.scoped_session()
        try:
            trial = models.TrialModel.find_or_raise_by_id(record.trial_id, session, for_update=True)
            if trial.state.is_finished():
                log.warning("trial %s is already finished; not overwriting it", record.trial_id)
                session.rollback()
                return
            ivm = models.TrialIntermediateValueModel
            uam = models.TrialUserAttributeModel
            tid = record.trial_id
            if record.reused or record.flushed_steps:  # curve rows may exist: replace them
                session.query(ivm).filter(ivm.trial_id == tid, ivm.step.in_(steps)).delete(
                    synchronize_session=False
                )
            session.query(uam).filter(uam.trial_id == tid, uam.key.in_(list(attrs))).delete(
                synchronize_session=False
            )
            # Bulk INSERTs: the ORM's per-object unit of work cost ~1 ms a row here.
            values = []
            for step in steps:
                stored, kind = ivm.intermediate_value_to_stored_repr(
                    record.epochs[step].get(record.metric, math.nan)
                )
                values.append(
                    {
                        "trial_id": tid,
                        "step": step,
                        "intermediate_value": stored,
                        "intermediate_value_type": kind,
                    }
                )
            if values:
                session.execute(sa.insert(ivm), values)
            session.execute(
                sa.insert(uam),
                [
                    {"trial_id": tid, "key": k, "value_json": json.dumps(_jsonable(v))}
                    for k, v in attrs.items()
                ],
            )
            if final is not None:
                state, value, _ = final
                if value is not None:
                    stored_v, vkind = models.TrialValueModel.value_to_stored_repr(value)
                    session.add(
                        models.TrialValueModel(
                            trial_id=record.trial_id, objective=0, value=stored_v, value_type=vkind
                        )
                    )
                trial.state = state
                trial.datetime_complete = datetime.now()
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()
        record.last_flush = time.monotonic()
        record.flushed_steps = len(steps)


def _curves(epochs: Mapping[int, Mapping[str, float]]) -> dict[str, list[float]]:
    steps = sorted(epochs)
    names = sorted({name for metrics in epochs.values() for name in metrics})
    return {name: [epochs[s].get(name, math.nan) for s in steps] for name in names}


# --- reading ----------------------------------------------------------------------------------


@dataclass
class _Study:
    study_id: int
    name: str
    optimizer: str
    user_attrs: dict[str, Any]


def _group_studies(engine: sa.Engine, group: str) -> list[_Study]:
    query = sa.text(
        "SELECT s.study_id, s.study_name, a.key, a.value_json FROM studies s "
        "JOIN study_user_attributes a ON a.study_id = s.study_id"
    )
    by_id: dict[int, _Study] = {}
    with engine.connect() as conn:
        for sid, sname, key, value_json in conn.execute(query):
            study = by_id.setdefault(sid, _Study(sid, sname, "", {}))
            study.user_attrs[key] = json.loads(value_json)
    out = []
    for study in by_id.values():
        if study.user_attrs.get("hpsearch_group") == group:
            study.optimizer = str(study.user_attrs.get("optimizer", study.name.split(".")[-1]))
            out.append(study)
    return sorted(out, key=lambda s: s.optimizer)


@dataclass
class GroupSummary:
    """One study group in a storage, for `hpsearch list`."""

    name: str
    optimizers: list[str]
    metric: str
    task: str
    spec_hash: str
    counts: dict[str, int]  # outcome -> cells


@_storage_errors
def list_study_groups(storage: str) -> list[GroupSummary]:
    """Every hpsearch study group in the storage with counts of cells by outcome."""
    engine = _read_engine(storage)
    if engine is None:
        return []
    query = sa.text(
        "SELECT study_id, value_json FROM study_user_attributes WHERE key = 'hpsearch_group'"
    )
    with engine.connect() as conn:
        names = sorted({json.loads(v) for _, v in conn.execute(query)})
    out = []
    for name in names:
        data = load_study_data(storage, name)
        counts = {
            o: int((data.trials["outcome"] == o).sum())
            for o in ("completed", "diverged", "error", "running")
        }
        first = data.spec or {}
        out.append(
            GroupSummary(
                name=name,
                optimizers=sorted(data.hyperparameters),
                metric=data.metric,
                task=str(first.get("task", {}).get("name", "")),
                spec_hash=str(_group_studies(engine, name)[0].user_attrs.get("spec_hash", "")),
                counts=counts,
            )
        )
    return out


_STATE_RANK = {"COMPLETE": 0, "RUNNING": 1, "FAIL": 2}


@_storage_errors
def load_study_data(storage: str, name: str) -> StudyData:
    """All trials of the study group `name` as tidy tables, in a few bulk queries.

    A cell with several trials (an error retried by a later run) shows its best state:
    COMPLETE, else RUNNING, else the latest FAIL.
    """
    engine = _read_engine(storage)
    studies = _group_studies(engine, name) if engine is not None else []
    if engine is None or not studies:
        raise UnknownStudyError(
            f"No study group `{name}` in `{redact_url(storage)}`; `hpsearch list` shows what is "
            "there."
        )
    attrs0 = studies[0].user_attrs
    metric = str(attrs0.get("metric", "value"))
    direction: Literal["maximize", "minimize"] = (
        "maximize" if attrs0.get("direction") == "maximize" else "minimize"
    )
    by_id = {s.study_id: s for s in studies}
    ids = list(by_id)
    bind: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)

    def read(sql: str) -> pd.DataFrame:
        with engine.connect() as conn:
            result = conn.execute(sa.text(sql).bindparams(bind), {"ids": ids})
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    trials = read("SELECT trial_id, number, study_id, state FROM trials WHERE study_id IN :ids")
    trials["state"] = trials["state"].astype(str).str.replace("TrialState.", "", regex=False)
    values = read(
        "SELECT v.trial_id, v.value, v.value_type FROM trial_values v JOIN trials t "
        "ON v.trial_id = t.trial_id WHERE t.study_id IN :ids AND v.objective = 0"
    )
    params = read(
        "SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json FROM "
        "trial_params p JOIN trials t ON p.trial_id = t.trial_id "
        "WHERE t.study_id IN :ids"
    )
    uattrs = read(
        "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a JOIN "
        "trials t ON a.trial_id = t.trial_id WHERE t.study_id IN :ids"
    )

    attr_map: dict[int, dict[str, Any]] = {}
    for tid, key, value_json in uattrs.itertuples(index=False):
        attr_map.setdefault(int(tid), {})[key] = value_json  # parsed lazily below
    value_map: dict[int, float] = {}
    for tid, value, vtype in values.itertuples(index=False):
        kind = str(vtype).split(".")[-1]
        value_map[int(tid)] = {"INF_POS": math.inf, "INF_NEG": -math.inf}.get(
            kind, _as_float(value)
        )
    dist_cache: dict[str, BaseDistribution] = {}
    param_map: dict[int, dict[str, Any]] = {}
    for tid, pname, pvalue, djson in params.itertuples(index=False):
        dist = dist_cache.get(djson) or dist_cache.setdefault(djson, json_to_distribution(djson))
        param_map.setdefault(int(tid), {})[pname] = dist.to_external_repr(pvalue)

    rows: list[dict[str, Any]] = []
    curve_parts: list[tuple[int, str, np.ndarray]] = []
    chosen: dict[tuple[str, str], tuple[int, int, int]] = {}  # (study, cell) -> rank key
    trials = trials.sort_values(["study_id", "number"])
    for tid, number, sid, state in trials.itertuples(index=False):
        tid = int(tid)
        raw_attrs = attr_map.get(tid, {})
        cell = json.loads(raw_attrs["cell"]) if "cell" in raw_attrs else f"trial-{number}"
        rank = (_STATE_RANK.get(state, 3), -int(number))
        key = (by_id[int(sid)].name, cell)
        if key in chosen and chosen[key][:2] <= rank:
            continue
        chosen[key] = (*rank, tid)
    keep = {v[2] for v in chosen.values()}
    hp_names: dict[str, set[str]] = {s.optimizer: set() for s in studies}
    final_names: set[str] = set()
    for tid, number, sid, state in trials.itertuples(index=False):
        tid = int(tid)
        if tid not in keep:
            continue
        study = by_id[int(sid)]
        a = {k: json.loads(v) for k, v in attr_map.get(tid, {}).items()}
        outcome = a.get("outcome")
        if state == "RUNNING":
            outcome = "running"
        elif state != "COMPLETE":
            outcome = "error"
        elif outcome not in ("completed", "diverged"):
            outcome = "completed"
        value = value_map.get(tid, math.nan) if state == "COMPLETE" else math.nan
        row: dict[str, Any] = {
            "study": study.name,
            "trial_number": int(number),
            "optimizer": study.optimizer,
            "cell": a.get("cell", f"trial-{number}"),
            "seed": a.get("seed"),
            "outcome": outcome,
            "value": value,
            "raw_value": _as_float(a.get("raw_value", value)),
            "floor": _as_float(a.get("floor")),
            "diverged_epoch": a.get("diverged_epoch"),
            "divergence_reason": a.get("divergence_reason"),
            "error": a.get("error") if outcome == "error" else None,
            "wall_seconds": _as_float(a.get("wall_seconds")),
            "device": a.get("device"),
        }
        for hp, v in param_map.get(tid, {}).items():
            row[hp] = v
            hp_names[study.optimizer].add(hp)
        for m, v in (a.get("final") or {}).items():
            row[m] = _as_float(v)
            final_names.add(m)
        rows.append(row)
        for m, series in (a.get("curves") or {}).items():
            vals = np.array([_as_float(x) for x in series], dtype=float)
            curve_parts.append((len(rows) - 1, m, vals))
    hp_cols = sorted({h for names in hp_names.values() for h in names})
    metric_cols = sorted(final_names)
    trials_df = pd.DataFrame(rows, columns=[*TRIAL_COLUMNS, *hp_cols, *metric_cols])
    trials_df["seed"] = pd.to_numeric(trials_df["seed"], errors="coerce").astype("Int64")
    trials_df["diverged_epoch"] = pd.to_numeric(
        trials_df["diverged_epoch"], errors="coerce"
    ).astype("Int64")
    trials_df = trials_df.sort_values(["optimizer", "trial_number"], ignore_index=True)
    curves_df = _curves_frame(rows, curve_parts)
    curves_df["seed"] = pd.to_numeric(curves_df["seed"], errors="coerce").astype("Int64")
    return StudyData(
        name=name,
        metric=metric,
        direction=direction,
        trials=trials_df,
        curves=curves_df[list(CURVE_COLUMNS)],
        hyperparameters={opt: sorted(names) for opt, names in hp_names.items()},
        metrics=metric_cols,
        spec=attrs0.get("spec"),
    )


def _curves_frame(
    rows: list[dict[str, Any]], parts: list[tuple[int, str, np.ndarray]]
) -> pd.DataFrame:
    """The long curves table built column-wise at once (10,000 trials x 50 epochs stays fast)."""
    if not parts:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    lengths = np.array([len(v) for _, _, v in parts])
    row_idx = np.repeat([i for i, _, _ in parts], lengths)
    columns: dict[str, Any] = {
        col: np.asarray([r[col] for r in rows], dtype=object)[row_idx]
        for col in ("study", "trial_number", "optimizer", "cell", "seed")
    }
    columns["epoch"] = np.concatenate([np.arange(1, n + 1) for n in lengths])
    columns["metric"] = np.repeat([m for _, m, _ in parts], lengths)
    columns["value"] = np.concatenate([v for _, _, v in parts])
    frame = pd.DataFrame(columns)
    frame["trial_number"] = frame["trial_number"].astype(int)
    return frame


def distribution_json(space: Mapping[str, Any]) -> str:
    """The Optuna distribution JSON of a search-space entry (for tests and exports)."""
    return distribution_to_json(_distribution(space))
