"""Commands over the data life cycle: retention's plan and run, and legal holds."""

from __future__ import annotations

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit


@click.group()
def lifecycle() -> None:
    """Retention: archive or destroy what `retention:` in weir.yml says is due; legal holds.

    \b
    Examples:
      weir lifecycle plan
      weir lifecycle run
      weir lifecycle hold add --source pos --reason "litigation 2026-114"
    """


@lifecycle.command("plan")
@format_option
@click.pass_obj
@guarded
def lifecycle_plan(obj: Context, fmt: OutputFormat) -> None:
    """What `weir lifecycle run` would archive, destroy or expire now, and why. Changes nothing.

    One line per table or log: the action, how many rows (snapshots, log
    segments), in how many files, their time range, the rule, and the legal
    hold that would stop it.

    \b
    Examples:
      weir lifecycle plan
      weir lifecycle plan --format json
    """
    project = obj.open()
    steps = project.lifecycle.plan()
    if fmt == "table" and not steps:
        configured = project.files.config.retention.configured
        console.print(
            "nothing is due: no row, snapshot or log segment is past its rule"
            if configured
            else "no retention rules: add retention: to weir.yml (see docs/lifecycle.md)"
        )
        return
    emit([s.glance() if fmt == "table" else s.as_row() for s in steps], fmt, title="retention plan")


@lifecycle.command("run")
@click.option("--source", "sources", multiple=True, help="Only this source's tables and log.")
@format_option
@click.pass_obj
@guarded
def lifecycle_run(obj: Context, sources: tuple[str, ...], fmt: OutputFormat) -> None:
    """Archive (written and verified first), destroy and expire what the rules say is due.

    Sources under a legal hold are skipped, with the hold named; asking for one
    with --source is an error. A run cut short is finished by the next one.
    Every destruction is on the audit log with its counts.

    \b
    Examples:
      weir lifecycle run
      weir lifecycle run --source web_traffic
    """
    steps = obj.open().lifecycle.run(list(sources) or None)
    if fmt == "table" and not steps:
        console.print("nothing was due")
        return
    emit([s.glance() if fmt == "table" else s.as_row() for s in steps], fmt, title="retention run")


@lifecycle.group("hold")
def hold() -> None:
    """Legal holds: a held source's data is never destroyed by retention until released.

    \b
    Examples:
      weir lifecycle hold add --source crm_interactions --reason "claim 2026-114"
      weir lifecycle hold list
      weir lifecycle hold release h-1a2b3c4d --reason "claim settled"
    """


@hold.command("add")
@click.option("--source", help="The source whose data is held.")
@click.option("--subject", "subject_id", metavar="ID", help="The person held (their id).")
@click.option("--kind", help="The kind of subject, when weir.yml declares several.")
@click.option("--reason", required=True, help="Why (a case number, a request).")
@format_option
@click.pass_obj
@guarded
def hold_add(
    obj: Context,
    source: str | None,
    subject_id: str | None,
    kind: str | None,
    reason: str,
    fmt: OutputFormat,
) -> None:
    """Place a legal hold on a source, or on one person (audited).

    A held source's data is not destroyed by retention; a held person may not
    be erased (`weir subject erase` refuses, changing nothing).

    \b
    Examples:
      weir lifecycle hold add --source crm_interactions --reason "claim 2026-114"
      weir lifecycle hold add --subject 42 --reason "claim 2026-114"
    """
    if (source is None) == (subject_id is None):
        raise click.UsageError("hold either --source NAME or --subject ID")
    project = obj.open()
    holds = project.lifecycle.holds
    if subject_id is not None:
        placed = holds.add_subject(project.subjects.resolve(subject_id, kind=kind), reason)
    else:
        assert source is not None
        placed = holds.add(source, reason)
    emit([placed.as_row()], fmt, title="hold placed")


@hold.command("list")
@click.option("--all", "include_released", is_flag=True, help="Released holds too.")
@format_option
@click.pass_obj
@guarded
def hold_list(obj: Context, include_released: bool, fmt: OutputFormat) -> None:
    """The active legal holds (with --all, released ones too).

    \b
    Examples:
      weir lifecycle hold list
      weir lifecycle hold list --all --format json
    """
    found = obj.open().lifecycle.holds.list(include_released)
    if fmt == "table" and not found:
        console.print("no legal hold")
        return
    emit([h.as_row() for h in found], fmt, title="legal holds")


@hold.command("release")
@click.argument("hold_id")
@click.option("--reason", default="", help="Why the hold ends.")
@format_option
@click.pass_obj
@guarded
def hold_release(obj: Context, hold_id: str, reason: str, fmt: OutputFormat) -> None:
    """Release a legal hold (audited); its record stays.

    \b
    Examples:
      weir lifecycle hold release h-1a2b3c4d --reason "claim settled"
    """
    released = obj.open().lifecycle.holds.release(hold_id, reason)
    emit([released.as_row()], fmt, title="hold released")
