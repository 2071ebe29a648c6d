"""Commands over alerts: the rules and their incidents, the delivery history, silences, tests."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit, errors


@click.group()
def alerts() -> None:
    """Alert rules, their incidents and the notices sent for them.

    \b
    Examples:
      weir alerts list
      weir alerts evaluate
      weir alerts history --rule stockouts
      weir alerts silence stockouts --until 2026-12-24T00:00
      weir alerts test feedback_score_low
    """


@alerts.command("list")
@format_option
@click.pass_obj
@guarded
def alerts_list(obj: Context, fmt: OutputFormat) -> None:
    """Each rule: its kind, channels, whether it is firing and for what, and its silences.

    \b
    Example:
      weir alerts list --format json
    """
    rows = obj.open().alerts.status()
    if fmt != "json":
        for row in rows:
            row["subjects"] = "; ".join(row["subjects"])
            row["silenced_subjects"] = "; ".join(
                f"{s} until {u}" for s, u in row["silenced_subjects"].items()
            )
    emit(rows, fmt, title="Alert rules")


@alerts.command("history")
@click.option("--rule", help="Only this rule's notices.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@format_option
@click.pass_obj
@guarded
def alerts_history(obj: Context, rule: str | None, limit: int, fmt: OutputFormat) -> None:
    """The notices sent or waiting, newest first: channel, status, attempts, last error, next try.

    \b
    Examples:
      weir alerts history
      weir alerts history --rule stockouts --format json
    """
    deliveries = obj.open().alerts.history(rule, limit)
    rows = []
    for delivery in deliveries:
        row = delivery.as_row()
        if fmt == "json":
            row["attempts_made"] = [a.as_row() for a in delivery.tries]
        rows.append(row)
    emit(rows, fmt, title="Alert notices (newest first)")


@alerts.command("silence")
@click.argument("rule")
@click.option(
    "--until",
    required=True,
    type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Until when (UTC), e.g. 2026-12-24T00:00.",
)
@click.option("--subject", help="Only this subject (e.g. 'warehouse 3 / product 17').")
@click.pass_obj
@guarded
def alerts_silence(obj: Context, rule: str, until: datetime, subject: str | None) -> None:
    """Send nothing for RULE (or one of its subjects) until a time; incidents still open and close.

    \b
    Examples:
      weir alerts silence stockouts --until 2026-12-24T00:00
      weir alerts silence stockouts --until 2026-12-24 --subject "warehouse 3 / product 17"
    """
    ends = obj.open().alerts.silence(rule, until, subject)
    what = f"{rule} ({subject})" if subject else rule
    console.print(f"{what} is silenced until {ends.isoformat(timespec='minutes')}", highlight=False)


@alerts.command("test")
@click.argument("rule")
@format_option
@click.pass_obj
@guarded
def alerts_test(obj: Context, rule: str, fmt: OutputFormat) -> None:
    """Send a test notice through each of RULE's channels now and show each outcome.

    Exits 1 when a channel did not take it.

    \b
    Example:
      weir alerts test feedback_score_low
    """
    outcomes = obj.open().alerts.test(rule)
    emit([o.as_row() for o in outcomes], fmt, title=f"Test of {rule}")
    if not all(o.ok for o in outcomes):
        errors.print("[bold red]error:[/] a channel did not take the test notice", highlight=False)
        sys.exit(1)


@alerts.command("evaluate")
@format_option
@click.pass_obj
@guarded
def alerts_evaluate(obj: Context, fmt: OutputFormat) -> None:
    """Evaluate every rule now, then deliver what is due (what `weir serve` does every minute).

    \b
    Example:
      weir alerts evaluate
    """
    evaluation, outcomes = obj.open().alerts.run_once()
    row = evaluation.as_row()
    row["sent"] = sum(1 for o in outcomes if o.ok)
    row["failed"] = sum(1 for o in outcomes if not o.ok)
    emit([row], fmt, title="Alert evaluation")
    for outcome in outcomes:
        if not outcome.ok:
            errors.print(
                f"[yellow]not delivered:[/] {outcome.rule} → {outcome.channel}: {outcome.error} "
                f"(next try {outcome.next_attempt_at})",
                highlight=False,
                soft_wrap=True,
            )
