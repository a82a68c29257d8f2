"""The optimizer registry: each entry trains, bad names and values are refused, the CLI lists."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import UnknownNameError, UserInputError
from hpsearch.optim import build_optimizer, get_optimizer_info, list_optimizers

NAMES = [info.name for info in list_optimizers()]
EXPECTED = {"adabound", "amsbound", "adaboundw", "adam", "amsgrad", "adamw", "sgd", "adagrad"}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_registry_has_the_issue_s_optimizers() -> None:
    assert set(NAMES) >= EXPECTED


@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_fits_a_small_regression_with_its_defaults(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 8, generator=generator)
    targets = inputs @ (0.3 * torch.randn(8, 1, generator=generator)) + 0.1
    model = torch.nn.Linear(8, 1)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = build_optimizer(name, model.parameters(), {})

    def loss() -> torch.Tensor:
        return torch.nn.functional.mse_loss(model(inputs), targets)

    initial = loss().item()
    for _ in range(400):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < 0.1 * initial, name


def test_build_optimizer_passes_flat_betas_and_fixed_flags() -> None:
    params = [torch.nn.Parameter(torch.ones(2))]
    optimizer = build_optimizer("amsbound", params, {"beta1": 0.8, "final_lr": 0.05})
    group = optimizer.param_groups[0]
    assert group["betas"] == (0.8, 0.999)
    assert group["final_lr"] == 0.05
    assert group["amsbound"] is True


def test_unknown_optimizer_gets_did_you_mean() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean `adabound`"):
        get_optimizer_info("adabund")


def test_unknown_hyperparameter_gets_did_you_mean() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean `gamma`"):
        build_optimizer("adabound", [torch.nn.Parameter(torch.ones(1))], {"gama": 1e-3})


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"gamma": 1.0}, "`gamma` must be in (0, 1), got 1.0"),
        ({"lr": 0.0}, "`lr` must be in (0, inf), got 0.0"),
        ({"beta2": 1.0}, "`beta2` must be in [0, 1), got 1.0"),
        ({"final_lr": -0.1}, "`final_lr` must be in (0, inf)"),
    ],
)
def test_out_of_range_values_are_user_errors(values: dict[str, float], fragment: str) -> None:
    with pytest.raises(UserInputError) as error:
        build_optimizer("adabound", [torch.nn.Parameter(torch.ones(1))], values)
    assert fragment in str(error.value)


def test_catalog_lists_every_optimizer_in_process() -> None:
    result = CliRunner().invoke(app, ["catalog", "optimizers"])
    assert result.exit_code == 0, result.output
    listed = {
        line.split()[0]
        for line in result.output.splitlines()
        if line.startswith("  ") and not line.startswith("      ")
    }
    assert listed == set(NAMES)
    assert "final_lr      default 0.1" in result.output


def test_catalog_lists_every_optimizer_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hpsearch", "catalog", "optimizers"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in NAMES:
        assert f"  {name} " in done.stdout


def test_reading_the_registry_does_not_load_torch() -> None:
    """`report`, `dashboard` and `export` read defaults and ranges only: torch (a second of
    start-up) and the stacked kernels load when an optimizer is built, not before."""
    code = (
        "import sys\n"
        "from hpsearch.optim import get_optimizer_info, list_optimizers\n"
        "assert get_optimizer_info('adabound').defaults()['final_lr'] == 0.1\n"
        "assert len(list_optimizers()) >= 8\n"
        "print(sorted(m for m in ('torch', 'numba') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
