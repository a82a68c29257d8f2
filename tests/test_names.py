"""The one name rule (`hpsearch.names`) and the other checks a spec passes before anything is
written: every name a spec or a plugin brings, option sizes, plugin classes, strict types; and a
storage holding a study stored before these checks still opens for every other study."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_run_cli import cli

from hpsearch import plugins
from hpsearch.analysis.synthetic import store_study, synthetic_study
from hpsearch.names import RESERVED_COLUMNS, identifier_problem, optimizer_name_problem, printable
from hpsearch.storage import close_storages

SPEC = """
name = "{name}"
description = "{description}"
[task]
name = "digits-mlp"
epochs = {epochs}
{task_extra}
[run]
seeds = [0]
[optimizers.{optimizer}]
{optimizer_body}
"""

# A plugin optimizer that takes any keyword (`**kwargs`): any declared name reaches storage.
KWARGS_PLUGIN = """
import torch


class Loose(torch.optim.SGD):
    def __init__(self, params, lr=0.1, **kwargs):
        super().__init__(params, lr=lr)


class Declares(torch.optim.SGD):
    hpsearch_hyperparameters = ({"name": "value", "default": 1.0},)

    def __init__(self, params, lr=0.1, **kwargs):
        super().__init__(params, lr=lr)
"""


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    yield
    plugins.forget_plugins()


def write(tmp_path: Path, **fields: str) -> Path:
    values = {
        "name": "names",
        "description": "a study",
        "epochs": "1",
        "task_extra": "",
        "optimizer": "adam",
        "optimizer_body": "lr = [0.1]",
        **fields,
    }
    path = tmp_path / "names.toml"
    path.write_text(SPEC.format(**values), encoding="utf-8")
    (tmp_path / "loose_plugin.py").write_text(KWARGS_PLUGIN)
    return path


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], **fields: str) -> str:
    """The spec exits 2 in `validate` and in `run`, and `run` writes nothing; the message."""
    path = write(tmp_path, **fields)
    db = tmp_path / "names.db"
    assert cli("validate", str(path), cwd=tmp_path) == 2
    message = capsys.readouterr().err
    assert cli("run", str(path), "--storage", f"sqlite:///{db}", cwd=tmp_path) == 2
    assert capsys.readouterr().err == message
    assert not db.exists()
    assert message.startswith(f"Error: {path}: ") and message.count("\n") >= 1
    assert "\x1b" not in message and "\x00" not in message  # nothing raw reaches the terminal
    return message


def test_the_rule_in_words() -> None:
    assert optimizer_name_problem("my-adam_2") is None
    assert "no `.`" in (optimizer_name_problem("y.adam") or "")
    assert optimizer_name_problem("a" * 65) is not None
    assert identifier_problem("hyperparameter", "final_lr", columns=True) is None
    assert identifier_problem("hyperparameter", "seed", columns=True) is not None
    assert identifier_problem("task option", "seed") is None  # options are no columns
    assert identifier_problem("hyperparameter", "lr", columns=True, metrics=["lr"]) is not None
    assert {"seed", "value", "cell", "config", "outcome", "epoch", "metric"} <= RESERVED_COLUMNS
    assert printable("a\x1b[2J\nb\x00") == "a\\x1b[2J\\nb\\x00"


def test_a_dot_in_an_optimizer_name_is_refused_so_studies_cannot_collide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Study `x` with optimizer `y.adam` would be the Optuna study of study `x.y` with `adam`.
    message = refused(
        tmp_path, capsys, name="x", optimizer='"y.adam"', optimizer_body='class = "torch.optim:SGD"'
    )
    assert "optimizers: 'y.adam' is not a valid optimizer name" in message
    assert "no `.`" in message


@pytest.mark.parametrize(
    ("optimizer", "shown"),
    [
        ('"a\\u0000b"', "'a\\x00b'"),  # a NUL, which PostgreSQL cannot store
        ('"x\\u001b[31m\\nfake line"', "'x\\x1b[31m\\nfake line'"),  # ANSI escape, newline
    ],
)
def test_control_characters_in_an_optimizer_name_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], optimizer: str, shown: str
) -> None:
    message = refused(tmp_path, capsys, optimizer=optimizer)
    assert "is not a valid optimizer name" in message
    assert shown in message


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (  # a column of trials.csv, through a plugin taking **kwargs
            'class = "loose_plugin:Loose"\nseed = [1.0, 2.0]\n'
            "[optimizers.loose.hyperparameters]\nseed = { default = 1.0 }",
            ["optimizers.loose: `seed` is a column of hpsearch's tables"],
        ),
        (  # a spreadsheet formula as a CSV header
            'class = "loose_plugin:Loose"\n"=HYPERLINK(\\"http://x\\")" = [1.0]',
            ["""'=HYPERLINK("http://x")' is not a valid hyperparameter name"""],
        ),
        (  # declared by the class itself
            'class = "loose_plugin:Declares"\nlr = [0.1]',
            ["optimizers.loose.hyperparameters: `value` is a column"],
        ),
        (  # named like one of the task's metrics, another column of trials.csv
            'class = "loose_plugin:Loose"\n[optimizers.loose.hyperparameters]\n'
            "test_accuracy = { default = 1.0 }",
            ["optimizers.loose: `test_accuracy` is a column"],
        ),
    ],
)
def test_a_hyperparameter_may_not_shadow_a_column_or_be_no_identifier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, fragments: list[str]
) -> None:
    message = refused(tmp_path, capsys, optimizer="loose", optimizer_body=body)
    for fragment in fragments:
        assert fragment in message, message


def test_a_class_that_is_no_optimizer_is_refused_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = refused(
        tmp_path, capsys, optimizer="shell", optimizer_body='class = "os:system"\nlr = [0.1]'
    )
    assert (
        "optimizers.shell.class: `os:system` is not a `torch.optim.Optimizer` subclass" in message
    )
    assert "hpsearch_optimizer = True" in message


def test_a_factory_declaring_it_returns_an_optimizer_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "factory_plugin.py").write_text(
        "import torch\n\n\ndef make(params, lr=0.1):\n    return torch.optim.SGD(params, lr=lr)\n"
        "\n\nmake.hpsearch_optimizer = True\n"
    )
    path = write(
        tmp_path, optimizer="made", optimizer_body='class = "factory_plugin:make"\nlr = [0.1]'
    )
    assert cli("validate", str(path), cwd=tmp_path) == 0


def test_an_oversized_model_option_is_refused_before_a_model_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = refused(tmp_path, capsys, task_extra="hidden = 100000000000")
    assert "Option `hidden` of task `digits-mlp` must be an integer in [1, 65536]" in message
    assert cli("catalog", "tasks", cwd=tmp_path) == 0  # the bound is where users look it up
    assert "hidden          default 128        range [1, 65536]  hidden units" in (
        capsys.readouterr().out
    )


def test_an_undeclared_bound_still_caps_a_plugin_tasks_integer_option() -> None:
    from hpsearch.errors import UserInputError
    from hpsearch.tasks.base import INT_OPTION_CEILING, TaskOption

    option = TaskOption("hidden", 16, "units", low=1)
    assert option.check("blobs", INT_OPTION_CEILING) == INT_OPTION_CEILING
    with pytest.raises(UserInputError, match=r"in \[1, 1048576\] \(the bound for an option"):
        option.check("blobs", 100_000_000_000)


def test_epochs_must_be_a_whole_number_not_true(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = refused(tmp_path, capsys, epochs="true")
    assert "task.epochs" in message and "Input should be a valid integer (got True)" in message


def test_a_description_with_control_characters_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = refused(tmp_path, capsys, description="line\\u001b[2J\\nfake")
    assert "description: 'line\\x1b[2J\\nfake' holds a control character" in message


def _store(db: Path, name: str, hyperparameter: str = "lr") -> None:
    """A study group as a run stores it; its hyperparameter renamed in the database to
    `hyperparameter`, one that an older hpsearch let through."""
    data = synthetic_study({"adam": {"lr": [0.01, 0.1]}}, lambda o, c: 0.9, (0, 1), name=name)
    store_study(f"sqlite:///{db}", data)
    close_storages()
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE trial_params SET param_name = ? WHERE trial_id IN (SELECT trial_id FROM "
            "trials JOIN studies USING (study_id) WHERE study_name = ?)",
            (hyperparameter, f"{name}.adam"),
        )


def test_list_shows_the_description_and_a_bad_old_study_hides_no_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "old.db"
    url = f"sqlite:///{db}"
    _store(db, "good")
    _store(db, "shadow", hyperparameter="seed")  # stored by an older hpsearch
    _store(db, "odd\x1b[31m\nfake")
    path = write(tmp_path, name="described", description="what this study asks")
    from hpsearch.runner import group_info
    from hpsearch.spec import load_spec
    from hpsearch.storage import prepare_group

    prepare_group(url, group_info(load_spec(path)))
    close_storages()

    assert cli("list", "--storage", url, cwd=tmp_path) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "fake" in out
    assert out.count("\n") == 1 + 4 + 1  # header, four studies, one description
    assert "    what this study asks\n" in out
    assert any(line.startswith("good ") and "4" in line for line in out.splitlines())
    assert any(line.startswith("shadow ") for line in out.splitlines())
    assert cli("status", "good", "--storage", url, cwd=tmp_path) == 0
    assert "good: 4 of 4 cells recorded" in capsys.readouterr().out
    assert cli("status", "shadow", "--storage", url, cwd=tmp_path) == 0
    assert "shadow: 4 of 4 cells recorded" in capsys.readouterr().out
    out_dir = tmp_path / "csv"
    assert cli("export", "shadow", "--out", str(out_dir), "--storage", url, cwd=tmp_path) == 0
    with (out_dir / "trials.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header.count("seed") == 1 and "params_seed" in header


def test_a_stored_formula_header_is_exported_as_text(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _store(db, "formula", hyperparameter='=HYPERLINK("http://x")')  # stored by an older hpsearch
    out_dir = tmp_path / "csv"
    url = f"sqlite:///{db}"
    assert cli("export", "formula", "--out", str(out_dir), "--storage", url, cwd=tmp_path) == 0
    with (out_dir / "trials.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert """'=HYPERLINK("http://x")""" in header
    assert not any(h.startswith("=") for h in header)


def test_text_options_refuse_control_characters() -> None:
    from hpsearch.errors import UserInputError
    from hpsearch.tasks.base import TaskOption

    with pytest.raises(UserInputError, match="must be a directory path"):
        TaskOption("data_dir", None, "files", kind="path").check("t", "/data\x00/x")
    with pytest.raises(UserInputError, match="must be one of `ptb`"):
        TaskOption("corpus", "ptb", "which", kind="str", choices=("ptb",)).check("t", "p\x1bb")
    with pytest.raises(UserInputError, match="must be text without control characters"):
        TaskOption("note", "", "free text", kind="str").check("t", "ptb\x1b[2J")


def test_names_from_an_older_storage_reach_the_terminal_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "old.db"
    _store(db, "escapes")
    with sqlite3.connect(db) as connection:  # an optimizer name no spec may have today
        connection.execute(
            "UPDATE study_user_attributes SET value_json = ? WHERE key = 'optimizer'",
            ('"ad\\u001b[2J\\nam"',),
        )
    url = f"sqlite:///{db}"
    for verb in (["list"], ["status", "escapes"], ["show", "escapes"]):
        assert cli(*verb, "--storage", url, cwd=tmp_path) == 0, verb
        captured = capsys.readouterr()
        assert "\x1b" not in captured.out + captured.err, verb
        assert "ad\\x1b[2J\\nam" in captured.out, (verb, captured.out)


def test_an_older_storage_with_a_dotted_optimizer_is_never_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Study `x` with optimizer `y.adam`, stored by an older hpsearch, owns the Optuna study
    `x.y.adam`: a new study `x.y` with `adam` is refused instead of relabelling it, and the
    storage still lists and shows every study."""
    db = tmp_path / "old.db"
    url = f"sqlite:///{db}"
    old = synthetic_study({"y.adam": {"lr": [0.01, 0.1]}}, lambda o, c: 0.9, (0, 1), name="x")
    store_study(url, old)
    _store(db, "good")
    close_storages()
    path = write(tmp_path, name="x.y", optimizer="adam")
    assert cli("run", str(path), "--storage", url, "--dry-run", cwd=tmp_path) == 2
    err = capsys.readouterr().err
    assert "The Optuna study `x.y.adam`" in err and "belongs to the study `x`" in err
    assert cli("list", "--storage", url, cwd=tmp_path) == 0
    listed = capsys.readouterr().out
    assert any(line.startswith("x ") and "y.adam" in line for line in listed.splitlines())
    assert any(line.startswith("good ") for line in listed.splitlines())
    assert cli("status", "x", "--storage", url, cwd=tmp_path) == 0
    assert "x: 4 cells recorded" in capsys.readouterr().out


SQUARE_TASK = """
import torch
from torch import nn

from hpsearch.tasks import TaskDefinition, TaskInfo, TaskOption, common_options
from hpsearch.tasks.workload import Classification, Workload


def make_task():
    def build(options):
        x, y = torch.zeros(8, 2), torch.zeros(8, dtype=torch.long)
        h = options["hidden"]
        return Workload(
            Classification(x, y, x, y, num_classes=2),
            lambda: nn.Sequential(nn.Linear(2, h), nn.Linear(h, h), nn.Linear(h, 2)),
        )

    info = TaskInfo(
        name="square",
        description="an MLP whose middle layer is hidden x hidden",
        options=(*common_options(epochs=1, batch_size=8), TaskOption("hidden", 4, "units", low=1)),
        metrics=("train_loss", "test_loss", "test_accuracy", "epoch_seconds"),
        default_metric="test_accuracy",
        num_classes=2,
        offline=True,
    )
    return TaskDefinition(info=info, build=build)
"""


def test_a_model_larger_than_memory_fails_its_cell_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the undeclared bound (1,048,576 units) a hidden x hidden layer still holds 10^12
    weights: the model is built on the meta device first and the cell fails saying so."""
    from hpsearch.spec import load_spec
    from hpsearch.tasks import train

    (tmp_path / "square_task.py").write_text(SQUARE_TASK)
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, task_extra="hidden = 1000000")
    path.write_text(path.read_text().replace('"digits-mlp"', '"square_task:make_task"'))
    spec = load_spec(path)
    with spec.registered():
        result = train(spec.task.name, "adam", {"lr": 0.1}, 0, options=spec.task.options())
    assert result.outcome == "error"
    assert "UserInputError: The model of task `square_task:make_task` has 1,000,006,000,002" in (
        result.error or ""
    )


def test_no_error_message_carries_an_escape_sequence_to_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever a spec quotes back (here an unknown metric and an override), the error line
    shows its control characters escaped: no fake line, no terminal escape."""
    path = write(tmp_path)
    metric = 'run.metric="x\\u001b[2J\\nfake: line"'  # TOML escapes: a real ESC and newline
    assert cli("validate", str(path), "--set", metric, cwd=tmp_path) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "fake: line" in err
    assert not any(line.startswith("fake") for line in err.splitlines())


def test_every_built_in_name_obeys_the_rule() -> None:
    from hpsearch.optim import list_optimizers
    from hpsearch.tasks import list_tasks

    tasks = list_tasks()
    metrics = {m for task in tasks for m in task.metrics}
    for info in list_optimizers():
        assert optimizer_name_problem(info.name) is None, info.name
        for hp in info.hyperparameters:
            assert (
                identifier_problem("hyperparameter", hp.name, columns=True, metrics=metrics) is None
            )
    for task in tasks:
        for option in task.options:
            assert identifier_problem("task option", option.name) is None, (task.name, option)
