"""The event collector's settings (``weir.yml`` ``collector:``)."""

from __future__ import annotations

from pydantic import Field

from weir.project.base import Name, Strict
from weir.project.durations import Duration, parse_duration
from weir.project.segment import SegmentMapping


class CollectorConfig(Strict):
    """How the collector stores and flushes what it receives."""

    sources: list[Name] | None = Field(
        default=None,
        description="sources that may be posted to; default: every source of kind events",
    )
    max_body_bytes: int = Field(
        default=1 << 20, ge=1024, description="largest request body accepted (413 above)"
    )
    max_events_per_request: int = Field(
        default=10_000, ge=1, description="most events one request may carry (413 above)"
    )
    flush_seconds: float = Field(
        default=5.0, gt=0, description="the log is flushed into the lake at least this often"
    )
    flush_events: int = Field(
        default=50_000, ge=1, description="a flush starts early once this many events wait"
    )
    segment_bytes: int = Field(
        default=64 << 20, ge=4096, description="size at which a log segment file is closed"
    )
    max_log_bytes: int = Field(
        default=1 << 30,
        ge=4096,
        description="backpressure: above this much un-flushed log, requests get 503 + Retry-After",
    )
    min_free_disk_bytes: int = Field(
        default=256 << 20,
        ge=0,
        description="backpressure: with less free disk than this, requests get 503 + Retry-After",
    )
    max_queued_events: int = Field(
        default=200_000,
        ge=1,
        description="backpressure: events waiting to be checked and logged, across requests",
    )
    dedupe_window: Duration = Field(
        default="7d",
        description="an event is a duplicate of one accepted with the same key and an event "
        "time within this window (days of staging scanned per flush), e.g. 7d, 36h, 2w",
    )
    compact_after_files: int = Field(
        default=32,
        ge=2,
        description="a lake partition with more small files than this is rewritten as one",
    )
    segment: SegmentMapping = Field(
        default_factory=SegmentMapping,
        description="Segment-compatible /v1/batch, /v1/track …: which source each message type goes to",
    )
    check_threads: int = Field(
        default=2,
        ge=1,
        le=16,
        description="requests checked against the contract at once, in groups (about one per core)",
    )
    flush_process: bool = Field(
        default=True,
        description="`weir serve` commits to the lake from a process of its own, so the "
        "commits do not hold the server's interpreter (false: from a thread of the server)",
    )
    fsync: bool = Field(
        default=True,
        description="answer only after the log is on disk (turn off only for throwaway tests)",
    )

    @property
    def dedupe_window_seconds(self) -> int:
        return int(parse_duration(self.dedupe_window).total_seconds())
