"""`hpsearch run`: spec → missing cells → Ray Tune → Optuna trials → summary.

The order matters for "nothing written on bad input": the spec, the options and the spec hash
against storage are all checked before the first write. How a finished cell is scored is
`hpsearch.recording`'s; scheduling is about Ray and storage about the database.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hpsearch.errors import StorageError, UserInputError
from hpsearch.recording import Scoring
from hpsearch.sequential import (
    SCHEDULE_ATTR,
    Schedule,
    check_same_schedule,
    schedule_of,
)
from hpsearch.spec import Cell, StudySpec, expand_cells, load_spec, search_space
from hpsearch.storage import (
    RETRY_ENV,
    CellClaims,
    GroupInfo,
    TrialWriter,
    check_group,
    check_url,
    finished_cells,
    group_attrs,
    is_missing_file,
    load_study_data,
    prepare_group,
    redact_url,
    resolve_storage_url,
    retry_seconds,
    set_group_attrs,
    with_retries,
)
from hpsearch.studydata import StudyData
from hpsearch.tasks import get_task_info, metric_direction

if TYPE_CHECKING:
    from hpsearch.scheduling import ScheduleResult
    from hpsearch.tasks.workload import Workload


def group_info(spec: StudySpec) -> GroupInfo:
    """What storage keeps about a spec's study group."""
    task = get_task_info(spec.task.name)
    return GroupInfo(
        name=spec.name,
        spec=spec.resolved(),
        spec_hash=spec.spec_hash(),
        metric=spec.metric,
        direction=metric_direction(spec.metric),
        task=task.name,
        num_classes=task.num_classes,
        optimizers={opt: search_space(spec, opt) for opt in spec.optimizers},
    )


@dataclass
class RunReport:
    """What `hpsearch run` did, for the summary and the exit code."""

    name: str
    storage: str
    total: int
    missing: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # optimizer -> outcome -> n
    ray_seconds: float = 0.0
    run_seconds: float = 0.0
    recorder_errors: list[str] = field(default_factory=list)
    stopped: str | None = None  # "SIGINT" or "SIGTERM" when the run was stopped by a signal

    @property
    def failed(self) -> int:
        return sum(
            c.get("error", 0) + c.get("running", 0) + c.get("missing", 0)
            for c in self.counts.values()
        )

    @property
    def exit_code(self) -> int:
        """0 all finished, 1 some failed, 130 / 143 stopped by SIGINT / SIGTERM (128 + signal,
        as shells report it)."""
        if self.stopped is not None:
            return {"SIGINT": 130, "SIGTERM": 143}.get(self.stopped, 1)
        return 1 if self.failed else 0


def _check_options(max_concurrent: int | None, gpus_per_trial: float | None, url: str) -> None:
    if max_concurrent is not None and max_concurrent < 1:
        raise UserInputError(f"`--max-concurrent` must be at least 1, got {max_concurrent}.")
    if gpus_per_trial is not None and not (gpus_per_trial >= 0 and math.isfinite(gpus_per_trial)):
        raise UserInputError(f"`--gpus-per-trial` must be 0 or more, got {gpus_per_trial}.")
    check_url(url)


def run_study(
    spec_path: str | Path,
    *,
    overrides: Sequence[str] = (),
    storage: str | None = None,
    ray_address: str | None = None,
    max_concurrent: int | None = None,
    gpus_per_trial: float | None = None,
    dry_run: bool = False,
    force: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    faults: Mapping[str, str] | None = None,
    population: int | None = None,
    max_cells: int | None = None,
) -> RunReport:
    """Run every unfinished cell of a spec and return what happened (see `RunReport`).

    `population` is the most cells of one optimizer trained at once in one Ray trial
    (`hpsearch.population`); None picks it from the task and the cluster, 1 is one cell per trial.
    """
    spec = load_spec(spec_path, overrides, max_cells=max_cells)
    with spec.registered():  # the spec's plugins, for the driver's checks and pack sizes
        return _run_resolved(
            spec,
            storage=storage,
            ray_address=ray_address,
            max_concurrent=max_concurrent,
            gpus_per_trial=gpus_per_trial,
            dry_run=dry_run,
            force=force,
            out=out or sys.stdout,
            err=err or sys.stderr,
            faults=faults,
            population=population,
        )


def _run_resolved(
    spec: StudySpec,
    *,
    storage: str | None,
    ray_address: str | None,
    max_concurrent: int | None,
    gpus_per_trial: float | None,
    dry_run: bool,
    force: bool,
    out: TextIO,
    err: TextIO,
    faults: Mapping[str, str] | None,
    population: int | None,
) -> RunReport:
    url = resolve_storage_url(storage)
    _check_options(max_concurrent, gpus_per_trial, url)
    if population is not None and population < 1:
        raise UserInputError(f"`--population` must be at least 1, got {population}.")
    options = RunOptions(ray_address, max_concurrent, gpus_per_trial, population, faults)
    group = group_info(spec)
    workload = _check_task_data(spec) if ray_address is None and not dry_run else None
    schedule = schedule_of(spec)
    if schedule is not None:  # even with --force: a study's looks are fixed at its start
        check_same_schedule(group_attrs(url, spec.name).get(SCHEDULE_ATTR), schedule, spec.name)
    check_group(url, group, force=force)  # reads only: a changed spec is refused before writes
    if schedule is not None:
        return _run_sequential(
            spec, schedule, url, group, options, workload, dry_run, force, out, err
        )
    cells = expand_cells(spec)
    shown = redact_url(url)
    report = RunReport(name=spec.name, storage=url, total=len(cells), missing=len(cells))
    if dry_run:
        done = _finished_if_exists(url, spec)
        todo = [c for c in cells if c.key not in done]
        for cell in todo:
            out.write(cell.key + "\n")
        err.write(f"{len(todo)} of {len(cells)} cells would run ({spec.name}, {shown}).\n")
        report.missing = len(todo)
        return report

    # Join Ray before the first write, so a cluster that refuses us leaves the storage untouched.
    ray_started = False
    finished_before = _finished_if_exists(url, spec)  # read-only
    if any(c.key not in finished_before for c in cells):
        report.ray_seconds = _start_ray(ray_address, err)
        ray_started = True
    study_ids = prepare_group(url, group, force=force)
    done = finished_cells(url, study_ids.values())
    todo = [c for c in cells if c.key not in done]
    report.missing = len(todo)
    err.write(
        f"{spec.name}: {len(cells)} cells, {len(cells) - len(todo)} already finished, "
        f"{len(todo)} to run -> {shown}\n"
    )
    if todo:
        if not ray_started:  # another driver's cells turned out unfinished after all
            report.ray_seconds = _start_ray(ray_address, err)
        result = run_todo(spec, url, group, study_ids, todo, options, err, workload=workload)
        report.run_seconds = result.seconds
        report.recorder_errors = result.recorder_errors
        report.stopped = result.stopped
    # The database may still be coming back from a restart: the same bounded patience.
    data = with_retries(lambda: load_study_data(url, spec.name), seconds=retry_seconds())
    report.counts = cell_counts(data, cells)
    _finish_report(report, spec, data, out, err)
    return report


def _finish_report(
    report: RunReport, spec: StudySpec, data: StudyData, out: TextIO, err: TextIO
) -> None:
    """The summary table, then failures, recorder problems and the resume hint on stderr."""
    write_summary(report, spec, data, out)
    if report.failed:
        for message in failure_messages(data)[:3]:  # e.g. a plugin a worker lacks
            err.write(f"failed cells: {message}\n")
    for problem in report.recorder_errors[:10]:
        err.write(f"recorder: {problem}\n")
    if report.stopped is not None:
        unfinished = report.failed
        err.write(
            f"Stopped by {report.stopped}: {unfinished} cells not finished. Run the same command "
            "again to resume.\n"
        )


def _run_sequential(
    spec: StudySpec,
    schedule: Schedule,
    url: str,
    group: GroupInfo,
    options: RunOptions,
    workload: Workload | None,
    dry_run: bool,
    force: bool,
    out: TextIO,
    err: TextIO,
) -> RunReport:
    """A sequential study: the schedule stored with the study before its first trial, then
    look after look (`hpsearch.looks`) through `run_todo`; the summary covers every look's
    cells and says where the study stands."""
    from hpsearch.looks import look_cells, run_looks
    from hpsearch.sequential import SequentialState, budget_of, read_state

    shown = redact_url(url)
    attrs = group_attrs(url, spec.name)
    state = read_state(attrs) or SequentialState(schedule, [])
    report = RunReport(name=spec.name, storage=url, total=0, missing=0)
    if dry_run:
        cells = [] if state.ended else look_cells(spec, state, state.current)
        done = _finished_if_exists(url, spec)
        todo = [c for c in cells if c.key not in done]
        for cell in todo:
            out.write(cell.key + "\n")
        err.write(
            f"{len(todo)} of {len(cells)} cells of {state.describe()} would run ({spec.name}, "
            f"{shown}).\n"
        )
        report.total, report.missing = len(cells), len(todo)
        return report
    # Join Ray before the first write, so a cluster that refuses us leaves the storage untouched.
    if state.ended is None:
        report.ray_seconds = _start_ray(options.ray_address, err)
    study_ids = prepare_group(url, group, force=force)
    if SCHEDULE_ATTR not in attrs:  # fixed before the first trial
        set_group_attrs(url, study_ids.values(), {SCHEDULE_ATTR: schedule.to_json()})
    err.write(f"{spec.name}: sequential, {schedule.describe()} -> {shown}\n")

    def run_look(todo: Sequence[Cell], label: str) -> ScheduleResult:
        if not report.ray_seconds:
            report.ray_seconds = _start_ray(options.ray_address, err)
        return run_todo(
            spec, url, group, study_ids, todo, options, err, workload=workload, label=label
        )

    outcome = run_looks(
        spec, schedule, budget_of(spec), url=url, study_ids=study_ids, run_look=run_look, err=err
    )
    report.total = len(outcome.planned)
    report.run_seconds = sum(r.seconds for r in outcome.results)
    report.recorder_errors = [e for r in outcome.results for e in r.recorder_errors]
    report.stopped = outcome.stopped
    data = with_retries(lambda: load_study_data(url, spec.name), seconds=retry_seconds())
    report.counts = cell_counts(data, outcome.planned)
    report.missing = sum(c.get("missing", 0) for c in report.counts.values())
    _finish_report(report, spec, data, out, err)
    err.write(f"{spec.name}: sequential, {outcome.state.describe()}\n")
    for claim, (result, look) in outcome.state.final().items():
        out.write(f"  final at look {look}: {result:<13} {claim}\n")
    return report


@dataclass(frozen=True)
class RunOptions:
    """How `hpsearch run` runs its cells (none of it changes what a cell computes)."""

    ray_address: str | None = None
    max_concurrent: int | None = None
    gpus_per_trial: float | None = None
    population: int | None = None  # most cells per trial; None: from the task and device
    faults: Mapping[str, str] | None = None  # tests: cell key -> fault to inject


def run_todo(
    spec: StudySpec,
    url: str,
    group: GroupInfo,
    study_ids: Mapping[str, int],
    todo: Sequence[Cell],
    options: RunOptions,
    err: TextIO,
    *,
    workload: Workload | None = None,
    label: str = "",
) -> ScheduleResult:
    """Run `todo` through Ray Tune (Ray started) in packs; a database lost past the retry bound
    is a `StorageError`. `label` heads the progress line (a sequential study's look)."""
    from hpsearch import scheduling

    task = get_task_info(spec.task.name)
    writer = TrialWriter(url, study_ids, group.optimizers, spec.metric)
    packs = population_sizes(
        spec,
        todo,
        options.population,
        workload=workload,
        workers=options.max_concurrent or scheduling.cluster_cpus(),
        gpu=scheduling.cluster_gpus() > 0 and options.gpus_per_trial != 0,
    )
    if any(k > 1 for k in packs.values()):
        err.write(
            "population: "
            + ", ".join(f"{opt} {k}" for opt, k in packs.items())
            + " cells per trial\n"
        )
    err.write("starting the trials: Ray workers load torch and the data first (seconds)\n")
    err.flush()
    store = scheduling.CellStore(
        url,
        {opt: spec.study_name(opt) for opt in spec.optimizers},
        study_ids,
        CellClaims(url),
    )
    result = scheduling.run_cells(
        todo,
        store=store,
        writer=writer,
        scoring=Scoring(spec.metric, metric_direction(spec.metric), task.num_classes),
        task={
            "name": task.name,
            "options": _worker_options(spec),
            "epochs": spec.task.epochs,
            "plugins": spec.plugin_payload(),
        },
        metrics=task.metrics,
        max_concurrent=options.max_concurrent,
        gpus_per_trial=options.gpus_per_trial,
        progress_stream=err,
        faults=options.faults,
        population=packs,
        label=label,
    )
    if result.stopped == "storage":
        raise StorageError(
            f"Lost the storage `{redact_url(url)}` for more than {retry_seconds():.0f} s "
            f"({result.lost}); the run stopped and {result.unrecorded} finished cells could "
            f"not be recorded. Run the same command again to resume once the database is "
            f"back (${RETRY_ENV} sets how long to wait)."
        )
    return result


def _start_ray(ray_address: str | None, err: TextIO) -> float:
    """Start or join Ray, saying so (start-up takes seconds); seconds taken."""
    from hpsearch import scheduling

    where = f"joining the Ray cluster at {ray_address}" if ray_address else "starting Ray"
    err.write(f"{where}; Ray's own messages go to {scheduling.ray_log_path()}\n")
    err.flush()
    seconds = scheduling.start_ray(ray_address)
    err.write(
        f"Ray ready in {seconds:.1f} s: {scheduling.cluster_cpus()} CPUs, "
        f"{scheduling.cluster_gpus():g} GPUs\n"
    )
    return seconds


def population_sizes(
    spec: StudySpec,
    todo: Sequence[Cell],
    requested: int | None,
    *,
    workload: Workload | None,
    workers: int,
    gpu: bool,
) -> dict[str, int]:
    """Per optimizer, the most cells one trial trains at once: up to `requested`, or a default
    from the task and device, evened out over that optimizer's cells; 1 where the task or
    optimizer has no population support. The default needs the model's size: from `workload`
    (the one `_check_task_data` built), else from one built here, once."""
    from hpsearch.population import balanced_pack_size, default_population
    from hpsearch.tasks.population import population_unsupported

    options = spec.task.options()
    stacking = [
        optimizer
        for optimizer in spec.optimizers
        if population_unsupported(spec.task.name, optimizer, options) is None
    ]
    if not stacking:
        return dict.fromkeys(spec.optimizers, 1)
    cap = requested
    if cap is None:
        if workload is None:
            try:
                workload = _build_workload(spec)
            except UserInputError:  # data only on a cluster's workers: each cell reports it
                workload = None
        cap = default_population(
            spec.task.name, workload, cells=len(todo), workers=workers, gpu=gpu
        )
    return {
        optimizer: (
            balanced_pack_size(sum(c.optimizer == optimizer for c in todo), cap)
            if optimizer in stacking
            else 1
        )
        for optimizer in spec.optimizers
    }


def _finished_if_exists(url: str, spec: StudySpec) -> set[str]:
    """Finished cells for `--dry-run`, read without creating anything; a storage that cannot be
    reached is still an error."""
    from hpsearch.errors import UnknownStudyError

    if is_missing_file(url):
        return set()
    try:
        data = load_study_data(url, spec.name)
    except UnknownStudyError:
        return set()
    return set(data.trials.loc[data.trials["outcome"].isin(["completed", "diverged"]), "cell"])


def cell_counts(data: StudyData, cells: Sequence[Cell]) -> dict[str, dict[str, int]]:
    """Per optimizer, this spec's cells by outcome (`missing` where no trial exists)."""
    outcome = dict(zip(data.trials["cell"], data.trials["outcome"], strict=True))
    counts: dict[str, dict[str, int]] = {}
    for cell in cells:
        state = outcome.get(cell.key, "missing")
        per = counts.setdefault(cell.optimizer, {})
        per[state] = per.get(state, 0) + 1
    return counts


def failure_messages(data: StudyData) -> list[str]:
    """The distinct errors of the study's failed cells, most frequent first, each with its
    count: one broken plugin or data file fails every cell the same way."""
    trials = data.trials
    errors = trials.loc[trials["outcome"] == "error", "error"].dropna().astype(str)
    return [f"{n} x {message}" for message, n in errors.value_counts().items()]


def write_summary(report: RunReport, spec: StudySpec, data: StudyData, out: TextIO) -> None:
    """One row per optimizer: cells by outcome and the best seed-mean value (the analysis'
    `best_seed_mean`), in the units every other reader shows (an accuracy in %, as
    `hpsearch.units` decides)."""
    from hpsearch.analysis.stats import best_seed_mean
    from hpsearch.studydata import outcome_word
    from hpsearch.units import format_level, is_percent_metric

    trials = data.trials
    percent = is_percent_metric(data.metric, trials["value"].dropna().astype(float))
    cols = ("completed", "diverged", "error", "running", "missing")
    header = f"{'optimizer':<12}{'cells':>7}" + "".join(f"{outcome_word(c):>11}" for c in cols)
    header += f"  best {spec.metric} (seed mean)"
    out.write(header + "\n")
    for optimizer in spec.optimizers:
        counts = report.counts.get(optimizer, {})
        value = best_seed_mean(
            trials[trials["optimizer"] == optimizer],
            data.hyperparameters.get(optimizer, []),
            maximize=data.direction == "maximize",
        )
        best = "-" if math.isnan(value) else format_level(value, percent=percent)
        total = sum(counts.values())
        out.write(
            f"{optimizer:<12}{total:>7}"
            + "".join(f"{counts.get(c, 0):>11}" for c in cols)
            + f"  {best}\n"
        )


def _worker_options(spec: StudySpec) -> dict[str, Any]:
    """The task options as Ray workers need them: they run in other directories, so a relative
    `data_dir` is made absolute here, where it was written."""
    options = spec.task.options()
    if options.get("data_dir"):
        options["data_dir"] = os.path.abspath(os.path.expanduser(str(options["data_dir"])))
    return options


def _check_task_data(spec: StudySpec) -> Workload | None:
    """Read a real-data task's files once, before anything is written, so a missing or malformed
    data directory is bad input (exit 2) rather than a study full of failed trials; the workload
    goes on to size the packs. Skipped on a cluster (`--ray-address`), where the data lies on
    the workers, not necessarily here, and for an offline task (None: built if packs need it)."""
    if get_task_info(spec.task.name).offline:
        return None
    return _build_workload(spec)


def _build_workload(spec: StudySpec) -> Workload:
    """The task's data and model factory, as the workers build them."""
    from hpsearch.tasks.registry import build_workload, resolve_options

    name = spec.task.name
    return build_workload(name, resolve_options(name, _worker_options(spec), spec.task.epochs))
