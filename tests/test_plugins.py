"""Optimizers and tasks from outside hpsearch (`hpsearch.plugins`): specs, errors, the catalog."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from test_run_cli import cli
from typer.testing import CliRunner

from hpsearch import plugins
from hpsearch.cli import app
from hpsearch.errors import UserInputError
from hpsearch.optim import build_optimizer, get_optimizer_info
from hpsearch.spec import expand_cells, load_spec, search_space
from hpsearch.tasks import get_task_info, list_tasks, train

TOY = "tests.plugins.toyplugin"
STUDY = f"""
name = "plug"
task = "{TOY}:make_blobs_task"
[run]
seeds = [0, 1]
[optimizers.heavyball]
class = "{TOY}:HeavyBall"
{{heavyball}}
[optimizers.adam]
lr = [1e-2]
"""


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    """A plugin registered by one test must not be seen by another (or by the registry tests)."""
    yield
    plugins.forget_plugins()


def write(tmp_path: Path, heavyball: str = "lr = [0.01, 0.1]\nmu = 0.5", text: str = "") -> Path:
    path = tmp_path / "plug.toml"
    path.write_text(text or STUDY.format(heavyball=heavyball))
    return path


def test_a_plugin_optimizer_and_task_are_studied_like_built_ins(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path))
    keys = [c.key for c in expand_cells(spec)]
    assert keys[:2] == ["heavyball:lr=0.01,mu=0.5:seed=0", "heavyball:lr=0.01,mu=0.5:seed=1"]
    assert len(keys) == 6
    # The class's declaration: range and log scale, so Optuna gets a log-uniform lr.
    assert search_space(spec, "heavyball") == {
        "lr": {"kind": "float", "low": 0.01, "high": 0.1, "log": True}
    }
    assert spec.metric == "test_accuracy"
    assert spec.task_info().num_classes == 3
    with spec.registered():  # as a run's driver and its workers see them
        assert get_task_info(f"{TOY}:make_blobs_task").num_classes == 3
        optimizer = build_optimizer("heavyball", [torch.nn.Parameter(torch.ones(2))], {"lr": 0.5})
    assert f"{TOY}:make_blobs_task" not in {t.name for t in list_tasks()}
    assert type(optimizer).__name__ == "HeavyBall"
    assert optimizer.param_groups[0]["lr"] == 0.5 and optimizer.param_groups[0]["mu"] == 0.9
    plugins_table = spec.resolved()["plugins"]
    assert plugins_table["optimizer.heavyball"]["path"] == f"{TOY}:HeavyBall"
    assert plugins_table["optimizer.heavyball"]["version"] == "0.1.0"
    assert plugins_table[f"task.{TOY}:make_blobs_task"]["version"] == "0.1.0"


def test_the_spec_hash_follows_the_plugin_version_and_declarations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = load_spec(write(tmp_path)).spec_hash()
    assert load_spec(write(tmp_path)).spec_hash() == base
    monkeypatch.setattr(sys.modules[TOY], "__version__", "0.2.0")
    assert load_spec(write(tmp_path)).spec_hash() != base
    monkeypatch.setattr(sys.modules[TOY], "__version__", "0.1.0")
    declared = "lr = [0.01, 0.1]\nmu = 0.5\n[optimizers.heavyball.hyperparameters]\n"
    declared += "mu = { default = 0.8, high = 0.99 }"
    assert load_spec(write(tmp_path, declared)).spec_hash() != base  # another default of mu
    # A study without plugins keeps the hash it always had: no `plugins` table.
    smoke = load_spec(Path(__file__).resolve().parents[1] / "studies" / "smoke.toml")
    assert "plugins" not in smoke.resolved()


def test_spec_declarations_override_the_class_and_are_checked(tmp_path: Path) -> None:
    # Field by field: what the spec leaves out (the default, the open upper end) stays the class's.
    text = "mu = [0.0, 0.94]\n[optimizers.heavyball.hyperparameters]\n"
    text += "mu = { low = 0, high = 0.95, doc = 'heavy-ball momentum' }"
    spec = load_spec(write(tmp_path, text))
    hp = spec.optimizer_info("heavyball").hyperparameter("mu")
    assert (hp.default, hp.high, hp.high_inclusive, hp.doc) == (
        0.9,
        0.95,
        False,
        "heavy-ball momentum",
    )
    assert len(expand_cells(spec)) == 6  # 2 mu x 2 seeds, adam 1 x 2
    with pytest.raises(UserInputError, match=r"optimizers\.heavyball\.mu\[1\]: `mu` must be in"):
        load_spec(write(tmp_path, "mu = [0.0, 1.5]"))


@pytest.mark.parametrize(
    ("heavyball", "fragments"),
    [
        (  # a constructor argument the class does not take, declared in the spec
            "lr = [0.1]\n[optimizers.heavyball.hyperparameters]\nlrr = { default = 0.9 }",
            [
                "optimizers.heavyball.hyperparameters.lrr",
                f"`{TOY}:HeavyBall` takes no argument `lrr`",
                "Did you mean `lr`?",
                "It takes lr, mu",
            ],
        ),
        (  # a searched name that is not one of its hyperparameters
            "muu = [0.5]",
            ["optimizers.heavyball.muu", "hyperparameter of `heavyball` `muu`", "`mu`"],
        ),
        (  # out of the class's declared range
            "lr = [0.0]",
            ["optimizers.heavyball.lr[0]", "`lr` must be in (0, inf), got 0.0"],
        ),
        (  # a declaration field that does not exist
            "lr = [0.1]\n[optimizers.heavyball.hyperparameters]\nlr = { deflt = 0.1 }",
            ["optimizers.heavyball.hyperparameters.lr", "`deflt`"],
        ),
    ],
)
def test_bad_plugin_specs_are_user_errors_naming_file_and_field(
    tmp_path: Path, heavyball: str, fragments: list[str]
) -> None:
    path = write(tmp_path, heavyball)
    with pytest.raises(UserInputError) as error:
        load_spec(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            STUDY.format(heavyball="lr = [0.1]").replace(f"{TOY}:HeavyBall", f"{TOY}:HeavyBal"),
            ["optimizers.heavyball", "Unknown name", "`HeavyBal`", "Did you mean `HeavyBall`"],
        ),
        (
            STUDY.format(heavyball="lr = [0.1]").replace(f"{TOY}:HeavyBall", "no_such_pkg:Opt"),
            ["cannot import `no_such_pkg`", "ModuleNotFoundError", "installed"],
        ),
        (
            STUDY.format(heavyball="lr = [0.1]").replace(
                "[optimizers.heavyball]", "[optimizers.adamw]"
            ),
            ["optimizers.adamw", "is a built-in optimizer", "another name"],
        ),
        (
            STUDY.format(heavyball="lr = [0.1]")
            .replace(f'class = "{TOY}:HeavyBall"\n', "")
            .replace("[optimizers.heavyball]", "[optimizers.heavybal]"),
            [
                "optimizers.heavybal",
                "Unknown optimizer `heavybal`",
                'class = "package.module:Class"',
            ],
        ),
        (
            STUDY.format(heavyball="lr = [0.1]").replace(f"{TOY}:make_blobs_task", "builtins:dict"),
            ["task.name", "must return `hpsearch.tasks.TaskDefinition"],
        ),
        (
            STUDY.format(heavyball="lr = [0.1]").replace(f'"{TOY}:HeavyBall"', '"HeavyBall"'),
            ["optimizers.heavyball.class", "package.module:Class"],
        ),
    ],
)
def test_bad_import_paths_and_names_are_user_errors(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    with pytest.raises(UserInputError) as error:
        load_spec(write(tmp_path, text=text))
    for fragment in fragments:
        assert fragment in str(error.value)


def test_a_bad_constructor_argument_exits_2_before_anything_is_written(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "lr = [0.1]\n[optimizers.heavyball.hyperparameters]\nnesterov = { default = true }",
    )
    db = tmp_path / "plug.db"
    assert cli("run", str(path), "--storage", f"sqlite:///{db}", cwd=tmp_path) == 2
    assert cli("validate", str(path), cwd=tmp_path) == 2
    assert not db.exists()


def test_a_class_without_a_declaration_takes_its_constructor_defaults_and_flat_betas(
    tmp_path: Path,
) -> None:
    text = STUDY.format(heavyball="lr = [1e-3]\nbeta1 = 0.8").replace(
        f"{TOY}:HeavyBall", "torch.optim:Adamax"
    )
    spec = load_spec(write(tmp_path, text=text))
    info = spec.optimizer_info("heavyball")
    assert {"lr", "beta1", "beta2", "eps", "weight_decay"} <= {h.name for h in info.hyperparameters}
    cell = expand_cells(spec)[0]
    with spec.registered():
        optimizer = build_optimizer(
            "heavyball", [torch.nn.Parameter(torch.ones(1))], cell.hyperparameters()
        )
    assert isinstance(optimizer, torch.optim.Adamax)
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.999)
    assert spec.resolved()["plugins"]["optimizer.heavyball"]["version"].startswith("torch ")


def test_entry_points_register_optimizers_and_tasks_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = {
        plugins.OPTIMIZER_GROUP: {
            "heavy": importlib.metadata.EntryPoint(
                "heavy", f"{TOY}:HeavyBall", plugins.OPTIMIZER_GROUP
            )
        },
        plugins.TASK_GROUP: {
            "blobs": importlib.metadata.EntryPoint(
                "blobs", f"{TOY}:make_blobs_task", plugins.TASK_GROUP
            )
        },
    }
    monkeypatch.setattr(plugins, "_entry_points", lambda group: points.get(group, {}))
    text = 'name = "ep"\ntask = "blobs"\n[optimizers.heavy]\nlr = [0.1]\n'
    spec = load_spec(write(tmp_path, text=text))
    assert [c.key for c in expand_cells(spec)] == ["heavy:lr=0.1:seed=0"]
    assert spec.task_info().num_classes == 3
    assert spec.resolved()["plugins"]["optimizer.heavy"]["path"] == f"{TOY}:HeavyBall"
    with pytest.raises(UserInputError, match=r"Unknown task `blobz`\. Did you mean `blobs`\?"):
        load_spec(write(tmp_path, text=text.replace('"blobs"', '"blobz"')))
    with pytest.raises(UserInputError, match=r"Unknown optimizer `heavi`\. Did you mean `heavy`\?"):
        load_spec(write(tmp_path, text=text.replace("heavy]", "heavi]")))
    plugins.forget_plugins()
    result = CliRunner().invoke(app, ["catalog"])
    assert result.exit_code == 0, result.output
    assert "  heavy " in result.output and "(0.1.0; plugin, entry point)" in result.output
    assert "      mu            default 0.9      range [0, 1)" in result.output
    assert "  blobs " in result.output and "      hidden " in result.output


def test_catalog_lists_a_specs_plugins_with_their_hyperparameters(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["catalog", "optimizers", "--spec", str(write(tmp_path))])
    assert result.exit_code == 0, result.output
    assert f"  heavyball  {TOY}:HeavyBall (0.1.0; plugin, spec)" in result.output
    assert (
        "      lr            default 0.1      range (0, inf), log scale  step size" in result.output
    )
    plugins.forget_plugins()
    assert "heavyball" not in CliRunner().invoke(app, ["catalog", "optimizers"]).output
    assert f"{TOY}:make_blobs_task" not in {t.name for t in list_tasks()}


def test_a_task_factory_must_meet_the_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpsearch.tasks import TaskDefinition

    toy = sys.modules.get(TOY) or __import__(TOY, fromlist=["make_blobs_task"])
    good = toy.make_blobs_task()
    bare = TaskDefinition(
        info=good.info.__class__(**{**good.info.__dict__, "options": good.info.options[-1:]}),
        build=good.build,
    )
    monkeypatch.setattr(toy, "make_blobs_task", lambda: bare)
    with pytest.raises(UserInputError, match="lacks the options epochs, batch_size"):
        load_spec(write(tmp_path))


def _readme_block(language: str, needle: str) -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"```{language}\n(.*?)```", readme, flags=re.DOTALL)
    found = [block for block in blocks if needle in block]
    assert len(found) == 1, f"README has {len(found)} {language} blocks with {needle!r}"
    return found[0]


def test_the_readme_plugin_example_is_complete_and_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_plugin.py").write_text(_readme_block("python", "def make_task"))
    spec_path = tmp_path / "heavyball-blobs.toml"
    spec_path.write_text(_readme_block("toml", 'class = "my_plugin:HeavyBall"'))
    monkeypatch.chdir(tmp_path)  # found in the working directory, as `hpsearch` finds it
    try:
        spec = load_spec(spec_path)
        assert len(expand_cells(spec)) == 30
        assert spec.resolved()["plugins"]["optimizer.heavyball"]["version"] == "1.0"
        with spec.registered():
            result = train(spec.task.name, "heavyball", {"lr": 0.1}, 0, epochs=2)
        assert result.outcome == "completed" and result.final["test_accuracy"] > 0.9
    finally:
        sys.modules.pop("my_plugin", None)
    assert str(tmp_path) not in sys.path  # the working directory was on it for the import only


def test_a_worker_refuses_a_plugin_of_another_version_than_the_drivers(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path))
    payload = spec.plugin_payload()
    plugins.forget_plugins()
    plugins.install_plugins(payload)  # as a Ray worker does: the same registry entries
    assert get_optimizer_info("heavyball").hyperparameter("lr").log
    stale = [
        {**item, "version": "0.0.9"} if item["kind"] == "optimizer" else item for item in payload
    ]
    plugins.forget_plugins()
    plugins.install_plugins(stale, optimizer="adam")  # another cell's plugin is not imported
    with pytest.raises(plugins.PluginImportError) as error:
        plugins.install_plugins(stale, optimizer="heavyball")
    message = str(error.value)
    assert "version 0.1.0 here, 0.0.9 on the driver" in message
    assert "every node of the cluster needs it installed (the same version)" in message


def test_population_training_stays_opt_in_for_a_plugin_task(tmp_path: Path) -> None:
    from hpsearch.tasks.population import population_unsupported

    spec = load_spec(write(tmp_path))
    with spec.registered():
        reason = population_unsupported(spec.task.name, "adabound")
    assert reason == f"task `{TOY}:make_blobs_task` does not support population training"


def test_a_class_may_declare_its_hyperparameters_as_plain_dicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toy = sys.modules.get(TOY) or __import__(TOY, fromlist=["HeavyBall"])
    declared = ({"name": "mu", "default": 0.5, "low": 0.0, "high": 0.9},)
    monkeypatch.setattr(toy.HeavyBall, "hpsearch_hyperparameters", declared)
    info = load_spec(write(tmp_path, "lr = [0.1]")).optimizer_info("heavyball")
    mu = info.hyperparameter("mu")
    assert (mu.default, mu.high, mu.log) == (0.5, 0.9, False)
    assert info.hyperparameter("lr").default == 0.1  # the constructor's


def test_a_task_with_its_own_loss_trains_and_diverges_by_that_loss(tmp_path: Path) -> None:
    text = STUDY.format(heavyball="lr = [0.01, 3.0]").replace("make_blobs_task", "make_line_task")
    spec = load_spec(write(tmp_path, text=text))
    assert spec.metric == "test_loss"
    with spec.registered():
        good = train(spec.task.name, "heavyball", {"lr": 0.01}, 0)
        bad = train(spec.task.name, "heavyball", {"lr": 3.0}, 0)
    assert good.outcome == "completed" and set(good.final) == {
        "train_loss",
        "test_loss",
        "epoch_seconds",
    }
    assert good.final["test_loss"] < 0.05 < good.initial["test_loss"]  # the noise is 0.01
    assert bad.outcome == "diverged" and bad.diverged_epoch == 1


def test_a_task_declaring_a_metric_its_data_does_not_produce_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toy = sys.modules.get(TOY) or __import__(TOY, fromlist=["make_line_task"])
    line = toy.make_line_task()
    info = line.info.__class__(**{**line.info.__dict__, "metrics": ("test_loss", "test_accuracy")})
    monkeypatch.setattr(toy, "make_line_task", lambda: line.__class__(info, line.build))
    text = STUDY.format(heavyball="lr = [0.01]").replace("make_blobs_task", "make_line_task")
    spec = load_spec(write(tmp_path, text=text))
    declares = "declares the metrics test_accuracy, which the"
    with spec.registered(), pytest.raises(UserInputError, match=declares):
        train(spec.task.name, "heavyball", {"lr": 0.01}, 0)
