"""``weir sources``: test a source's connection, and propose a contract from a table or file."""

from __future__ import annotations

from pathlib import Path

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit, errors


@click.group()
def sources() -> None:
    """Check a source before ingesting it, or draft a new source's contract.

    \b
    Examples:
      weir sources test purchase_orders
      weir sources discover 'postgresql+psycopg://weir:${PG_PASSWORD}@db/shop' --table purchase_orders
    """


@sources.command("test")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@format_option
@click.pass_obj
@guarded
def test(obj: Context, name: str, limit: int, fmt: OutputFormat) -> None:
    """Reach source NAME as an ingest would and show a sample of what it would read.

    Each sampled record is checked against the contract (its reasons are
    shown); nothing is stored and no cursor moves. Classified values are
    withheld.

    \b
    Example:
      weir sources test purchase_orders --limit 5
    """
    probe, sample = obj.open().sources.test(name, limit)
    if fmt == "table":
        console.print(f"[bold]{probe.source}[/]: reached {probe.reached}; would read {probe.reads}")
    emit(sample, fmt, title=f"{probe.source}: {sample.num_rows} sampled")


@sources.command("discover")
@click.argument("target")
@click.option("--table", help="The table to describe, when the database holds several.")
@click.option("--name", help="The source's name (default: the table's).")
@click.option(
    "--write",
    is_flag=True,
    help="Save the proposal as sources/NAME.yml in the project (never over an existing file).",
)
@click.pass_obj
@guarded
def discover(obj: Context, target: str, table: str | None, name: str | None, write: bool) -> None:
    """Propose a contract for TARGET (a database URL) for a person to review.

    ${VAR} in the URL is read from the environment; a password written in the
    URL is never put in the proposal (it becomes ${NAME_PASSWORD}).

    \b
    Examples:
      weir sources discover 'postgresql+psycopg://weir:${PG_PASSWORD}@db/shop' --table purchase_orders
      weir sources discover sqlite:///shop.db --table purchase_orders --write
    """
    from weir.ingest.probe import DiscoverOptions, save_proposal
    from weir.ingest.probe import discover as propose

    proposal = propose(target, DiscoverOptions(table=table, name=name))
    if write:
        path = save_proposal(obj.project_dir or Path.cwd(), proposal)
        console.print(f"Wrote {path}: review it, then `weir sources test {proposal.name}`.")
    else:
        click.echo(proposal.text, nl=False)
    for note in proposal.notes:
        errors.print(f"note: {note}", highlight=False, soft_wrap=True)
