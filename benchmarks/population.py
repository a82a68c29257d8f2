"""Population trials vs one cell per trial: cells/second, ratios and memory per pack size K.

The same 64 cells (16 learning rates x 4 seeds of AdaBound) of a task are trained
1. through `hpsearch run` (`run_study`, local Ray, SQLite): one cell per trial vs packs of K;
2. in one process on one core: `train()` cell by cell vs `train_population()` in packs of K,
   each K in a fresh subprocess so its peak resident memory can be reported; and the floor a
   pack could reach if a step cost only its batched matrix products (`matmul_floor`). On a CPU
   these seconds are the process's CPU time (one thread), which load from others leaves alone.
Everything is measured in this one run on this machine; only ratios are meant to be compared.

    .venv/bin/python benchmarks/population.py                # mnist1d-mlp and digits-mlp
    .venv/bin/python benchmarks/population.py --quick        # fewer epochs, mnist1d-mlp only
    .venv/bin/python benchmarks/population.py --device cuda  # the in-process part on a GPU
"""

from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LRS = [10 ** (-4 + 4 * i / 15) for i in range(16)]  # 1e-4 .. 1, some of which diverge
SEEDS = [0, 1, 2, 3]
OPTIMIZER = "adabound"


def members() -> list[tuple[dict[str, float], int]]:
    return [({"lr": lr}, seed) for lr in LRS for seed in SEEDS]


def write_spec(folder: Path, task: str, epochs: int) -> Path:
    path = folder / f"{task}.toml"
    grid = ", ".join(repr(lr) for lr in LRS)
    path.write_text(
        f'name = "popbench-{task}"\n[task]\nname = "{task}"\nepochs = {epochs}\n'
        f"[run]\nseeds = {SEEDS}\n[optimizers.{OPTIMIZER}]\nlr = [{grid}]\n"
    )
    return path


def through_run(task: str, epochs: int, sizes: list[int]) -> dict[int, tuple[float, float]]:
    """Per pack size: seconds of `run_study`'s run, and of those the training itself (Ray
    started once, before timing).

    Training is the cells' stored `wall_seconds` summed and spread over the CPUs (a pack's time
    is shared among its members); the rest is start-up, Tune and recording.
    """
    from hpsearch import scheduling
    from hpsearch.runner import run_study
    from hpsearch.storage import load_study_data

    scheduling.start_ray()
    workers = scheduling.cluster_cpus()
    seconds: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(Path(tmp), task, epochs)
        for k in sizes:
            url = f"sqlite:///{Path(tmp) / f'k{k}.db'}"
            report = run_study(
                spec, storage=url, population=k, out=io.StringIO(), err=io.StringIO()
            )
            if report.exit_code:
                raise SystemExit(f"run with --population {k} failed: {report.counts}")
            trials = load_study_data(url, f"popbench-{task}").trials
            packs = math.ceil(len(trials) / k)
            training = float(trials["wall_seconds"].sum()) / min(workers, packs)
            seconds[k] = (report.run_seconds, training)
    return seconds


def in_process(task: str, epochs: int, k: int, device: str) -> None:
    """Child: train the 64 cells on one thread in packs of `k`; print seconds and peak memory
    (resident set on a CPU, allocated CUDA memory on a GPU)."""
    import torch

    from hpsearch.tasks import train
    from hpsearch.tasks.data import load_digits_arrays, load_mnist1d_arrays
    from hpsearch.tasks.population import train_population

    torch.set_num_threads(1)
    cuda = device.startswith("cuda")
    load_digits_arrays() if task == "digits-mlp" else load_mnist1d_arrays()
    train_population(task, OPTIMIZER, members()[:2], epochs=1, device=device)  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated() // 1024
    else:
        # Reset the peak-RSS mark (Linux: `5` to clear_refs), so VmHWM is this run's own peak.
        Path("/proc/self/clear_refs").write_text("5")
        baseline = _status_kib("VmRSS")
    cells = members()
    # On a CPU, the process's CPU time: one thread, so it is the compute itself, and other
    # processes on a shared machine do not inflate it as they inflate wall time.
    clock = time.perf_counter if cuda else time.process_time
    started = clock()
    if k == 1:
        for hyperparameters, seed in cells:
            train(task, OPTIMIZER, hyperparameters, seed, epochs=epochs, device=device)
    else:
        for start in range(0, len(cells), k):
            train_population(
                task, OPTIMIZER, cells[start : start + k], epochs=epochs, device=device
            )
    if cuda:
        torch.cuda.synchronize()
    seconds = clock() - started
    peak = torch.cuda.max_memory_allocated() // 1024 if cuda else _status_kib("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_kib": peak, "baseline_kib": baseline}))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def matmul_floor(task: str, epochs: int, k: int) -> float:
    """Child: seconds a pack of `k` would take if a step cost only its batched matrix products.

    A step of a K-member MLP is, per linear layer, a forward `baddbmm` and a weight-gradient
    `bmm`, plus an input-gradient `bmm` for all but the first, in `hpsearch.tasks.stacking`'s
    column layout; they are timed alone on random data of the task's shapes (one thread, hot
    caches) and multiplied by the pack's steps. No evaluation, optimizer, data or recording: a
    bound for this formulation of the step on this CPU, not a prediction.
    """
    import torch

    from hpsearch.tasks.registry import build_workload, resolve_options
    from hpsearch.tasks.workload import Tokens

    torch.set_num_threads(1)
    options = resolve_options(task)
    workload = build_workload(task, options)
    linears = [m for m in workload.make_model().modules() if isinstance(m, torch.nn.Linear)]
    batch = options["batch_size"]
    shapes = [(m.in_features, m.out_features) for m in linears]
    acts = [torch.randn(k, i, batch) for i, _ in shapes]  # activations as columns
    grads = [torch.randn(k, o, batch) for _, o in shapes]
    weights = [torch.randn(k, o, i) for i, o in shapes]
    biases = [torch.randn(k, o, 1) for _, o in shapes]

    def step() -> None:
        for layer, (a, g, w, b) in enumerate(zip(acts, grads, weights, biases, strict=True)):
            torch.baddbmm(b, w, a)
            torch.bmm(g, a.transpose(1, 2))
            if layer:
                torch.bmm(w.transpose(1, 2), g)

    for _ in range(20):
        step()
    repeats = 200
    started = time.process_time()  # CPU time, as the in-process runs on a CPU
    for _ in range(repeats):
        step()
    per_step = (time.process_time() - started) / repeats
    data = workload.data
    assert not isinstance(data, Tokens), task  # an MLP task: examples, not a token stream
    steps = math.ceil(len(data.y_train) / batch) * epochs
    return per_step * steps


def state_mib(task: str, k: int) -> float:
    """Weights, gradients and AdaBound's two moments of k stacked members, in MiB."""
    import torch

    from hpsearch.tasks.registry import build_workload, resolve_options

    with torch.random.fork_rng():
        model = build_workload(task, resolve_options(task)).make_model()
    return 4 * 4 * k * sum(p.numel() for p in model.parameters()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["mnist1d-mlp", "digits-mlp"])
    # 20 = the tasks' default; with few epochs Tune's fixed start-up dominates both runs.
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--run-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--quick", action="store_true", help="3 epochs, mnist1d-mlp only")
    parser.add_argument(
        "--parts", nargs="+", choices=["run", "process"], default=["run", "process"]
    )
    parser.add_argument(
        "--device", default="cpu", help="where the in-process part trains (cpu or cuda)"
    )
    parser.add_argument(
        "--child", nargs=4, metavar=("TASK", "EPOCHS", "K", "DEVICE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--floor", nargs=3, metavar=("TASK", "EPOCHS", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        in_process(args.child[0], int(args.child[1]), int(args.child[2]), args.child[3])
        return
    if args.floor:
        print(json.dumps(matmul_floor(args.floor[0], int(args.floor[1]), int(args.floor[2]))))
        return
    if args.quick:
        args.tasks, args.epochs = ["mnist1d-mlp"], 3
    if args.device != "cpu":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(f"--device {args.device}: torch sees no CUDA device here")
    cells = len(members())
    print(
        f"{cells} cells of {OPTIMIZER} ({len(LRS)} lr x {len(SEEDS)} seeds), {args.epochs} "
        f"epochs each; in-process part on {args.device}"
    )
    for task in args.tasks:
        if "run" in args.parts:
            print(
                f"\n== {task}: through `hpsearch run` (local Ray, {cells} cells, SQLite; "
                "on the GPUs Ray finds, one per trial, else the CPUs)"
            )
            run_seconds = through_run(task, args.epochs, args.run_sizes)
            base = cells / run_seconds[args.run_sizes[0]][0]
            for k, (seconds, training) in run_seconds.items():
                rate = cells / seconds
                print(
                    f"  K={k:<3} {seconds:7.1f} s  {rate:6.2f} cells/s  x{rate / base:5.1f}  "
                    f"(training {training:5.1f} s, the rest {seconds - training:5.1f} s)"
                )
        if "process" not in args.parts:
            continue

        print(f"== {task}: in one process on {args.device}, one thread (fresh subprocess per K)")
        rows = {}
        for k in args.sizes:
            child = subprocess.run(
                [sys.executable, __file__, "--child", task, str(args.epochs), str(k), args.device],
                check=True,
                capture_output=True,
                text=True,
            )
            rows[k] = json.loads(child.stdout.strip().splitlines()[-1])
        base = cells / rows[args.sizes[0]]["seconds"]
        memory = "RSS" if args.device == "cpu" else "CUDA memory"
        for k, row in rows.items():
            rate = cells / row["seconds"]
            extra = (row["peak_kib"] - row["baseline_kib"]) / 1024
            print(
                f"  K={k:<3} {row['seconds']:7.1f} s  {rate:6.2f} cells/s  x{rate / base:5.1f}  "
                f"peak {memory} +{extra:6.1f} MiB over the loaded process  "
                f"stacked state {state_mib(task, k):6.2f} MiB"
            )
        if args.device != "cpu":  # the floor below is this CPU's one-thread rate
            continue
        floor_k = 32 if 32 in rows else max(rows)
        child = subprocess.run(
            [sys.executable, __file__, "--floor", task, str(args.epochs), str(floor_k)],
            check=True,
            capture_output=True,
            text=True,
        )
        floor = json.loads(child.stdout.strip().splitlines()[-1]) * math.ceil(cells / floor_k)
        print(
            f"  matmul-only floor for the {cells} cells in packs of {floor_k}: {floor:6.1f} s "
            f"(x{rows[args.sizes[0]]['seconds'] / floor:5.1f} over K={args.sizes[0]}; the "
            "batched products alone, at this CPU's one-thread rate)"
        )
        if not all(math.isfinite(r["seconds"]) for r in rows.values()):
            raise SystemExit("a timing was not finite")


if __name__ == "__main__":
    main()
