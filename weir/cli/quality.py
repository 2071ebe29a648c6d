"""Commands over data quality: run the checks, the project's health, flagged days."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit

_DAY = click.DateTime(["%Y-%m-%d"])


@click.group()
def quality() -> None:
    """Check freshness, volume, schema drift and KPI anomalies (see docs/quality.md).

    \b
    Examples:
      weir quality run
      weir quality run --source pos --kpi net_sales
    """


@quality.command("run")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--kpi", "kpis", multiple=True, help="Only this KPI (repeatable).")
@click.option("--since", type=_DAY, help="Judge every day from this one (default: the last weeks).")
@click.option("--all", "show_all", is_flag=True, help="Show the checks that are ok too.")
@click.option(
    "--check", is_flag=True, help="Exit 1 when anything is in error (for a script or a monitor)."
)
@format_option
@click.pass_obj
@guarded
def quality_run(
    obj: Context,
    sources: tuple[str, ...],
    kpis: tuple[str, ...],
    since: datetime | None,
    show_all: bool,
    check: bool,
    fmt: OutputFormat,
) -> None:
    """Evaluate the checks now, record their results and flag anomalous days.

    Without --source and --kpi every source and every KPI is checked. With
    --check it exits 1 when a check is in error, so a script sees it.

    \b
    Examples:
      weir quality run
      weir quality run --source pos --source web_traffic
      weir quality run --kpi conversion_rate --since 2025-01-01 --format json
      weir quality run --check || notify-the-team
    """
    checks = obj.open().quality.run(
        list(sources) or None, list(kpis) or None, since=since.date() if since else None
    )
    shown = [c for c in checks if show_all or c.state != "ok"]
    rows = [
        {
            "kind": c.kind,
            "subject": c.subject,
            "state": c.state,
            "day": c.day,
            "message": c.message,
            "observed": c.observed,
            "expected_low": c.expected_low,
            "expected_high": c.expected_high,
        }
        for c in shown
    ]
    failing = sum(1 for c in checks if c.state != "ok")
    if fmt == "table" and not rows:
        console.print(f"{len(checks)} checks, all ok")
    else:
        emit(rows, fmt, title=f"{len(checks)} checks, {failing} not ok")
    if check and any(c.state == "error" for c in checks):
        sys.exit(1)


@click.command()
@click.option(
    "--check", is_flag=True, help="Exit 1 when anything is in error (for a script or a monitor)."
)
@format_option
@click.pass_obj
@guarded
def health(obj: Context, check: bool, fmt: OutputFormat) -> None:
    """The state of every source (freshness, volume, drift), stream, schedule and model.

    Freshness is judged now; volume and drift as the last `weir quality run`
    found them. With --check it exits 1 when anything is in error.

    \b
    Examples:
      weir health
      weir health --format json
      weir health --check
    """
    found = obj.open().quality.health()
    if fmt == "json":
        sys.stdout.write(json.dumps(found.as_dict(), indent=2, default=str) + "\n")
    else:
        at = datetime.fromtimestamp(found.checked_at, UTC).isoformat(timespec="seconds")
        emit(found.rows(), fmt, title=f"health at {at}: {found.state}")
    if check and found.state == "error":
        sys.exit(1)


@click.group()
def flags() -> None:
    """List, add and remove flagged days (left out by `weir kpi --exclude-flagged`).

    \b
    Examples:
      weir flags list
      weir flags add 2025-03-14 --reason "tills double-counted" --kpi net_sales
      weir flags remove 2025-03-14
    """


@flags.command("list")
@format_option
@click.pass_obj
@guarded
def flags_list(obj: Context, fmt: OutputFormat) -> None:
    """Every flagged day: for which KPI, why, and who flagged it (a check or a person).

    \b
    Example:
      weir flags list --format csv
    """
    rows = [
        {
            "day": f.day,
            "kpi": f.kpi or "(all)",
            "dataset": f.dataset,
            "flagged_by": f.flagged_by,
            "by": f.by_name,
            "reason": f.reason,
            "flagged_at": datetime.fromtimestamp(f.flagged_at, UTC),
        }
        for f in obj.open().quality.flags()
    ]
    if fmt == "table" and not rows:
        console.print("no day is flagged")
        return
    emit(rows, fmt, title="Flagged days")


@flags.command("add")
@click.argument("day", type=_DAY)
@click.option("--reason", required=True, help="Why the day's numbers are wrong.")
@click.option("--kpi", help="Only this KPI leaves the day out (default: every KPI).")
@click.pass_obj
@guarded
def flags_add(obj: Context, day: datetime, reason: str, kpi: str | None) -> None:
    """Flag DAY: KPI answers with --exclude-flagged leave it out.

    \b
    Examples:
      weir flags add 2025-03-14 --reason "store 12's file was sent twice"
      weir flags add 2025-03-14 --reason "tracker outage" --kpi conversion_rate
    """
    flag = obj.open().quality.flag(day.date(), reason, kpi)
    console.print(f"{flag.day.isoformat()} is flagged for {flag.kpi or 'every KPI'}: {reason}")


@flags.command("remove")
@click.argument("day", type=_DAY)
@click.option("--kpi", help="Only the flag for this KPI (default: every flag of the day).")
@click.pass_obj
@guarded
def flags_remove(obj: Context, day: datetime, kpi: str | None) -> None:
    """Remove the flags of DAY: KPI answers count it again.

    \b
    Examples:
      weir flags remove 2025-03-14
      weir flags remove 2025-03-14 --kpi conversion_rate
    """
    gone = obj.open().quality.unflag(day.date(), kpi)
    console.print(f"removed {len(gone)} flag{'s' if len(gone) != 1 else ''} of {day.date()}")
