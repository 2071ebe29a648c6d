"""``weir migrate``: move a project's lake and metadata to other settings (a server, a bucket)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit
from weir.errors import WeirError


@click.command()
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The project's weir.yml as it is to be: a new catalog_uri and a new lake.",
)
@format_option
@click.pass_obj
@guarded
def migrate(obj: Context, to: Path, fmt: OutputFormat) -> None:
    """Copy the lake and the metadata to the catalog_uri and lake of another weir.yml.

    Every row of the metadata (batches, runs, audit log, keys) goes to the new
    database, and every lake table's current state to the new lake location;
    the tables' older snapshots are not copied (time travel on the new lake
    starts at the move). Counts are verified on both sides. Nothing of the
    current project is changed: when it is done, replace weir.yml with the new one.

    \b
    Example:
      AWS_ENDPOINT_URL=https://s3.example.com weir migrate --to weir.new.yml
      mv weir.new.yml weir.yml
    """
    result = obj.open().migrate(to)
    rows = [
        {
            "table": t.table,
            "files": t.files,
            "rows": t.rows,
            "copied_rows": t.copied_rows,
            "ok": t.ok,
        }
        for t in result.tables
    ]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "catalog_uri": result.catalog_uri,
                    "lake": result.lake,
                    "ok": result.ok,
                    "tables": rows,
                    "metadata": {
                        k: {"rows": a, "copied_rows": b} for k, (a, b) in result.metadata.items()
                    },
                },
                indent=2,
            )
        )
    else:
        emit(rows, fmt, title=f"lake → {result.lake}")
        copied = sum(b for _, b in result.metadata.values())
        console.print(
            f"metadata → {result.catalog_uri}: {copied:,} row(s) in {len(result.metadata)} table(s)"
        )
    if not result.ok:
        raise WeirError(
            "the copy's counts differ from the source's (see above); the source is unchanged",
            "do not switch to the new settings; run the migration again into a new database",
        )
    if fmt != "json":
        console.print(f"done: every count matches. Now replace weir.yml with {to}.")
