"""The lr = 1 board's "others at their defaults" for a plugin optimizer, in a process that never
imported the plugin (the dashboard and `hpsearch report` run apart from `hpsearch run`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboards.report import study_page
from hpsearch import plugins
from hpsearch.analysis.synthetic import synthetic_study
from hpsearch.errors import HpsearchError
from hpsearch.optim import get_optimizer_info
from hpsearch.spec import load_spec
from hpsearch.studydata import StudyData

TOY = "tests.plugins.toyplugin"
STUDY = f"""
name = "plug-lr1"
task = "{TOY}:make_blobs_task"
[run]
seeds = [0, 1, 2, 3, 4]
[optimizers.heavyball]
class = "{TOY}:HeavyBall"
lr = [0.1, 1.0]
mu = [0.5, 0.9]
[optimizers.adam]
lr = [0.1, 1.0]
"""
GRIDS = {"heavyball": {"lr": [0.1, 1.0], "mu": [0.5, 0.9]}, "adam": {"lr": [0.1, 1.0]}}


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    yield
    plugins.forget_plugins()


def _truth(optimizer: str, config: dict[str, float]) -> float:
    # HeavyBall at lr = 1 is fine with mu = 0.5 and fails with its default mu = 0.9.
    if optimizer == "heavyball" and config["lr"] == 1.0:
        return 0.8 if config["mu"] == 0.5 else 0.3
    return 0.9


@pytest.fixture()
def data(tmp_path: Path) -> StudyData:
    """A HeavyBall study as `load_study_data` returns it in a fresh process: the resolved spec
    `hpsearch run` stored (with its `plugins` table), and a registry that never saw the plugin."""
    path = tmp_path / "plug.toml"
    path.write_text(STUDY)
    resolved = load_spec(path).resolved()
    plugins.forget_plugins()
    with pytest.raises(HpsearchError):
        get_optimizer_info("heavyball")
    trials = synthetic_study(GRIDS, _truth, noise=0.002, name="plug-lr1")
    return dataclasses.replace(trials, spec=resolved)


def _lr_one(data: StudyData) -> tuple[dict[str, list[str]], str, list[str]]:
    """The lr = 1 table's rows by optimizer, the figure's subtitle and who has a defaults marker."""
    page = study_page(data)
    section = next(s for s in page.sections if s.anchor == "lr-one")
    assert section.table is not None
    columns, rows = section.table
    at = columns.index("lr = 1, others at defaults")
    fig = section.figures[0][1]
    trace = next(t for t in fig.data if t.name == "lr = 1, others at defaults")
    names = list(fig.layout.yaxis.ticktext)
    marked = [names[round(y - 0.25)] for y in trace.y]
    return {r[0]: r for r in rows}, fig.layout.title.text, [at, *marked]


def test_a_plugin_optimizers_recorded_defaults_show_in_a_fresh_process(data: StudyData) -> None:
    rows, _, (at, *marked) = _lr_one(data)
    # HeavyBall's declared default mu = 0.9, read from the stored spec: 30 %, not a blank.
    assert rows["heavyball"][at] == "30.0 % [29.8, 30.2] (lr=1 mu=0.9); its seeds diverged 0 of 5"
    assert "heavyball" in marked and "adam" in marked


def test_unknown_defaults_are_said_plainly_not_left_blank(data: StudyData) -> None:
    # A study stored without the plugin record (an older run), opened where the plugin is not
    # registered: nothing says what its defaults are.
    bare = dataclasses.replace(
        data, spec={k: v for k, v in (data.spec or {}).items() if k != "plugins"}
    )
    rows, subtitle, (at, *marked) = _lr_one(bare)
    said = "unknown: `heavyball`'s defaults are not registered in this process"
    assert rows["heavyball"][at] == said
    assert "not in the grid" not in rows["heavyball"][at]
    assert "defaults unknown in this process for `heavyball`" in subtitle
    assert "heavyball" not in marked and "adam" in marked
    # Adam, a built-in, keeps its registered defaults.
    assert rows["adam"][at].endswith("(lr=1); its seeds diverged 0 of 5")
