"""Two drivers on one study share the cells exactly once (the searchers' claims, no Ray cluster
needed): on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from hpsearch.recording import TrialRecord
from hpsearch.runner import group_info
from hpsearch.scheduling import CellStore
from hpsearch.scheduling.rounds import _await_other_drivers
from hpsearch.scheduling.searcher import CellSearcher
from hpsearch.spec import Cell, expand_cells, load_spec
from hpsearch.storage import CellClaims, TrialWriter, finished_cells, prepare_group

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def test_two_drivers_run_every_cell_exactly_once(url: str) -> None:
    spec = load_spec(SMOKE)
    cells = expand_cells(spec)
    group = group_info(spec)
    ids = prepare_group(url, group)
    names = {opt: spec.study_name(opt) for opt in spec.optimizers}
    writer = TrialWriter(url, ids, group.optimizers, spec.metric)

    def driver(pid: int) -> CellSearcher:
        claims = CellClaims(url)
        claims.pid = pid  # both "processes" are alive: this one and its parent
        claims.owner = f"{claims.host}:{pid}:{pid}"
        return CellSearcher(cells, store=CellStore(url, names, ids, claims), base_config={})

    a, b = driver(os.getpid()), driver(os.getppid())
    ran: dict[str, list[str]] = {"a": [], "b": []}
    running: list[tuple[str, CellSearcher, dict]] = []
    # Interleave: each driver takes two cells at a time, then finishes what it holds.
    for _ in range(20):
        for name, searcher in (("a", a), ("b", b)):
            for _ in range(2):
                config = searcher.suggest("t")
                if isinstance(config, dict):
                    running.append((name, searcher, config))
        for name, searcher, config in running:
            [cell] = config["cells"]
            ran[name].append(cell["key"])
            record = writer.start(
                cell["optimizer"], cell["key"], cell["params"], {"seed": cell["seed"]}
            )
            writer.finish(record, TrialRecord("COMPLETE", 0.5, {"outcome": "completed"}))
            searcher.store.claims.release(names[cell["optimizer"]], cell["key"])
        running.clear()
    assert a.suggest("t") == b.suggest("t") == "FINISHED"
    # What a searcher deferred to the other driver was finished there: nothing is left to wait for.
    for searcher in (a, b):
        assert not _await_other_drivers(searcher.deferred, searcher.store, poll_seconds=0.01)
    assert not set(ran["a"]) & set(ran["b"])  # nobody ran a cell twice
    assert sorted(ran["a"] + ran["b"]) == sorted(c.key for c in cells)  # nothing missing
    assert ran["a"] and ran["b"]  # the work was shared
    assert finished_cells(url, ids.values()) == {c.key for c in cells}


def test_a_cell_held_by_a_dead_driver_is_handed_back_for_another_round(url: str) -> None:
    """A driver left waiting on another's cells takes over those whose owner died."""
    spec = load_spec(SMOKE)
    cells = expand_cells(spec)[:2]
    group = group_info(spec)
    ids = prepare_group(url, group)
    names = {opt: spec.study_name(opt) for opt in spec.optimizers}
    dead = CellClaims(url)
    dead.pid = 2**22 + 12345  # above Linux's pid_max: certainly not running
    dead.owner = f"{dead.host}:{dead.pid}:gone"
    for cell in cells:
        assert dead.claim(names[cell.optimizer], cell.key)
    ours = CellClaims(url)
    back = _await_other_drivers(cells, CellStore(url, names, ids, ours), poll_seconds=0.01)
    assert [c.key for c in back] == [c.key for c in cells]


class _FlakyStore:
    """Claims that fail while the database is down (the first `failures` calls), then succeed."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def claim(self, cell: Cell) -> bool:
        if self.failures:
            self.failures -= 1
            raise sa.exc.OperationalError("INSERT INTO cell_claims", {}, ConnectionError("down"))
        return True

    def is_finished(self, cell: Cell) -> bool:
        return False

    def release(self, cell: Cell) -> None:
        pass


@pytest.mark.parametrize("failures", [1, 2, 3])
def test_a_database_error_while_claiming_loses_no_cell(failures: int) -> None:
    """Tune asks for a cell while the database is down: the claim fails, and the cell (or a
    pack's cells) is asked for again later, never dropped."""
    cells = expand_cells(load_spec(SMOKE))
    store = _FlakyStore(failures)
    searcher = CellSearcher(
        cells,
        store=store,  # type: ignore[arg-type]
        base_config={},
        population={"adabound": 2, "adam": 2, "sgd": 2},
    )
    suggested: list[str] = []
    for _ in range(50):
        config = searcher.suggest("t")
        if config == "FINISHED":
            break
        if isinstance(config, dict):
            suggested += [cell["key"] for cell in config["cells"]]
    assert store.failures == 0
    assert sorted(suggested) == sorted(c.key for c in cells)
