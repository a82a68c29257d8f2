"""The `hpsearch` command line: one Typer app, one function per verb.

Each verb's docstring is its `--help`. Human messages go to stderr, data to stdout. A
`HpsearchError` becomes its message and exit code (2 for bad input, 1 for a failed run); `--debug`
shows the traceback instead.
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
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _debug
    _debug = debug


def main() -> None:
    """Console-script entry point: run the app, turning our errors into messages and exit codes."""
    try:
        app(standalone_mode=False)
    except HpsearchError as error:
        if _debug:
            raise
        typer.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except Exception as error:  # click's usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise


@app.command()
def catalog(
    what: Annotated[
        str, typer.Argument(help="What to list: `optimizers`, `tasks` or `all`.")
    ] = "all",
) -> None:
    """List the registered optimizers and tasks with their hyperparameters, options and defaults."""
    from hpsearch.errors import UserInputError
    from hpsearch.optim import list_optimizers
    from hpsearch.tasks import list_tasks

    if what not in ("optimizers", "tasks", "all"):
        raise UserInputError(f"`catalog` lists `optimizers`, `tasks` or `all`, not `{what}`.")
    if what in ("optimizers", "all"):
        typer.echo("Optimizers:")
        for info in list_optimizers():
            typer.echo(f"  {info.name:<10} {info.description}")
            for hp in info.hyperparameters:
                scale = ", log scale" if hp.log else ""
                typer.echo(
                    f"      {hp.name:<13} default {hp.default!s:<8} "
                    f"range {hp.range_text()}{scale}  {hp.doc}"
                )
    if what in ("tasks", "all"):
        typer.echo("Tasks:")
        for task in list_tasks():
            data = "offline" if task.offline else "needs --data-dir"
            typer.echo(f"  {task.name:<20} {task.description} ({data})")
            for option in task.options:
                typer.echo(f"      {option.name:<15} default {option.default!s:<10} {option.doc}")
