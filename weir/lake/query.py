"""Read-only SQL over the lake's tables, as they are now or as they were.

Each lake table appears as a view ``layer.name`` over the Parquet files of the
chosen snapshot (DuckDB cannot load the Iceberg extension here, so pyiceberg
plans the files). Two walls keep it read-only: the statement is parsed with
SQLGlot and only a query that names lake tables passes, and the DuckDB
connection can read nothing but the lake folder, with its configuration locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from weir.errors import QueryError
from weir.lake.catalog import Lake, parquet_scan

# Functions that read files, other databases, or the engine's own internals.
_FORBIDDEN_FUNCTION_PREFIXES = ("read_", "parquet_", "duckdb_", "sniff_", "iceberg_", "delta_")
_FORBIDDEN_FUNCTIONS = {
    "glob",
    "query",
    "query_table",
    "getenv",
    "current_setting",
    "sql_auto_complete",
    "pragma_table_info",
    "pragma_storage_info",
    "pragma_metadata_info",
    "which_secret",
}


def working_connection(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection for weir's own work (checking, staging, building), in UTC.

    It installs and loads no extension (nothing is fetched from the network).
    Unlike ``LakeReader.connect`` it is not locked down: it runs weir's SQL, not a user's.
    """
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    con.execute("SET TimeZone = 'UTC'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return con


@dataclass(frozen=True)
class Pin:
    """Which version of the lake a query reads: now, as of a time, or from a snapshot."""

    as_of: datetime | None = None
    snapshot_id: int | None = None


class LakeReader:
    """Opens locked-down DuckDB connections with the lake's tables as views."""

    def __init__(self, lake: Lake, memory_limit: str = "4GB", threads: int | None = None) -> None:
        self.lake = lake
        self.memory_limit = memory_limit
        self.threads = threads

    def connect(self, pin: Pin = Pin()) -> duckdb.DuckDBPyConnection:
        """A read-only connection: it can read the lake folder and nothing else."""
        con = duckdb.connect(
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "allow_community_extensions": False,
                "python_enable_replacements": False,  # no Python variable is a table
                "memory_limit": self.memory_limit,
            }
        )
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        con.execute("SET allowed_directories = ?", [[str(self.lake.warehouse) + "/"]])
        con.execute("SET enable_external_access = false")
        self.attach(con, pin)
        con.execute("SET lock_configuration = true")
        return con

    def attach(self, con: duckdb.DuckDBPyConnection, pin: Pin = Pin()) -> None:
        """Create a view ``layer.name`` per lake table on ``con``, at the pinned version."""
        as_of = pin.as_of
        pinned_table = None
        if pin.snapshot_id is not None:
            layer, name, pinned = self.lake.find_snapshot(pin.snapshot_id)
            pinned_table = (layer, name)
            as_of = datetime.fromtimestamp(pinned.timestamp_ms / 1000).astimezone()
        con.execute("SET TimeZone = 'UTC'")
        for layer, name in self.lake.tables():
            snapshot = self.lake.snapshot_for(
                layer,
                name,
                as_of=as_of if (layer, name) != pinned_table else None,
                snapshot_id=pin.snapshot_id if (layer, name) == pinned_table else None,
            )
            self.show(con, layer, name, self.lake.data_files(layer, name, snapshot))

    def show(self, con: duckdb.DuckDBPyConnection, layer: str, name: str, files: list[str]) -> None:
        """(Re)define the view of one table over the given data files."""
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{layer}"')
        view = exp.table_(name, db=layer, quoted=True).sql("duckdb")
        existing = con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [layer, name],
        ).fetchall()
        if existing:
            con.execute(f"DROP {'VIEW' if existing[0][0] == 'VIEW' else 'TABLE'} {view}")
        if files:
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM {parquet_scan(files)}")
        else:
            empty = self.lake.arrow_schema(layer, name).empty_table()
            con.register("_weir_empty", empty)
            con.execute(f"CREATE TABLE {view} AS SELECT * FROM _weir_empty")
            con.unregister("_weir_empty")

    def sql(self, query: str, pin: Pin = Pin()) -> pa.Table:
        ensure_read_only(query)
        con = self.connect(pin)
        try:
            return con.sql(query).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(
                f"query failed: {_first_line(exc)}", "check the SQL; list tables with `weir status`"
            ) from None
        finally:
            con.close()


def ensure_read_only(query: str) -> exp.Query:
    """Parse ``query`` and refuse anything but one read-only query over lake tables."""
    try:
        statements = [s for s in sqlglot.parse(query, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"cannot parse the SQL: {_first_line(exc)}", "check the syntax") from None
    if len(statements) != 1:
        raise QueryError(
            f"expected one statement, got {len(statements)}", "send one SELECT at a time"
        )
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise QueryError(
            f"only read queries are allowed, not {tree.key.upper()}",
            "weir sql is read-only: write SELECT (or WITH … SELECT)",
        )
    for node in tree.walk():
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_FUNCTION_PREFIXES):
                raise QueryError(
                    f"function {name}() is not allowed",
                    "query lake tables by name, e.g. staging.pos",
                )
        if isinstance(node, (exp.Command, exp.Pragma, exp.Set)):
            raise QueryError("only read queries are allowed", "write SELECT (or WITH … SELECT)")
    return tree


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
