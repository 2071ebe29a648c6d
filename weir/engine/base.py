"""The seam to a compute engine: a small interface and a capabilities record.

weir computes in an engine (DuckDB by default) and stores in the lake
(Iceberg). Everything that runs SQL talks to an ``Engine`` and the
``Session``s it opens, never to the engine's library: ingestion and models
through a writer session, people's SQL through a locked read session. A lake
table is shown to a session as a view over the data files of the snapshot
the lake planned, and a batch leaves a session as data files the lake then
commits. What differs between engines is declared in ``Capabilities``, not
tested for by name.
"""

from __future__ import annotations

import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from weir.engine.atrest import DataKey

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, and how it speaks."""

    name: str
    dialect: str  # the SQLGlot dialect its SQL is written in
    in_process: bool  # runs in weir's process (results are Arrow tables without a copy)
    locked_sessions: bool  # a session can be limited to the lake folder and locked
    interrupt: bool  # a running statement can be stopped from another thread
    partitioned_writes: bool  # writes one folder of files per partition value
    parses_table_names: bool  # can list the tables a statement reads without running it


class Session(ABC):
    """One connection to the engine: statements, Arrow in and out, views of lake tables."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Self:
        """Run one statement; fetch its rows with ``fetchall``/``fetchone``."""

    @abstractmethod
    def fetchall(self) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def fetchone(self) -> tuple[Any, ...] | None: ...

    @abstractmethod
    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """The result of a query as an Arrow table."""

    @abstractmethod
    def arrow_batches(self, sql: str, batch_rows: int) -> pa.RecordBatchReader:
        """The result of a query as a stream of Arrow batches (read only what is needed)."""

    @abstractmethod
    def columns(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        """(name, engine type) of a query's result columns, without running it."""

    @abstractmethod
    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table readable as ``name`` (until ``unregister``)."""

    @abstractmethod
    def unregister(self, name: str) -> None: ...

    @abstractmethod
    def show_table(
        self,
        view: tuple[str, str],
        files: Sequence[str],
        empty: pa.Schema,
        computed: Mapping[str, str] | None = None,
    ) -> list[str]:
        """(Re)define ``schema.name`` as a view over a snapshot's data files; returns its columns.

        With no file (no snapshot yet, or none at that time) the view is an empty
        table of the lake table's columns and types. ``computed``: columns the view
        shows as an SQL expression of the stored column instead (personal data opened).
        """

    def add_function(self, name: str, function: Callable[..., pa.Array], arguments: int) -> None:
        """Make ``function`` (text Arrow arrays in, a text Arrow array out) callable as ``name``.

        Registering a name again keeps the first function.
        """
        raise NotImplementedError(f"this engine cannot call a host function ({name})")

    @abstractmethod
    def write_files(
        self, select: str, folder: str | Path, partition_by: str | None = None
    ) -> list[str]:
        """Write the rows of ``select`` as Parquet files under ``folder``; returns their paths.

        ``folder`` is a local folder or a location of the engine's ``filesystem``
        (``s3://bucket/key``).
        With ``partition_by`` (a DATE column of ``select``), one sub-folder per value.
        """

    @abstractmethod
    def lake_schema(self, select: str) -> pa.Schema:
        """The Arrow schema ``select``'s rows are stored with in the lake (see ``portable``)."""

    @abstractmethod
    def portable(self, select: str) -> str:
        """``select`` with columns of types the lake lacks cast to ones it has."""

    @abstractmethod
    def table_names(self, sql: str) -> list[str]:
        """The tables ``sql`` reads, as ``schema.table`` (with `` AS alias`` when aliased).

        Raises ``BindError`` when the engine cannot tell without the tables.
        """

    @abstractmethod
    def cursor(self) -> Session:
        """Another session on the same database (its views and tables), for another thread."""

    @abstractmethod
    def interrupt(self) -> None:
        """Stop the statement running now (from another thread)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


S = TypeVar("S", bound=Session)


class Writers(Generic[S]):
    """The open writer sessions of each thread, so a run's work can be interrupted."""

    def __init__(self) -> None:
        self._by_thread: dict[int, weakref.WeakSet[S]] = {}
        self._lock = threading.Lock()

    def add(self, session: S) -> S:
        """Count ``session`` among the calling thread's writers (until it is collected)."""
        with self._lock:
            for gone in [key for key, sessions in self._by_thread.items() if not sessions]:
                del self._by_thread[gone]
            self._by_thread.setdefault(threading.get_ident(), weakref.WeakSet()).add(session)
        return session

    def of(self, thread_id: int) -> list[S]:
        """The writer sessions thread ``thread_id`` opened that are still open."""
        with self._lock:
            return list(self._by_thread.get(thread_id, ()))


class Engine(ABC):
    """Opens sessions. One instance per project; sessions are cheap and short-lived."""

    capabilities: Capabilities
    # the key of the lake's data files when they are encrypted at rest: every session reads
    # and writes them with it
    at_rest: DataKey | None = None
    # the fsspec file system of the lake's object store, when it is on one: every session
    # reads and writes the lake's s3:// locations through it (None: the lake is local)
    filesystem: Any | None = None

    @abstractmethod
    def writer(self, threads: int | None = None) -> Session:
        """A session for ingestion and models: it reads and writes files, loads no extension."""

    def interrupt_writers(self, thread_id: int) -> int:
        """Stop the statements running in the writer sessions thread ``thread_id`` opened.

        Returns how many sessions were told; an engine that cannot interrupt tells none.
        """
        return 0

    @abstractmethod
    def reader(
        self,
        allowed: Sequence[str | Path],
        memory_limit: str = "4GB",
        threads: int | None = None,
        variables: dict[str, str] | None = None,
    ) -> Session:
        """A locked session for people's SQL: it reads files under ``allowed`` and nothing else.

        ``allowed`` are local folders or object-store prefixes (``s3://bucket/lake/``).
        No network, no extension, no host-language object as a table, and its
        settings cannot be changed by the SQL it runs. ``variables`` are set
        before it is locked (the gateway's masking key).
        """

    @abstractmethod
    def parser(self) -> Session:
        """A session that reads nothing, for checking what a statement names."""

    @abstractmethod
    def scan(self, files: Sequence[str], file_column: str | None = None) -> str:
        """SQL reading a snapshot's data files as one relation (with each row's file, if named)."""
