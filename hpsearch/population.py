"""Pack policy: how many cells of one optimizer `hpsearch run` trains as one population.

Whether cells may share a population at all is the registries' word
(`hpsearch.tasks.population.population_unsupported`); how they train is
`hpsearch.tasks.population.train_population`. This module only sizes packs: large enough to
amortise per-step overhead, small enough that every worker gets work and the stack fits memory.
It reads the model's size from the workload the driver built (`hpsearch.runner`); it builds none.
"""

from __future__ import annotations

import math

import torch

from hpsearch.tasks.registry import get_task_info
from hpsearch.tasks.workload import Workload, model_numel

# Default pack size caps: enough members to amortise per-step overhead on a CPU core, and to fill
# a GPU with a small model; memory is K times one cell's (weights, moments, one batch).
CPU_POPULATION = 32
GPU_POPULATION = 128
# Stacked weights + optimizer state above this many floats per pack fall back to smaller packs.
_MAX_PACK_FLOATS = 64 * 1024 * 1024


def default_population(
    task: str,
    workload: Workload | None,
    *,
    cells: int,
    workers: int,
    gpu: bool = False,
) -> int:
    """The pack size `hpsearch run` uses when `--population` is not given.

    Up to 32 members per CPU trial (128 per GPU trial), but never fewer packs than workers, so a
    short study still uses every core; 1 for tasks that do not support populations. `workload`
    is the task's, as the driver built it (None: its data is not here, e.g. on a cluster).
    """
    info = get_task_info(task)
    if not info.supports_population:
        return 1
    cap = GPU_POPULATION if gpu else CPU_POPULATION
    cap = min(cap, max_population(workload))
    per_worker = math.ceil(max(cells, 1) / max(workers, 1))
    return max(1, min(cap, per_worker))


def balanced_pack_size(cells: int, cap: int) -> int:
    """The pack size that trains `cells` in as few packs as packs of `cap` would, as evenly as
    possible: 225 cells under a cap of 32 go as 29s (the last 22), not seven 32s and a lone cell
    that trains at a single cell's cost while a worker idles."""
    if cells <= 0:
        return max(cap, 1)
    return math.ceil(cells / math.ceil(cells / max(cap, 1)))


def max_population(workload: Workload | None) -> int:
    """The most members whose weights and optimizer state fit the per-pack memory budget (no
    bound of its own without a workload: the device's cap decides)."""
    if workload is None:
        return GPU_POPULATION
    numel = model_numel(workload.make_model)  # on the meta device: no memory, no draws
    if numel is None:
        with torch.random.fork_rng():  # drawing weights must not move the caller's RNG
            numel = sum(p.numel() for p in workload.make_model().parameters())
    floats = 5 * numel  # weights, grads, up to 3 moments
    return max(1, _MAX_PACK_FLOATS // max(floats, 1))
