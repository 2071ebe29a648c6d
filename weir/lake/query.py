"""Lake tables as views in an engine session, as they are now or as they were; running SQL there.

A lake table appears in a session as a view over the Parquet files of the
chosen snapshot: the lake plans the files (pyiceberg), the engine shows them
(``Session.show_table``). Only the tables a statement names are planned and
shown, so a query over one table costs one table's planning.

``LakeViews`` is the one place that does this, for the owner's read-only SQL
(``weir sql``) and for the gateway (whose views live under a prefix only it
knows). It keeps one shared database whose views follow the tables' current
snapshots, so a query at the current version pays no planning once its
tables are shown; a query pinned to a time or a snapshot gets a session of
its own. Sessions are the engine's locked read sessions: they can read the
lake folder and nothing else.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from weir.engine import Interrupted, Session
from weir.engine import table as table_sql
from weir.errors import QueryError
from weir.lake.catalog import Lake

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table.snapshots import Snapshot

_CACHE_SIZE = 1024


class Deadlines:
    """One thread that calls each callback at its deadline, unless it was cancelled first.

    A query's timeout is an entry in a heap, not a thread started per query
    (starting one costs about a millisecond on a busy machine). The thread is
    started on first use and again if it is found gone (after a fork).
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._live: set[int] = set()  # registered, neither due yet nor cancelled
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def after(self, seconds: float, callback: Callable[[], object]) -> int:
        """Call ``callback`` (in the deadline thread) in ``seconds``; the id cancels it."""
        with self._wake:
            ident = next(self._ids)
            heapq.heappush(self._heap, (time.monotonic() + seconds, ident, callback))
            self._live.add(ident)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._watch, name="weir-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][1] == ident:  # the new deadline is the nearest: wait less
                self._wake.notify()
        return ident

    def cancel(self, ident: int) -> None:
        """Forget a deadline (a callback already under way still finishes)."""
        with self._wake:
            self._live.discard(ident)
            if len(self._heap) > 64 + 2 * len(self._live):  # mostly cancelled: keep it small
                self._heap = [entry for entry in self._heap if entry[1] in self._live]
                heapq.heapify(self._heap)

    def _watch(self) -> None:
        with self._wake:
            while True:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, ident, callback = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(ident)
                self._wake.release()
                try:
                    with contextlib.suppress(Exception):  # one failing callback stops no other
                        callback()
                finally:
                    self._wake.acquire()


TIMEOUTS = Deadlines()  # the query timeouts of this process


@dataclass(frozen=True)
class Pin:
    """Which version of the lake a query reads: now, as of a time, or from a snapshot."""

    as_of: datetime | None = None
    snapshot_id: int | None = None

    @property
    def current(self) -> bool:
        return self.as_of is None and self.snapshot_id is None

    @classmethod
    def at(cls, as_of: datetime | str | None = None, snapshot_id: int | None = None) -> Pin:
        """A pin from what a person typed: an ISO time (local when it names no zone) or a snapshot."""
        try:
            moment = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
            if moment is not None and moment.tzinfo is None:
                moment = moment.astimezone()
            if moment is not None:
                moment.timestamp()  # beyond what the platform's clock can represent
        except (ValueError, OverflowError, OSError):
            raise QueryError(
                f"as_of {as_of} is not a usable time",
                "write an ISO time, e.g. 2025-02-01T09:00:00",
            ) from None
        return cls(moment, snapshot_id)


class Timeout(Exception):
    """The statement ran longer than its time and was stopped."""


class LakeViews:
    """Sessions in which lake tables (``layer.name``) are views at a pinned version."""

    def __init__(
        self,
        lake: Lake,
        prefix: str = "",
        memory_limit: str = "4GB",
        threads: int | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self.lake = lake
        self.prefix = prefix  # views of layer.name live in schema <prefix><layer>
        self.memory_limit = memory_limit
        self.threads = threads
        self.variables = dict(variables or {})
        self._planned: OrderedDict[tuple[str, int], list[str]] = OrderedDict()
        self._database: Session | None = None
        self._shown: dict[str, tuple[int | None, list[str]]] = {}  # dataset → (snapshot, columns)
        self._lock = threading.RLock()

    def view(self, dataset: str) -> tuple[str, str]:
        """(schema, name) of ``dataset``'s view."""
        layer, name = dataset.split(".")
        return self.prefix + layer, name

    def view_sql(self, dataset: str) -> str:
        """``dataset``'s view as SQL names it."""
        schema, name = self.view(dataset)
        return table_sql(name, schema)

    def session(
        self, datasets: Sequence[str], pin: Pin = Pin()
    ) -> tuple[Session, dict[str, list[str]]]:
        """A session with views of ``datasets`` at ``pin``, and each one's columns.

        At the current version: a cursor on the shared database, whose views
        are replaced when a table has a new snapshot (a query already running
        keeps the version it started on). Pinned: a session of its own.
        """
        if pin.current:
            return self._current(datasets)
        session = self._open()
        try:
            return session, self.show(session, datasets, pin)
        except BaseException:
            session.close()
            raise

    def run(
        self, session: Session, sql: str, limit: int | None = None, timeout: float | None = None
    ) -> tuple[pa.Table, bool]:
        """The rows of ``sql`` (at most ``limit``; True when more existed), stopped after ``timeout`` s."""
        import pyarrow as pa

        timer = TIMEOUTS.after(timeout, session.interrupt) if timeout else None
        try:
            if limit is None:
                return session.arrow(sql), False
            reader = session.arrow_batches(sql, min(limit + 1, 100_000))
            batches: list[pa.RecordBatch] = []
            rows = 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > limit:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except Interrupted:
            raise Timeout(f"stopped after {timeout:g}s") from None
        finally:
            if timer is not None:
                TIMEOUTS.cancel(timer)
        if table.num_rows > limit:
            return table.slice(0, limit), True
        return table, False

    def close(self) -> None:
        with self._lock:
            if self._database is not None:
                self._database.close()
                self._database = None
                self._shown.clear()

    # -- inside ---------------------------------------------------------------------
    def _open(self) -> Session:
        return self.lake.engine.reader(
            self.lake.storage.allowed(), self.memory_limit, self.threads, self.variables
        )

    def _current(self, datasets: Sequence[str]) -> tuple[Session, dict[str, list[str]]]:
        with self._lock:
            if self._database is None:
                self._database = self._open()
            database = self._database
            columns: dict[str, list[str]] = {}
            for dataset in datasets:
                layer, name = dataset.split(".")
                snapshot = self.lake.snapshot_for(layer, name)
                version = snapshot.snapshot_id if snapshot is not None else None
                shown = self._shown.get(dataset)
                if shown is None or shown[0] != version:
                    shown = (version, self._show_one(database, dataset, snapshot))
                    self._shown[dataset] = shown
                columns[dataset] = list(shown[1])
            cursor = database.cursor()
        try:
            for variable, value in self.variables.items():  # a cursor's variables are its own
                cursor.execute(f"SET VARIABLE {variable} = ?", [value])
        except BaseException:
            cursor.close()
            raise
        return cursor, columns

    def show(
        self, session: Session, datasets: Sequence[str], pin: Pin = Pin()
    ) -> dict[str, list[str]]:
        """Show ``datasets`` at ``pin`` on a session the caller owns (a writer, for models)."""
        as_of, pinned = pin.as_of, None
        if pin.snapshot_id is not None:
            layer, name, found = self.lake.find_snapshot(pin.snapshot_id)
            pinned = f"{layer}.{name}"
            as_of = datetime.fromtimestamp(found.timestamp_ms / 1000).astimezone()
        columns = {}
        for dataset in datasets:
            layer, name = dataset.split(".")
            snapshot = self.lake.snapshot_for(
                layer,
                name,
                as_of=as_of if dataset != pinned else None,
                snapshot_id=pin.snapshot_id if dataset == pinned else None,
            )
            columns[dataset] = self._show_one(session, dataset, snapshot)
        return columns

    def _show_one(self, session: Session, dataset: str, snapshot: Snapshot | None) -> list[str]:
        layer, name = dataset.split(".")
        files = self._files(dataset, snapshot)
        sealing = self.lake.sealing
        opened = sealing.opened(session, layer, name) if sealing is not None else None
        return session.show_table(
            self.view(dataset), files, self.lake.arrow_schema(layer, name), opened
        )

    def _files(self, dataset: str, snapshot: Snapshot | None) -> list[str]:
        """The data files of one snapshot of a table; planned once per snapshot."""
        if snapshot is None:
            return []
        key = (dataset, snapshot.snapshot_id)
        with self._lock:
            files = self._planned.get(key)
        if files is None:
            layer, name = dataset.split(".")
            files = self.lake.data_files(layer, name, snapshot)
            with self._lock:
                self._planned[key] = files
                if len(self._planned) > _CACHE_SIZE:
                    self._planned.popitem(last=False)
        return files
