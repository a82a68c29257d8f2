"""Ray Tune scheduling, the driver's side: with `hpsearch.trainable` (the workers' side, which
trains a trial's cells and reports them in one message shape) the only modules that import Ray.

- `ray_runtime`: Ray's start-up (and Tune's settings), the cluster's size, Ray's log file;
- `store`: `CellStore`, a study group's cells in storage and this driver's claims on them;
- `searcher`: `CellSearcher`, which hands Tune claimed, unfinished cells (packs of them);
- `events`: `TuneRecorder`, Tune's trial events as records, and `RunStop`;
- `progress`: the progress line;
- `rounds`: `run_cells`, rounds of Tune fits with signals, stale folders and other drivers.
"""

from hpsearch.scheduling.ray_runtime import (
    cluster_cpus,
    cluster_gpus,
    ray_log_path,
    start_ray,
    stop_ray,
)
from hpsearch.scheduling.rounds import ScheduleResult, run_cells
from hpsearch.scheduling.store import CellStore

__all__ = [
    "CellStore",
    "ScheduleResult",
    "cluster_cpus",
    "cluster_gpus",
    "ray_log_path",
    "run_cells",
    "start_ray",
    "stop_ray",
]
