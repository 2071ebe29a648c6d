"""Freshness: is a source's newest data recent enough for its contract?

Two ages are judged against ``freshness: {warn_after, error_after}``: the
newest **event** (the largest ``time_column`` value in ``staging.<source>``)
and the newest **arrival** (when the source's last committed batch finished,
from the batch ledger). A source whose events stopped but whose batches
still arrive (an exporter sending empty files) fails on the first; one whose
feed stopped altogether fails on both. The worse of the two is the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from weir.ingest.ledger import BatchRecord
from weir.ingest.status import SourceStatus
from weir.project.config import SourceConfig
from weir.project.quality import FreshnessConfig
from weir.quality.checks import Check, CheckState, worst


@dataclass(frozen=True)
class Ages:
    """How old a source's newest event and newest batch are, in seconds (None: none yet)."""

    event: float | None
    arrival: float | None


def ages(status: SourceStatus, batches: Sequence[BatchRecord], now: float) -> Ages:
    """The ages of a source's newest event (``status``) and newest committed batch."""
    event = None
    if status.newest_record is not None:
        event = now - status.newest_record.timestamp()
    finished = [b.finished_at for b in batches if b.status == "committed" and b.finished_at]
    return Ages(event, now - max(finished) if finished else None)


def judge_age(age: float | None, contract: FreshnessConfig) -> CheckState:
    if age is None or age > contract.error_seconds:
        return "error"
    if age > contract.warn_seconds:
        return "warn"
    return "ok"


def freshness_check(
    source: SourceConfig, contract: FreshnessConfig, found: Ages, now: float
) -> Check:
    """One source's freshness, judged on its newest event and its newest batch."""
    states: list[CheckState] = [judge_age(found.arrival, contract)]
    parts = [f"last batch {_ago(found.arrival)}"]
    if source.time_column is not None:
        states.insert(0, judge_age(found.event, contract))
        parts.insert(0, f"newest event {_ago(found.event)}")
    state = worst(states)
    known = [a for a in (found.event, found.arrival) if a is not None]
    limits = f"warn after {contract.warn_after}, error after {contract.error_after}"
    return Check(
        kind="freshness",
        subject=source.name,
        state=state,
        message=f"source {source.name}: {', '.join(parts)} ({limits})",
        checked_at=now,
        observed=max(known) if len(known) == len(states) else None,
        expected_low=None,
        expected_high=contract.warn_seconds,
    )


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return f"{human_age(seconds)} ago"


def human_age(seconds: float) -> str:
    """``95`` → ``1m 35s``; ``30000`` → ``8h 20m``; ``200000`` → ``2d 7h``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"
