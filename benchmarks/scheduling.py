"""What `hpsearch run` costs over a plain loop, and what recording costs.

1. The same 20-cell study (5 lr x 4 seeds of Adam) through `hpsearch run` (Ray Tune + claims +
   recorder into SQLite, one cell per trial) and through a plain sequential loop over the same
   `hpsearch.tasks.train` in a fresh process. Ray's start-up is timed and reported separately. Both
   run one trial at a time (`--max-concurrent 1`) so the ratio is overhead, not parallelism; the
   run with all cores is printed as well, next to the most any scheduler could give here: two
   plain loops side by side in two processes, half the cells each (two trials on two cores
   share the memory system, so each trains slower than alone). Each run's time is split into
   its cells' own training (their stored `wall_seconds`) and the rest: start-up of the workers
   (a Ray worker process, then torch and the data in it), scheduling and recording.
2. Whole commands, each a fresh process timed from start to exit: a plain script that imports
   the trainer and trains the 20 cells, against `hpsearch run` on the same spec (Ray's start-up
   and shut-down included), at `--max-concurrent 1` and on all cores. This is what a researcher
   who would otherwise write the loop pays or gains.
3. Recording alone: 100 cells x 50 epochs written through the recorder's `TrialWriter` into a
   fresh SQLite file, against the same loop without writes.

    .venv/bin/python benchmarks/scheduling.py                 # mnist1d-mlp, ~2 s per trial
    .venv/bin/python benchmarks/scheduling.py --task digits-mlp --epochs 5   # tiny trials

Ratios are measured within one run on the same machine; absolute times depend on its load.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """
name = "bench-scheduling"
[task]
name = "{task}"
epochs = {epochs}
[run]
seeds = [0, 1, 2, 3]
[optimizers.adam]
lr = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
"""


def plain_loop(spec_path: Path, limit: int | None = None, part: int = 0, parts: int = 1) -> float:
    """Seconds to train the spec's cells (every `parts`-th from `part`, at most `limit`) in
    this process, one after another."""
    from hpsearch.spec import expand_cells, load_spec
    from hpsearch.tasks import train

    spec = load_spec(spec_path)
    started = time.perf_counter()
    for cell in expand_cells(spec)[part::parts][:limit]:
        train(
            spec.task.name,
            cell.optimizer,
            cell.hyperparameters(),
            cell.seed,
            options=spec.task.options(),
            epochs=spec.task.epochs,
        )
    return time.perf_counter() - started


def side_by_side(spec_path: Path, parts: int = 2) -> float:
    """Wall seconds for `parts` plain loops in as many processes, each on its share of the
    cells, started together once each has loaded torch and the data (a file barrier)."""
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--plain-part", str(i), str(parts), str(spec_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(parts)
    ]
    return max(float(child.communicate()[0].split()[-1]) for child in children)


def _plain_part(part: int, parts: int, spec_path: Path) -> None:
    """Child of `side_by_side`: warm up, wait for the others, time this share."""
    plain_loop(spec_path, limit=1, part=part, parts=parts)
    ready = spec_path.with_suffix(f".ready{part}")
    ready.touch()
    while not all(spec_path.with_suffix(f".ready{i}").exists() for i in range(parts)):
        time.sleep(0.01)
    print(plain_loop(spec_path, part=part, parts=parts), flush=True)


def _plain_cold(spec_path: Path) -> None:
    """Child of `whole_command`: train every cell, nothing warmed up (a user's own script)."""
    plain_loop(spec_path)


def whole_command(args: list[str]) -> float:
    """Wall seconds of a fresh process from its start to its exit."""
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def through_run(spec_path: Path, db: Path, concurrent: int | None) -> tuple[float, float]:
    """Seconds of `run_study`, and of those its cells' own training spread over the concurrent
    trials (the stored `wall_seconds`); the difference is start-up, scheduling and recording."""
    from hpsearch.runner import run_study
    from hpsearch.storage import load_study_data

    started = time.perf_counter()
    report = run_study(
        spec_path,
        storage=f"sqlite:///{db}",
        max_concurrent=concurrent,
        population=1,
        out=io.StringIO(),
        err=io.StringIO(),
    )
    seconds = time.perf_counter() - started
    assert report.exit_code == 0 and report.missing == 20, report
    trials = load_study_data(f"sqlite:///{db}", "bench-scheduling").trials
    return seconds, float(trials["wall_seconds"].sum()) / (concurrent or 1)


def recording(db: Path, cells: int = 100, epochs: int = 50) -> tuple[float, float, float]:
    """Wall seconds for `cells` x `epochs` through the recorder's writes, the same loop bare, and
    the CPU seconds of the writing loop (on a loaded machine wall time is mostly waiting)."""
    from hpsearch.recording import Scoring, score_result
    from hpsearch.storage import GroupInfo, TrialWriter, prepare_group

    space = {"adam": {"lr": {"kind": "float", "low": 1e-4, "high": 1.0, "log": True}}}
    url = f"sqlite:///{db}"
    ids = prepare_group(
        url, GroupInfo("rec", {}, "h", "test_accuracy", "maximize", "digits-mlp", 10, space)
    )
    writer = TrialWriter(url, ids, space, "test_accuracy")
    scoring = Scoring("test_accuracy", "maximize", 10)
    versions = {"hpsearch_version": "bench", "torch_version": "bench"}

    def fake_result(i: int) -> dict:
        rows = [
            {"train_loss": 1.0 / e, "test_loss": 1.1 / e, "test_accuracy": 1 - 1.0 / e}
            for e in range(1, epochs + 1)
        ]
        return {
            "outcome": "completed",
            "epochs": rows,
            "final": rows[-1],
            "initial": {"test_accuracy": 0.1},
            "wall_seconds": 1.0,
            "device": "cpu",
        }

    def loop(write: bool) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(cells):
            result = fake_result(i)
            key = f"adam:lr={10 ** -(i % 4)}:seed={i}"
            if write:
                rec = writer.start("adam", key, {"lr": 10 ** -(i % 4)}, {"seed": i})
            for e, m in enumerate(result["epochs"], start=1):
                if write:
                    writer.add_epoch(rec, e, m)
            if write:
                writer.finish(rec, score_result(scoring, i, result, versions))
        return time.perf_counter() - started, time.process_time() - cpu

    bare, _ = loop(False)
    written, cpu = loop(True)
    return written, bare, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="mnist1d-mlp")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--skip-run", action="store_true", help="only the recording benchmark")
    parser.add_argument("--plain-part", nargs=3, help=argparse.SUPPRESS)  # side_by_side's child
    parser.add_argument("--plain-cold", help=argparse.SUPPRESS)  # whole_command's child
    args = parser.parse_args()
    if args.plain_cold:
        _plain_cold(Path(args.plain_cold))
        return
    if args.plain_part:
        _plain_part(int(args.plain_part[0]), int(args.plain_part[1]), Path(args.plain_part[2]))
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not args.skip_run:
            from hpsearch import scheduling

            spec_path = root / "bench.toml"
            spec_path.write_text(SPEC.format(task=args.task, epochs=args.epochs))
            print(f"task {args.task}, {args.epochs} epochs, 20 cells", flush=True)
            # The plain loops run in fresh processes before Ray starts: in the process that hosts
            # Ray's driver the same loop ran up to 40 % slower from one run to the next.
            cpus = os.cpu_count() or 1
            plain = side_by_side(spec_path, 1)
            print(
                f"plain sequential loop:                  {plain:7.2f} s   "
                f"(~{plain / 20:.2f} s per trial)",
                flush=True,
            )
            ceiling = side_by_side(spec_path, cpus)
            print(
                f"{cpus} plain loops side by side:          {ceiling:7.2f} s   "
                f"speed-up x{plain / ceiling:.2f}: the most {cpus} concurrent trials can give here",
                flush=True,
            )
            ray_seconds = scheduling.start_ray()
            print(f"Ray start-up (reported apart):          {ray_seconds:7.2f} s", flush=True)
            run1, trained1 = through_run(spec_path, root / "one.db", 1)
            print(
                f"hpsearch run, --max-concurrent 1:       {run1:7.2f} s   "
                f"overhead {100 * (run1 / plain - 1):+.0f} %   (cells training {trained1:.2f} s, "
                f"the rest {run1 - trained1:.2f} s)",
                flush=True,
            )
            run_all, trained_all = through_run(spec_path, root / "all.db", cpus)
            print(
                f"hpsearch run, {cpus} concurrent:            {run_all:7.2f} s   "
                f"speed-up x{plain / run_all:.2f} over the plain loop   (cells training "
                f"{trained_all:.2f} s, the rest {run_all - trained_all:.2f} s)",
                flush=True,
            )
            scheduling.stop_ray()
            script = whole_command([sys.executable, __file__, "--plain-cold", str(spec_path)])
            print(f"whole command, plain script:            {script:7.2f} s", flush=True)
            cli = [sys.executable, "-m", "hpsearch", "run", str(spec_path), "--population", "1"]
            for concurrent in (1, cpus):
                url = f"sqlite:///{root / f'whole{concurrent}.db'}"
                command = whole_command(
                    [*cli, "--storage", url, "--max-concurrent", str(concurrent)]
                )
                print(
                    f"whole command, hpsearch run, {concurrent} at once: {command:7.2f} s   "
                    f"x{script / command:.2f} the plain script's speed",
                    flush=True,
                )
        written, bare, cpu = recording(root / "rec.db")
        extra = written - bare
        print(
            f"recording 100 cells x 50 epochs into SQLite: adds {extra:.2f} s wall "
            f"({1000 * extra / 100:.1f} ms per cell; bare loop {bare:.3f} s), {cpu:.2f} s CPU"
        )


if __name__ == "__main__":
    main()
