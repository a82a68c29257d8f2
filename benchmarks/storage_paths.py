"""Benchmark: the two ways into Optuna's trials, measured in one run on the same machine.

1. A run's writes: `cells` x `epochs` through `TrialWriter` (created RUNNING, flushed every
   `--flush` epochs, finished once) into a fresh SQLite file.
2. The synthetic store: a whole study of finished trials written at once (`store_study`).
3. Reading it back as tidy tables (`load_study_data`).

Each is timed on the fast path (SQL on Optuna's tables) and on Optuna's public storage API
(`$HPSEARCH_OPTUNA_TABLES=0`), and the ratio printed. Absolute times depend on the machine's
load; the ratios are what to compare.

    .venv/bin/python benchmarks/storage_paths.py [--cells 100] [--epochs 50] [--trials 2000]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path


def run_writes(url: str, cells: int, epochs: int, flush: int) -> None:
    from hpsearch.recording import Scoring, score_result
    from hpsearch.storage import GroupInfo, TrialWriter, prepare_group

    space = {"adam": {"lr": {"kind": "float", "low": 1e-4, "high": 1.0, "log": True}}}
    ids = prepare_group(
        url, GroupInfo("bench", {}, "h", "test_accuracy", "maximize", "x", 10, space)
    )
    writer = TrialWriter(url, ids, space, "test_accuracy")
    scoring = Scoring("test_accuracy", "maximize", 10)
    versions = {"hpsearch_version": "bench", "torch_version": "bench"}
    for i in range(cells):
        rows = [{"test_accuracy": 1 - 1 / e, "train_loss": 1 / e} for e in range(1, epochs + 1)]
        record = writer.start("adam", f"adam|lr={i}|seed=0", {"lr": 10 ** -(i % 4)}, {"seed": 0})
        for epoch, metrics in enumerate(rows, start=1):
            writer.add_epoch(record, epoch, metrics, flush_every=0 if epoch % flush == 0 else 1e9)
        result = {"outcome": "completed", "epochs": rows, "final": rows[-1], "initial": {}}
        writer.finish(record, score_result(scoring, 0, result, versions))


def study(trials: int, epochs: int):  # type: ignore[no-untyped-def]
    from hpsearch.analysis.synthetic import synthetic_study

    configs = max(1, trials // 5)
    lrs = [float(f"{10 ** (-4 + 4 * i / max(1, configs - 1)):.6g}") for i in range(configs)]
    return synthetic_study(
        {"adam": {"lr": lrs}},
        lambda o, c: 0.9 - 0.05 * abs(math.log10(c["lr"]) + 2),
        seeds=range(5),
        diverges=lambda o, c, s: c["lr"] > 0.5,
        name="bench",
        epochs=epochs,
    )


def timed(fn, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--flush", type=int, default=10, help="epochs between live flushes")
    parser.add_argument("--trials", type=int, default=2000, help="trials of the stored study")
    args = parser.parse_args()

    from hpsearch.analysis.synthetic import store_study
    from hpsearch.storage import close_storages, load_study_data

    data = study(args.trials, args.epochs)
    seconds: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for way, flag in (("tables", "1"), ("public API", "0")):
            os.environ["HPSEARCH_OPTUNA_TABLES"] = flag
            runs = f"sqlite:///{Path(tmp) / f'run-{flag}.db'}"
            stored = f"sqlite:///{Path(tmp) / f'store-{flag}.db'}"
            seconds[way] = {
                "run": timed(run_writes, runs, args.cells, args.epochs, args.flush)[0],
                "store": timed(store_study, stored, data)[0],
            }
            close_storages()
            seconds[way]["read"], loaded = timed(load_study_data, stored, "bench")
            assert len(loaded.trials) == len(data.trials)
            close_storages()
    load = os.getloadavg()[0]
    print(
        f"{args.cells} run cells x {args.epochs} epochs (flushed every {args.flush}); "
        f"a stored study of {len(data.trials)} trials x {args.epochs} epochs; "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    labels = {
        "run": "a run's writes",
        "store": "synthetic store",
        "read": "load_study_data",
    }
    for step, label in labels.items():
        fast, api = seconds["tables"][step], seconds["public API"][step]
        print(
            f"{label:<18} tables {fast:7.2f} s   public API {api:7.2f} s   "
            f"tables are {api / fast:5.1f}x as fast"
        )


if __name__ == "__main__":
    main()
