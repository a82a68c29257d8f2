"""Claims: each cell run exactly once across concurrent drivers of one study.

A small table of our own in the same database (`hpsearch_cell_claims`), not Optuna's: a unique
(study, cell) key, the owner and a heartbeat. A driver runs a cell only after claiming it; a
claim whose owner is dead (same host and pid gone, or heartbeat stale) is taken over with a
compare-and-set on the owner.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from hpsearch.storage.connection import open_storage, storage_errors
from hpsearch.storage.optuna_tables import study_name_length

STALE_SECONDS = 120.0  # a claim not heartbeaten for this long belongs to a dead driver

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
    getattr(_claims.c.study.type, "length", None) or 255, study_name_length()
)


def pid_alive(pid: int) -> bool:
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
            return row.pid == self.pid or not pid_alive(row.pid)
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
