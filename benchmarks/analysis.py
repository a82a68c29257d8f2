"""Benchmark: load + full analysis (B = 2000) + CSV export of 10,000 trials x 50 epochs in SQLite.

Synthesises a three-optimizer study (AdaBound 600 configurations, Adam 200, SGD 200, 10 seeds;
diverged trials at large learning rates and 20 failed trials) through `store_study`, then times
each stage and prints peak memory. Target: load + analysis + export <= 10 s, peak memory <= 2 GB.

Baseline (in the same run, same database): Optuna's own `study.get_trials()` for the three
studies, the usual way to get trials out of Optuna; `--no-baseline` skips it.

    .venv/bin/python benchmarks/analysis.py [--trials-per-seed-scale 1.0] [--no-baseline]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEEDS = 10
EPOCHS = 50


def grids(scale: float) -> dict[str, dict[str, list[float]]]:
    def logs(low: float, high: float, n: int) -> list[float]:
        return [float(f"{v:.6g}") for v in np.logspace(math.log10(low), math.log10(high), n)]

    k = max(2, round(10 * scale))
    return {
        "adabound": {
            "lr": logs(1e-4, 1.0, 12),
            "final_lr": logs(1e-3, 1.0, 5),
            "gamma": logs(1e-4, 1e-1, k),
        },
        "adam": {"lr": logs(1e-5, 1.0, 20), "eps": logs(1e-10, 1e-6, k)},
        "sgd": {
            "lr": logs(1e-4, 10.0, 20),
            "momentum": [float(m) for m in np.linspace(0.0, 0.99, k)],
        },
    }


def truth(optimizer: str, c: dict[str, float]) -> float:
    lr = math.log10(c["lr"])
    if optimizer == "adabound":
        return 0.93 - 0.004 * abs(lr + 2.5) - 0.01 * abs(math.log10(c["gamma"]) + 3)
    if optimizer == "adam":
        return 0.92 - 0.04 * abs(lr + 3)
    return 0.94 - 0.05 * abs(lr + 1) - 0.02 * (1 - c["momentum"])


def diverges(optimizer: str, c: dict[str, float], seed: int) -> bool:
    limit = {"adabound": 0.5, "adam": 0.05, "sgd": 2.0}[optimizer]
    return c["lr"] > limit and (seed % 3 != 0 or c["lr"] > 2 * limit)


def synthesise(url: str, scale: float) -> int:
    """Write the study through hpsearch's own store (one transaction per optimizer on the fast
    path through Optuna's tables); returns the number of trials."""
    from hpsearch.analysis.synthetic import store_study, synthetic_study

    data = synthetic_study(
        grids(scale),
        truth,
        seeds=range(SEEDS),
        noise=0.004,
        diverges=diverges,
        name="bench",
        epochs=EPOCHS,
        errors=20,
    )
    store_study(url, data, task="synthetic")
    return len(data.trials)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="grid size factor (1.0: 10k)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args()

    from hpsearch.analysis import analyze
    from hpsearch.claims import ClaimsSpec
    from hpsearch.export import export_study
    from hpsearch.storage import close_storages, load_study_data

    work = Path(tempfile.mkdtemp(prefix="hpsearch-bench-"))
    url = f"sqlite:///{work / 'bench.db'}"
    t0 = time.perf_counter()
    # Synthesise in a child process, so the peak memory below is the reader's alone.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        n = pool.apply(synthesise, (url, args.scale))
    print(
        f"synthesised {n} trials x {EPOCHS} epochs in {time.perf_counter() - t0:.1f} s "
        f"({(work / 'bench.db').stat().st_size / 1e6:.0f} MB SQLite)"
    )
    before = peak_mb()

    def timed(fn, *a, **k):  # type: ignore[no-untyped-def]
        # Wall and CPU seconds: on a shared, overloaded machine the CPU time is what a quiet
        # machine's wall time would be (this code is single-threaded apart from BLAS).
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn(*a, **k)
        return out, time.perf_counter() - w0, time.process_time() - c0

    data, w_load, c_load = timed(load_study_data, url, "bench")
    analysis, w_an, c_an = timed(analyze, data, ClaimsSpec(bootstrap=args.bootstrap))
    _, w_ex, c_ex = timed(export_study, data, analysis, work / "export")
    wall, cpu = w_load + w_an + w_ex, c_load + c_an + c_ex
    print(
        f"load      {w_load:6.2f} s wall {c_load:6.2f} s CPU  ({len(data.trials)} trials, "
        f"{len(data.curves)} curve rows)"
    )
    print(
        f"analysis  {w_an:6.2f} s wall {c_an:6.2f} s CPU  (B = {args.bootstrap}, "
        f"{len(analysis.verdicts)} verdicts, grid {analysis.settings.grid_sizes})"
    )
    print(f"export    {w_ex:6.2f} s wall {c_ex:6.2f} s CPU")
    print(
        f"total     {wall:6.2f} s wall {cpu:6.2f} s CPU  = {wall / 10.0:.2f} x (wall), "
        f"{cpu / 10.0:.2f} x (CPU) the 10 s target; load average now "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    total = wall
    print(
        f"peak RSS  {peak_mb():6.0f} MB (before loading: {before:.0f} MB) "
        f"= {peak_mb() / 2048:.2f} x the 2 GB target"
    )
    for v in analysis.verdicts:
        print(f"  [{v.result}] {v.sentence}")

    if not args.no_baseline:
        import optuna

        close_storages()

        def optuna_trials() -> int:
            return sum(
                len(optuna.load_study(study_name=f"bench.{o}", storage=url).get_trials(False))
                for o in analysis.settings.grid_sizes
            )

        count, w_opt, c_opt = timed(optuna_trials)
        print(
            f"baseline: optuna get_trials ({count} trials) {w_opt:.2f} s wall {c_opt:.2f} s CPU; "
            f"our load is {w_opt / w_load:.1f}x (wall), {c_opt / c_load:.1f}x (CPU) faster"
        )
    return 0 if total <= 10.0 and peak_mb() <= 2048 else 1


if __name__ == "__main__":
    sys.exit(main())
