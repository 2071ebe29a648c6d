"""The durable event collector: what arrives over HTTP is checked, logged, then flushed.

``Collector.submit(source, events)`` answers only after the events are in the
source's write-ahead log on disk (``.weir/wal/<source>/``), with a receipt
whose counts and reasons come from the batch path's own protection and
contract code (see ``lane``). ``flush`` moves the log into the lake
one batch at a time through ``Ingestor.ingest_events``, recording the log
position in the same metadata transaction as the batch, so a restart resumes
exactly after what the lake holds: nothing acknowledged is lost, nothing is
written twice. A ``Flusher`` (``flusher.py``) runs ``flush`` in the background.

Several collector processes may take events for one project (``weir collect
--processes N``): each is an ``instance`` with logs of its own (a log has one
writer), ``.weir/wal/`` for the first (``weir serve``'s) and ``.weir/wal-N/``
for instance N, and its own position in the ledger for each (``logs.log_stream``).
Each flushes its own logs; the lake's write lock puts their batches one after
another, and the batch contract's duplicate check against staging keeps an
event posted to two of them (a client retrying elsewhere) once in the lake.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from weir.errors import (
    LockedError,
    NotFoundError,
    Overloaded,
    ProjectError,
    TooLarge,
    WeirError,
)
from weir.ingest.batch import BatchResult, Ingestor
from weir.ingest.ledger import Ledger
from weir.lake import Lake
from weir.project import ProjectFiles, SourceConfig
from weir.project.collector import CollectorConfig
from weir.streams.health import FlushHealth, describe, is_contention
from weir.streams.lane import (
    CUT,
    Lane,
    LogRecord,
    Receipt,
    Rejected,
    batch_table,
    cutoff,
)
from weir.streams.logs import flushing, log_stream, wal_root
from weir.streams.wal import WriteAheadLog

__all__ = ["Collector", "FlushReport", "Receipt", "Rejected"]

# A source whose flush fails is tried again after flush_seconds, then twice as long
# each time, up to this many seconds (its events wait in the log meanwhile)
MAX_RETRY_SECONDS = 300.0
log = logging.getLogger("weir.collector")
LAYERS_COMPACTED = ("raw", "quarantine", "staging")


@dataclass(frozen=True)
class FlushReport:
    """One batch of the log moved into the lake."""

    source: str
    result: BatchResult
    position: int  # the log position the lake now holds everything before
    expected: tuple[int, int, int]  # accepted, quarantined, duplicates as the receipts said

    @property
    def matches_receipts(self) -> bool:
        counts = self.result.counts
        if counts.suppressed:
            # records about an erased subject are suppressed whatever their receipt said
            return sum(self.expected) == counts.received
        return self.expected == (counts.accepted, counts.quarantined, counts.duplicates)


@dataclass
class _SourceStats:
    last_flush_at: float | None = None
    last_flush_seconds: float | None = None
    flushes: int = 0
    flush_seconds_total: float = 0.0
    mismatches: int = 0
    last_error: str | None = None
    errors: int = 0  # flushes that failed for a reason other than another writer's lock
    failing_since: float | None = None  # the first failure since the last flush that succeeded
    failures_in_row: int = 0
    retry_at: float | None = None  # a failing source's next flush, on time.time()
    flushes_since_compaction: int = 0
    recent: deque[tuple[float, int]] = field(default_factory=deque)


class Collector:
    """Receives events for a project's sources into their logs, and flushes them to the lake."""

    def __init__(
        self, files: ProjectFiles, ingestor: Ingestor, ledger: Ledger, lake: Lake, instance: int = 0
    ) -> None:
        self.files = files
        self.config: CollectorConfig = files.config.collector
        self.ingestor = ingestor
        self.ledger = ledger
        self.lake = lake
        self.instance = instance  # which collector process of the project (0: weir serve's)
        self.wal_root = wal_root(files.state_dir, instance)
        self._lanes: dict[str, Lane] = {}
        self._open_lock = threading.Lock()
        self._flush_locks: dict[str, threading.Lock] = {}
        self._stats: dict[str, _SourceStats] = {}
        self.health = FlushHealth(files.state_dir, self.stream)
        self._recovered = False
        self._disk_checked = (0.0, math.inf)
        self.batch_closed = threading.Event()  # set when a full batch waits for the flusher
        unknown = sorted(set(self.config.sources or ()) - set(files.sources))
        if unknown:
            raise ProjectError(
                f"weir.yml: collector.sources names {', '.join(unknown)}, not sources of the project",
                f"use some of: {', '.join(sorted(files.sources))}",
            )

    # -- sources --------------------------------------------------------------------
    def stream(self, source: str) -> str:
        """The ledger's key of this process's log of ``source`` (its position in the lake)."""
        return log_stream(source, self.instance)

    @property
    def sources(self) -> list[str]:
        """The sources events may be posted to."""
        if self.config.sources is not None:
            return sorted(self.config.sources)
        return sorted(name for name, s in self.files.sources.items() if s.kind == "events")

    def source(self, name: str) -> SourceConfig:
        """The collectable source ``name``, or a NotFoundError naming the closest ones."""
        allowed = self.sources
        if name not in allowed or name not in self.files.sources:
            hint = f"post to one of: {', '.join(allowed)}"
            raise NotFoundError.among("source", name, allowed, hint, "collected source")
        return self.files.sources[name]

    # -- receiving --------------------------------------------------------------------
    async def submit(self, source: str, events: Sequence[str]) -> Receipt:
        """Check and log ``events`` (JSON texts); answers once they are on disk."""
        lane = self._lanes.get(source)
        if lane is None:
            lane = await asyncio.to_thread(self.lane, source)
        self._admit(lane, len(events))
        return await self._logged(lane, events)

    def _logged(self, lane: Lane, events: Sequence[str]) -> Awaitable[Receipt]:
        """Hand ``events`` to ``lane`` now; the awaitable answers once they are on disk."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Receipt] = loop.create_future()
        if not events:
            future.set_result(Receipt(0, 0, 0, ()))
            return future

        def settle(result: Receipt | BaseException) -> None:
            if future.done():
                return  # the client went away; its events are in the log all the same
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        def answer(result: Receipt | BaseException) -> None:
            loop.call_soon_threadsafe(settle, result)

        lane.enqueue(events, answer)
        source = lane.source.name

        async def counted() -> Receipt:
            receipt = await future
            self._count(source, len(events))
            return receipt

        return counted()

    async def submit_all(self, batches: Mapping[str, Sequence[str]]) -> dict[str, Receipt]:
        """Check and log the events of several sources as one request: all are taken, or none.

        Every source is admitted (its event count, its log's backlog, the disk)
        before any event is logged, and the request's events count once against
        ``max_events_per_request``: a refusal leaves nothing in any log.
        """
        lanes = {}
        for source in batches:
            lane = self._lanes.get(source)
            lanes[source] = lane if lane is not None else await asyncio.to_thread(self.lane, source)
        self._admit_count(sum(len(events) for events in batches.values()))
        for source, lane in lanes.items():
            self._admit(lane, len(batches[source]))
        # no await between the checks and the hand-over: nothing else is admitted in between
        pending = [self._logged(lanes[source], events) for source, events in batches.items()]
        receipts = await asyncio.gather(*pending)
        return dict(zip(batches, receipts, strict=True))

    def submit_sync(self, source: str, events: Sequence[str]) -> Receipt:
        """``submit`` for threads without an event loop (blocks until the events are on disk)."""
        lane = self.lane(source)
        self._admit(lane, len(events))
        if not events:
            return Receipt(0, 0, 0, ())
        future: Future[Receipt] = Future()

        def settle(result: Receipt | BaseException) -> None:
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        lane.enqueue(events, settle)
        receipt = future.result()
        self._count(source, len(events))
        return receipt

    def _admit(self, lane: Lane, events: int) -> None:
        """Refuse a request the log cannot safely take now."""
        config = self.config
        self._admit_count(events)
        unflushed = lane.wal.end - lane.committed
        if unflushed > config.max_log_bytes:
            raise Overloaded(
                f"{lane.source.name}: {unflushed} bytes of log wait to be flushed "
                f"(limit {config.max_log_bytes})",
                "retry after the Retry-After seconds; the lake is catching up",
                retry_after=max(1, math.ceil(config.flush_seconds)),
            )
        free = self._free_disk()
        if free < config.min_free_disk_bytes:
            raise Overloaded(
                f"only {free} bytes of disk are free for the log (limit {config.min_free_disk_bytes})",
                "free disk space on the server; retry later",
                retry_after=30,
            )
        if lane.queued_events + events > config.max_queued_events:
            raise Overloaded(
                f"{lane.queued_events} events wait to be checked (limit {config.max_queued_events})",
                "retry after the Retry-After seconds",
                retry_after=1,
            )

    def _admit_count(self, events: int) -> None:
        limit = self.config.max_events_per_request
        if events > limit:
            raise TooLarge(
                f"{events} events in one request; the limit is {limit}",
                "send them in smaller requests (collector.max_events_per_request in weir.yml)",
            )

    def _free_disk(self) -> float:
        checked_at, free = self._disk_checked
        now = time.monotonic()
        if now - checked_at > 0.5:  # a statvfs per request is cheap, but not free
            self.wal_root.mkdir(parents=True, exist_ok=True)
            free = float(shutil.disk_usage(self.wal_root).free)
            self._disk_checked = (now, free)
        return free

    def _count(self, source: str, events: int) -> None:
        recent = self._stats_of(source).recent
        now = time.monotonic()
        recent.append((now, events))
        while recent and recent[0][0] < now - 10:
            recent.popleft()

    def _stats_of(self, source: str) -> _SourceStats:
        stats = self._stats.get(source)
        if stats is None:
            stats = self._stats.setdefault(source, _SourceStats())
        return stats

    # -- lanes ------------------------------------------------------------------------
    def lane(self, name: str) -> Lane:
        """The source's lane, opened (log recovered, key window rebuilt) on first use."""
        lane = self._lanes.get(name)
        if lane is not None:
            return lane
        source = self.source(name)
        with self._open_lock:
            lane = self._lanes.get(name)
            if lane is not None:
                return lane
            self._recover()
            stream = self.stream(name)
            committed = int(self.ledger.positions(stream).get(stream, "0"))
            wal = WriteAheadLog(
                self.wal_root / name, self.config.segment_bytes, self.config.fsync, committed
            )
            if wal.start > committed:
                raise WeirError(
                    f"the log of {name} starts at {wal.start}, after the lake's position {committed}",
                    "log segments not yet in the lake were deleted; restore them from a backup",
                )
            lane = Lane(
                source,
                self.ingestor,
                wal,
                committed,
                self.config.dedupe_window_seconds,
                self.config.flush_events,
                checkers=self.config.check_threads,
            )
            lane.on_batch_closed = self.batch_closed.set
            self._flush_locks[name] = threading.Lock()
            self._lanes[name] = lane
            return lane

    @property
    def opened(self) -> list[str]:
        """The sources whose lanes are open."""
        return sorted(self._lanes)

    def open_logs(self) -> list[str]:
        """Open the lanes of sources that have a log on disk (their backlog gets flushed)."""
        opened = []
        for name in self.sources:
            if (self.wal_root / name).is_dir():
                self.lane(name)
                opened.append(name)
        return opened

    def _recover(self, wait: float = 0.0) -> None:
        """Roll back a batch a crash left half-committed, before any position is read."""
        if self._recovered:
            return
        try:
            self.ingestor.recover(wait)
            self._recovered = True
        except LockedError:
            pass  # another writer holds the lake; the first flush tries again

    # -- reading state ------------------------------------------------------------------
    def backlog(self, source: str) -> int:
        """Events in the source's log not yet in the lake."""
        self.source(source)
        lane = self._lanes.get(source)
        return lane.unflushed_events if lane is not None else 0

    def stats(self) -> dict[str, dict[str, object]]:
        """Per source: events received (and their fates), events/s recently, flushes, log bytes."""
        out: dict[str, dict[str, object]] = {}
        now = time.monotonic()
        for name, lane in sorted(self._lanes.items()):
            stats = self._stats_of(name)
            recent = sum(n for at, n in list(stats.recent) if at >= now - 10)
            out[name] = {
                **lane.counts,
                "events_per_second": recent / 10.0,
                "backlog": lane.unflushed_events,
                "log_bytes": lane.wal.end - lane.wal.start,
                "unflushed_bytes": lane.wal.end - lane.committed,
                "position": lane.committed,
                "last_flush_at": stats.last_flush_at,
                "last_flush_seconds": stats.last_flush_seconds,
                "flushes": stats.flushes,
                "flush_seconds_total": stats.flush_seconds_total,
                "mismatches": stats.mismatches,
                "last_error": stats.last_error,
                "errors": stats.errors,
                "failing_since": stats.failing_since,
                "retry_at": stats.retry_at,
                "fsyncs": lane.wal.fsyncs,
                "groups": lane.groups,
                "check_seconds_total": lane.check_seconds,
            }
        return out

    # -- flushing -------------------------------------------------------------------------
    def flush(self, source: str | None = None, now: float | None = None) -> list[FlushReport]:
        """Close each open batch and move every closed batch of the log into the lake.

        Each source flushes on its own: one whose batch fails (it is rolled back and
        stays in the log for the next flush) is logged and counted in ``stats``, and
        the other sources flush all the same; it is tried again after a backoff
        (``flush_seconds``, doubling to ``MAX_RETRY_SECONDS``), and skipped until
        then. Flushing one ``source`` tries it at once and raises its error.
        """
        if source is not None:
            self.lane(source)  # an unknown source is the caller's mistake, not a failed flush
        now = time.time() if now is None else now
        names = [source] if source is not None else sorted(self._lanes)
        reports: list[FlushReport] = []
        for name in names:
            retry_at = self._stats_of(name).retry_at
            if source is None and retry_at is not None and retry_at > now:
                continue  # failing: backing off
            try:
                reports.extend(self._flush_lane(name))
            except Exception:
                if source is not None:
                    raise
        return reports

    def cut(self, source: str) -> int:
        """Close the source's open batch; returns the log position after it, once on disk."""
        return _wait(self.lane(source).cut)

    def _flush_lane(self, name: str) -> list[FlushReport]:
        try:
            reports = self._flush_lane_locked(self.lane(name))
        except Exception as exc:
            self.flush_failed(name, exc)
            raise
        self.flush_succeeded(name)
        return reports

    def _flush_lane_locked(self, lane: Lane) -> list[FlushReport]:
        name = lane.source.name
        with self._flush_locks[name], flushing(self.wal_root, wait=60.0):
            stats = self._stats_of(name)
            self._recover(wait=30.0)
            if not self._recovered:
                raise LockedError(
                    "the lake is being written by another process",
                    "the flush is tried again shortly",
                )
            # a flush process left by a server that died may have flushed meanwhile
            stream = self.stream(name)
            lane.caught_up(int(self.ledger.positions(stream).get(stream, "0")))
            boundary = _wait(lane.cut)
            reports = self._flush_closed(lane, boundary)
            if reports:
                lane.wal.seal()  # what the lake now holds leaves the log with its segment
            lane.wal.release(lane.committed)
            if reports:
                stats.flushes_since_compaction += len(reports)
                if stats.flushes_since_compaction >= self.config.compact_after_files:
                    stats.flushes_since_compaction = 0
                    self.compact(name)
            return reports

    def _flush_closed(self, lane: Lane, boundary: int) -> list[FlushReport]:
        reports: list[FlushReport] = []
        batch: list[LogRecord] = []
        for record in lane.records(lane.committed, boundary):
            if record.verdict != CUT:
                batch.append(record)
                continue
            if not batch:
                lane.flushed(record.end, 0)  # an empty batch: nothing to put in the lake
                continue
            reports.append(self._ingest_batch(lane, batch, record))
            batch = []
        return reports

    def _ingest_batch(self, lane: Lane, batch: list[LogRecord], cut: LogRecord) -> FlushReport:
        report = self.ingest_batch(lane.source, batch, cut)
        lane.flushed(cut.end, len(batch))
        return report

    def ingest_batch(
        self, source: SourceConfig, batch: list[LogRecord], cut: LogRecord
    ) -> FlushReport:
        """Put one batch of a log (its records, closed by ``cut``) into the lake.

        Judged as its receipts were: with the batch's clock for ``not_future`` and
        its duplicate window; the log position after the cut is committed with it.
        """
        name = source.name
        clock = batch[0].clock
        since = cutoff(clock, self.config.dedupe_window_seconds) if source.time_column else None
        card_columns = [c.name for c in source.columns if c.classification == "pci"]
        table = batch_table(batch, card_columns)
        stream = self.stream(name)
        started = time.monotonic()
        result = self.ingestor.ingest_events(
            name, table, {stream: str(cut.end)}, dedupe_since=since, checked_at=clock
        )
        seconds = time.monotonic() - started
        expected = [0, 0, 0]
        for record in batch:
            expected[record.verdict] += 1
        report = FlushReport(name, result, cut.end, (expected[0], expected[1], expected[2]))
        self.record_flush(name, seconds, report.matches_receipts)
        return report

    def flush_failed(self, source: str, exc: BaseException) -> float | None:
        """A flush of ``source`` failed here: log it, count it, and keep it for ``weir status``.

        Returns since when the source's flushes fail. Another writer's lock is only
        waited out: it is the last error, not a failure (None).
        """
        error = describe(exc)
        if is_contention(exc):
            self._stats_of(source).last_error = error
            log.info("collector: flush of %s waits for the lake: %s", source, error)
            return None
        log.warning("collector: flush of %s failed, its batch stays in the log: %s", source, error)
        since = float(self.health.failed(source, error)["since"])
        self.record_failure(source, error, since)
        stats = self._stats_of(source)
        stats.failures_in_row += 1
        wait = self.config.flush_seconds * 2 ** min(stats.failures_in_row - 1, 20)
        stats.retry_at = time.time() + min(wait, MAX_RETRY_SECONDS)
        return since

    def record_failure(self, source: str, error: str, since: float | None = None) -> None:
        """Count a failed flush of ``source`` in ``stats`` (one made here or by a flush process)."""
        stats = self._stats_of(source)
        stats.errors += 1
        stats.last_error = error
        if stats.failing_since is None:
            stats.failing_since = time.time() if since is None else since

    def flush_succeeded(self, source: str) -> None:
        """A flush pass of ``source`` went through: a failing spell is over."""
        stats = self._stats_of(source)
        stats.last_error = None
        stats.failing_since = None
        stats.failures_in_row = 0
        stats.retry_at = None
        self.health.recovered(source)

    def record_flush(self, source: str, seconds: float, matches_receipts: bool) -> None:
        """Count a flush of ``source`` in ``stats`` (one made here or by a flush process)."""
        stats = self._stats_of(source)
        stats.last_error = None
        stats.failing_since = None
        stats.last_flush_at = time.time()
        stats.last_flush_seconds = seconds
        stats.flushes += 1
        stats.flush_seconds_total += seconds
        if not matches_receipts:
            stats.mismatches += 1  # another writer of the source changed staging meanwhile

    def compact(self, source: str, min_files: int | None = None) -> list[str]:
        """Rewrite the source's lake partitions holding many small files; returns what changed."""
        done = []
        threshold = min_files or self.config.compact_after_files
        for layer in LAYERS_COMPACTED:
            if not self.lake.exists(layer, source):
                continue
            with self.ingestor.writing(wait=30.0):
                done.extend(self.lake.compact(layer, source, min_files=threshold))
        return done

    # -- stopping -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every lane (what was acknowledged is in its log already)."""
        with self._open_lock:
            lanes = list(self._lanes.values())
            self._lanes.clear()
        for lane in lanes:
            lane.close()


def _wait(start: Callable[[Callable[[int | BaseException], None]], None]) -> int:
    """Run ``start(answer)`` and wait for its answer (a log position)."""
    future: Future[int] = Future()

    def answer(result: int | BaseException) -> None:
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    start(answer)
    return future.result()
