"""``weir demo``: the reference retailer (or the e-mail delivery company) end to end, then served."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from weir.cli.app import guarded, progress_display
from weir.cli.output import console, emit


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
