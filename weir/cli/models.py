"""Commands over the models and KPIs: run, plan, lineage, kpi."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from weir.cli.app import Context, F, format_option, guarded, progress_display
from weir.cli.data import batch_row, say_not_connected
from weir.cli.output import OutputFormat, emit, errors

selection_options = [
    click.option(
        "--select",
        "-s",
        "select",
        multiple=True,
        help="MODEL, MODEL+ (with what reads it) or +MODEL (with what it reads); repeatable.",
    ),
    click.option("--full-refresh", is_flag=True, help="Rebuild the selected models from scratch."),
    click.option(
        "--start",
        type=click.DateTime(["%Y-%m-%d"]),
        help="Backfill from this day (incremental models).",
    ),
    click.option(
        "--end", type=click.DateTime(["%Y-%m-%d"]), help="Backfill up to this day, exclusive."
    ),
]


def with_selection(command: F) -> F:
    for option in reversed(selection_options):
        command = option(command)
    return command


@click.command()
@with_selection
@click.option(
    "--no-ingest",
    is_flag=True,
    help="Build from what the lake holds; do not ingest new files first.",
)
@format_option
@click.pass_obj
@guarded
def run(
    obj: Context,
    select: tuple[str, ...],
    full_refresh: bool,
    start: datetime | None,
    end: datetime | None,
    no_ingest: bool,
    fmt: OutputFormat,
) -> None:
    """Ingest new files, then build the models that changed or are due.

    Each model is built, audited, and only then published; a failing audit
    keeps the last good version and skips the models that read it.

    \b
    Examples:
      weir run
      weir run --select warehouse.fact_sales_lines+
      weir run --select marts.sales_daily --full-refresh
      weir run --select warehouse.fact_sales_lines --start 2025-01-10 --end 2025-01-12
    """
    with progress_display(fmt == "table") as report:
        project = obj.open(report)
        batches, result = project.run(
            list(select) or None,
            ingest=not no_ingest,
            full_refresh=full_refresh,
            start=start.date() if start else None,
            end=end.date() if end else None,
        )
    if batches and fmt == "table":
        emit([batch_row(r) for r in batches], fmt, title="Ingested")
    if not no_ingest:
        say_not_connected(project)
    rows = [
        {
            "model": b.model,
            "kind": b.kind,
            "status": b.status,
            "rows": b.rows,
            "seconds": round(b.seconds, 2),
            "interval": " … ".join(b.interval) if b.interval else "",
            "why": b.reason,
            "error": b.error or "",
        }
        for b in result.builds
    ]
    emit(rows, fmt, title=f"Run {result.run_id}")
    for build in result.builds:
        if build.failing_sample and fmt == "table":
            errors.print(f"[red]{build.model}[/]: {build.error}")
            emit(build.failing_sample, "table", title="failing rows (sample)")
    if not result.ok:
        sys.exit(1)


@click.command()
@with_selection
@format_option
@click.pass_obj
@guarded
def plan(
    obj: Context,
    select: tuple[str, ...],
    full_refresh: bool,
    start: datetime | None,
    end: datetime | None,
    fmt: OutputFormat,
) -> None:
    """Show what `weir run` would build and why, without building.

    \b
    Examples:
      weir plan
      weir plan --select +marts.sales_daily
    """
    planned = obj.open().models.plan(
        list(select) or None,
        full_refresh=full_refresh,
        start=start.date() if start else None,
        end=end.date() if end else None,
    )
    emit(
        [
            {
                "model": p.model,
                "kind": p.kind,
                "build": p.build,
                "why": p.reason,
                "interval": " … ".join(p.interval) if p.interval else "",
            }
            for p in planned
        ],
        fmt,
        title="Plan",
    )


@click.command()
@click.argument("dataset")
@format_option
@click.pass_obj
@guarded
def lineage(obj: Context, dataset: str, fmt: OutputFormat) -> None:
    """Upstream and downstream of DATASET (namespace.table) or of one column (namespace.table.column).

    \b
    Examples:
      weir lineage warehouse.fact_sales_lines
      weir lineage marts.sales_daily.net_sales
    """
    found = obj.open().models.lineage(dataset)
    rows = [{"direction": "upstream", "dataset": d} for d in found["upstream"]]  # type: ignore[union-attr]
    rows += [{"direction": "downstream", "dataset": d} for d in found["downstream"]]  # type: ignore[union-attr]
    emit(
        rows or [{"direction": "", "dataset": "(no lineage recorded: run the models first)"}],
        fmt,
        title=dataset,
    )


@click.command()
@click.argument("name", required=False)
@click.argument("experiment", required=False)
@click.option(
    "--list", "listing", is_flag=True, help="List every KPI with its team, mart and dimensions."
)
@click.option(
    "--grain", type=click.Choice(["day", "week", "month"]), default="day", show_default=True
)
@click.option("--by", multiple=True, help="A dimension to break the KPI down by; repeatable.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (inclusive).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day (inclusive).")
@click.option(
    "--compare",
    type=click.Choice(["previous_period"]),
    help="Add the previous period's value and the change.",
)
@click.option("--exclude-flagged", is_flag=True, help="Leave out days flagged by quality checks.")
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    help="Answer from the marts as they were then.",
)
@format_option
@click.pass_obj
@guarded
def kpi(
    obj: Context,
    name: str | None,
    experiment: str | None,
    listing: bool,
    grain: str,
    by: tuple[str, ...],
    start: datetime | None,
    end: datetime | None,
    compare: str | None,
    exclude_flagged: bool,
    as_of: datetime | None,
    fmt: OutputFormat,
) -> None:
    """Answer the KPI NAME (see docs/kpis.md) by period and dimensions.

    \b
    Examples:
      weir kpi --list
      weir kpi net_sales --grain week --by region
      weir kpi bounce_rate --grain month --by device_type --from 2025-01-01 --to 2025-03-31
      weir kpi revenue --by channel --compare previous_period --format json

    `weir kpi experiment NAME` answers the A/B test NAME (experiments/NAME.yml)
    over its run: per variant, sessions, conversions, the lift over control, the
    95 % interval of the difference, the p-value and the sessions needed
    (`weir kpi experiment` lists the experiments).

    \b
      weir kpi experiment one_page_checkout
      weir kpi experiment one_page_checkout --by device_type --from 2025-03-01
    """
    project = obj.open()
    if name == "experiment":
        if compare or exclude_flagged:
            raise click.UsageError(
                "an experiment is answered over its run: no --compare or --exclude-flagged"
            )
        _experiment(project, experiment, by, start, end, as_of, fmt)
        return
    if experiment is not None:
        raise click.UsageError(f"unexpected argument {experiment!r}: a KPI takes one NAME")
    if listing or name is None:
        emit(
            [
                {
                    "kpi": k.name,
                    "team": k.team,
                    "mart": k.mart,
                    "dimensions": ", ".join(k.dimensions),
                    "description": k.description,
                }
                for k in project.kpis.definitions()
            ],
            fmt,
            title="KPIs",
        )
        return
    table = project.kpis.answer(
        name,
        grain,
        by,
        start=start.date() if start else None,
        end=end.date() if end else None,
        compare=compare,
        exclude_flagged=exclude_flagged,
        as_of=as_of,
    )
    emit(table, fmt, title=f"{name} by {grain}")


def _experiment(
    project: Any,
    name: str | None,
    by: tuple[str, ...],
    start: datetime | None,
    end: datetime | None,
    as_of: datetime | None,
    fmt: OutputFormat,
) -> None:
    """``weir kpi experiment [NAME]``: the experiments, or one of them against control."""
    if name is None:
        emit(
            [
                {
                    "experiment": e.name,
                    "variants": ", ".join(e.variants),
                    "minimum_detectable_effect": e.minimum_detectable_effect,
                    "effect": e.effect,
                    "from": e.start.isoformat() if e.start else "",
                    "to": e.end.isoformat() if e.end else "",
                    "description": e.description,
                }
                for e in project.kpis.experiments().values()
            ],
            fmt,
            title="Experiments",
        )
        return
    table = project.kpis.experiment(
        name,
        by,
        start=start.date() if start else None,
        end=end.date() if end else None,
        as_of=as_of,
    )
    emit(table, fmt, title=f"experiment {name}")
