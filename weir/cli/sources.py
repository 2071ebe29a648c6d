"""Commands that look at a source before it is ingested: a sample, and a proposed contract."""

from __future__ import annotations

import os

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit
from weir.errors import WeirError


@click.group()
def sources() -> None:
    """Try a source's connection, or propose a contract for a new one. Neither stores data.

    \b
    Examples:
      weir sources test parcel_hops
      weir sources discover https://api.example.com/v1/hops
      weir sources discover exports/pnl_2026.xlsx --name accounting_pnl --write
    """


@sources.command("test")
@click.argument("name")
@click.option("--limit", default=10, show_default=True, help="How many records to show.")
@format_option
@click.pass_obj
@guarded
def sources_test(obj: Context, name: str, limit: int, fmt: OutputFormat) -> None:
    """Check NAME's connection and show the first records the next ingest would read.

    A REST source asks its API for one page from the committed cursor; a file
    source reads its first new file. Each record is shown with the reasons the
    contract would hold it for. Nothing is stored: no file landed, no batch,
    no cursor moved. Personal fields are withheld, card numbers tokenised.

    \b
    Examples:
      weir sources test parcel_hops
      weir sources test accounting_pnl --limit 5 --format json
    """
    found = obj.open().sources.sample(name, limit)
    if fmt == "table":
        console.print(f"{found.source}: {found.origin}", highlight=False)
    emit(found.records, fmt, title=f"the first records of {found.source}")


@sources.command("discover")
@click.argument("target")
@click.option("--name", default=None, help="The source's name (default: from the URL or file).")
@click.option("--write", is_flag=True, help="Save it as sources/<name>.yml (never over a file).")
@click.option(
    "--token-env",
    default=None,
    metavar="VARIABLE",
    help="An environment variable holding a bearer token for the API.",
)
@click.pass_obj
@guarded
def sources_discover(
    obj: Context, target: str, name: str | None, write: bool, token_env: str | None
) -> None:
    """Propose a contract for the records at TARGET: an API's URL or a spreadsheet.

    The fields, their types as the values suggest, a key, and for an API the
    path to its records and the pagination its answer shows. Review it before
    use: the types come from the records seen.

    \b
    Examples:
      weir sources discover https://api.example.com/v1/hops --token-env CARRIER_TOKEN
      weir sources discover exports/pnl_2026.xlsx --name accounting_pnl --write
    """
    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise WeirError(
                f"the environment variable {token_env} is not set",
                f"export {token_env}=… first (secrets are read from the environment only)",
            )
    proposal, path = obj.open().sources.discover(target, name, write, token)
    click.echo(proposal.text, nl=False)
    where = f"written to {path}; review it" if path else "review it, then save it (or use --write)"
    click.echo(f"# proposed from {proposal.records} record(s): {where}", err=True)
