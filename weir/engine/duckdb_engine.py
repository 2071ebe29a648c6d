"""DuckDB, the default engine: every DuckDB connection weir opens is opened here.

Three kinds of session, each with its settings in one place:

- ``writer``: ingestion and models. No extension is installed or loaded
  (they cannot be downloaded here, and a model has no need of one).
- ``reader``: people's SQL. It can read the lake folder and nothing else:
  external access off but for ``allowed_directories``, no extension, no
  community extension, no Python object by name, a memory and a thread
  limit, and its configuration locked, so the SQL it runs cannot undo any of
  it.
- ``parser``: reads nothing; it lists the tables a statement names.

Every session works in UTC. DuckDB's exceptions become ``weir.engine.errors``.

Writers and readers are bounded: a writer may use ``memory_limit`` (``duckdb:`` in
weir.yml; half of this machine's memory by default), a reader what its caller
gives, and what does not fit is spilled to a folder of its own under ``spill``
(removed when the session closes; a crashed process's folder is removed by the
next engine made on the same spill folder). With the lake's files encrypted at
rest nothing is spilled, since DuckDB writes its spill files in the clear: a
statement that needs more memory fails with ``OutOfMemory`` instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import duckdb
from duckdb.func import FunctionNullHandling, PythonUDFType

from weir.engine import errors
from weir.engine.atrest import KEY_NAME, ROW_GROUP_ROWS, DataKey, write_encrypted
from weir.engine.base import Capabilities, Engine, Session, Writers
from weir.engine.sql import ident, lit, table

if TYPE_CHECKING:  # pyarrow is imported where a result is made: planning needs none
    import pyarrow as pa

CAPABILITIES = Capabilities(
    name="duckdb",
    dialect="duckdb",
    in_process=True,
    locked_sessions=True,
    interrupt=True,
    partitioned_writes=True,
    parses_table_names=True,
)

_NO_EXTENSIONS: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

# DuckDB types Iceberg has no match for, and the type the lake stores them as.
_LAKE_TYPES = {
    "HUGEINT": "BIGINT",
    "UHUGEINT": "BIGINT",
    "UBIGINT": "BIGINT",
    "UINTEGER": "BIGINT",
    "USMALLINT": "INTEGER",
    "UTINYINT": "INTEGER",
    "SMALLINT": "INTEGER",
    "TINYINT": "INTEGER",
}

# DuckDB's exceptions and weir's, most specific first
_ERRORS: tuple[tuple[Any, type[errors.EngineError]], ...] = (
    (duckdb.InterruptException, errors.Interrupted),
    (duckdb.ParserException, errors.ParseError),
    ((duckdb.BinderException, duckdb.CatalogException), errors.BindError),
    (duckdb.ConversionException, errors.ConversionError),
    (duckdb.OutOfMemoryException, errors.OutOfMemory),
    ((duckdb.OutOfRangeException, duckdb.InvalidInputException), errors.InvalidInput),
)


def _translated(error: duckdb.Error) -> errors.EngineError:
    text = str(error).strip() or type(error).__name__
    ours = next((o for kinds, o in _ERRORS if isinstance(error, kinds)), errors.EngineError)
    if ours is errors.OutOfMemory:  # DuckDB's advice (temp_directory, SET …) is not a weir user's
        return ours(
            text.splitlines()[0],
            "raise duckdb.memory_limit in weir.yml (a size such as 8GB, or a share such as 70%)",
        )
    return ours(text)


@contextmanager
def _engine_errors() -> Iterator[None]:
    try:
        yield
    except duckdb.Error as exc:
        raise _translated(exc) from exc


class DuckDBSession(Session):
    """One DuckDB connection (or cursor)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        at_rest: DataKey | None = None,
        filesystem: Any | None = None,
        spill: Path | None = None,
    ) -> None:
        self._con = con
        self._at_rest = at_rest  # the lake's files are encrypted with it (read and written)
        self._spill = spill  # this session's own spill folder, removed when it closes
        if filesystem is not None:  # the lake's object store: DuckDB reaches it through fsspec
            with _engine_errors():
                con.register_filesystem(filesystem)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Self:
        with _engine_errors():
            self._con.execute(sql, params)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        with _engine_errors():
            return self._con.fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        with _engine_errors():
            return self._con.fetchone()

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with _engine_errors():
            if params:
                return self._con.execute(sql, params).to_arrow_table()
            return _faithful(self._con.sql(sql)).to_arrow_table()

    def arrow_batches(self, sql: str, batch_rows: int) -> pa.RecordBatchReader:
        import pyarrow as pa

        with _engine_errors():
            reader = _faithful(self._con.sql(sql)).to_arrow_reader(batch_rows)
        return pa.RecordBatchReader.from_batches(reader.schema, _guarded(reader))

    def columns(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        with _engine_errors():
            described = self._con.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).description
            self._con.fetchall()
        return [(str(column[0]), str(column[1])) for column in described or []]

    def register(self, name: str, data: pa.Table) -> None:
        with _engine_errors():
            self._con.register(name, data)

    def unregister(self, name: str) -> None:
        with _engine_errors():
            self._con.unregister(name)

    def add_function(self, name: str, function: Callable[..., pa.Array], arguments: int) -> None:
        with _engine_errors():
            known = self._con.execute(
                "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [name]
            ).fetchall()
            if known[0][0]:
                return
            self._con.create_function(
                name,
                function,
                ["VARCHAR"] * arguments,
                "VARCHAR",
                type=PythonUDFType.ARROW,
                null_handling=FunctionNullHandling.SPECIAL,
                side_effects=False,
            )

    def show_table(
        self,
        view: tuple[str, str],
        files: Sequence[str],
        empty: pa.Schema,
        computed: Mapping[str, str] | None = None,
    ) -> list[str]:
        schema, name = view
        target = table(name, schema)
        shown = "*"
        with _engine_errors():
            if computed and files:  # an older snapshot may lack a column added since
                encrypted = self._at_rest is not None
                base = self._con.execute(
                    f"SELECT * FROM {scan(files, encrypted=encrypted)} LIMIT 0"
                )
                present = {str(c[0]) for c in base.description or []}
                base.fetchall()
                computed = {c: sql for c, sql in computed.items() if c in present}
            if computed:
                replaced = ", ".join(f"{sql} AS {ident(c)}" for c, sql in computed.items())
                shown = f"* REPLACE ({replaced})"
            self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
            if files:
                self._con.execute(
                    f"CREATE OR REPLACE VIEW {target} AS SELECT {shown} FROM "
                    f"{scan(files, encrypted=self._at_rest is not None)}"
                )
            else:
                holder = table(f"_empty_{name}", schema)
                self._con.register("_weir_empty", empty.empty_table())
                try:
                    self._con.execute(
                        f"CREATE OR REPLACE TABLE {holder} AS SELECT * FROM _weir_empty"
                    )
                finally:
                    self._con.unregister("_weir_empty")
                self._con.execute(
                    f"CREATE OR REPLACE VIEW {target} AS SELECT {shown} FROM {holder}"
                )
            described = self._con.execute(f"SELECT * FROM {target} LIMIT 0").description or []
        return [str(column[0]) for column in described]

    def write_files(
        self, select: str, folder: str | Path, partition_by: str | None = None
    ) -> list[str]:
        target = str(folder)
        if "://" not in target:  # a local folder (a lake on object storage makes its own)
            Path(target).mkdir(parents=True, exist_ok=True)
        options = (
            "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880, FILENAME_PATTERN 'part-{i}',"
            " RETURN_FILES true"
        )
        if partition_by is not None:
            select = f"SELECT *, CAST({ident(partition_by)} AS DATE) AS _day FROM ({select})"
            options += ", PARTITION_BY (_day), OVERWRITE_OR_IGNORE"
        else:
            options += ", FILE_SIZE_BYTES '512MB'"
        if self._at_rest is not None:
            return self._write_encrypted(select, Path(target), partition_by)
        with _engine_errors():
            ordered = self._con.execute(
                "SELECT current_setting('preserve_insertion_order')"
            ).fetchone()
            self._con.execute(
                "SET preserve_insertion_order = false"
            )  # lets DuckDB write in parallel
            try:
                # the files as written, wherever they are (a folder or an object store)
                returned = self._con.execute(f"COPY ({select}) TO {lit(target)} ({options})")
                written = [str(name) for row in returned.fetchall() for name in row[1]]
            finally:
                self._con.execute(f"SET preserve_insertion_order = {bool(ordered and ordered[0])}")
        return sorted(written)

    def _write_encrypted(self, select: str, folder: Path, partition_by: str | None) -> list[str]:
        """``write_files`` with the lake's data key: DuckDB computes, pyarrow encrypts and writes."""
        assert self._at_rest is not None
        with _engine_errors():
            self._con.abort()  # the unread rest of an earlier execute's result is not wanted
            reader = self._con.sql(select).to_arrow_reader(ROW_GROUP_ROWS)
            day = "_day" if partition_by is not None else None
            return write_encrypted(_guarded(reader), reader.schema, folder, self._at_rest, day)

    def lake_schema(self, select: str) -> pa.Schema:
        with _engine_errors():
            return (
                self._con.sql(f"SELECT * FROM ({self.portable(select)}) LIMIT 0")
                .to_arrow_table()
                .schema
            )

    def portable(self, select: str) -> str:
        casts = [
            f"CAST({ident(name)} AS {_LAKE_TYPES[kind]}) AS {ident(name)}"
            for name, kind in self.columns(select)
            if kind in _LAKE_TYPES
        ]
        return select if not casts else f"SELECT * REPLACE ({', '.join(casts)}) FROM ({select})"

    def table_names(self, sql: str) -> list[str]:
        with _engine_errors():
            return sorted(self._con.get_table_names(sql, qualified=True))

    def cursor(self) -> DuckDBSession:
        with _engine_errors():
            return DuckDBSession(self._con.cursor(), self._at_rest)  # shares the file systems

    def interrupt(self) -> None:
        self._con.interrupt()

    def close(self) -> None:
        self._con.close()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)


def _guarded(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The batches of ``reader``; an engine failure while reading is weir's too."""
    with _engine_errors():
        yield from reader


def scan(files: Sequence[str], file_column: str | None = None, encrypted: bool = False) -> str:
    """DuckDB SQL reading a snapshot's data files (paths of partitioned tables carry no columns).

    Encrypted files are read with the session's data key, in a subquery no filter is
    pushed into (DuckDB fails the AES tag of an encrypted scan that filters).
    """
    listed = ", ".join(lit(f) for f in files)
    named = f", filename = {lit(file_column)}" if file_column else ""
    if not encrypted:
        return f"read_parquet([{listed}], hive_partitioning = false, union_by_name = true{named})"
    key = f", encryption_config = {{footer_key: {lit(KEY_NAME)}}}"
    return (
        f"(SELECT * FROM read_parquet([{listed}], hive_partitioning = false,"
        f" union_by_name = true{named}{key}) OFFSET 0)"
    )


class DuckDBEngine(Engine):
    """DuckDB in this process."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        at_rest: DataKey | None = None,
        memory_limit: str = "50%",
        spill: Path | None = None,
    ) -> None:
        self.at_rest = at_rest  # the key of the lake's data files, when they are encrypted
        self.memory_limit = memory_limit  # of each writer session
        # the folder each session spills into a folder of its own in
        self.spill = spill or Path(tempfile.gettempdir()) / "weir-spill"
        _sweep(self.spill)
        # the open writer sessions of each thread, so a run's work can be interrupted
        self._writers: Writers[DuckDBSession] = Writers()

    def _spill_folder(self) -> Path | None:
        """A new session's own spill folder; None when nothing may be spilled (encrypted lake)."""
        if self.at_rest is not None:
            return None
        self.spill.mkdir(parents=True, exist_ok=True)
        return self.spill / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def _connect(self, config: dict[str, Any]) -> DuckDBSession:
        spill = self._spill_folder()
        config = {**config, "temp_directory": "" if spill is None else str(spill)}
        with _engine_errors():
            con = duckdb.connect(config=config)
        return DuckDBSession(con, self.at_rest, self.filesystem, spill)

    def writer(self, threads: int | None = None) -> DuckDBSession:
        session = self._connect({**_NO_EXTENSIONS, "memory_limit": self.memory_limit})
        self._writers.add(session)
        session.execute("SET TimeZone = 'UTC'")
        _add_key(session, self.at_rest)
        if threads:
            session.execute(f"SET threads = {int(threads)}")
        return session

    def interrupt_writers(self, thread_id: int) -> int:
        sessions = self._writers.of(thread_id)
        for session in sessions:
            with suppress(duckdb.Error):  # closed meanwhile: nothing runs in it
                session.interrupt()
        return len(sessions)

    def reader(
        self,
        allowed: Sequence[str | Path],
        memory_limit: str = "4GB",
        threads: int | None = None,
        variables: dict[str, str] | None = None,
    ) -> DuckDBSession:
        config: dict[str, Any] = {
            **_NO_EXTENSIONS,
            "allow_community_extensions": False,
            "python_enable_replacements": False,  # no Python variable is a table
            "memory_limit": memory_limit,
        }
        if threads:
            config["threads"] = int(threads)
        session = self._connect(config)
        try:
            _add_key(session, self.at_rest)
            session.execute(
                "SET allowed_directories = ?", [[str(p).rstrip("/") + "/" for p in allowed]]
            )
            session.execute("SET enable_external_access = false")
            session.execute("SET TimeZone = 'UTC'")
            for name, value in (variables or {}).items():
                session.execute(f"SET VARIABLE {ident(name)} = ?", [value])
            session.execute("SET lock_configuration = true")
        except BaseException:
            session.close()
            raise
        return session

    def parser(self) -> DuckDBSession:
        with _engine_errors():
            return DuckDBSession(
                duckdb.connect(
                    config={
                        **_NO_EXTENSIONS,
                        "enable_external_access": False,
                        "python_enable_replacements": False,
                        "lock_configuration": True,
                    }
                )
            )

    def scan(self, files: Sequence[str], file_column: str | None = None) -> str:
        return scan(files, file_column, encrypted=self.at_rest is not None)


def _sweep(spill: Path) -> None:
    """Remove the spill folders of processes that are gone (a session's is named ``PID-…``)."""
    if not spill.is_dir():
        return
    for folder in spill.iterdir():
        pid = folder.name.partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # alive, another user's
            continue


def _add_key(session: DuckDBSession, key: DataKey | None) -> None:
    """Let ``session`` read files encrypted with ``key`` (before its configuration is locked)."""
    if key is not None:
        session.execute(f"PRAGMA add_parquet_key({lit(KEY_NAME)}, {lit(key.text)})")


# DuckDB types Arrow has no faithful type for: DuckDB hands a UHUGEINT over as a
# decimal128(38, 0) that wraps past 10**38 (2**128 - 1 arrives as -1) and a TIMETZ as
# a time without its offset. A result carries them as their exact text instead.
_LOSSY = ("UHUGEINT", "TIME WITH TIME ZONE")


def _faithful(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """``relation`` with every column of a type in ``_LOSSY`` (or a list of one) cast to text."""
    types = [str(kind) for kind in relation.types]
    if not any(kind.startswith(_LOSSY) for kind in types):
        return relation
    columns = []
    for name, kind in zip(relation.columns, types, strict=True):
        quoted = ident(name)
        if kind.startswith(_LOSSY):
            text = "VARCHAR" + kind[kind.index("[") :] if "[" in kind else "VARCHAR"
            columns.append(f"CAST({quoted} AS {text}) AS {quoted}")
        else:
            columns.append(quoted)
    return relation.project(", ".join(columns))
