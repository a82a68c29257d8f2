"""Which way to Optuna's trials a connection takes: its tables directly, or its public API.

Reading 10,000 trials or finishing a trial in one transaction needs SQL on Optuna's tables
(`optuna_tables`), which are Optuna's internals: that path is taken only on the Optuna versions
and schema it was tested against. Anywhere else every call goes through Optuna's public storage
API (`optuna_api`): slower (a transaction per attribute and per epoch), but exact on any Optuna.
Both implement `hpsearch.storage.access.TrialAccess`. `tests/test_storage_paths.py` writes the
same cells both ways and compares what `optuna.load_study` returns. `$HPSEARCH_OPTUNA_TABLES=0`
forces the public API.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from hpsearch.storage import optuna_tables
from hpsearch.storage.access import TrialAccess
from hpsearch.storage.connection import open_storage, read_storage
from hpsearch.storage.optuna_api import ApiAccess
from hpsearch.storage.optuna_tables import TableAccess

TABLES_ENV = "HPSEARCH_OPTUNA_TABLES"


def use_tables() -> bool:
    """Whether this Optuna is one whose tables `optuna_tables` was tested against (and
    `$HPSEARCH_OPTUNA_TABLES` does not say 0)."""
    if os.environ.get(TABLES_ENV, "").strip() == "0":
        return False
    return optuna_tables.supported()


def writer_access(url: str) -> TrialAccess:
    """The access a run's writer uses (the schema exists: `open_storage` made it)."""
    storage = open_storage(url)
    if use_tables():
        return TableAccess(storage.engine)
    return ApiAccess(storage)


def reader_access(url: str, engine: sa.Engine) -> TrialAccess:
    """The access a reader uses, over an `engine` that found Optuna's schema. The tables are
    read directly only when their schema version is the one they were tested at."""
    if use_tables() and optuna_tables.schema_matches(engine):
        return TableAccess(engine)
    return ApiAccess(read_storage(url))
