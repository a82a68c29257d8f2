"""Study specs: loading, the errors users see, and cell expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.errors import UserInputError
from hpsearch.spec import cell_key, expand_cells, load_spec, search_space

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"

BASE = """
name = "t"
[task]
name = "digits-mlp"
epochs = 2
[run]
seeds = [0, 1]
{run_extra}
[optimizers.adam]
{adam}
"""


def write(
    tmp_path: Path, adam: str = "lr = [1e-3, 1e-2]", run_extra: str = "", text: str | None = None
) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text if text is not None else BASE.format(adam=adam, run_extra=run_extra))
    return path


def test_smoke_spec_expands_to_one_cell_per_config_and_seed() -> None:
    spec = load_spec(SMOKE)
    cells = expand_cells(spec)
    # adabound 2 lr x 2 seeds, adam 2 x 2, sgd 1 x 2
    assert len(cells) == 10
    assert len({c.key for c in cells}) == 10
    assert spec.metric == "test_accuracy"
    sgd = [c for c in cells if c.optimizer == "sgd"]
    assert sgd[0].fixed == {"momentum": 0.9} and sgd[0].params == {"lr": 0.1}


def test_cell_key_is_canonical() -> None:
    assert cell_key("adam", {"lr": 1e-3, "beta1": 0.9}, 0) == cell_key(
        "adam", {"beta1": 0.9, "lr": 0.001}, 0
    )
    assert cell_key("adam", {"lr": 1e-3}, 0) == "adam:lr=0.001:seed=0"
    assert cell_key("adam", {"lr": 1e-3}, 0) != cell_key("adam", {"lr": 1e-3}, 1)


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = write(
        tmp_path, text=BASE.format(adam="lr = [0.1]", run_extra="").replace('name = "t"\n', "")
    )
    assert load_spec(path).name == "study"


def test_overrides_change_the_spec(tmp_path: Path) -> None:
    spec = load_spec(
        write(tmp_path), ["run.seeds=[0,1,2]", "task.epochs=5", "run.metric=test_loss"]
    )
    assert spec.run.seeds == [0, 1, 2]
    assert spec.task.epochs == 5
    assert spec.metric == "test_loss"
    assert len(expand_cells(spec)) == 6


def test_search_space_is_log_scaled_for_lr(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path))
    assert search_space(spec, "adam") == {
        "lr": {"kind": "float", "low": 1e-3, "high": 1e-2, "log": True}
    }


def test_sobol_samples_are_deterministic_and_in_range(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        adam="lr = { low = 1e-4, high = 1.0, log = true }\nbeta1 = [0.8, 0.9]",
        run_extra='sampler = "sobol"\nsamples = 8',
    )
    cells = expand_cells(load_spec(path))
    assert len(cells) == 16  # 8 configs x 2 seeds
    assert all(1e-4 <= c.params["lr"] <= 1.0 and c.params["beta1"] in (0.8, 0.9) for c in cells)
    assert [c.key for c in cells] == [c.key for c in expand_cells(load_spec(path))]


BAD = [
    # (adam table, run extra, the words the message must contain)
    ("lr = [1e-3]\n[optimizers.adamx]\nlr = [0.1]", "", ["optimizers.adamx", "Unknown optimizer"]),
    ("lrr = [1e-3]", "", ["optimizers.adam.lrr", "Did you mean `lr`"]),
    ("lr = [1e-3, -1.0]", "", ["optimizers.adam.lr[1]", "(0, inf)", "-1.0"]),
    ("beta1 = 1.5", "", ["optimizers.adam.beta1", "[0, 1)", "1.5"]),
    ("lr = []", "", ["optimizers.adam.lr", "empty"]),
    ("lr = { low = 1e-4, high = 1.0, log = true }", "", ["optimizers.adam.lr", "sampler"]),
    ('lr = "fast"', "", ["optimizers.adam.lr", "fast"]),
    ("lr = [0.1]", 'metric = "accuracy"', ["run.metric", "test_accuracy"]),
    ("lr = [0.1]", 'sampler = "sobol"', ["run.samples"]),
    ("lr = [0.1]", "bogus = 1", ["run.bogus", "Extra inputs"]),
]


@pytest.mark.parametrize(("adam", "run_extra", "words"), BAD)
def test_bad_specs_name_the_file_and_field(
    tmp_path: Path, adam: str, run_extra: str, words: list[str]
) -> None:
    path = write(tmp_path, adam=adam, run_extra=run_extra)
    with pytest.raises(UserInputError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_a_bad_search_value_gets_one_line_saying_what_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, adam='lr = ["a", 0.1]\nbeta1 = { low = 0.9, high = 0.5 }')
    with pytest.raises(UserInputError) as caught:
        load_spec(path)
    lines = str(caught.value).splitlines()[1:]
    lr = [line for line in lines if "optimizers.adam.lr" in line]
    assert len(lr) == 1 and "expected a number" in lr[0] and "['a', 0.1]" in lr[0]
    beta1 = [line for line in lines if "optimizers.adam.beta1" in line]
    assert len(beta1) == 1 and "must not exceed" in beta1[0]  # the range's own complaint
    assert not any("valid boolean" in line for line in lines)


def test_every_problem_of_a_valid_shaped_spec_is_named_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        adam="lr = [1e-3, -1.0]\nbeta1 = [0.9, 0.9]\nlrr = [0.1]",
        run_extra='metric = "accuracy"',
    )
    path.write_text(path.read_text().replace("seeds = [0, 1]", "seeds = [0, 0, -1]"))
    with pytest.raises(UserInputError) as caught:
        load_spec(path)
    header, *lines = str(caught.value).splitlines()
    assert header == f"{path}: the study spec is not valid:"
    named = [line.split(":")[0].strip("• ") for line in lines]
    assert named == [
        "run.metric",
        "run.seeds[2]",
        "run.seeds",
        "optimizers.adam.lr[1]",
        "optimizers.adam.beta1",
        "optimizers.adam.lrr",
    ]


def test_unknown_task_and_option(tmp_path: Path) -> None:
    text = BASE.format(adam="lr = [0.1]", run_extra="")
    with pytest.raises(UserInputError, match=r"task.name.*Unknown task `digitz-mlp`"):
        load_spec(write(tmp_path, text=text.replace('"digits-mlp"', '"digitz-mlp"')))
    with pytest.raises(UserInputError, match="hiddne"):
        load_spec(write(tmp_path, text=text.replace("epochs = 2", "epochs = 2\nhiddne = 3")))


def test_toml_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not valid TOML"):
        load_spec(write(tmp_path, text="name = \n[task"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such study file"):
        load_spec(tmp_path / "nope.toml")


def test_hash_changes_with_the_grid_but_not_with_the_description(tmp_path: Path) -> None:
    base = load_spec(write(tmp_path)).spec_hash()
    assert load_spec(write(tmp_path), ['description="other words"']).spec_hash() == base
    assert load_spec(write(tmp_path), ["claims.tolerance=2.0"]).spec_hash() == base
    assert load_spec(write(tmp_path), ["task.epochs=3"]).spec_hash() != base
    assert load_spec(write(tmp_path, adam="lr = [1e-3, 1e-1]")).spec_hash() != base


def test_data_dir_is_not_part_of_the_study_identity() -> None:
    """Moving the data must not make a resumed study look like another spec."""
    from hpsearch.spec import load_spec

    path = Path(__file__).resolve().parents[1] / "studies" / "mnist-mlp.toml"
    here = load_spec(path, ['task.data_dir="/data/a"'])
    there = load_spec(path, ['task.data_dir="/data/b"'])
    longer = load_spec(path, ['task.data_dir="/data/a"', "task.epochs=5"])
    assert here.spec_hash() == there.spec_hash()
    assert here.spec_hash() != longer.spec_hash()


# --- hardening: names, seeds, size --------------------------------------------------------------


@pytest.mark.parametrize(
    "stem", ['"><img src=x onerror=alert(1)>', "=HYPERLINK(1)", "stem with space", "-flag", ".dot"]
)
def test_a_file_stem_that_is_no_valid_name_is_refused(tmp_path: Path, stem: str) -> None:
    path = tmp_path / f"{stem}.toml"
    path.write_text(BASE.format(adam="lr = [0.1]", run_extra="").replace('name = "t"\n', ""))
    with pytest.raises(UserInputError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "name" in message and "file name" in message and "letters, digits" in message
    # An explicit empty name falls back to the stem, which is checked the same way.
    path.write_text(BASE.format(adam="lr = [0.1]", run_extra="").replace('"t"', '""'))
    with pytest.raises(UserInputError, match="file name"):
        load_spec(path)


@pytest.mark.parametrize("name", ["a b", "x<y", "=1+1", "ünï", "a/b"])
def test_a_bad_name_from_the_spec_or_set_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserInputError, match="not a valid study name"):
        load_spec(write(tmp_path), [f'name="{name}"'])


def test_a_name_too_long_for_the_storage_is_refused_and_the_longest_fits(tmp_path: Path) -> None:
    from hpsearch.storage import STUDY_NAME_LENGTH

    limit = STUDY_NAME_LENGTH - 1 - len("adam")
    assert load_spec(write(tmp_path), [f'name="{"n" * limit}"']).name == "n" * limit
    for length in (limit + 1, 300, 5000):
        with pytest.raises(UserInputError) as caught:
            load_spec(write(tmp_path), [f'name="{"n" * length}"'])
        assert f"{length} characters" in str(caught.value) and f"at most {limit}" in str(
            caught.value
        )


@pytest.mark.parametrize("seeds", ["[0, 4294967296]", "[-1]", "[2, 2]", "[true]"])
def test_seeds_must_be_distinct_and_below_2_to_the_32(tmp_path: Path, seeds: str) -> None:
    with pytest.raises(UserInputError, match=r"run\.seeds"):
        load_spec(write(tmp_path), [f"run.seeds={seeds}"])


def test_the_largest_seed_is_accepted(tmp_path: Path) -> None:
    assert load_spec(write(tmp_path), ["run.seeds=[0, 4294967295]"]).run.seeds == [0, 2**32 - 1]


def test_a_huge_grid_is_counted_not_expanded_and_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    grid = ", ".join(f"{10.0 ** -(i / 10):.6g}" for i in range(1, 101))
    adam = f"lr = [{grid}]\nbeta1 = [{', '.join(f'0.{i:02d}' for i in range(100))}]"
    path = write(tmp_path, adam=adam, run_extra="")
    overrides = ["run.seeds=[" + ", ".join(map(str, range(1000))) + "]"]  # 10**7 cells
    started = time.perf_counter()
    with pytest.raises(UserInputError) as caught:
        load_spec(path, overrides)
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert "10,000,000 cells" in message and "limit of 100,000" in message
    assert "--max-cells 10000000" in message and "HPSEARCH_MAX_CELLS" in message
    (tmp_path / "sobol").mkdir()
    sobol = write(tmp_path / "sobol", adam="lr = { low = 1e-4, high = 1.0, log = true }")
    huge = ['run.sampler="sobol"', "run.samples=100000000"]
    with pytest.raises(UserInputError, match="200,000,000 cells"):
        load_spec(sobol, huge)
    # Past the limit deliberately: an option, or the environment variable.
    assert load_spec(path, ["run.seeds=[0]"], max_cells=10_000).run.seeds == [0]
    with pytest.raises(UserInputError, match="limit of 9,999"):
        load_spec(path, ["run.seeds=[0]"], max_cells=9_999)
    monkeypatch.setenv("HPSEARCH_MAX_CELLS", "10000")
    assert load_spec(path, ["run.seeds=[0]"]).run.seeds == [0]
    monkeypatch.setenv("HPSEARCH_MAX_CELLS", "lots")
    with pytest.raises(UserInputError, match="HPSEARCH_MAX_CELLS"):
        load_spec(path, ["run.seeds=[0]"])


def _registries() -> tuple[dict[str, object], ...]:
    from hpsearch import plugins
    from hpsearch.optim import list_optimizers
    from hpsearch.tasks.registry import find, list_tasks

    return (
        {info.name: info for info in list_optimizers()},
        {task.name: find(task.name) for task in list_tasks()},
        dict(plugins._OPTIMIZERS),
        dict(plugins._TASKS),
    )


def test_validate_leaves_the_registries_as_it_found_them(tmp_path: Path) -> None:
    """Loading, resolving and expanding a spec that names a plugin optimizer and a plugin task
    (what `hpsearch validate` does, here in this process) registers nothing anywhere."""
    import sys

    from test_run_cli import cli

    from hpsearch.spec import read_spec, resolve_spec

    toy = "tests.plugins.toyplugin"
    path = write(
        tmp_path,
        text=f'name = "p"\ntask = "{toy}:make_blobs_task"\n[optimizers.heavy]\n'
        f'class = "{toy}:HeavyBall"\nlr = [0.1, 0.2]\n[optimizers.adam]\nlr = [0.1]\n',
    )
    before, path_before = _registries(), list(sys.path)
    assert cli("validate", str(path), cwd=tmp_path) == 0
    assert _registries() == before
    assert sys.path == path_before
    read = read_spec(path)
    resolved = resolve_spec(read)
    assert resolved is not read and read.run.metric is None  # a new spec; the read one as read
    assert resolved.metric == "test_accuracy" and len(expand_cells(resolved)) == 3
    assert _registries() == before
    with resolved.registered():  # a run's driver: registered for the run, then as before
        from hpsearch.optim import get_optimizer_info

        assert get_optimizer_info("heavy").name == "heavy"
    assert _registries() == before
