"""Seconds per epoch of each offline task (one torch thread); the MNIST-1D CNN separation check.

    .venv/bin/python benchmarks/tasks.py            # timing table + separation (3 seeds)
    .venv/bin/python benchmarks/tasks.py --seeds 5  # more seeds for the separation check
    .venv/bin/python benchmarks/tasks.py --smoke-test

Timings are the median epoch after the first (warm-up), against the issue's targets; the
ratio columns are wall / target and CPU / target (<= 1 meets it; on shared cores trust the CPU
one). The separation check trains `mnist1d-cnn` for its default epochs with SGD and Adam at
their registry defaults over several seeds and prints the final test accuracy as mean +- sd:
the gap should be well beyond the seed noise.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import time

from hpsearch.tasks import get_task_info, list_tasks, train

TARGETS = {"mnist1d-mlp": 0.1, "charlstm": 3.0}  # seconds per epoch on one core (issue 3)


def time_task(task: str, epochs: int) -> tuple[float, float, float]:
    """Median wall and CPU seconds per epoch after the first, and the setup seconds.

    CPU time is shown too because the cores here are shared: with one thread and an idle core
    it equals wall time, and it stays honest when other processes compete for the core.
    """
    marks: list[tuple[float, float]] = []
    started = time.perf_counter()

    def mark(epoch: int, metrics: dict[str, float]) -> None:
        marks.append((time.perf_counter(), time.process_time()))

    result = train(task, "adam", {}, 0, epochs=epochs, options={"threads": 1}, on_epoch=mark)
    if result.outcome == "error":
        raise SystemExit(f"{task}: {result.error}")
    wall = [e["epoch_seconds"] for e in result.epochs]
    cpu = [later[1] - earlier[1] for earlier, later in itertools.pairwise(marks)]
    setup = marks[0][0] - started - wall[0]  # data loading, model build, initial evaluation
    return statistics.median(wall[1:] or wall), statistics.median(cpu or [math.nan]), setup


def separation(seeds: int, epochs: int | None) -> dict[str, list[float]]:
    finals: dict[str, list[float]] = {"sgd": [], "adam": []}
    for optimizer in finals:
        for seed in range(seeds):
            result = train("mnist1d-cnn", optimizer, {}, seed, epochs=epochs)
            finals[optimizer].append(result.final["test_accuracy"])
    return finals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--smoke-test", action="store_true", help="2 epochs, 2 seeds")
    args = parser.parse_args()
    epochs = 2 if args.smoke_test else 4

    header = ("task", "s/epoch", "cpu s/ep", "setup s", "target", "wall/t", "cpu/t")
    print(
        f"{header[0]:<14} {header[1]:>9} {header[2]:>9} {header[3]:>8} {header[4]:>7} "
        f"{header[5]:>6} {header[6]:>6}"
    )
    for info in list_tasks():
        if not info.offline:
            continue
        per_epoch, cpu, setup = time_task(info.name, epochs)
        target = TARGETS.get(info.name)
        ratios = (
            f"{per_epoch / target:6.2f} {cpu / target:6.2f}" if target else f"{'-':>6} {'-':>6}"
        )
        target_text = f"{target:7.2f}" if target else f"{'-':>7}"
        print(f"{info.name:<14} {per_epoch:9.3f} {cpu:9.3f} {setup:8.2f} {target_text} {ratios}")
        sys.stdout.flush()

    seeds = 2 if args.smoke_test else args.seeds
    cnn_epochs = 3 if args.smoke_test else None
    shown = cnn_epochs or get_task_info("mnist1d-cnn").option_defaults()["epochs"]
    finals = separation(seeds, cnn_epochs)
    print(f"\nmnist1d-cnn, {shown} epochs, {seeds} seeds, final test_accuracy (mean +- sd):")
    for optimizer, values in finals.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"  {optimizer:<5} {statistics.mean(values):.3f} +- {sd:.3f}  {values}")
    gap = statistics.mean(finals["sgd"]) - statistics.mean(finals["adam"])
    noise = max(statistics.stdev(v) if len(v) > 1 else 0.0 for v in finals.values())
    ratio = gap / noise if noise > 0 else float("inf")
    print(f"  gap sgd - adam = {gap:.3f}, {ratio:.1f} x the larger seed sd")


if __name__ == "__main__":
    main()
