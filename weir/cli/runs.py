"""Commands over orchestration: runs, backfills, schedules, and the worker."""

from __future__ import annotations

import signal
import sys
from datetime import datetime
from typing import Any

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit
from weir.orchestrate.records import LEASE_SECONDS, RUN_STATUSES, Run, ScheduleState


def _run_rows(runs: list[Run]) -> list[dict[str, Any]]:
    return [
        {
            "run": r.run_id,
            "schedule": r.schedule or "",
            "trigger": r.trigger,
            "by": r.triggered_by or "",
            "of": r.parent_run or "",
            "attempt": f"{r.attempt}/{r.max_attempts}",
            "status": r.status,
            "queued": r.queued_at.isoformat(sep=" ", timespec="seconds"),
            "seconds": "" if r.seconds is None else round(r.seconds, 1),
            "error": r.error or "",
        }
        for r in runs
    ]


def _show(run: Run, fmt: OutputFormat) -> None:
    if fmt == "json":
        emit([{**run.as_row(), "steps": [vars(s) for s in run.steps]}], fmt)
        return
    emit(_run_rows([run]), fmt, title=f"Run {run.run_id}")
    steps = [
        {
            "step": s.position + 1,
            "kind": s.kind,
            "target": s.target,
            "status": s.status,
            "rows": s.rows,
            "seconds": s.seconds,
            "error": s.error or "",
        }
        for s in run.steps
    ]
    emit(steps, fmt, title="Steps")


def _schedule_rows(states: list[ScheduleState]) -> list[dict[str, Any]]:
    return [
        {
            "schedule": s.name,
            "cron (weir.yml)": s.file_cron or "",
            "override": s.override_cron or "",
            "after": ", ".join(s.after),
            "paused": "yes" if s.paused else "",
            "next fire": s.next_fire.isoformat(sep=" ", timespec="minutes") if s.next_fire else "",
        }
        for s in states
    ]


@click.group()
def runs() -> None:
    """List, inspect, trigger, re-run and cancel orchestrated runs.

    \b
    Examples:
      weir runs list --status failed --since 24h
      weir runs show 42
      weir runs trigger pos_daily
      weir runs rerun 42 --failed-only
    """


@runs.command("list")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs in this status.")
@click.option("--since", help="Only runs queued since a day (2026-01-01) or a duration ago (24h).")
@click.option("--schedule", help="Only runs of this schedule.")
@click.option("--limit", default=50, show_default=True, type=int, help="Runs to show at most.")
@format_option
@click.pass_obj
@guarded
def runs_list(
    obj: Context,
    status: str | None,
    since: str | None,
    schedule: str | None,
    limit: int,
    fmt: OutputFormat,
) -> None:
    """List runs, newest first.

    \b
    Example:
      weir runs list --status failed --since 2026-01-01
    """
    emit(_run_rows(obj.open().runs.list(status, since, schedule, limit)), fmt, title="Runs")


@runs.command("show")
@click.argument("run_id", metavar="RUN", type=int)
@format_option
@click.pass_obj
@guarded
def runs_show(obj: Context, run_id: int, fmt: OutputFormat) -> None:
    """Show one run: what started it, its attempt, and each step.

    \b
    Example:
      weir runs show 42
    """
    _show(obj.open().runs.get(run_id), fmt)


@runs.command("logs")
@click.argument("run_id", metavar="RUN", type=int)
@format_option
@click.pass_obj
@guarded
def runs_logs(obj: Context, run_id: int, fmt: OutputFormat) -> None:
    """Print a run's log lines.

    \b
    Example:
      weir runs logs 42
    """
    lines = obj.open().runs.logs(run_id)
    if fmt == "table":
        for line in lines:
            console.print(
                f"{line.at.isoformat(sep=' ', timespec='seconds')} {line.level:<5} {line.message}",
                highlight=False,
                soft_wrap=True,
            )
        return
    emit([{"seq": x.seq, "at": x.at, "level": x.level, "message": x.message} for x in lines], fmt)


@runs.command("trigger")
@click.argument("schedule", required=False)
@click.option("--select", "-s", multiple=True, help="A model selection to build; repeatable.")
@click.option("--source", multiple=True, help="A source to ingest; repeatable.")
@format_option
@click.pass_obj
@guarded
def runs_trigger(
    obj: Context,
    schedule: str | None,
    select: tuple[str, ...],
    source: tuple[str, ...],
    fmt: OutputFormat,
) -> None:
    """Queue a run now: of SCHEDULE, or of the models and sources named.

    A worker (`weir worker` or `weir serve`) executes it.

    \b
    Examples:
      weir runs trigger nightly
      weir runs trigger --source pos --select warehouse.fact_sales_lines+
    """
    run = obj.open().runs.trigger(schedule, list(select) or None, list(source) or None)
    _show(run, fmt)


@runs.command("rerun")
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--failed-only", is_flag=True, help="Only the steps that did not succeed.")
@format_option
@click.pass_obj
@guarded
def runs_rerun(obj: Context, run_id: int, failed_only: bool, fmt: OutputFormat) -> None:
    """Queue a finished run again, whole or only its failed steps.

    \b
    Example:
      weir runs rerun 42 --failed-only
    """
    _show(obj.open().runs.rerun(run_id, failed_only), fmt)


@runs.command("cancel")
@click.argument("run_id", metavar="RUN", type=int)
@format_option
@click.pass_obj
@guarded
def runs_cancel(obj: Context, run_id: int, fmt: OutputFormat) -> None:
    """Cancel a run: a queued one at once, a running one before its next step.

    \b
    Example:
      weir runs cancel 42
    """
    _show(obj.open().runs.cancel(run_id), fmt)


@click.command()
@click.option("--select", "-s", multiple=True, required=True, help="Models to rebuild.")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day.")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Day after the last.")
@format_option
@click.pass_obj
@guarded
def backfill(
    obj: Context, select: tuple[str, ...], start: datetime, end: datetime, fmt: OutputFormat
) -> None:
    """Queue one run that rebuilds the selected models for the days START to END (exclusive).

    \b
    Example:
      weir backfill --select warehouse.fact_sales_lines+ --start 2026-01-01 --end 2026-02-01
    """
    _show(obj.open().runs.backfill(list(select), start.date(), end.date()), fmt)


@click.group()
def schedule() -> None:
    """List schedules; pause, resume or override one without editing weir.yml.

    \b
    Examples:
      weir schedule list
      weir schedule pause nightly
      weir schedule set nightly "0 3 * * *"
      weir schedule reset nightly
    """


@schedule.command("list")
@format_option
@click.pass_obj
@guarded
def schedule_list(obj: Context, fmt: OutputFormat) -> None:
    """Each schedule: weir.yml's cron beside its override, whether paused, its next fire.

    \b
    Example:
      weir schedule list --format json
    """
    states = obj.open().schedules.list()
    if fmt == "table":
        emit(_schedule_rows(states), fmt, title="Schedules")
    else:
        emit([s.as_row() for s in states], fmt)


def _changed(state: ScheduleState, fmt: OutputFormat) -> None:
    emit(_schedule_rows([state]) if fmt == "table" else [state.as_row()], fmt)


@schedule.command("pause")
@click.argument("name")
@format_option
@click.pass_obj
@guarded
def schedule_pause(obj: Context, name: str, fmt: OutputFormat) -> None:
    """Stop a schedule from firing until it is resumed (audited).

    \b
    Example:
      weir schedule pause nightly
    """
    _changed(obj.open().schedules.pause(name), fmt)


@schedule.command("resume")
@click.argument("name")
@format_option
@click.pass_obj
@guarded
def schedule_resume(obj: Context, name: str, fmt: OutputFormat) -> None:
    """Let a paused schedule fire again (audited).

    \b
    Example:
      weir schedule resume nightly
    """
    _changed(obj.open().schedules.resume(name), fmt)


@schedule.command("set")
@click.argument("name")
@click.argument("cron")
@format_option
@click.pass_obj
@guarded
def schedule_set(obj: Context, name: str, cron: str, fmt: OutputFormat) -> None:
    """Override a schedule's cron line, kept in the metadata database (audited).

    \b
    Example:
      weir schedule set nightly "0 3 * * *"
    """
    _changed(obj.open().schedules.set(name, cron), fmt)


@schedule.command("reset")
@click.argument("name")
@format_option
@click.pass_obj
@guarded
def schedule_reset(obj: Context, name: str, fmt: OutputFormat) -> None:
    """Drop a schedule's override: weir.yml's cron line is in force again (audited).

    \b
    Example:
      weir schedule reset nightly
    """
    _changed(obj.open().schedules.reset(name), fmt)


@click.command()
@click.option("--once", is_flag=True, help="Tick once, execute what is due, and exit.")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between ticks.")
@click.option(
    "--lease",
    default=LEASE_SECONDS,
    show_default=True,
    type=click.FloatRange(min=1.0),
    envvar="WEIR_LEASE_SECONDS",
    help="Seconds a run stays this worker's without a heartbeat; a killed worker's run is "
    "retried elsewhere that long after (env WEIR_LEASE_SECONDS).",
)
@click.pass_obj
@guarded
def worker(obj: Context, once: bool, poll: float, lease: float) -> None:
    """Run the scheduler and execute runs in the foreground, without serving HTTP.

    Any number of workers may run against one project, on one host or, with
    the catalog on PostgreSQL, on several: each fire is queued once, each run
    is executed by one of them, and a run whose worker died is retried by
    another once its lease lapses (see docs/workers.md).

    \b
    Examples:
      weir worker
      weir worker --once
      weir worker --poll 1 --lease 30
    """
    project = obj.open()
    loop = project.orchestrate.service(poll, lease)
    if once:
        done = loop.step()
        emit(_run_rows(done), "table", title="Runs executed")
        sys.exit(1 if any(r.status != "succeeded" for r in done) else 0)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    console.print(f"weir worker for {project.root}: ticking every {poll:g} s (Ctrl-C stops)")
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        loop.stop()
