"""Time `optimizer.step()` for our AdaBound against the reference package and torch's foreach Adam.

Ours in each of its paths: the default (chosen by device and tensor size), the multi-tensor path
forced (`foreach=True`, the default on an accelerator), single-tensor and compiled.

Two parameter sets: a CIFAR ResNet-34 (21.3 M parameters in 110 tensors, the shapes of the
paper's model) and 500 small tensors (250 of 64 and 250 of 32x32). Every optimizer steps on its
own copy of the parameters with the same gradients; rounds are interleaved so that load from other
processes hits every optimizer alike. One torch thread. Prints the median step time of each and
its ratio to the reference; the compiled path's first step (its compilation) is reported apart.

    .venv/bin/python benchmarks/optim_step.py [--rounds 10] [--steps 2] [--no-compiled]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch

from hpsearch.optim import AdaBound

Factory = Callable[[list[torch.Tensor]], torch.optim.Optimizer]


def resnet34_shapes(num_classes: int = 10) -> list[tuple[int, ...]]:
    """Parameter shapes of the CIFAR ResNet-34 (3x3 stem, BasicBlocks [3, 4, 6, 3], no bias)."""
    shapes: list[tuple[int, ...]] = [(64, 3, 3, 3), (64,), (64,)]
    in_planes = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for block in range(blocks):
            shapes += [(planes, in_planes, 3, 3), (planes,), (planes,)]
            shapes += [(planes, planes, 3, 3), (planes,), (planes,)]
            if block == 0 and in_planes != planes:
                shapes += [(planes, in_planes, 1, 1), (planes,), (planes,)]
            in_planes = planes
    return [*shapes, (num_classes, 512), (num_classes,)]


def small_shapes() -> list[tuple[int, ...]]:
    return [(64,)] * 250 + [(32, 32)] * 250


def _reference(params: list[torch.Tensor]) -> torch.optim.Optimizer:
    import adabound

    return adabound.AdaBound(params)


CANDIDATES: dict[str, Factory] = {
    "reference adabound 0.0.5": _reference,
    "ours default": lambda ps: AdaBound(ps),
    "ours foreach=True": lambda ps: AdaBound(ps, foreach=True),
    "ours single-tensor": lambda ps: AdaBound(ps, foreach=False),
    "ours compiled (fused=True)": lambda ps: AdaBound(ps, fused=True),
    "torch Adam(foreach=True)": lambda ps: torch.optim.Adam(ps, foreach=True),
}


def bench(
    shapes: list[tuple[int, ...]], names: list[str], rounds: int, steps: int, device: str
) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds per step of each candidate, and the seconds of each one's first step."""
    generator = torch.Generator().manual_seed(0)
    init = [torch.randn(s, generator=generator) for s in shapes]
    grads = [torch.randn(s, generator=generator).to(device) * 1e-2 for s in shapes]
    optimizers = {}
    first: dict[str, float] = {}
    for name in names:
        params: list[torch.Tensor] = [torch.nn.Parameter(t.clone().to(device)) for t in init]
        for p, g in zip(params, grads, strict=True):
            p.grad = g  # shared: no optimizer writes to a gradient
        optimizers[name] = optimizer = CANDIDATES[name](params)
        start = time.perf_counter()
        optimizer.step()  # allocates state (and compiles, for the compiled path)
        _sync(device)
        first[name] = time.perf_counter() - start
        optimizer.step()
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name, optimizer in optimizers.items():
            for _ in range(steps):
                start = time.perf_counter()
                optimizer.step()
                _sync(device)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, first


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def report(title: str, medians: dict[str, float], first: dict[str, float]) -> None:
    reference = medians["reference adabound 0.0.5"]
    adam = medians.get("torch Adam(foreach=True)")
    print(f"\n{title}")
    print(f"  {'optimizer':<28} {'median step':>12} {'vs reference':>13} {'vs Adam':>9}")
    for name, median in medians.items():
        speedup = reference / median
        vs_adam = f"{median / adam:8.2f}x" if adam else ""
        print(f"  {name:<28} {median * 1e3:9.2f} ms {speedup:11.2f}x {vs_adam}")
    if "ours compiled (fused=True)" in first:
        print(
            f"  compiled path: first step (compilation) {first['ours compiled (fused=True)']:.1f} s"
        )
    print("  (vs reference: speed-up, higher is better; vs Adam: time ratio, lower is better)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--no-compiled", action="store_true", help="skip the torch.compile path")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the reference uses deprecated add_/addcmul_ signatures
    names = [n for n in CANDIDATES if not (args.no_compiled and "compiled" in n)]
    big = resnet34_shapes()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, device {args.device}, "
        f"{args.rounds} rounds x {args.steps} steps"
    )
    for title, shapes, steps in (
        (
            f"ResNet-34 set: {sum(torch.Size(s).numel() for s in big) / 1e6:.1f} M parameters "
            f"in {len(big)} tensors",
            big,
            args.steps,
        ),
        ("500 small tensors (250 x 64, 250 x 32x32)", small_shapes(), args.steps * 10),
    ):
        medians, first = bench(shapes, names, args.rounds, steps, args.device)
        report(title, medians, first)


if __name__ == "__main__":
    main()
