"""The workers' side of a run: a Ray Tune trial that trains its cells and reports them.

`train_cells` trains a trial's cells with `hpsearch.tasks.train` (or a pack of them as one
population), reports epochs in batches with `tune.report`, and sends each whole `TrialResult` in
a last report, all in one message shape (`MESSAGE_KEY`). A training exception becomes an `error`
result, so Ray retries only infrastructure failures (a lost node). The driver's side is
`hpsearch.scheduling`; this module stays apart so that a fresh worker imports no more than
training needs (the driver's storage stack took a quarter of a second to import).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from ray import tune

# Every report of our trainable is one JSON message under this key: {"epochs": {cell key:
# [[epoch, metrics], ...]}, "results": {cell key: TrialResult as a dict}}, either part optional.
# A lone cell and a population pack speak the same shape.
MESSAGE_KEY = "hpsearch"
REPORT_SECONDS = 1.0  # live curves lag training by at most about this


def report(
    epochs: Mapping[str, Any] | None = None, results: Mapping[str, Any] | None = None
) -> None:
    """One message to the driver (a `tune.report`: a round trip of milliseconds)."""
    message: dict[str, Any] = {}
    if epochs:
        message["epochs"] = epochs
    if results:
        message["results"] = results
    tune.report({MESSAGE_KEY: json.dumps(message, default=str)})


def train_cells(config: dict[str, Any]) -> None:
    """A Ray Tune trial: train its cells (one by one, or as one population) and report them."""
    from hpsearch.plugins import install_plugins
    from hpsearch.tasks import TrialResult, train

    torch_threads = int(config.get("threads", 1))
    import torch

    torch.set_num_threads(torch_threads)
    task = config["task"]
    if config.get("population", 1) > 1 and len(config["cells"]) > 1:
        _train_pack(config)
        return
    for cell in config["cells"]:
        key = cell["key"]

        pending: list[tuple[int, dict[str, float]]] = []
        last = [time.monotonic()]

        def on_epoch(
            epoch: int,
            metrics: dict[str, float],
            key: str = key,
            pending: list[tuple[int, dict[str, float]]] = pending,
            last: list[float] = last,
        ) -> None:
            # Each `tune.report` is a round trip to the driver (~10 ms); per epoch that cost a
            # 2 s trial 40 %. Epochs travel in batches, at most one report per REPORT_SECONDS;
            # the last batch comes with the result.
            pending.append((epoch, metrics))
            if time.monotonic() - last[0] >= REPORT_SECONDS:
                report(epochs={key: pending})
                pending.clear()
                last[0] = time.monotonic()

        try:
            fault = config.get("faults", {}).get(key)
            if fault:
                raise RuntimeError(fault)
            install_plugins(task.get("plugins", ()), cell["optimizer"])  # as on the driver
            result = train(
                task["name"],
                cell["optimizer"],
                cell["hyperparameters"],
                cell["seed"],
                options=task["options"],
                epochs=task["epochs"],
                device=config["device"],
                on_epoch=on_epoch,
            )
        except Exception as error:  # a training failure is data (FAIL), not a Ray retry
            result = TrialResult(outcome="error", error=f"{type(error).__name__}: {error}")
        report(results={key: asdict(result)})


def _train_pack(config: dict[str, Any]) -> None:
    """Train the trial's cells as one population; one report per epoch for all of them."""
    from hpsearch.plugins import install_plugins
    from hpsearch.tasks import TrialResult
    from hpsearch.tasks.population import train_population

    task = config["task"]
    faults = config.get("faults", {})
    cells = [c for c in config["cells"] if not faults.get(c["key"])]
    results: dict[str, Any] = {
        c["key"]: TrialResult(outcome="error", error=f"RuntimeError: {faults[c['key']]}")
        for c in config["cells"]
        if faults.get(c["key"])
    }

    def on_epoch(epoch: int, by_member: dict[int, dict[str, float]]) -> None:
        report(epochs={cells[i]["key"]: [(epoch, m)] for i, m in by_member.items()})

    try:
        install_plugins(task.get("plugins", ()), cells[0]["optimizer"] if cells else None)
        trained = (
            train_population(
                task["name"],
                cells[0]["optimizer"],
                [(c["hyperparameters"], c["seed"]) for c in cells],
                options=task["options"],
                epochs=task["epochs"],
                device=config["device"],
                on_epoch=on_epoch,
            )
            if cells
            else []
        )
    except Exception as error:  # bad input or a crash: each cell is a FAIL, not a Ray retry
        message = f"{type(error).__name__}: {error}"
        trained = [TrialResult(outcome="error", error=message) for _ in cells]
    results.update({c["key"]: r for c, r in zip(cells, trained, strict=True)})
    report(results={key: asdict(result) for key, result in results.items()})
