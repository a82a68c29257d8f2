"""The container deployment, checked offline: no Docker engine runs on these machines.

docker-compose.yml is validated against the Compose Specification schema, and every command a
service runs is parsed by the real CLI it calls (hpsearch's Typer app, Ray's click CLI), so a
renamed verb or option fails here instead of in a user's cluster. The Dockerfile is checked for
what breaks a build silently: a torch pin that drifts from pyproject.toml, a COPY of an ignored
path, a build argument compose passes but the Dockerfile does not declare.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import typer.main
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; `$$` is a literal `$`.
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Resolve compose variables the way `docker compose config` does (the subset we use)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        if op in (":-", ":?") and not value:
            value = None
        if value is not None:
            return value
        if op in (":-", "-"):
            return arg
        raise KeyError(f"compose variable `{name}` is unset and has no default")

    return _VARIABLE.sub(replace, text)


def _resolve(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate(node, env)
    if isinstance(node, list):
        return [_resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, env) for key, value in node.items()}
    return node


def _references(node: Any) -> list[re.Match[str]]:
    if isinstance(node, str):
        return [m for m in _VARIABLE.finditer(node) if m.group("name")]
    if isinstance(node, list):
        return [m for item in node for m in _references(item)]
    if isinstance(node, dict):
        return [m for value in node.values() for m in _references(value)]
    return []


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


# The secrets compose requires (`${VAR:?message}`): no default, empty in .env.example.
SECRETS = {"POSTGRES_PASSWORD": "pw-set-in-env", "RAY_AUTH_TOKEN": "token-set-in-env"}


@pytest.fixture(scope="module")
def services(raw: dict[str, Any]) -> dict[str, Any]:
    """The services as compose sees them with only the required secrets set (every default
    applies)."""
    return _resolve(raw, SECRETS)["services"]


def _argv(service: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(entrypoint, command) of a service; the image's entry point is `hpsearch`."""
    entrypoint = service.get("entrypoint", ["hpsearch"])
    command = service.get("command", [])
    assert isinstance(entrypoint, list) and isinstance(command, list), "use the exec (list) form"
    return entrypoint, command


def _hpsearch_argv(service: dict[str, Any]) -> list[str]:
    """The `hpsearch ...` argv a service ends up running, directly or after `exec hpsearch "$@"`."""
    entrypoint, command = _argv(service)
    if entrypoint == ["hpsearch"]:
        return command
    assert entrypoint[:2] == ["sh", "-c"], entrypoint
    assert 'exec hpsearch "$@"' in entrypoint[2], entrypoint
    return command


def _parse_hpsearch(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse argv with the real Typer app: unknown verbs, options and bad values raise."""
    from hpsearch.cli import app

    # Typer vendors its own click: its Context, not click's, and its own exception classes.
    group = typer.main.get_command(app)
    root = typer.Context(group, info_name="hpsearch")
    verb, *rest = argv
    command = group.get_command(root, verb)  # type: ignore[attr-defined]
    if command is None:
        raise LookupError(f"`hpsearch {verb}` is not a command")
    with command.make_context(verb, list(rest), parent=root) as ctx:
        return verb, dict(ctx.params)


def _parse_ray(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse `ray <verb> ...` with Ray's own click CLI."""
    from ray.scripts.scripts import cli

    assert argv[0] == "ray", argv
    verb, *rest = argv[1:]
    root = click.Context(cli, info_name="ray")
    command = cli.get_command(root, verb)
    if command is None:
        raise click.UsageError(f"`ray {verb}` is not a command")
    with command.make_context(verb, list(rest), parent=root) as ctx:
        return verb, dict(ctx.params)


def _storage_url(services: dict[str, Any]) -> str:
    env = services["postgres"]["environment"]
    return (
        f"postgresql+psycopg://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{env['POSTGRES_DB']}"
    )


def test_compose_file_is_valid_against_the_compose_spec(tmp_path: Path) -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    assert checker.exists(), "check-jsonschema is a dev dependency: pip install -e '.[dev]'"
    ok = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", COMPOSE],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The validator must be able to say no: a misspelt key in the GPU reservation is rejected.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("capabilities:", "capabilitiez:"))
    bad = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", broken],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0, "a misspelt key passed the schema check"


def test_services_and_profiles(services: dict[str, Any]) -> None:
    assert {"postgres", "ray-head", "ray-worker", "dashboard", "runner"} <= set(services)
    assert services["runner"]["profiles"] == ["runner"]
    # The default `docker compose up` brings up everything except the runner and the CPU worker.
    default = {name for name, s in services.items() if not s.get("profiles")}
    assert default == {"postgres", "ray-head", "ray-worker", "dashboard"}


def test_published_ports_bind_localhost_only(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
    assert services["dashboard"]["ports"] == ["127.0.0.1:8050:8050"]


def test_postgres_has_volume_healthcheck_and_env_credentials(
    raw: dict[str, Any], services: dict[str, Any]
) -> None:
    postgres = services["postgres"]
    assert any(v.startswith("pgdata:") for v in postgres["volumes"])
    assert "pgdata" in raw["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    # Credentials come from the environment / .env; the password has no default at all.
    for key, value in raw["services"]["postgres"]["environment"].items():
        if key in SECRETS:
            assert value.startswith(f"${{{key}:?"), (key, value)
        else:
            assert value == f"${{{key}:-{_env_example()[key]}}}", (key, value)
    for name in ("dashboard", "runner"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_variable_has_a_default_documented_in_env_example(raw: dict[str, Any]) -> None:
    documented = _env_example()
    references = _references(raw)
    assert references
    for match in references:
        name = match.group("name")
        assert name in documented, f"`{name}` is not in .env.example"
        if name in SECRETS:
            assert match.group("op") == ":?", f"`{match.group(0)}` must be required, no default"
            continue
        assert match.group("op") == ":-", f"`{match.group(0)}` needs a `:-` default"
        assert documented[name] == match.group("arg"), f".env.example and default differ: {name}"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_a_secret(raw: dict[str, Any], missing: str) -> None:
    """No well-known password or token: unset, or as copied from .env.example, is refused."""
    without = {k: v for k, v in SECRETS.items() if k != missing}
    for env in (without, {**_env_example(), **without}):  # unset; as copied from .env.example
        with pytest.raises(KeyError, match=missing):
            _resolve(raw, env)
    assert _env_example()[missing] == "", f".env.example must not hold a usable {missing}"
    assert "hpsearch-dev" not in COMPOSE.read_text() + ENV_EXAMPLE.read_text()


def test_env_file_values_reach_the_services(raw: dict[str, Any]) -> None:
    env = {**SECRETS, "POSTGRES_PASSWORD": "s3cret", "HPSEARCH_STUDY": "studies/other.toml"}
    services = _resolve(raw, env)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"
    assert ":s3cret@postgres:5432/" in services["runner"]["command"][-1]
    assert services["runner"]["command"][1] == "studies/other.toml"


def test_ray_worker_reserves_gpus_and_scales(services: dict[str, Any]) -> None:
    worker = services["ray-worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    assert device["driver"] == "nvidia"
    assert device["count"] == "all"
    # `--scale ray-worker=N` fails with a fixed container name or a published host port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["build"]["args"]["TORCH_VARIANT"].startswith("cu")
    assert "cuda" in worker["build"]["args"]["BASE_IMAGE"]
    assert services["ray-head"]["build"]["args"]["TORCH_VARIANT"] == "cpu"


def test_ray_commands_are_valid_for_the_installed_ray(services: dict[str, Any]) -> None:
    verb, head = _parse_ray(_argv(services["ray-head"])[0] + _argv(services["ray-head"])[1])
    assert verb == "start" and head["head"] and head["port"] == 6379 and head["block"]
    for name in ("ray-worker", "ray-worker-cpu"):
        entrypoint, command = _argv(services[name])
        verb, worker = _parse_ray(entrypoint + command)
        assert verb == "start" and worker["address"] == "ray-head:6379" and worker["block"]
    _, probe = _parse_ray(services["ray-head"]["healthcheck"]["test"][1:])
    assert probe["address"] == "localhost:6379"
    # The runner joins the cluster before it starts the driver (a Ray driver needs a local node).
    script = _argv(services["runner"])[0][2]
    join = shlex.split(script.split("&&")[0])
    _, runner = _parse_ray(join)
    assert runner["address"] == "ray-head:6379" and runner["num_cpus"] == 0
    with pytest.raises(click.UsageError):
        _parse_ray(["ray", "start", "--head", "--no-such-option"])


def test_ray_members_share_token_authentication(services: dict[str, Any]) -> None:
    # Every process that joins the cluster (nodes and the runner's driver) must agree on the mode
    # and the token, or the joiner is refused with "InvalidAuthToken".
    members = ["ray-head", "ray-worker", "ray-worker-cpu", "runner"]
    tokens = set()
    for name in members:
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        tokens.add(env["RAY_AUTH_TOKEN"])
    assert len(tokens) == 1 and "" not in tokens


def test_dashboard_command_is_a_valid_hpsearch_verb(services: dict[str, Any]) -> None:
    verb, params = _parse_hpsearch(_hpsearch_argv(services["dashboard"]))
    assert verb == "dashboard"
    assert params["host"] == "0.0.0.0"
    assert params["port"] == 8050
    assert params["storage"] == _storage_url(services)
    assert services["dashboard"]["environment"]["HPSEARCH_STORAGE"] == _storage_url(services)


def test_runner_command_is_a_valid_hpsearch_verb(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the image's working directory holds studies/ the same way
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    runner = services["runner"]
    argv = _hpsearch_argv(runner)
    verb, params = _parse_hpsearch(argv)
    assert verb == "run"
    assert params["storage"] == _storage_url(services)
    assert params["ray_address"] == "ray-head:6379"
    assert (ROOT / argv[1]).is_file(), f"the runner's default study {argv[1]} does not exist"
    assert any(v.startswith("./studies:/app/studies") for v in runner["volumes"])
    assert runner["depends_on"]["ray-head"]["condition"] == "service_healthy"
    with pytest.raises(typer.TyperException, match="No such option"):
        _parse_hpsearch([*argv, "--no-such-option"])
    with pytest.raises(LookupError):
        _parse_hpsearch(["no-such-verb"])


def _dockerfile() -> str:
    return DOCKERFILE.read_text()


def test_dockerfile_entry_point_and_build_arguments(services: dict[str, Any]) -> None:
    text = _dockerfile()
    assert re.search(r'^ENTRYPOINT \["hpsearch"\]$', text, re.M)
    declared = set(re.findall(r"^ARG (\w+)", text, re.M))
    for name, service in services.items():
        for arg in service.get("build", {}).get("args", {}):
            assert arg in declared, f"{name} passes build arg {arg} the Dockerfile never declares"
    assert re.search(r"^ARG BASE_IMAGE=ubuntu:24\.04$", text, re.M)
    assert "FROM ${BASE_IMAGE}" in text
    # A hard-coded torch version would drift from pyproject.toml's pin.
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert not re.search(r"torch\s*==", code)


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/"))
        for p in patterns
        if not p.startswith("!")
    )


def test_dockerfile_copies_exist_and_are_not_dockerignored() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert _ignored(".venv", patterns) and _ignored("tests", patterns)
    copies = re.findall(r"^COPY (.+) \S+$", _dockerfile(), re.M)
    sources = [source for line in copies for source in line.split()]
    assert {"pyproject.toml", "hpsearch", "dashboards", "studies"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
        assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"


def test_dockerfile_installs_exactly_the_pinned_torch(tmp_path: Path) -> None:
    """Run the Dockerfile's own requirement-split script against the real pyproject.toml."""
    text = _dockerfile()
    script = text.split("RUN python - <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    script = script.replace("/tmp/", f"{tmp_path}/")
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_pin = [d for d in deps if re.match(r"torch\b", d)]
    assert (tmp_path / "torch.txt").read_text().split() == torch_pin
    assert re.fullmatch(r"torch==[\d.]+", torch_pin[0]), "the CPU build needs an exact torch pin"
    rest = (tmp_path / "requirements.txt").read_text().split("\n")
    assert [r for r in rest if r] == [d for d in deps if d not in torch_pin]
