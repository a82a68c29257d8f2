"""`CellStore`: where a run's cells live in storage and which of them this driver holds.

The storage URL, each optimizer's Optuna study (name and id) and this driver's claims travel
together through the searcher, the recorder and the wait for other drivers; a cell is looked up,
claimed and released through this one record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hpsearch.spec import Cell
from hpsearch.storage import CellClaims, is_cell_finished


@dataclass(frozen=True)
class CellStore:
    """A study group's cells in storage, seen from one driver."""

    url: str
    study_names: Mapping[str, str]  # optimizer -> Optuna study name
    study_ids: Mapping[str, int]  # optimizer -> Optuna study id
    claims: CellClaims  # this driver's claims (exactly once across drivers)

    def claim(self, cell: Cell) -> bool:
        """Claim `cell` for this driver; False while a live driver holds it."""
        return self.claims.claim(self.study_names[cell.optimizer], cell.key)

    def release(self, cell: Cell) -> None:
        self.claims.release(self.study_names[cell.optimizer], cell.key)

    def is_finished(self, cell: Cell) -> bool:
        """Whether `cell` has a COMPLETE trial (completed or diverged), read now."""
        return is_cell_finished(self.url, self.study_ids[cell.optimizer], cell.key)
