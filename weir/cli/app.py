"""The ``weir`` command group and what every command shares: the project, errors, progress."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from weir.cli.output import OUTPUT_FORMATS, console, errors
from weir.errors import WeirError

F = TypeVar("F", bound=Callable[..., Any])

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="How to print the result.",
)


class Context:
    def __init__(self, project: Path | None, debug: bool) -> None:
        self.project_dir = project
        self.debug = debug

    def open(self, progress: Callable[[str, str], None] | None = None) -> Any:
        from weir.workspace import Project

        return Project(self.project_dir or Path.cwd(), progress=progress)


def guarded(command: F) -> F:
    """Turn WeirError into one clear line and exit code 1; anything else into exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_object(Context) and ctx.find_object(Context).debug)  # type: ignore[union-attr]
        try:
            return command(*args, **kwargs)
        except WeirError as exc:
            if debug:
                raise
            errors.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(1)
        except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if debug:
                raise
            errors.print(
                f"[bold red]unexpected error:[/] {type(exc).__name__}: {exc} "
                "(run again with --debug for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_display(enabled: bool = True) -> Iterator[Callable[[str, str], None]]:
    """A live progress line per source while long work runs (quiet when not a terminal)."""
    if not enabled or not console.is_terminal:
        yield lambda source, stage: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def report(source: str, stage: str) -> None:
            if source not in tasks:
                tasks[source] = bar.add_task(f"{source}: {stage}")
            bar.update(tasks[source], description=f"{source}: {stage}")

        yield report


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--project",
    "-p",
    type=click.Path(file_okay=False, path_type=Path),
    help="The project folder (default: the current folder or a parent).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="weir")
@click.pass_context
def cli(ctx: click.Context, project: Path | None, debug: bool) -> None:
    """weir — a data platform in a box for retail and e-commerce data teams.

    \b
    Examples (start here):
      weir init shop --example retail
      weir generate --out shop/landing --days 30
      weir --project shop ingest
      weir --project shop sql "SELECT count(*) FROM staging.pos"
    """
    ctx.obj = Context(project, debug)
    if not debug:
        # sqlglot logs a warning when it parses a statement it does not know as a command;
        # the refusal that follows already says what is wrong, in one line
        logging.getLogger("sqlglot").setLevel(logging.ERROR)
