"""A non-built-in optimizer on a user-defined task through every verb (run -> show -> report ->
export) on a real local Ray; and a plugin that the driver imports but a worker cannot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_run_cli import cli

import tests.plugins.toyplugin as toy
from hpsearch import plugins
from hpsearch.optim import list_optimizers
from hpsearch.storage import load_study_data

pytestmark = [pytest.mark.ray, pytest.mark.slow]

STUDY = """
name = "{name}"
[task]
name = "tests.plugins.toyplugin:make_blobs_task"
epochs = 3

[run]
seeds = [0, 1]

[optimizers.heavyball]
class = "{cls}"
lr = [0.01, 0.1, 1.0]
mu = 0.5

[optimizers.adam]
lr = [1e-3, 1e-2]

[claims]
insensitive = ["heavyball.lr"]
compare = [["heavyball", "adam"]]
min_seeds = 2
bootstrap = 200
"""


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    yield
    plugins.forget_plugins()


def write(tmp_path: Path, name: str, cls: str) -> Path:
    text = STUDY.format(name=name, cls=cls)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_a_plugin_optimizer_and_task_go_through_every_verb(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'plug.db'}"
    spec = write(tmp_path, "plug", "tests.plugins.toyplugin:HeavyBall")
    assert cli("run", str(spec), "--storage", url, cwd=tmp_path) == 0
    run_out = capsys.readouterr().out
    assert "heavyball" in run_out and "adam" in run_out

    data = load_study_data(url, "plug")
    trials = data.trials.set_index("cell")
    assert len(trials) == 10  # heavyball 3 lr x 2 seeds, adam 2 x 2
    good = trials.loc["heavyball:lr=0.1,mu=0.5:seed=0"]
    assert good["outcome"] == "completed" and good["value"] > 0.9  # the blobs are separable
    assert set(trials["outcome"]) <= {"completed", "diverged"}
    assert data.hyperparameters["heavyball"] == ["lr"]  # an Optuna param, like a built-in's

    # The verbs that read results need no plugin: as in a fresh process, none is registered.
    plugins.forget_plugins()
    assert cli("show", "plug", "--storage", url, cwd=tmp_path) == 0
    shown = capsys.readouterr().out
    assert "heavyball is insensitive to lr over" in shown  # V1, on a plugin's hyperparameter
    assert "heavyball is less sensitive than adam" in shown  # V2

    report = tmp_path / "report.html"
    assert cli("report", "plug", "--out", str(report), "--storage", url, cwd=tmp_path) == 0
    assert "heavyball" in report.read_text(encoding="utf-8")

    out = tmp_path / "csv"
    assert cli("export", "plug", "--out", str(out), "--storage", url, cwd=tmp_path) == 0
    exported = pd.read_csv(out / "trials.csv")
    heavy = exported[exported["optimizer"] == "heavyball"]
    assert sorted(heavy["lr"].unique()) == [0.01, 0.1, 1.0]  # its hyperparameter, a CSV column
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert {"V1", "V2"} <= set(verdicts["kind"])
    assert verdicts["optimizer_a"].eq("heavyball").any()
    assert "heavyball" not in {info.name for info in list_optimizers()}  # nothing imported it

    # The stored identity names the plugin's path and version: another version is a changed spec.
    stored = data.spec["plugins"]["optimizer.heavyball"]
    assert stored["path"] == "tests.plugins.toyplugin:HeavyBall" and stored["version"] == "0.1.0"
    toy.__version__ = "0.2.0"
    try:
        assert cli("run", str(spec), "--storage", url, cwd=tmp_path) == 2
        assert "spec" in capsys.readouterr().err
    finally:
        toy.__version__ = "0.1.0"


def test_a_plugin_the_workers_cannot_import_is_reported_as_such(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A module that exists only in this (driver) process: Ray workers cannot import it.
    module = types.ModuleType("hpsearch_driver_only")
    module.__version__ = "1.0"  # type: ignore[attr-defined]

    class DriverOnly(toy.HeavyBall):
        pass

    DriverOnly.__module__ = module.__name__
    module.DriverOnly = DriverOnly  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        url = f"sqlite:///{tmp_path / 'lost.db'}"
        spec = write(tmp_path, "lost", "hpsearch_driver_only:DriverOnly")
        assert cli("run", str(spec), "--storage", url, cwd=tmp_path) == 1
    finally:
        del sys.modules[module.__name__]
    err = capsys.readouterr().err
    assert "6 x PluginImportError" in err
    assert "imported on the driver but not as such on the Ray worker" in err
    assert "every node of the cluster needs it installed" in err
    trials = load_study_data(url, "lost").trials
    assert (trials.loc[trials["optimizer"] == "heavyball", "outcome"] == "error").all()
    assert (trials.loc[trials["optimizer"] == "adam", "outcome"] == "completed").all()


def test_prodigy_from_pypi_goes_through_every_verb(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worked example (studies/prodigy-mnist1d.toml), shortened: the optional extra
    `.[plugins]` provides `prodigyopt`."""
    pytest.importorskip("prodigyopt")
    url = f"sqlite:///{tmp_path / 'prodigy.db'}"
    spec = str(Path(__file__).resolve().parents[1] / "studies" / "prodigy-mnist1d.toml")
    short = [
        "task.epochs=2",
        "run.seeds=[0, 1]",
        "optimizers.prodigy.lr=[0.3, 1.0, 3.0]",
        "optimizers.adam.lr=[1e-3, 1.0]",
        "claims.min_seeds=2",
        "claims.bootstrap=200",
    ]
    sets = [arg for item in short for arg in ("--set", item)]
    assert cli("run", spec, "--storage", url, *sets, cwd=tmp_path) == 0
    trials = load_study_data(url, "prodigy-mnist1d").trials
    prodigy = trials[trials["optimizer"] == "prodigy"]
    assert len(prodigy) == 6 and (prodigy["outcome"] == "completed").all()
    assert prodigy["value"].min() > 0.2  # learning at every lr multiplier (chance is 0.1)
    capsys.readouterr()
    assert cli("show", "prodigy-mnist1d", "--storage", url, cwd=tmp_path) == 0
    assert "prodigy is insensitive to lr over" in capsys.readouterr().out
    report = tmp_path / "report.html"
    assert (
        cli("report", "prodigy-mnist1d", "--out", str(report), "--storage", url, cwd=tmp_path) == 0
    )
    out = tmp_path / "csv"
    assert cli("export", "prodigy-mnist1d", "--out", str(out), "--storage", url, cwd=tmp_path) == 0
    exported = pd.read_csv(out / "trials.csv")
    assert sorted(exported.loc[exported["optimizer"] == "prodigy", "lr"].unique()) == [
        0.3,
        1.0,
        3.0,
    ]


def _readme_block(language: str, needle: str) -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    found = [b for b in re.findall(rf"```{language}\n(.*?)```", readme, re.DOTALL) if needle in b]
    assert len(found) == 1, f"README has {len(found)} {language} blocks with {needle!r}"
    return found[0]


def test_the_readme_plugin_example_runs_as_written_beside_its_study(tmp_path: Path) -> None:
    """README's `my_plugin.py` and study, saved side by side, run by the console script from
    that directory with no PYTHONPATH: the driver finds the plugin where its workers do."""
    (tmp_path / "my_plugin.py").write_text(_readme_block("python", "def make_task"))
    study = tmp_path / "heavyball-blobs.toml"
    study.write_text(_readme_block("toml", 'class = "my_plugin:HeavyBall"'))
    hpsearch = str(Path(sys.executable).with_name("hpsearch"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HPSEARCH_STORAGE")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [hpsearch, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )

    checked = run("validate", study.name)
    assert checked.returncode == 0, checked.stderr
    assert "OK, study `heavyball-blobs`, 30 cells (heavyball 15, adam 15)" in checked.stdout
    # One seed keeps it short; the files are the README's, word for word.
    done = run("run", study.name, "--set", "run.seeds=[0]", "--max-concurrent", "2")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hpsearch.db").exists()
    shown = run("status", "heavyball-blobs")
    assert "heavyball-blobs: 6 cells recorded" in shown.stdout, shown.stderr
