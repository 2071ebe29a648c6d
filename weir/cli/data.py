"""Commands over the lake: project set-up, sample data, ingestion, SQL, status, quarantine, the demo."""

from __future__ import annotations

import os
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


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-project"),
    show_default=True,
    help="Where to build the demo project (replaced when it exists).",
)
@click.option("--days", type=click.IntRange(1, 3660), default=56, show_default=True)
@click.option("--scale", type=click.FloatRange(0.001, 100), default=1.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--serve",
    "then_serve",
    is_flag=True,
    help="Then serve the project, with live web and CRM traffic posted to its collector.",
)
@click.option("--port", type=int, default=8080, show_default=True, help="The port for --serve.")
@click.option(
    "--speed",
    type=click.FloatRange(1, 86_400),
    default=60.0,
    show_default=True,
    help="Live traffic at this many times real time (60: an hour a minute).",
)
@click.option(
    "--example",
    type=click.Choice(["retail", "deliverability"]),
    default="retail",
    show_default=True,
    help="Which business: the reference retailer, or the e-mail delivery company "
    "(its database: $DELIVERABILITY_DATABASE_URL, else a SQLite file).",
)
@guarded
def demo(
    directory: Path,
    days: int,
    scale: float,
    seed: int,
    then_serve: bool,
    port: int,
    speed: float,
    example: str,
) -> None:
    """Build the reference retailer end to end: project, sample data, ingestion, models, checks.

    \b
    Examples:
      weir demo --days 90
      weir demo --serve                # then serve it, with live traffic arriving
      weir demo --example deliverability --days 14
    """
    if example == "deliverability":
        _deliverability_demo(directory, days, scale, seed, then_serve, port)
        return
    from weir.demo.tour import run_demo

    with progress_display() as report:
        tour = run_demo(directory, days=days, scale=scale, seed=seed, progress=report)
    console.print(
        f"Generated {days} days of the reference retailer in {tour.generate_seconds:.1f} s → {tour.project}/landing"
    )
    emit(tour.summary_rows(), "table", title="Ingested (expected = the generator's manifest)")
    verdict = (
        "[green]every count matches the manifest[/]"
        if tour.reconciled
        else "[red]counts differ from the manifest[/]"
    )
    console.print(
        f"Total: {tour.total_received:,} records received in {tour.ingest_seconds:.1f} s — {verdict}"
    )
    if tour.run is not None:
        builds = [
            {
                "model": b.model,
                "kind": b.kind,
                "status": b.status,
                "rows": b.rows,
                "seconds": round(b.seconds, 2),
                "error": b.error or "",
            }
            for b in tour.run.builds
        ]
        emit(builds, "table", title=f"Warehouse and marts built in {tour.run_seconds:.1f} s")
        for title, table in tour.headlines:
            emit(table, "table", title=title)
        found = sum(1 for w in tour.watched if w["found"] == "✓")
        emit(
            list(tour.watched),
            "table",
            title=f"Planted incidents and what weir made of them ({found} of "
            f"{len(tour.watched)} found; quality checks and alerts in {tour.watch_seconds:.1f} s)",
        )
        firing: dict[str, list[str]] = {}
        for incident in tour.alerts:
            if incident.state == "firing":
                firing.setdefault(incident.rule, []).append(incident.message)
        rows = [
            {"rule": rule, "firing": len(found), "for example": found[0]}
            for rule, found in sorted(firing.items())
        ]
        emit(rows, "table", title=f"Alerts firing (each in {directory}/.weir/alerts.log)")
    if tour.erasure is not None:
        console.print(
            f"Erased customer {tour.erased} ({tour.erasure.body['reason']}) in "
            f"{tour.erase_seconds:.1f} s: {tour.erasure.summary()}",
            highlight=False,
        )
    console.print(
        "\n[bold]Try next[/]\n"
        f"  .venv/bin/weir -p {directory} health\n"
        f"  .venv/bin/weir -p {directory} flags list\n"
        f"  .venv/bin/weir -p {directory} alerts list\n"
        f"  .venv/bin/weir -p {directory} status\n"
        f"  .venv/bin/weir -p {directory} quarantine list\n"
        f"  .venv/bin/weir -p {directory} quarantine show pos --limit 5\n"
        f'  .venv/bin/weir -p {directory} sql "SELECT store_id, round(sum(revenue - coalesce(discount_applied, 0)), 2) AS net_sales FROM staging.pos GROUP BY 1 ORDER BY 2 DESC LIMIT 5"\n'
        f"  .venv/bin/weir -p {directory} snapshots staging.pos\n"
        f"  .venv/bin/weir -p {directory} kpi --list\n"
        f"  .venv/bin/weir -p {directory} kpi net_sales --grain week --by region\n"
        f"  .venv/bin/weir -p {directory} lineage marts.sales_daily.net_sales\n"
        f"  .venv/bin/weir -p {directory} plan\n"
        f"  .venv/bin/weir -p {directory} catalog scan\n"
        f"  .venv/bin/weir -p {directory} lifecycle plan\n"
        + (
            f"  .venv/bin/weir -p {directory} subject find {tour.erased}"
            if tour.erased is not None
            else f"  .venv/bin/weir -p {directory} subject find 1"
        )
    )
    if not tour.reconciled or (tour.run is not None and not tour.run.ok):
        sys.exit(1)
    if then_serve:
        _serve_demo(tour.project, directory, port, speed)


def _deliverability_demo(
    directory: Path, days: int, scale: float, seed: int, then_serve: bool, port: int
) -> None:
    """The e-mail delivery company end to end; its CRM API runs while the project is served."""
    from weir.demo.deliverability.tour import deliverability_demo

    with (
        progress_display() as report,
        deliverability_demo(directory, days=days, scale=scale, seed=seed, progress=report) as tour,
    ):
        console.print(
            f"Generated {days} days of the e-mail delivery company in "
            f"{tour.generate_seconds:.1f} s → {tour.project}/landing"
        )
        emit(tour.summary_rows(), "table", title="Ingested (expected = the generator's manifest)")
        verdict = "every count matches the manifest" if tour.reconciled else "counts differ"
        console.print(f"Total: {tour.total_received:,} records received — {verdict}")
        for title, table in tour.headlines:
            emit(table, "table", title=title)
        if not tour.reconciled or (tour.run is not None and not tour.run.ok):
            sys.exit(1)
        if then_serve:
            from weir.demo.tour import set_demo_passwords
            from weir.serve.server import serve as run_server
            from weir.workspace import Project

            project = Project(tour.project)
            people = set_demo_passwords(project, list(project.files.config.users))
            url = f"http://127.0.0.1:{port}"
            emit(people, "table", title=f"Sign in at {url}/ as one of (passwords shown only now)")
            console.print(
                f"\n[bold]Serving {directory}[/] at {url} (Ctrl-C stops)\n"
                f"  Web app:  {url}/  (the Deliverability dashboard)\n"
                f"  API docs: {url}/api/v1/docs\n"
                f"  The CRM API runs at {os.environ.get('DELIVERABILITY_CRM_URL')} meanwhile; "
                "the sources' variables are set in this process only"
            )
            run_server(project, port=port)


def _serve_demo(root: Path, directory: Path, port: int, speed: float) -> None:
    from weir.demo.live import LIVE_SOURCES, LiveReplay
    from weir.demo.tour import set_demo_passwords
    from weir.serve.server import serve as run_server
    from weir.workspace import Project

    project = Project(root)
    key = project.access.write_keys().create(list(LIVE_SOURCES), note="the demo's live traffic")
    _, token = project.access.tokens().create("ada", "admin", expires="7d", note="the demo")
    url = f"http://127.0.0.1:{port}"
    people = set_demo_passwords(project)
    emit(people, "table", title=f"Sign in at {url}/ as one of (passwords shown only now)")
    console.print(
        f"\n[bold]Serving {directory}[/] at {url} — live web and CRM events arrive at "
        f"{speed:g}x real time (Ctrl-C stops)\n"
        f"  Web app:    {url}/  (sign in with a user and password above)\n"
        f"  API docs:   {url}/api/v1/docs\n"
        f"  admin token (ada): {token}\n"
        f"  write key:  {key.key}\n"
        f'  curl -s -H "Authorization: Bearer {token}" {url}/api/v1/kpis\n'
        f"  .venv/bin/weir -p {directory} status    # the streams table: events/s, backlog, last commit"
    )
    live = LiveReplay(root / "landing", url, key.key, speed)
    run_server(project, port=port, extra=[live])
