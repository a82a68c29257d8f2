"""The Optuna database: the only package that knows Optuna's storage API and tables.

Layout: one Optuna study per (spec, optimizer), named `<spec>.<optimizer>`, whose user
attributes tie it to its group (`groups`). One trial per cell: the searched hyperparameters are
Optuna params, everything else is a user attribute whose schema is `hpsearch.recording`'s.
Diverged cells are COMPLETE at the floor; errors are FAIL with the message.

- `urls`: which storage a verb uses, whether it is a URL, how it is shown (password `***`);
- `connection`: engines, errors as users see them (exit 3, one line), retries through outages;
- `groups`: creating and checking a spec's studies, and which cells are finished;
- `cell_claims`: exactly-once across concurrent drivers (a table of our own);
- `writes` / `reads`: a run's trials in, a group's `StudyData` out;
- `backends`: which of the two ways to Optuna's trials a connection takes — its tables
  (`optuna_tables`, on the tested versions only) or its public API (`optuna_api`) — both behind
  one interface, `access`.
"""

from hpsearch.storage.cell_claims import STALE_SECONDS, STUDY_NAME_LENGTH, CellClaims, pid_alive
from hpsearch.storage.connection import (
    DEFAULT_RETRY_SECONDS,
    RETRY_ENV,
    close_storages,
    is_unreachable,
    open_storage,
    retry_seconds,
    storage_errors,
    storage_failure,
    storage_reason,
    with_retries,
)
from hpsearch.storage.groups import (
    GroupInfo,
    check_group,
    finished_cells,
    group_attrs,
    is_cell_finished,
    prepare_group,
    set_group_attrs,
)
from hpsearch.storage.reads import GroupSummary, list_study_groups, load_study_data
from hpsearch.storage.urls import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    check_url,
    is_missing_file,
    redact_url,
    resolve_storage_url,
)
from hpsearch.storage.writes import CellRecord, TrialWriter, distribution_json, write_trials

__all__ = [
    "DEFAULT_RETRY_SECONDS",
    "DEFAULT_STORAGE",
    "RETRY_ENV",
    "STALE_SECONDS",
    "STORAGE_ENV",
    "STUDY_NAME_LENGTH",
    "CellClaims",
    "CellRecord",
    "GroupInfo",
    "GroupSummary",
    "TrialWriter",
    "check_group",
    "check_url",
    "close_storages",
    "distribution_json",
    "finished_cells",
    "group_attrs",
    "is_cell_finished",
    "is_missing_file",
    "is_unreachable",
    "list_study_groups",
    "load_study_data",
    "open_storage",
    "pid_alive",
    "prepare_group",
    "redact_url",
    "resolve_storage_url",
    "retry_seconds",
    "set_group_attrs",
    "storage_errors",
    "storage_failure",
    "storage_reason",
    "with_retries",
    "write_trials",
]
