"""The `hpsearch` command line: one Typer app, one function per verb.

Each verb's docstring is its `--help`. Human messages go to stderr, data to stdout. A
`HpsearchError` becomes its message and exit code (2 for bad input, 1 for a failed run, 3 for a
storage or Ray cluster that cannot be reached; 130 / 143 for a run stopped by SIGINT / SIGTERM);
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hpsearch import __version__
from hpsearch.errors import HpsearchError

app = typer.Typer(
    name="hpsearch",
    help="Hyperparameter-sensitivity studies for deep-learning optimizers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_debug = False


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hpsearch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _debug
    _debug = debug


def main() -> None:
    """Console-script entry point: run the app, turning our errors into messages and exit codes."""
    try:
        # Without standalone mode a verb's `typer.Exit(code)` comes back as the return value.
        result = app(standalone_mode=False)
    except HpsearchError as error:
        if _debug:
            raise
        from hpsearch.names import printable

        # A value quoted from a spec or a storage reaches the terminal with no escape sequence.
        typer.echo(f"Error: {printable(error, lines=True)}", err=True)
        sys.exit(error.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort as abort:
        # Click turns Ctrl+C (a second one during `run`, or one outside it) into Abort.
        if isinstance(abort.__cause__, KeyboardInterrupt):
            typer.echo("Interrupted. Run the same command again to resume.", err=True)
            sys.exit(130)
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except typer.TyperException as error:  # Typer's bundled click: usage errors, bad options
        show = getattr(error, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(error, "exit_code", 2))
    except Exception as error:
        # A database driver's error that no verb turned into a StorageError: still exit 3 with
        # one line, never SQL text, a traceback or a password.
        if _debug or not type(error).__module__.startswith(("sqlalchemy", "psycopg", "sqlite3")):
            raise
        from hpsearch.storage import storage_reason

        typer.echo(f"Error: Cannot open or reach the storage: {storage_reason(error)}", err=True)
        sys.exit(3)
    sys.exit(result if isinstance(result, int) else 0)


@app.command()
def catalog(
    what: Annotated[
        str, typer.Argument(help="What to list: `optimizers`, `tasks` or `all`.")
    ] = "all",
    spec: Annotated[
        str | None,
        typer.Option("--spec", help="Also list the plugins this study file names (imports them)."),
    ] = None,
) -> None:
    """List the optimizers and tasks with their hyperparameters, options and defaults: built-in,
    registered by installed packages (entry points `hpsearch.optimizers`, `hpsearch.tasks`), and
    with `--spec`, those a study names by import path."""
    import contextlib

    from hpsearch.errors import UserInputError
    from hpsearch.plugins import load_entry_points
    from hpsearch.spec import load_spec

    if what not in ("optimizers", "tasks", "all"):
        raise UserInputError(f"`catalog` lists `optimizers`, `tasks` or `all`, not `{what}`.")
    for problem in load_entry_points():
        typer.echo(f"plugin skipped: {problem}", err=True)
    # The study's plugins are listed with the rest (imported, registered while listing).
    with load_spec(spec).registered() if spec is not None else contextlib.nullcontext():
        _print_catalog(what)


def _print_catalog(what: str) -> None:
    from hpsearch.names import printable
    from hpsearch.optim import list_optimizers
    from hpsearch.tasks import list_tasks

    if what in ("optimizers", "all"):
        typer.echo("Optimizers:")
        for info in list_optimizers():
            typer.echo(f"  {info.name:<10} {printable(info.description)}")
            for hp in info.hyperparameters:
                scale = ", log scale" if hp.log else ""
                typer.echo(
                    f"      {hp.name:<13} default {hp.default!s:<8} "
                    f"range {hp.range_text()}{scale}  {printable(hp.doc)}"
                )
    if what in ("tasks", "all"):
        typer.echo("Tasks:")
        for task in list_tasks():
            data = "offline" if task.offline else "needs --data-dir"
            typer.echo(f"  {task.name:<20} {printable(task.description)} ({data})")
            for option in task.options:
                default = printable(option.default)
                values = f"range {option.range_text()}  " if option.range_text() else ""
                typer.echo(
                    f"      {option.name:<15} default {default:<10} {values}{printable(option.doc)}"
                )


# --- study verbs: validate, run, list, status (spec / storage / scheduling) ---------------------

_MaxCellsOption = Annotated[
    int | None,
    typer.Option(
        "--max-cells",
        envvar="HPSEARCH_MAX_CELLS",
        show_default="100000",
        help="Refuse a study with more cells than this (a guard against a mistyped grid).",
    ),
]

_StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        envvar="HPSEARCH_STORAGE",
        show_default="sqlite:///hpsearch.db",
        help="Optuna storage URL (SQLite file or postgresql+psycopg://...).",
    ),
]


@app.command()
def validate(
    specs: Annotated[list[str], typer.Argument(help="Study files (TOML) to check.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a spec key: `task.epochs=3`.")
    ] = None,
    max_cells: _MaxCellsOption = None,
) -> None:
    """Check study files without running them; print each one's number of cells."""
    from hpsearch.sequential import schedule_of
    from hpsearch.spec import expand_cells, load_spec

    for path in specs:
        spec = load_spec(path, set_ or [], max_cells=max_cells)
        cells = expand_cells(spec)
        per = ", ".join(
            f"{opt} {sum(c.optimizer == opt for c in cells)}" for opt in spec.optimizers
        )
        typer.echo(f"{path}: OK, study `{spec.name}`, {len(cells)} cells ({per})")
        schedule = schedule_of(spec)
        if schedule is not None:
            first = len(expand_cells(spec, seeds=schedule.seeds_at(1)))
            typer.echo(
                f"  sequential: {schedule.describe()}; {first} cells at the first look, "
                f"{len(cells)} if every claim stays open to the last"
            )


@app.command()
def run(
    spec: Annotated[str, typer.Argument(help="The study file (TOML).")],
    storage: _StorageOption = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Ray cluster to join (default: local).")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", help="Trials at once (default: CPUs).")
    ] = None,
    gpus_per_trial: Annotated[
        float | None,
        typer.Option(
            "--gpus-per-trial",
            help="GPUs per trial, fractions allowed (default: 1 if the cluster has GPUs).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the cells that would run, run nothing.")
    ] = False,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a spec key: `task.epochs=3`.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Add to a study whose spec has changed.")
    ] = False,
    population: Annotated[
        int | None,
        typer.Option(
            "--population",
            help="Most cells of one optimizer trained at once as one stacked model in one trial "
            "(default: chosen from the task and device; 1: one cell per trial).",
        ),
    ] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(
            "--data-dir",
            help="Directory of a real-data task's files (same as `--set task.data_dir=...`).",
        ),
    ] = None,
    max_cells: _MaxCellsOption = None,
    sequential: Annotated[
        str | None,
        typer.Option(
            "--sequential",
            help="Run the spec sequentially with these looks (seeds per cell, e.g. `5,10,20,40`): "
            "seeds are added only where a claim is open (same as `--set run.seeds={looks=[...]}`).",
        ),
    ] = None,
) -> None:
    """Run every unfinished cell of a study; exit 0 when all finished (diverged counts), 1 when
    some failed, 130 / 143 when stopped by Ctrl+C / SIGTERM (run it again to resume)."""
    import json
    import os

    from hpsearch.runner import run_study

    overrides = list(set_ or [])
    if data_dir is not None:  # a JSON string is a valid TOML basic string
        overrides.append(f"task.data_dir={json.dumps(os.path.abspath(data_dir))}")
    if sequential is not None:
        overrides.append(f"run.seeds={{looks=[{_looks(sequential)}]}}")
    report = run_study(
        spec,
        overrides=overrides,
        storage=storage,
        ray_address=ray_address,
        max_concurrent=max_concurrent,
        gpus_per_trial=gpus_per_trial,
        dry_run=dry_run,
        force=force,
        population=population,
        max_cells=max_cells,
    )
    if "ray" in sys.modules:
        # Now rather than in Ray's exit hook, which first sleeps 0.5 s for worker log lines
        # (sent to a file here, never to this terminal).
        from hpsearch.scheduling import stop_ray

        stop_ray()
    if not dry_run and report.exit_code:
        raise typer.Exit(report.exit_code)


def _looks(text: str) -> str:
    """`--sequential 5,10,20,40` as a TOML list's items; bad input is exit 2."""
    from hpsearch.errors import UserInputError

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise UserInputError(
            f"`--sequential {text}`: expected seeds per cell at each look, whole numbers "
            "separated by commas, e.g. `--sequential 5,10,20,40`."
        )
    return ", ".join(str(int(p)) for p in parts)


@app.command("list")
def list_(storage: _StorageOption = None) -> None:
    """List the study groups in a storage with their cells by outcome and their descriptions."""
    from hpsearch.names import printable
    from hpsearch.storage import list_study_groups, resolve_storage_url

    groups = list_study_groups(resolve_storage_url(storage))
    if not groups:
        typer.echo("No studies.", err=True)
        return
    typer.echo(
        f"{'study':<28}{'task':<16}{'metric':<16}{'completed':>10}{'diverged':>10}"
        f"{'failed':>7}{'running':>9}  optimizers"
    )
    for g in groups:
        c = g.counts
        name = printable(g.name)  # a name stored before names were checked may hold anything
        if g.problem is not None:
            typer.echo(f"{name:<28}{printable(g.problem)}")
            continue
        typer.echo(
            f"{name:<28}{printable(g.task):<16}{printable(g.metric):<16}{c['completed']:>10}"
            f"{c['diverged']:>10}{c['error']:>7}{c['running']:>9}  "
            f"{', '.join(printable(o) for o in g.optimizers)}"
        )
        if g.description:
            typer.echo(f"    {printable(g.description)}")


@app.command()
def status(
    name: Annotated[str, typer.Argument(help="The study name (a spec's `name`).")],
    storage: _StorageOption = None,
) -> None:
    """Show one study: cells by optimizer and outcome, and the failures' messages."""
    from hpsearch.names import printable
    from hpsearch.storage import load_study_data, resolve_storage_url
    from hpsearch.studydata import OUTCOMES, outcome_word

    data = load_study_data(resolve_storage_url(storage), name)
    trials = data.trials
    spec_cells = None
    if data.spec is not None:
        from hpsearch.spec import StudySpec, expand_cells

        try:
            spec_cells = len(expand_cells(StudySpec.model_validate(data.spec)))
        except Exception:  # a spec from another version: counts below still hold
            spec_cells = None
    total = f" of {spec_cells}" if spec_cells is not None else ""
    typer.echo(
        f"{name}: {len(trials)}{total} cells recorded, metric {data.metric} ({data.direction})"
    )
    for optimizer, sub in trials.groupby("optimizer"):
        counts = sub["outcome"].value_counts().to_dict()
        parts = ", ".join(f"{outcome_word(k)} {counts.get(k, 0)}" for k in OUTCOMES)
        typer.echo(f"  {printable(optimizer):<12}{len(sub):>5} cells: {parts}")
    for row in trials[trials["outcome"] == "error"].head(10).itertuples():
        typer.echo(f"  failed {printable(row.cell)}: {printable(row.error)}")
    for line in _sequential_lines(resolve_storage_url(storage), name):
        typer.echo(line)


def _sequential_lines(url: str, name: str) -> list[str]:
    """A sequential study's look, its schedule and its final claims (none for a fixed one)."""
    from hpsearch.sequential import read_state
    from hpsearch.storage import group_attrs

    state = read_state(group_attrs(url, name))
    if state is None:
        return []
    lines = [f"sequential: {state.describe()}", f"  schedule: {state.schedule.describe()}"]
    for claim, (result, look) in state.final().items():
        lines.append(f"  final at look {look}: {result:<13} {claim}")
    return lines


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="The study name (a spec's `name`).")],
    out: Annotated[str, typer.Option("--out", help="Folder to write the CSV files into.")],
    storage: _StorageOption = None,
    format_: Annotated[str, typer.Option("--format", help="Output format: `csv`.")] = "csv",
) -> None:
    """Write a study group's CSV files: trials.csv, curves.csv, sensitivity.csv, verdicts.csv,
    verdict_statistics.csv and verdict_details.csv (columns: README's "CSV reports")."""
    from hpsearch.analysis import analyze
    from hpsearch.errors import UserInputError
    from hpsearch.export import FORMATS, export_study
    from hpsearch.outputs import check_output_dir
    from hpsearch.storage import load_study_data, resolve_storage_url

    if format_ not in FORMATS:
        raise UserInputError(
            f"--format: `{format_}` is not an export format; expected one of: {', '.join(FORMATS)}."
        )
    check_output_dir(out)  # before reading anything; created only once the study is read
    data = load_study_data(resolve_storage_url(storage), name)
    paths = export_study(data, analyze(data), out, format_)
    for path in paths:
        typer.echo(str(path))


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="The study name (a spec's `name`).")],
    storage: _StorageOption = None,
) -> None:
    """Print a study's verdicts (SUPPORTED / REFUTED / INCONCLUSIVE) with their numbers."""
    from hpsearch.analysis import analyze
    from hpsearch.names import printable
    from hpsearch.storage import load_study_data, resolve_storage_url
    from hpsearch.units import format_estimate, format_points

    data = load_study_data(resolve_storage_url(storage), name)
    analysis = analyze(data)
    s = analysis.settings
    typer.echo(
        f"{name}: metric {s.metric} ({s.direction}), S = {s.n_seeds} seeds, B = {s.bootstrap} "
        f"(rng seed {s.rng_seed}), m = {format_points(s.tolerance, s)}; trials: "
        f"{s.n_completed} completed, {s.n_diverged} diverged, {s.n_error} failed, "
        f"{s.n_running} running"
    )
    sequential = _sequential_lines(resolve_storage_url(storage), name)
    for line in sequential:
        typer.echo(line)
    if sequential:
        typer.echo(
            "  (each verdict below is the one its look decided, on that look's seeds at its "
            "share of α; a claim still open is shown at the last look run)"
        )
    if not analysis.verdicts:
        typer.echo("No claims to decide (no finished cells yet, or no hyperparameter varies).")
    else:
        # The number that decided each claim (accuracy in %, differences in points).
        headlines = []
        for v in analysis.verdicts:
            key = v.decided_by if v.decided_by in v.numbers else next(iter(v.numbers), "")
            number = format_estimate(key, v.numbers[key], s, short=True) if key else ""
            headlines.append(f"{key} = {number}" if key else "")
        width = max(len(h) for h in headlines) + 2
        typer.echo(f"{'result':<14}{'kind':<6}{'decided by':<{width}}claim")
        for v, headline in zip(analysis.verdicts, headlines, strict=True):
            typer.echo(f"{v.result:<14}{v.kind:<6}{headline:<{width}}{printable(v.claim)}")
        typer.echo("")
        for v in analysis.verdicts:
            typer.echo(f"[{v.result}] {printable(v.sentence)}")
            if v.safe_range and v.result != "SUPPORTED":
                low, high = v.safe_range
                where = (
                    f"[{low:g}, {high:g}]" if low != high else f"{v.hyperparameter} = {low:g} only"
                )
                typer.echo(f"    passes with simultaneous bounds: {where}")
            for block in v.blocking[:5]:
                typer.echo(f"    {printable(block)}")
        decisive = [v for v in analysis.verdicts if v.result != "INCONCLUSIVE"]
        typer.echo("")
        typer.echo(f"guarantee: {(decisive or analysis.verdicts)[0].guarantee}")
    for note in analysis.notes:
        typer.echo(f"note: {printable(note)}", err=True)


# --- presentation verbs: report, dashboard (dashboards/) -----------------------------------------


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="The study name (a spec's `name`).")],
    out: Annotated[str, typer.Option("--out", help="The HTML file to write.")] = "report.html",
    storage: _StorageOption = None,
    images: Annotated[
        bool,
        typer.Option("--images", help="Also write PNG/PDF figures (needs kaleido + Chromium)."),
    ] = False,
) -> None:
    """Write one self-contained HTML report (verdicts, figures, summary; opens offline)."""
    from dashboards.report import image_export_available, study_page, write_report
    from hpsearch.outputs import check_output_file
    from hpsearch.storage import load_study_data, resolve_storage_url

    check_output_file(out)  # before reading anything
    data = load_study_data(resolve_storage_url(storage), name)
    paths = write_report(study_page(data), out, images=images)
    if images and not image_export_available():
        typer.echo("PNG/PDF skipped: they need the `kaleido` package and a Chromium.", err=True)
    for path in paths:
        typer.echo(str(path))


@app.command()
def dashboard(
    storage: _StorageOption = None,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8050,
    refresh: Annotated[
        float | None,
        typer.Option(
            "--refresh",
            help="Polling period in seconds (default 5 s while trials run, 30 s otherwise).",
        ),
    ] = None,
) -> None:
    """Serve the live sensitivity dashboard (Dash) for every study in a storage."""
    import logging

    from dashboards.app import create_app
    from dashboards.security import allow_bind_host, bind_warning
    from hpsearch.errors import UserInputError
    from hpsearch.storage import (
        list_study_groups,
        redact_url,
        resolve_storage_url,
        storage_errors,
    )

    url = resolve_storage_url(storage)
    with storage_errors(url):
        groups = list_study_groups(url)
    if not 0 < port < 65536:
        raise UserInputError(f"`--port` must be between 1 and 65535, got {port}.")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    warning = bind_warning(host)
    if warning is not None:
        typer.echo(warning, err=True)
    typer.echo(
        f"hpsearch dashboard: http://{host}:{port}/ ({len(groups)} "
        f"stud{'y' if len(groups) == 1 else 'ies'} in {redact_url(url)}); "
        "Ctrl+C stops it.",
        err=True,
    )
    try:
        # The first study is analysed in the background while the server starts: the first
        # visit finds its page ready.
        dashboard_app = create_app(url, refresh_seconds=refresh, analyse_first=True)
        allow_bind_host(dashboard_app, host)
        dashboard_app.run(host=host, port=port, debug=False)
    except OSError as error:
        raise UserInputError(f"Cannot listen on {host}:{port}: {error}") from error
