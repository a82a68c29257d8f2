"""What flushing denormal floats to zero buys in training, and that it moves no result here.

`hpsearch.tasks.train.training_scope` flushes denormals while training on one CPU thread. This
trains the same work both ways, back to back in this one process on one thread (so drift in the
machine's speed hits both alike): a pack like one of the demo study's (AdaBound on
`mnist1d-mlp`, lr over five decades x seeds, batch 32) and single cells at the learning rates
where small gradients abound. It prints the CPU seconds of each, their ratio, and whether the
final metrics differ.

    .venv/bin/python benchmarks/denormals.py              # 10 epochs
    .venv/bin/python benchmarks/denormals.py --epochs 30  # the demo's length
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from unittest import mock

import torch

from hpsearch.tasks import train
from hpsearch.tasks.population import train_population

# The module, not the function `hpsearch.tasks` re-exports under the same name.
training = importlib.import_module("hpsearch.tasks.train")
LRS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
OPTIONS = {"batch_size": 32}


def timed(flush: bool, work: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds of `work()` with flushing as asked (the training scope's rule replaced)."""
    rule = training.flushes_denormals

    def flushes(device: torch.device, threads: int) -> bool:
        return flush and rule(device, threads)

    with mock.patch.object(training, "flushes_denormals", flushes):
        started = time.process_time()
        result = work()
        return time.process_time() - started, result


def finals(results: Any) -> list[tuple[str, Any]]:
    results = results if isinstance(results, list) else [results]
    return [
        (r.outcome, sorted((k, v) for k, v in r.final.items() if k != "epoch_seconds"))
        for r in results
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--members", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    members = [({"lr": LRS[i % len(LRS)]}, i // len(LRS)) for i in range(args.members)]
    cases: dict[str, Callable[[], Any]] = {
        f"pack of {args.members} (adabound)": lambda: train_population(
            "mnist1d-mlp", "adabound", members, epochs=args.epochs, options=OPTIONS
        ),
        **{
            f"one cell, lr {lr:g}": partial(
                train, "mnist1d-mlp", "adabound", {"lr": lr}, 0, epochs=args.epochs, options=OPTIONS
            )
            for lr in (1e-3, 1e-1)
        },
    }
    train("mnist1d-mlp", "adabound", {}, 0, epochs=1, options=OPTIONS)  # warm-up: imports, data
    print(f"mnist1d-mlp, {args.epochs} epochs at batch 32, one thread; CPU seconds")
    for name, work in cases.items():
        kept, kept_result = timed(False, work)
        flushed, flushed_result = timed(True, work)
        same = finals(kept_result) == finals(flushed_result)
        print(
            f"  {name:24s} denormals kept {kept:6.2f} s   flushed {flushed:6.2f} s   "
            f"x{kept / flushed:.2f}   final metrics {'identical' if same else 'DIFFER'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
