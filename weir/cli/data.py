"""Commands over the lake: project set-up, sample data, ingestion, SQL, status, quarantine."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from weir.cli.app import Context, format_option, guarded, progress_display
from weir.cli.output import OutputFormat, console, emit, errors
from weir.cli.sample import generate as generate  # registered with the other data commands


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--example",
    type=click.Choice(["retail", "deliverability", "none"]),
    default="retail",
    show_default=True,
    help="Start from an example project.",
)
@guarded
def init(directory: Path, example: str) -> None:
    """Create a new project in DIRECTORY.

    \b
    Example:
      weir init shop --example retail
      weir init mailer --example deliverability
    """
    from weir.workspace import init_project

    root = init_project(directory, None if example == "none" else example)
    generate = "weir generate" + (
        " --example deliverability" if example == "deliverability" else ""
    )
    console.print(
        f"Created project [bold]{root}[/]. Next: `{generate} --out {directory}/landing` then `weir --project {directory} ingest`."
    )


@click.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--path",
    type=click.Path(exists=False, path_type=Path),
    help="Ingest this file or folder instead of the sources' locations. A folder gives a"
    " source the files of its pattern directly in it, and in sub-folders only within the"
    " source's own folder (a landing laid out as the project's: landing/pos/…).",
)
@format_option
@click.pass_obj
@guarded
def ingest(obj: Context, sources: tuple[str, ...], path: Path | None, fmt: OutputFormat) -> None:
    """Ingest the new files of SOURCES (all sources when none are named).

    Every record ends accepted (staging), quarantined (with its reasons) or a
    duplicate; a file already ingested is skipped.

    \b
    Examples:
      weir ingest
      weir ingest pos inventory
      weir ingest pos --path ~/exports/pos_2025-02-01_store001.csv
    """
    with progress_display(fmt == "table") as report:
        project = obj.open(report)
        results = project.sources.ingest(list(sources) or None, path)
    emit([batch_row(r) for r in results], fmt, title="Ingested")
    say_not_connected(project)


def say_not_connected(project: Any) -> None:
    """Name each source the last ingest of every source skipped: its address is not set here."""
    for name, variables in project.sources.not_connected.items():
        click.echo(
            f"{name}: skipped, not connected here ({', '.join(variables)} not set); "
            f"set it to ingest {name}",
            err=True,
        )


def batch_row(result: Any) -> dict[str, Any]:
    c = result.counts
    return {
        "source": result.source,
        "files": result.files,
        "skipped": result.skipped_files,
        "received": c.received,
        "accepted": c.accepted,
        "quarantined": c.quarantined,
        "duplicates": c.duplicates,
        "suppressed": c.suppressed,
        "seconds": round(result.seconds, 2),
        "batch": result.batch_id or "",
    }


@click.command()
@click.argument("query")
@click.option(
    "--as-of",
    type=click.DateTime(
        ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]
    ),
    help="Read the lake as it was at this time (local time unless an offset is given).",
)
@click.option(
    "--snapshot", type=int, help="Read this table snapshot (and the other tables as of its time)."
)
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    help="Rows to print at most in table format (0: all).",
)
@click.option(
    "--as",
    "as_user",
    metavar="USER",
    help="Run as this user of weir.yml: through the gateway, within the role's grants, audited.",
)
@click.option("--role", help="With --as: the role to act in (default: the user's first).")
@format_option
@click.pass_obj
@guarded
def sql(
    obj: Context,
    query: str,
    as_of: datetime | None,
    snapshot: int | None,
    limit: int,
    as_user: str | None,
    role: str | None,
    fmt: OutputFormat,
) -> None:
    """Run a read-only QUERY over the lake (tables: raw.NAME, staging.NAME, quarantine.NAME).

    \b
    Examples:
      weir sql "SELECT store_id, sum(revenue) FROM staging.pos GROUP BY 1 ORDER BY 2 DESC"
      weir sql "SELECT count(*) FROM staging.pos" --as-of "2025-02-01 09:00:00"
      weir sql "SELECT * FROM quarantine.pos LIMIT 5" --format json
      weir sql "SELECT * FROM marts.sales_daily LIMIT 5" --as nina --role sales_north
    """
    if as_user is None and role is not None:
        raise click.UsageError("--role goes with --as USER")
    if as_user is not None and snapshot is not None:
        raise click.UsageError("--as reads the lake now or --as-of a time, not a --snapshot")
    project = obj.open()
    if as_user is None:
        result = project.sql(query, as_of=as_of, snapshot=snapshot)
    else:
        result = project.access.query(query, as_user, role, as_of=as_of).table
    shown = (
        result.slice(0, limit) if fmt == "table" and limit and result.num_rows > limit else result
    )
    emit(shown, fmt)
    if shown.num_rows < result.num_rows:
        errors.print(
            f"({result.num_rows} rows; {shown.num_rows} shown — use --limit 0 or --format csv for all)"
        )


@click.command()
@click.option(
    "--streams",
    "only_streams",
    is_flag=True,
    help="Only the streams (collector, Kafka, MQTT): rate, backlog or lag, last commit.",
)
@click.option(
    "--wide",
    is_flag=True,
    help="Every column in the table (batches, files, last batch id, newest record, …).",
)
@click.option(
    "--reconcile",
    is_flag=True,
    help="Count each batch's rows in the lake against its ledger counts (exit 1 on a mismatch).",
)
@format_option
@click.pass_obj
@guarded
def status(
    obj: Context, only_streams: bool, wide: bool, reconcile: bool, fmt: OutputFormat
) -> None:
    """Per source: last batch, counts, freshness and state.

    The table shows what fits a terminal: records in / accepted / quarantined /
    duplicates, the newest record's age and the last batch's state. --wide and
    --format json show every field (quarantine now, batch ids, reconciliation).
    A second table lists the streams into the lake, when there are any.

    \b
    Examples:
      weir status
      weir status --wide
      weir status --format json
      weir status --streams
      weir status --reconcile
    """
    project = obj.open()
    if reconcile:
        checks = project.sources.reconcile()
        rows = [
            {
                "source": c.source,
                "batch": c.batch_id,
                "layer": c.layer,
                "state": c.state,
                "counts": c.message,
            }
            for c in checks
        ]
        bad = sum(1 for c in checks if c.state == "mismatch")
        emit(rows, fmt, title=f"{len(checks)} checks, {bad} mismatched")
        if bad:
            sys.exit(1)
        return
    statuses = project.sources.status()
    streams = [_stream_row(s) for s in project.streams.status()]
    if only_streams:
        emit(streams, fmt, title="Streams")
        return
    title = f"Sources of {project.files.config.name}"
    if fmt == "table" and not wide:
        emit([_source_glance(s) for s in statuses], fmt, title=title)
    else:
        emit([_source_row(s) for s in statuses], fmt, title=title)
    if streams and fmt == "table":  # json and csv stay one document: ask with --streams
        emit(streams, fmt, title="Streams")


def _source_row(s: Any) -> dict[str, Any]:
    """Every field of a source's status (--wide, json, csv)."""
    last = s.last_batch
    return {
        "source": s.source,
        "format": s.format,
        "batches": s.batches,
        "files": s.files,
        "received": s.totals.received,
        "accepted": s.totals.accepted,
        "quarantined": s.totals.quarantined,
        "duplicates": s.totals.duplicates,
        "suppressed": s.totals.suppressed,
        "in_quarantine": s.held,
        "reconciles": s.totals.reconciles(),
        "last_batch": last.batch_id if last else "",
        "last_status": last.status if last else "",
        "last_at": _local(last.started_at) if last else "",
        "newest_record": s.newest_record.isoformat(timespec="seconds") if s.newest_record else "",
        "freshness": _age(s.freshness_seconds),
        "freshness_seconds": None if s.freshness_seconds is None else round(s.freshness_seconds, 3),
        "last_kind": last.kind if last else "",
        "last_finished_at": _local(last.finished_at) if last and last.finished_at else "",
        "last_error": (last.error or "") if last else "",
    }


def _source_glance(s: Any) -> dict[str, Any]:
    """What a person needs at a glance, in about 90 columns."""
    last = s.last_batch
    c = s.totals
    counts = " / ".join(_count(n) for n in (c.received, c.accepted, c.quarantined, c.duplicates))
    return {
        "source": s.source,
        "last batch": datetime.fromtimestamp(last.started_at).strftime("%Y-%m-%d %H:%M")
        if last
        else "",
        "in / ok / quar / dup": counts,
        "newest": _age(s.freshness_seconds),
        "state": _state(s),
    }


def _state(s: Any) -> str:
    last = s.last_batch
    if last is None:
        state = "no batch yet"
    else:
        state = {"committed": "ok", "pending": "running"}.get(last.status, last.status)
    return state if s.totals.reconciles() else f"{state}, unbalanced"


def _count(n: int) -> str:
    """A count in at most 6 characters: 999999, 1.2M, 34M."""
    if n < 1_000_000:
        return str(n)
    for unit, size in (("G", 10**9), ("M", 10**6)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n)


def _local(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().isoformat(timespec="seconds")


def _stream_row(s: Any) -> dict[str, Any]:
    return {
        "stream": s.stream,
        "source": s.source,
        "kind": s.kind,
        "events_per_s": round(s.events_per_second, 2),
        "backlog": s.backlog,
        "last_commit": _age(time.time() - s.last_commit_at) if s.last_commit_at else "",
        "running": "" if s.running is None else ("yes" if s.running else "no"),
        "errors": s.errors,
        "last_error": s.last_error or "",
        "failing_since": _age(time.time() - s.failing_since) if s.failing_since else "",
    }


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


@click.command()
@click.argument("table")
@format_option
@click.pass_obj
@guarded
def snapshots(obj: Context, table: str, fmt: OutputFormat) -> None:
    """List the snapshots of a lake TABLE (layer.name), oldest first, with their batch.

    \b
    Example:
      weir snapshots staging.pos
    """
    project = obj.open()
    rows = [
        {
            "snapshot": s.snapshot_id,
            "committed_at": s.committed_at.isoformat(timespec="seconds"),
            "operation": s.operation,
            "batch": s.batch_id or "",
            "added_records": s.summary.get("added-records", ""),
            "total_records": s.summary.get("total-records", ""),
        }
        for s in project.snapshots(table)
    ]
    emit(rows, fmt, title=table)


@click.group()
def quarantine() -> None:
    """Inspect and replay the records that broke their source's contract.

    \b
    Examples:
      weir quarantine list
      weir quarantine show pos --limit 5
      weir quarantine replay web_traffic
    """


@quarantine.command("list")
@format_option
@click.pass_obj
@guarded
def quarantine_list(obj: Context, fmt: OutputFormat) -> None:
    """How many records each source holds in quarantine, by reason.

    \b
    Example:
      weir quarantine list
    """
    emit(obj.open().sources.quarantine_summary(), fmt, title="Quarantine")


@quarantine.command("show")
@click.argument("source")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--reason", help="Only records with a reason containing this text.")
@format_option
@click.pass_obj
@guarded
def quarantine_show(
    obj: Context, source: str, limit: int, reason: str | None, fmt: OutputFormat
) -> None:
    """Show SOURCE's quarantined records with every rule each one broke.

    \b
    Examples:
      weir quarantine show pos
      weir quarantine show web_traffic --reason device_type --format json
    """
    emit(
        obj.open().sources.quarantine(source, limit=limit, reason=reason),
        fmt,
        title=f"quarantine.{source}",
    )


@quarantine.command("replay")
@click.argument("source")
@format_option
@click.pass_obj
@guarded
def quarantine_replay(obj: Context, source: str, fmt: OutputFormat) -> None:
    """Re-check SOURCE's quarantined records against its current contract.

    Records that pass now move to staging (or count as duplicates when staging
    already has their key); the rest stay. Nothing is counted twice.

    \b
    Example (after adding a value to an enum in sources/web_traffic.yml):
      weir quarantine replay web_traffic
    """
    result = obj.open().sources.replay(source)
    c = result.counts
    emit(
        [
            {
                "source": result.source,
                "replayed": c.received,
                "accepted": c.accepted,
                "duplicates": c.duplicates,
                "still_quarantined": c.quarantined,
                "batch": result.batch_id or "",
            }
        ],
        fmt,
        title="Replayed",
    )
