"""Ray's start-up and shut-down, the cluster's size, and where Ray's own messages go.

Tune reads a few settings from the environment when it runs; `start_ray` sets them (as
defaults the user may override) before Ray starts, so importing hpsearch changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import ray

from hpsearch.errors import ClusterError

RAY_LOG_ENV = "HPSEARCH_RAY_LOG"

TUNE_ENVIRONMENT = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # no CSV/JSON/TBX per trial
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_MAX_PENDING_TRIALS_PG": "8",
    # Tune snapshots its experiment state for `Tuner.restore`, which we never use (the database
    # is the record and resume works per cell): work on the driver's loop that buys nothing.
    "TUNE_GLOBAL_CHECKPOINT_S": "1000000",
    # Our own SIGINT handler stops the run; Tune's would end with a `Tuner.restore` hint that is
    # not how hpsearch resumes (the same command again does).
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}


def set_tune_environment() -> None:
    """Tune's settings for an hpsearch run, where the environment does not already set them.
    Before `ray.init`, so that the processes Ray starts inherit them too."""
    for name, value in TUNE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


_private_log_dirs: dict[int, str] = {}  # process id -> its private directory for the Ray log


def ray_log_path() -> str:
    """Where Ray's own messages go: `$HPSEARCH_RAY_LOG`, else `ray.log` in a directory of the
    temporary directory that this process created for itself (`mkdtemp`: a new name, mode
    0700), so no other local user can plant a symlink where the log is opened for appending.
    Not the terminal, where Ray's messages would break the progress line."""
    chosen = os.environ.get(RAY_LOG_ENV)
    if chosen:
        return chosen
    pid = os.getpid()  # a forked child gets its own directory
    if pid not in _private_log_dirs:
        _private_log_dirs[pid] = tempfile.mkdtemp(prefix=f"hpsearch-ray-{pid}-")
    return os.path.join(_private_log_dirs[pid], "ray.log")


def send_ray_logs_to_file(path: str | None = None) -> str:
    """Send Ray's log records to a file (created at the first message); returns its path.

    `ray.init(configure_logging=False)` empties the `ray` logger's handlers, so records would
    fall through to Python's last-resort stderr handler. The handler therefore also sits on
    every `ray.<submodule>` logger (where Ray's messages are logged), none propagating."""
    import pkgutil

    path = path or ray_log_path()
    handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    names = ["ray", *(f"ray.{m.name}" for m in pkgutil.iter_modules(ray.__path__))]
    for name in names:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if name == "ray" or getattr(old, "hpsearch_ray_log", False):
                logger.removeHandler(old)  # Ray's stderr handler, or ours from an earlier call
                if getattr(old, "hpsearch_ray_log", False):
                    old.close()
        handler.hpsearch_ray_log = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger("ray").setLevel(logging.INFO)
    return path


def start_ray(address: str | None = None, *, num_cpus: int | None = None) -> float:
    """Connect to `address` or start a local Ray (reused if this process has one); seconds.

    Ray's log messages go to `ray_log_path()` (set up before `ray.init`, which already warns)."""
    started = time.perf_counter()
    set_tune_environment()
    if not ray.is_initialized():
        send_ray_logs_to_file()
        kwargs: dict[str, Any] = {
            "log_to_driver": False,
            "include_dashboard": False,
            "configure_logging": False,  # keep our handler: nothing of Ray's on the terminal
        }
        if address:
            kwargs["address"] = address
        elif num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        log_path = ray_log_path()
        offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        try:
            # Ray's C++ client prints its retries straight to file descriptor 2 (a refused token
            # is one line a second for a minute): into the log file with the rest.
            with _stderr_to(log_path):
                ray.init(**kwargs)
        except Exception as error:
            if not address:
                raise
            with open(log_path, "rb") as log_file:
                log_file.seek(offset)
                said = log_file.read().decode(errors="replace")
            raise ClusterError(_join_failure(address, error, said)) from error
        send_ray_logs_to_file()  # `ray.init` emptied the `ray` logger: give it the file again
    return time.perf_counter() - started


@contextlib.contextmanager
def _stderr_to(path: str) -> Iterator[None]:
    """File descriptor 2 appends to `path` inside the block (C++ code bypasses `sys.stderr`)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as target:
            os.dup2(target.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _join_failure(address: str, error: BaseException, said: str = "") -> str:
    """One line for a cluster that refused us: what to set when it is the auth token (which
    Ray's client only names in what it printed, `said`)."""
    text = f"{type(error).__name__}: {error}\n{said}".lower()
    if "invalidauthtoken" in text or "unauthenticated" in text or "auth token" in text:
        return (
            f"Cannot join the Ray cluster at {address}: it uses token authentication and this "
            "process has no valid token. Set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the "
            "cluster's token (the RAY_AUTH_TOKEN of its .env; `ray get-auth-token` on the head "
            "prints it), then run the same command again."
        )
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return (
        f"Cannot join the Ray cluster at {address}: {first or type(error).__name__}. Check the "
        "address (HOST:PORT of the head, 6379 by default) and that `ray status` works there."
    )


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus() -> float:
    return float(ray.cluster_resources().get("GPU", 0.0))


def stop_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()
