"""The sample-data command: the reference retailer's files, their manifest and planted incidents."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from weir.cli.app import format_option, guarded
from weir.cli.output import OutputFormat, console, emit


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the files to (a project's landing/).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=None,
    help="Days of business to generate, up to --end (or from --start).  [default: 30]",
)
@click.option(
    "--scale",
    type=click.FloatRange(0.001, 100),
    default=1.0,
    show_default=True,
    help="Size: 1.0 is a mid-size retailer (~10 M POS rows a year).",
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Random seed: the same seed gives the same files.",
)
@click.option(
    "--end",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day (UTC).  [default: yesterday]",
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day, instead of counting --days back from --end.",
)
@click.option(
    "--incidents/--no-incidents",
    default=True,
    show_default=True,
    help="Plant known incidents (an outage, a missing file, a duplicate burst, a stockout), "
    "listed in the manifest.",
)
@click.option(
    "--example",
    type=click.Choice(["retail", "deliverability"]),
    default="retail",
    show_default=True,
    help="Whose data: the reference retailer's files, or the e-mail delivery company's "
    "database, suppression list, CRM and spreadsheets.",
)
@click.option(
    "--database-url",
    envvar="DELIVERABILITY_DATABASE_URL",
    default=None,
    help="deliverability: the database to load the sent e-mails and their events into "
    "(e.g. postgresql+psycopg://127.0.0.1:5432/mailer; its tables emails and "
    "delivery_events are replaced).  [default: $DELIVERABILITY_DATABASE_URL, else a "
    "SQLite file in --out]",
)
@format_option
@guarded
def generate(
    out: Path,
    days: int | None,
    scale: float,
    seed: int,
    end: datetime | None,
    start: datetime | None,
    incidents: bool,
    example: str,
    database_url: str | None,
    fmt: OutputFormat,
) -> None:
    """Generate the reference retailer's files, with dirty data, planted incidents and a manifest.

    The history ends yesterday (UTC) unless --end says otherwise; the same
    seed and end date give the same files. The manifest lists the expected
    counts of every source and the incidents planted in the period.

    With --example deliverability: the e-mail delivery company's data instead
    (its database's tables, its suppression list, CRM records and client
    workbooks; 14 days by default), and the environment variables its
    project's sources read (docs/examples.md).

    \b
    Examples:
      weir generate --out shop/landing --days 30 --scale 0.5 --seed 7
      weir generate --out shop/landing --days 90 --end 2026-06-30 --no-incidents
      weir generate --example deliverability --out mailer/landing --days 14
    """
    context = click.get_current_context()
    if example == "deliverability":
        if context.get_parameter_source("incidents") == ParameterSource.COMMANDLINE:
            raise click.UsageError(
                "--incidents/--no-incidents is the retailer's: the deliverability example "
                "plants no incidents (leave the option out)"
            )
        _deliverability(out, days, scale, seed, end, start, database_url, fmt)
        return
    if database_url is not None and (
        context.get_parameter_source("database_url") == ParameterSource.COMMANDLINE
    ):
        raise click.UsageError(
            "--database-url is the deliverability example's: the retailer writes files "
            "(add --example deliverability, or leave the option out)"
        )
    from weir.demo.generate import generate as run

    started = time.perf_counter()
    with console.status("generating…") if console.is_terminal and fmt == "table" else _nothing():
        manifest = run(
            out,
            days=days,
            scale=scale,
            seed=seed,
            end=end.date() if end else None,
            start=start.date() if start else None,
            incidents=incidents,
        )
    rows = manifest_rows(manifest)
    seconds = time.perf_counter() - started
    emit(
        rows,
        fmt,
        title=f"Generated {manifest.days} days ({manifest.start} to {manifest.end}) "
        f"in {seconds:.1f} s → {out}",
    )
    if fmt == "table" and manifest.incidents:
        emit(
            [i.to_dict() for i in manifest.incidents],
            fmt,
            title="Planted incidents (listed in manifest.json)",
        )


def manifest_rows(manifest: Any) -> list[dict[str, Any]]:
    return [
        {
            "source": name,
            "files": s.files,
            "received": s.received,
            "clean": s.accepted,
            "dirty": s.quarantined,
            "duplicates": s.duplicates,
        }
        for name, s in sorted(manifest.sources.items())
    ]


def _deliverability(
    out: Path,
    days: int | None,
    scale: float,
    seed: int,
    end: datetime | None,
    start: datetime | None,
    database_url: str | None,
    fmt: OutputFormat,
) -> None:
    """The e-mail delivery company's data, and the environment its project's sources read."""
    from weir.demo.deliverability import ENV_CRM_TOKEN, ENV_CRM_URL, generate
    from weir.demo.deliverability.generate import default_end
    from weir.demo.generate.errors import GenerateError

    last = end.date() if end else default_end()
    if start is not None:
        if days is not None:
            raise GenerateError("--start and --days both set the period", "give one of them")
        days = (last - start.date()).days + 1
    started = time.perf_counter()
    made = generate(
        out, database_url=database_url, days=days or 14, end=last, seed=seed, scale=scale
    )
    manifest = made.manifest
    emit(
        manifest_rows(manifest),
        fmt,
        title=f"Generated {manifest.days} days ({manifest.start} to {manifest.end}) "
        f"in {time.perf_counter() - started:.1f} s → {out}",
    )
    if fmt == "table":
        console.print("The project's sources read these (export them before `weir ingest`):")
        for name, value in made.environment.items():
            console.print(f"  export {name}={value}", markup=False, highlight=False)
        console.print(
            f"  export {ENV_CRM_TOKEN}=demo-crm-token\n"
            f"  export {ENV_CRM_URL}=http://127.0.0.1:8766   # after starting the CRM: "
            f"python -m weir.demo.deliverability.crm_api {out} 8766",
            markup=False,
            highlight=False,
        )


@contextmanager
def _nothing() -> Iterator[None]:
    yield
