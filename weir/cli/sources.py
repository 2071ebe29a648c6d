"""``weir sources``: test a source before ingesting it, and propose a contract for a new one."""

from __future__ import annotations

import os

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit, errors
from weir.errors import WeirError


@click.group()
def sources() -> None:
    """Check a source before ingesting it, or draft a new source's contract. Neither stores data.

    \b
    Examples:
      weir sources test purchase_orders
      weir sources discover 'postgresql+psycopg://weir:${PG_PASSWORD}@db/shop' --table purchase_orders
      weir sources discover https://api.example.com/v1/hops --token-env CARRIER_TOKEN
      weir sources discover exports/pnl_2026.xlsx --name accounting_pnl --write
    """


@sources.command("test")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@format_option
@click.pass_obj
@guarded
def test(obj: Context, name: str, limit: int, fmt: OutputFormat) -> None:
    """Reach source NAME as an ingest would and show a sample of what it would read.

    A file or spreadsheet source reads its first new file; a REST source asks
    its API for one page from the committed cursor; a database source reads
    the rows after its cursor. Each sampled record is checked against the
    contract (its reasons are shown); nothing is stored: no file landed, no
    batch, no cursor moved. Classified values (pii, pci) are withheld.

    \b
    Examples:
      weir sources test purchase_orders --limit 5
      weir sources test accounting_pnl --format json
    """
    probe, sample = obj.open().sources.test(name, limit)
    if fmt == "table":
        console.print(
            f"[bold]{probe.source}[/]: reached {probe.reached}; would read {probe.reads}",
            highlight=False,
        )
    emit(sample, fmt, title=f"{probe.source}: {sample.num_rows} sampled")


@sources.command("discover")
@click.argument("target")
@click.option("--table", help="The table to describe, when the database holds several.")
@click.option("--name", help="The source's name (default: from the table, the URL or the file).")
@click.option(
    "--write",
    is_flag=True,
    help="Save the proposal as sources/NAME.yml in the project (never over an existing file).",
)
@click.option(
    "--token-env",
    default=None,
    metavar="VARIABLE",
    help="An environment variable holding a bearer token for the API.",
)
@click.pass_obj
@guarded
def discover(
    obj: Context,
    target: str,
    table: str | None,
    name: str | None,
    write: bool,
    token_env: str | None,
) -> None:
    """Propose a contract for TARGET for a person to review: a database URL, an API's URL
    or a spreadsheet (.xlsx, .xls, .ods).

    For a table: its columns' types and primary key, and a change-time cursor
    when one looks like it. For an API: the fields of its records, a key, the
    path to the records and the pagination its answer shows. For a
    spreadsheet: the first sheet's header row. Types come from what was seen:
    review them. ${VAR} in a database URL is read from the environment; a
    password written in the URL is never put in the proposal.

    \b
    Examples:
      weir sources discover 'postgresql+psycopg://weir:${PG_PASSWORD}@db/shop' --table purchase_orders
      weir sources discover sqlite:///shop.db --table purchase_orders --write
      weir sources discover https://api.example.com/v1/hops --token-env CARRIER_TOKEN
      weir sources discover exports/pnl_2026.xlsx --name accounting_pnl --write
    """
    from weir.ingest.probe import DiscoverOptions
    from weir.ingest.probe import discover as propose

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise WeirError(
                f"the environment variable {token_env} is not set",
                f"export {token_env}=… first (secrets are read from the environment only)",
            )
    options = DiscoverOptions(table=table, name=name, token=token)
    if write:
        proposal, path = obj.open().sources.discover(target, options, write=True)
    else:  # printing a proposal needs no project
        proposal, path = propose(target, options), None
    click.echo(proposal.text, nl=False)
    for note in proposal.notes:
        errors.print(f"note: {note}", highlight=False, soft_wrap=True)
    if path is not None:
        errors.print(
            f"Wrote {path}: review it, then `weir sources test {proposal.name}`.",
            highlight=False,
            soft_wrap=True,
        )
