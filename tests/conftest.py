"""Shared fixtures and marker handling."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# What a test of each kind roughly costs, for ordering the files (see below).
_WEIGHTS = {"ray": 10.0, "browser": 8.0, "slow": 1.0}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The heaviest files first: `make test` hands whole files to two workers in this order
    # (`--dist loadfile --no-loadscope-reorder`), and a file of Ray runs that starts last
    # keeps one worker busy for minutes after the other has finished (longest first).
    def file_of(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    weight: dict[str, float] = {}
    for item in items:
        cost = max((w for m, w in _WEIGHTS.items() if m in item.keywords), default=0.1)
        weight[file_of(item)] = weight.get(file_of(item), 0.0) + cost
    items.sort(key=lambda item: -weight[file_of(item)])

    # `gpu` tests need CUDA; everything else runs on every machine.
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (no GPU on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# --- run / storage fixtures: a throwaway PostgreSQL, one local Ray, ending processes by pid ------


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return (
        os.path.dirname(found[-1])
        if found
        else (os.path.dirname(shutil.which("initdb") or "") or None)
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_PG: dict[str, Any] = {}  # how the session's server was started, for `postgres_blink`


def _pg_ctl_start(pg: dict[str, Any]) -> None:
    subprocess.run(
        [
            *pg["as_postgres"],
            f"{pg['bindir']}/pg_ctl",
            "-D",
            pg["data"],
            "-l",
            os.path.join(pg["root"], "log"),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {pg['port']} -k {pg['root']}",
            "start",
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 in a temp dir for this test session; yields its base URL
    (`postgresql+psycopg://hpsearch@127.0.0.1:PORT`). Skipped where no `initdb` exists."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb) are not installed")
    root = tempfile.mkdtemp(prefix="hpsearch-pg-")
    data = os.path.join(root, "data")
    port = _free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_postgres,
            f"{bindir}/initdb",
            "-D",
            data,
            "-U",
            "hpsearch",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    _PG.update(bindir=bindir, data=data, root=root, port=port, as_postgres=as_postgres)
    _pg_ctl_start(_PG)
    try:
        yield f"postgresql+psycopg://hpsearch@127.0.0.1:{port}"
    finally:
        from hpsearch.storage import close_storages

        close_storages()
        subprocess.run(
            [*as_postgres, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's server (one per test)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


@pytest.fixture
def postgres_blink(postgres_server: str) -> Iterator[Callable[[float], threading.Thread]]:
    """`blink(down)`: stop the session's PostgreSQL now (fast shutdown: connections cut, as in
    a restart) and start it again `down` seconds later, from a thread that is returned."""
    threads: list[threading.Thread] = []

    def blink(down: float) -> threading.Thread:
        subprocess.run(
            [
                *_PG["as_postgres"],
                f"{_PG['bindir']}/pg_ctl",
                "-D",
                _PG["data"],
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=True,
            capture_output=True,
        )

        def back() -> None:
            time.sleep(down)
            _pg_ctl_start(_PG)

        thread = threading.Thread(target=back, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    yield blink
    for thread in threads:  # never leave the server down for the next test
        thread.join()


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray (2 CPUs) for the whole session: start-up costs seconds."""
    from hpsearch import scheduling

    scheduling.start_ray(num_cpus=2)
    yield
    scheduling.stop_ray()


def session_pids(sid: int) -> list[int]:
    """Processes in session `sid` (a driver started with `start_new_session=True` and the Ray
    processes it spawned, which stay in its session even after it is killed)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def kill_session(sid: int, timeout: float = 10.0) -> None:
    """SIGKILL every process of session `sid`, by pid, until none is left (never `ray stop`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = session_pids(sid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
