"""Where each stream into the lake stands: its rate, its backlog or lag, its last commit.

A stream is what a position in the ledger belongs to: a Kafka topic read by
one consumer group (``kafka:<group>:<topic>``, one position per partition), an
MQTT session's subscription (``mqtt:<client>:<topic>``), or the HTTP
collector's log of a source. Rates come from the ledger's recent stream
batches; lag and errors of a running consumer come from the state file it
keeps (``consumers.StreamState``), and the collector's failing flushes from
the one its flusher keeps (``health.FlushHealth``), so another process can
read them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from weir.ingest.database import POSITION_PREFIX as DATABASE_CURSOR
from weir.ingest.ledger import Ledger
from weir.project import ProjectFiles
from weir.project.consumers import consumer_stream
from weir.streams.consumers import read_stream_states
from weir.streams.lane import logged_events
from weir.streams.logs import instances, log_stream, wal_folder, wal_root

# events/s is measured over the stream batches of this last window
RATE_WINDOW_SECONDS = 300.0
# a state file not refreshed for this long belongs to a consumer that is gone
STALE_SECONDS = 60.0


@dataclass(frozen=True)
class StreamStatus:
    stream: str
    source: str
    kind: str  # collector, kafka, mqtt (the position's prefix)
    events_per_second: float  # of the source's stream batches over the last window
    backlog: int | None  # collector: events logged, not yet in the lake; kafka: lag; else unknown
    last_commit_at: float | None
    running: bool | None  # None: no consumer state known (e.g. the collector)
    errors: int = 0
    last_error: str | None = None
    failing_since: float | None = None  # the collector's flushes have failed since then


def stream_statuses(
    project: ProjectFiles,
    ledger: Ledger,
    backlog: Callable[[str], int] | None = None,
    now: float | None = None,
) -> list[StreamStatus]:
    """Every stream the ledger, a consumer state file or ``weir.yml`` knows, by source then name."""
    now = time.time() if now is None else now
    streams: dict[str, tuple[str, float | None]] = {}  # stream → (source, last commit)
    for key, source, committed_at in _positions(ledger):
        if key.startswith(DATABASE_CURSOR):
            continue  # a database source's cursor: a batch source, shown with the sources
        stream = _stream_of(key)
        _, last = streams.get(stream, (source, None))
        streams[stream] = (source, max(committed_at, last or 0.0))
    for config in project.config.consumers:
        streams.setdefault(consumer_stream(config), (config.source, None))
    for instance in instances(project.state_dir):  # each collector process's logs
        for folder in sorted(wal_root(project.state_dir, instance).glob("*")):
            if folder.is_dir() and folder.name in project.sources:  # logged, maybe not flushed
                streams.setdefault(log_stream(folder.name, instance), (folder.name, None))
    states = {str(s["stream"]): s for s in read_stream_states(project.state_dir)}
    for name, known in states.items():
        streams.setdefault(name, (str(known["source"]), None))

    rates = {source: _rate(ledger, source, now) for source, _ in streams.values()}
    out = []
    for stream, (source, last) in streams.items():
        kind = stream.split(":", 1)[0]
        state = states.get(stream)
        lag: int | None = None
        running: bool | None = None
        errors, last_error, failing_since = 0, None, None
        if state is not None and kind == "collector":
            errors = int(state.get("errors", 0))
            last_error = state.get("last_error")
            since = state.get("since")
            failing_since = None if since is None else float(since)
        elif state is not None:
            fresh = now - float(state.get("updated_at", 0.0)) < STALE_SECONDS
            running = bool(state.get("running")) and fresh
            errors = int(state.get("errors", 0))
            last_error = state.get("last_error")
            if kind == "kafka":
                lag = sum(int(v) for v in (state.get("lag") or {}).values())
        elif kind in ("kafka", "mqtt"):
            running = False
        if kind == "collector":
            instance = _instance_of(stream)
            lag = (
                backlog(source)
                if backlog is not None and instance == 0
                else logged_backlog(project, source, ledger, instance)
            )
        out.append(
            StreamStatus(
                stream=stream,
                source=source,
                kind=kind,
                events_per_second=rates.get(source, 0.0),
                backlog=lag,
                last_commit_at=last,
                running=running,
                errors=errors,
                last_error=last_error,
                failing_since=failing_since,
            )
        )
    return sorted(out, key=lambda s: (s.source, s.stream))


def logged_backlog(project: ProjectFiles, source: str, ledger: Ledger, instance: int = 0) -> int:
    """Events in a collector's log of ``source`` past the lake's position, read without opening it.

    Read-only, so ``weir status`` can ask while a server appends: a record being
    written (a torn tail) ends the count; batch cuts are markers, not events.
    ``instance``: the collector process whose log it is (0: ``weir serve``'s).
    """
    stream = log_stream(source, instance)
    committed = int(ledger.positions(stream).get(stream, "0"))
    return logged_events(wal_folder(project.state_dir, source, instance), committed)


def _instance_of(stream: str) -> int:
    """The collector process of a collector stream (``collector:SOURCE@N``; none: 0)."""
    _, _, number = stream.rpartition("@")
    return int(number) if "@" in stream and number.isdigit() else 0


def _stream_of(position_key: str) -> str:
    """A Kafka position is one partition of the stream: ``kafka:<group>:<topic>:<partition>``."""
    if position_key.startswith("kafka:") and position_key.count(":") >= 3:
        return position_key.rsplit(":", 1)[0]
    return position_key


def _positions(ledger: Ledger) -> list[tuple[str, str, float]]:
    with ledger.store.begin() as db:
        rows = db.execute(
            sa.text("SELECT stream, source, committed_at FROM weir_stream_positions")
        ).all()
    return [(str(stream), str(source), float(at or 0.0)) for stream, source, at in rows]


def _rate(ledger: Ledger, source: str, now: float) -> float:
    """Events received per second by the source's stream batches committed in the last window."""
    since = now - RATE_WINDOW_SECONDS
    with ledger.store.begin() as db:
        row = db.execute(
            sa.text(
                "SELECT coalesce(sum(received), 0), min(started_at) FROM weir_batches "
                "WHERE source = :s AND kind = 'stream' AND status = 'committed' AND finished_at >= :t"
            ),
            {"s": source, "t": since},
        ).one()
    received, first = int(row[0] or 0), row[1]
    if not received or first is None:
        return 0.0
    # a stream that started within the window is measured over the time it has been running
    span = max(1.0, now - max(float(first), since))
    return received / span
