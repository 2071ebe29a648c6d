"""One collected source's pipeline: check a group of requests in one pass, log it, answer.

A lane owns its source's write-ahead log and a checker thread. The thread
takes every request waiting (a group), runs the batch path's own steps on all
of their events in one DuckDB pass — card protection (``Ingestor.load_protected``)
and the contract (``Contract.checked_sql``) — judges duplicates against the key
window, hands the group's records to the log (which group-commits them), and
answers each request once its records are on disk.

The log holds every event received, each as one record with the verdict the
receipt gave. Records are grouped into batches by *cut* records: the flusher
ingests one batch at a time, and a batch is judged at flush exactly as its
receipts were — the same clock for ``not_future`` (the batch's clock), the
same duplicate window (staging rows whose time is at least the batch's
cutoff, plus earlier events of the same batch).
"""

from __future__ import annotations

import math
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from weir.engine import Session, ident
from weir.errors import Overloaded, WeirError
from weir.ingest.batch import Ingestor
from weir.ingest.contract import Contract
from weir.ingest.quick import QuickCheck
from weir.project import SourceConfig
from weir.streams.body import Events
from weir.streams.wal import Appended, WriteAheadLog, peek_log

ACCEPTED, QUARANTINED, DUPLICATE, CUT = 0, 1, 2, 3
# verdict, batch clock, event time (NaN: none), key length, last-4 extras length
HEADER = struct.Struct("<BddII")
ORIGIN = "collector"
# From this many events in a group the contract's DuckDB pass (a fixed ~15 ms, then ~5 µs
# an event, without holding the GIL) costs less than the fast path's ~5 µs an event in Python
QUICK_GROUP_EVENTS = 2_000
DAY = 86400


@dataclass(frozen=True)
class Rejected:
    """An event of a request that was quarantined, and every rule it broke."""

    index: int  # position of the event in the request
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Receipt:
    """What the collector did with one request's events (all of them are in the log)."""

    accepted: int
    quarantined: int
    duplicates: int
    rejected: tuple[Rejected, ...]


@dataclass(frozen=True)
class LogRecord:
    """One record of a lane's log, decoded."""

    position: int
    end: int
    verdict: int
    clock: float
    event_time: float
    key: str
    last4: tuple[str | None, ...]
    text: str


def encode(
    verdict: int, clock: float, event_time: float, key: str, last4: Sequence[str | None], text: str
) -> bytes:
    key_bytes = key.encode()
    extras = "\x1f".join("\x00" if v is None else v for v in last4).encode() if last4 else b""
    return (
        HEADER.pack(verdict, clock, event_time, len(key_bytes), len(extras))
        + key_bytes
        + extras
        + text.encode()
    )


def decode(position: int, payload: bytes, card_columns: int) -> LogRecord:
    verdict, clock, event_time, key_len, extras_len = HEADER.unpack_from(payload)
    at = HEADER.size
    key = payload[at : at + key_len].decode()
    at += key_len
    last4: tuple[str | None, ...] = ()
    if card_columns:
        values = payload[at : at + extras_len].decode().split("\x1f") if extras_len else []
        last4 = tuple(None if v == "\x00" else v for v in values)
    at += extras_len
    end = position + 8 + len(payload)  # the frame header is 8 bytes
    return LogRecord(position, end, verdict, clock, event_time, key, last4, payload[at:].decode())


def logged_events(folder: Path, start: int) -> int:
    """Events (not batch cuts) in the log in ``folder`` from ``start``, read as another process."""
    return sum(1 for _, verdict in peek_log(folder, start) if verdict != CUT)


def cutoff(clock: float, window_seconds: int) -> float:
    """The oldest event time a batch opened at ``clock`` compares keys with (a whole UTC day)."""
    return float(math.floor(clock / DAY) * DAY - window_seconds)


def day_of(clock: float) -> int:
    return int(clock // DAY)


@dataclass
class _Request:
    texts: Sequence[str]
    answer: Callable[[Receipt | BaseException], None]


@dataclass
class _Cut:
    answer: Callable[[int | BaseException], None]
    empty: bool = False  # no batch was open when it was taken


@dataclass
class _Group:
    requests: list[_Request]
    clock: float  # the batch's clock: the contract's "now", and its dedupe window


Row = tuple[list[str], str | None, float | None, str, tuple[str | None, ...]]
Rows = list[Row]


class Lane:
    """The checker threads, key window and log of one collected source."""

    def __init__(
        self,
        source: SourceConfig,
        ingestor: Ingestor,
        wal: WriteAheadLog,
        committed: int,
        window_seconds: int,
        flush_events: int,
        max_group_events: int = 20_000,
        checkers: int = 2,
        parallel_events: int = 2_000,
    ) -> None:
        self.source = source
        self.ingestor = ingestor
        self.wal = wal
        self.contract = Contract(source)
        self.quick = QuickCheck.of(source)  # None: every event is checked in SQL
        self.card_columns = [c.name for c in source.columns if c.classification == "pci"]
        self.window_seconds = window_seconds
        self.flush_events = flush_events
        self.max_group_events = max_group_events
        self.committed = committed  # the log position the lake holds everything before
        self.failed: BaseException | None = None
        self.on_batch_closed: Callable[[], None] = lambda: None
        # the key window: key -> newest event time of an accepted event (earlier batches)
        self._window: dict[str, float] = {}
        self._batch_keys: dict[str, float] = {}  # accepted in the open batch
        self._judge_clock: float | None = None  # the open batch's clock, as judged
        self._plan_clock: float | None = None  # ... and as planned when groups are taken
        self._plan_events = 0
        self._cutoff = -math.inf
        self._tickets = 0
        self._judged = 0
        self._turn = threading.Condition()
        self._verdict_cache: tuple[tuple[str, float], str] | None = None
        self._views: dict[int, tuple[str, float]] = {}  # connection -> what its view checks
        self._lock = threading.Condition()
        self._intake: deque[_Request | _Cut] = deque()
        self._queued_events = 0
        self._checking = 0  # checkers in a DuckDB pass now
        self.parallel_events = parallel_events
        self._closing = False
        self.counts = {"received": 0, "accepted": 0, "quarantined": 0, "duplicates": 0}
        self.unflushed_events = 0
        self.groups = 0  # groups of requests checked, and the time their DuckDB passes took
        self.check_seconds = 0.0
        self._rebuild()
        self._threads = [
            threading.Thread(
                target=self._check_loop,
                args=(
                    ingestor.lake.engine.writer(threads=1),
                ),  # small groups: one thread beats the scheduling
                name=f"collector:{source.name}:{n}",
                daemon=True,
            )
            for n in range(checkers)
        ]
        for thread in self._threads:
            thread.start()

    # -- the key window at start ------------------------------------------------------
    def _rebuild(self) -> None:
        """Keys of staging's recent days plus the log not yet in the lake; close an open batch."""
        now = time.time()
        since = cutoff(now, self.window_seconds) if self.source.time_column else None
        self._window = self.ingestor.recent_keys(self.source, since)
        last: LogRecord | None = None
        for record in self.records(self.committed):
            last = record
            if record.verdict == CUT:
                continue
            self.unflushed_events += 1
            if record.verdict == ACCEPTED:
                self._remember(self._window, record.key, record.event_time)
        if last is not None and last.verdict != CUT:
            # the batch the last run left open is closed: new events start a batch of their own
            self.wal.append([encode(CUT, last.clock, math.nan, "", (), "")])

    def flushed(self, position: int, events: int) -> None:
        """The lake now holds the log before ``position``, ``events`` more than before."""
        with self._lock:
            self.committed = position
            self.unflushed_events -= events

    def caught_up(self, position: int) -> None:
        """Another process put the log before ``position`` into the lake: count what is left."""
        if position <= self.committed:
            return
        left = sum(1 for r in self.records(position) if r.verdict != CUT)
        with self._lock:
            self.committed = position
            self.unflushed_events = left

    def records(self, start: int, end: int | None = None) -> Iterator[LogRecord]:
        """The log's records from ``start``, decoded one at a time (a backlog can be large)."""
        for position, payload in self.wal.read(start, end):
            yield decode(position, payload, len(self.card_columns))

    @staticmethod
    def _remember(window: dict[str, float], key: str, event_time: float) -> None:
        moment = -math.inf if math.isnan(event_time) else event_time
        if key not in window or window[key] < moment:
            window[key] = moment

    # -- intake -----------------------------------------------------------------------
    @property
    def queued_events(self) -> int:
        return self._queued_events

    def enqueue(
        self, texts: Sequence[str], answer: Callable[[Receipt | BaseException], None]
    ) -> None:
        with self._lock:
            if self.failed is not None:
                raise Overloaded(
                    f"the collector's log for {self.source.name} failed: {self.failed}",
                    "free disk space or fix the log folder, then restart the server; "
                    "acknowledged events are safe in the log",
                    retry_after=30,
                )
            if self._closing:
                raise Overloaded("the collector is stopping", "retry in a moment", retry_after=1)
            self._intake.append(_Request(texts, answer))
            self._queued_events += len(texts)
            self._lock.notify()

    def cut(self, answer: Callable[[int | BaseException], None]) -> None:
        """Close the open batch; ``answer`` gets the log position after the cut (once durable)."""
        with self._lock:
            self._intake.append(_Cut(answer))
            self._lock.notify()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join()
        self.wal.close()

    # -- the checker threads ----------------------------------------------------------
    # Groups are taken from the intake in order and numbered; the contract's DuckDB pass
    # of several groups runs at once (each thread has its own connection, and DuckDB
    # lets go of the GIL), but groups are judged and logged strictly in their order, so
    # the log's order is the order duplicates were judged in.
    def _check_loop(self, con: Session) -> None:
        try:
            while True:
                with self._lock:
                    # a second checker starts only on a large intake: a group's DuckDB pass
                    # has a fixed cost of several ms, so while one check runs, small requests
                    # are better left to gather into the next group than checked apart
                    while not self._closing and (
                        not self._intake
                        or (self._checking and self._queued_events < self.parallel_events)
                    ):
                        self._lock.wait()
                    if not self._intake:
                        return
                    ticket = self._tickets
                    self._tickets += 1
                    units = self._plan()
                    self._checking += 1
                checked: list[Rows | BaseException | None] = []
                planned, units = units, []
                for unit in planned:
                    if isinstance(unit, _Group):
                        started = time.perf_counter()
                        for part, verdicts in self._check_group(con, unit):
                            units.append(part)
                            checked.append(verdicts)
                        self.groups += 1
                        self.check_seconds += time.perf_counter() - started
                    else:
                        units.append(unit)
                        checked.append(None)
                with self._lock:
                    self._checking -= 1
                    self._lock.notify()
                with self._turn:
                    while self._judged != ticket:
                        self._turn.wait()
                try:
                    for unit, rows in zip(units, checked, strict=True):
                        try:
                            if isinstance(unit, _Group):
                                assert rows is not None
                                self._judge(unit, rows)
                            else:
                                self._close_batch(unit)
                        except Exception as exc:  # a bug must not leave requests waiting
                            self.failed = exc
                            if isinstance(unit, _Group):
                                for request in unit.requests:
                                    request.answer(exc)
                            else:
                                unit.answer(exc)
                finally:
                    with self._turn:
                        self._judged += 1
                        self._turn.notify_all()
        finally:
            con.close()

    def _plan(self) -> list[_Group | _Cut]:
        """Take what waits (under the lock): groups of requests, cuts, and the batches they fall in."""
        units: list[_Group | _Cut] = []
        group: list[_Request] = []
        events = 0
        while self._intake and events < self.max_group_events:
            item = self._intake.popleft()
            if isinstance(item, _Cut):
                if group:
                    units.extend(self._plan_group(group))
                    group = []
                units.append(item if self._plan_clock is not None else _Cut(item.answer, True))
                self._plan_clock = None
                self._plan_events = 0
                continue
            group.append(item)
            events += len(item.texts)
            self._queued_events -= len(item.texts)
        if group:
            units.extend(self._plan_group(group))
        return units

    def _plan_group(self, group: list[_Request]) -> list[_Group | _Cut]:
        """A group in the open batch; a new batch is opened on a new day or when one is full."""
        now = time.time()
        units: list[_Group | _Cut] = []
        clock = self._plan_clock
        if clock is not None and (
            day_of(clock) != day_of(now) or self._plan_events >= self.flush_events
        ):
            units.append(_Cut(lambda _position: None))
            clock = None
        if clock is None:
            clock = self._plan_clock = now
            self._plan_events = 0
        self._plan_events += sum(len(request.texts) for request in group)
        units.append(_Group(group, clock))
        return units

    def _close_batch(self, unit: _Cut) -> None:
        """Append a cut (when a batch is open) and move the batch's keys into the window."""
        answer = unit.answer
        if unit.empty or self._judge_clock is None:
            # nothing open: the boundary is the log's end once what is queued is written
            self._submit([], lambda r: answer(r if isinstance(r, BaseException) else r.end))
            return
        record = encode(CUT, self._judge_clock, math.nan, "", (), "")
        for key, moment in self._batch_keys.items():
            self._remember(self._window, key, moment)
        self._batch_keys = {}
        self._judge_clock = None

        def done(result: Appended | BaseException) -> None:
            answer(result if isinstance(result, BaseException) else result.end)
            self.on_batch_closed()

        self._submit([record], done)

    def _judge(self, unit: _Group, checked: Rows | BaseException) -> None:
        group, clock = unit.requests, unit.clock
        if isinstance(checked, BaseException):
            for request in group:
                request.answer(checked)
            return
        if self._judge_clock != clock:  # the first group of a new batch
            self._judge_clock = clock
            new_cutoff = (
                cutoff(clock, self.window_seconds) if self.source.time_column else -math.inf
            )
            if new_cutoff > self._cutoff:
                self._cutoff = new_cutoff
                self._window = {k: t for k, t in self._window.items() if t >= new_cutoff}
        payloads: list[bytes] = []
        receipts: list[Receipt] = []
        at = 0
        for request in group:
            counts = [0, 0, 0]
            rejected: list[Rejected] = []
            for index in range(len(request.texts)):
                reasons, found_key, moment, text, last4 = checked[at]
                key = found_key or ""
                at += 1
                if reasons:
                    verdict = QUARANTINED
                    rejected.append(Rejected(index, tuple(reasons)))
                elif key in self._batch_keys or (
                    key in self._window and self._window[key] >= self._cutoff
                ):
                    verdict = DUPLICATE
                else:
                    verdict = ACCEPTED
                    self._batch_keys[key] = -math.inf if moment is None else moment
                counts[verdict] += 1
                payloads.append(
                    encode(
                        verdict,
                        clock,
                        math.nan if moment is None else moment,
                        key,
                        last4,
                        text,
                    )
                )
            receipts.append(Receipt(counts[0], counts[1], counts[2], tuple(rejected)))

        def done(result: Appended | BaseException) -> None:
            if isinstance(result, BaseException):
                self.failed = result
                for request in group:
                    request.answer(result)
                return
            with self._lock:
                self.unflushed_events += len(payloads)
                for receipt in receipts:
                    self.counts["received"] += receipt.accepted + receipt.quarantined
                    self.counts["received"] += receipt.duplicates
                    self.counts["accepted"] += receipt.accepted
                    self.counts["quarantined"] += receipt.quarantined
                    self.counts["duplicates"] += receipt.duplicates
            for request, receipt in zip(group, receipts, strict=True):
                request.answer(receipt)

        self._submit(payloads, done)

    def _submit(
        self, payloads: list[bytes], done: Callable[[Appended | BaseException], None]
    ) -> None:
        try:
            self.wal.submit(payloads, done)
        except BaseException as exc:
            self.failed = exc
            done(exc)

    def _verdict_sql(self, table: str, clock: float) -> str:
        """The contract's query over the group, and what the log keeps of each event.

        Built once per batch (its text changes only with the batch's clock): building
        it costs more than running it on a small group.
        """
        if self._verdict_cache is not None and self._verdict_cache[0] == (table, clock):
            return self._verdict_cache[1]
        checked = self.contract.checked_sql(f"(SELECT *, rowid AS _seq FROM {table})", clock)
        fields = ", ".join(
            f"{ident(c.name)} := {ident(c.name + '__text')}" for c in self.source.columns
        )
        moment = (
            f"epoch({ident(self.source.time_column)})"
            if self.source.time_column
            else "NULL::DOUBLE"
        )
        last4 = "".join(f", {ident(name + '_last4')}" for name in self.card_columns)
        sql = f"""SELECT _reasons,
                CASE WHEN len(_reasons) = 0 THEN {self.contract.key_sql()} END,
                CASE WHEN len(_reasons) = 0 THEN {moment} END,
                CASE WHEN _problem IS NULL THEN to_json(struct_pack({fields}))::VARCHAR ELSE _raw END
                {last4}
            FROM ({checked}) ORDER BY _seq"""
        self._verdict_cache = ((table, clock), sql)
        return sql

    def _check_group(self, con: Session, unit: _Group) -> list[tuple[_Group, Rows | BaseException]]:
        """The group's rows; if its check fails, each request's own, so one fails only itself.

        A request the check cannot take (text that is not Unicode, say) must not fail
        the other requests it happened to be grouped with.
        """
        try:
            return [(unit, self._check(con, unit.requests, unit.clock))]
        except BaseException as exc:  # answered in turn, by the caller
            if len(unit.requests) == 1:
                return [(unit, exc)]
        parts: list[tuple[_Group, Rows | BaseException]] = []
        for request in unit.requests:
            alone = _Group([request], unit.clock)
            try:
                parts.append((alone, self._check(con, alone.requests, alone.clock)))
            except BaseException as exc:
                parts.append((alone, exc))
        return parts

    def _check(self, con: Session, group: list[_Request], clock: float) -> Rows:
        """The contract's outcome for every event of the group, in order.

        An event the contract's fast path finds plainly clean is decided there; the
        others (all of them, for a contract that is not simple, or in a group so large
        that DuckDB's pass costs less per event) go to the SQL path.
        """
        events = [(request.texts, at) for request in group for at in range(len(request.texts))]
        rows: list[Row | None] = [None] * len(events)
        quick = self.quick
        if quick is not None and len(events) < QUICK_GROUP_EVENTS:
            for index, (texts, at) in enumerate(events):
                clean = (
                    quick.check_document(texts.documents[at], clock)
                    if isinstance(texts, Events)
                    else quick.check(texts[at], clock)
                )
                if clean is not None:
                    rows[index] = ([], clean.key, clean.moment, clean.text, ())
        unsure = [index for index, row in enumerate(rows) if row is None]
        if unsure:
            sent = [events[index][0][events[index][1]] for index in unsure]
            for index, row in zip(unsure, self.check_in_sql(con, sent, clock), strict=True):
                rows[index] = row
        return [row for row in rows if row is not None]

    def check_in_sql(self, con: Session, texts: list[str], clock: float) -> Rows:
        """The batch path's own protection and contract over ``texts``, in order: the one
        definition of a verdict (the fast path is proven against it)."""
        events = pa.table(
            {
                "_source_file": pa.array([ORIGIN] * len(texts), pa.string()),
                "_offset": pa.array(range(len(texts)), pa.int64()),
                "_raw": pa.array(texts, pa.string()),
            }
        )
        table = self.ingestor.load_protected(con, self.source, events)
        # the query is kept as a view per connection and batch: DuckDB then parses it once
        # per batch, not once per group (parsing costs a third of a small group's check)
        if self._views.get(id(con)) != (table, clock):
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW weir_verdict AS {self._verdict_sql(table, clock)}"
            )
            self._views[id(con)] = (table, clock)
        rows = con.execute("SELECT * FROM weir_verdict").fetchall()
        if len(rows) != len(texts):
            raise WeirError(
                f"the contract check returned {len(rows)} records for {len(texts)} events",
                "this is a bug in weir",
            )
        return [(row[0], row[1], row[2], row[3], tuple(row[4:])) for row in rows]


def batch_table(records: Sequence[LogRecord], card_columns: Sequence[str]) -> pa.Table:
    """A batch's events as ``Ingestor.ingest_events`` takes them (card data already tokens)."""
    columns: dict[str, pa.Array] = {
        "_source_file": pa.array([ORIGIN] * len(records), pa.string()),
        "_offset": pa.array([r.position for r in records], pa.int64()),
        "_raw": pa.array([r.text for r in records], pa.string()),
    }
    for index, name in enumerate(card_columns):
        columns[f"{name}_last4"] = pa.array([r.last4[index] for r in records], pa.string())
    return pa.table(columns)


def day_start(clock: float) -> str:
    return datetime.fromtimestamp(day_of(clock) * DAY, UTC).date().isoformat()
