"""The SQL gateway: every query a person or a service sends is checked, rewritten and run here.

Four walls, each enough on its own for the common case:

1. **The check** (``sqlcheck``): one read query, made of allow-listed parts,
   naming lake tables as ``layer.table`` that the role is granted.
2. **The rewrite at the scan**: each lake table becomes
   ``(SELECT <columns, personal data masked> FROM <view> WHERE <row filter>)``
   under the name the query used, so whatever the query does with a column
   (filter, join, aggregate, cast, concatenate) it only ever sees the mask
   (``masks``), and only the rows the role may see.
3. **The final SQL, read back**: comments are dropped (DuckDB nests block
   comments, SQLGlot does not), and DuckDB's own parser must find no table in
   it but the views the check allowed; the views live under a random schema
   prefix, so text that slipped past the check could name nothing anyway.
4. **The connection**: DuckDB can read the lake folder and nothing else, its
   configuration is locked, extensions cannot load, no Python object is a
   table, and a timer interrupts a query that runs too long.

Errors from the engine are reported in the gateway's own words: a DuckDB
message can carry a data value (a failed cast prints it), or the rewritten
SQL.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
from pyiceberg.table.snapshots import Snapshot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from weir.errors import AccessDenied, QueryError, WeirError
from weir.governance.masks import KEY_VARIABLE, scan_select
from weir.governance.masks import mask_key as mask_key  # where Project finds it
from weir.governance.policy import Policy, Principal
from weir.governance.sqlcheck import (
    TableRef,
    check_table,
    check_tree,
    lake_tables,
    names_cte_in_scope,
    parse_query,
)
from weir.lake import Lake
from weir.lake.catalog import parquet_scan

_CACHE_SIZE = 1024
_DUCKDB = Dialect.get_or_raise("duckdb")


@dataclass(frozen=True)
class CheckedQuery:
    sql: str  # the rewritten DuckDB SQL (never shown to users)
    datasets: tuple[str, ...]  # lake tables it reads, "layer.name", sorted
    check_ms: float  # parse + check + rewrite time


@dataclass(frozen=True)
class PreparedQuery:
    """A query the gateway checked and rewrote, on a connection ready to run it once."""

    con: duckdb.DuckDBPyConnection
    sql: str  # the rewritten DuckDB SQL (never shown to users)
    datasets: tuple[str, ...]
    check_ms: float
    original: str  # the SQL as sent, for the wording of an engine error


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    datasets: tuple[str, ...]
    check_ms: float
    run_ms: float
    truncated: bool  # more rows existed than `limit`


class Gateway:
    """Checks, rewrites and runs SQL for a principal under one policy."""

    def __init__(
        self,
        policy: Policy,
        lake: Lake,
        key: bytes,
        memory_limit: str = "2GB",
        threads: int = 2,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the masking key must be at least 16 bytes")
        self.policy = policy
        self.lake = lake
        self.memory_limit = memory_limit
        self.threads = threads
        self._key = key.hex()
        # the views' schemas carry a random prefix: text that slipped past the check
        # could still not name a table, not even one another query has shown
        self._namespace = f"weir_{secrets.token_hex(6)}_"
        # parses (and binds types and table functions of) the final SQL; it can read nothing
        self._parser = duckdb.connect(
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "python_enable_replacements": False,
                "lock_configuration": True,
            }
        )
        self._known = frozenset(policy.known_datasets())
        self._checked: OrderedDict[tuple[str, str, bool], CheckedQuery] = OrderedDict()
        self._scans: dict[tuple[str, str, tuple[str, ...]], exp.Expr | None] = {}
        self._planned: OrderedDict[tuple[str, int], list[str]] = OrderedDict()
        # the database current-snapshot queries share: dataset → (snapshot id, columns)
        self._database: duckdb.DuckDBPyConnection | None = None
        self._shown: dict[str, tuple[int | None, list[str]]] = {}
        self._lock = threading.RLock()
        self._parser_lock = threading.Lock()

    # -- checking -------------------------------------------------------------------
    def check(self, sql: str, principal: Principal, trusted: bool = False) -> CheckedQuery:
        """The query as it will run for ``principal``: AccessDenied or QueryError when refused."""
        started = time.perf_counter()
        cache_key = (sql, principal.role, trusted)
        with self._lock:
            hit = self._checked.get(cache_key)
            if hit is not None:
                self._checked.move_to_end(cache_key)
        if hit is not None:
            return CheckedQuery(hit.sql, hit.datasets, _ms(started))
        tree, refs = self._analyse(sql, principal, trusted, self._known)
        columns = {}
        for ref in refs:
            known = self.policy.columns(ref.dataset)
            if known is None:
                raise AccessDenied(
                    f"no lake table {ref.dataset} you may read",
                    "list the datasets you may read in the catalog, or ask for a grant",
                )
            columns[ref.dataset] = known
        rewritten = self._rewrite(tree, refs, principal.role, columns)
        checked = CheckedQuery(rewritten, _datasets(refs), _ms(started))
        self._remember(cache_key, checked)
        return checked

    def _remember(self, key: tuple[str, str, bool], checked: CheckedQuery) -> None:
        with self._lock:
            self._checked[key] = checked
            if len(self._checked) > _CACHE_SIZE:
                self._checked.popitem(last=False)

    def _analyse(
        self, sql: str, principal: Principal, trusted: bool, known: Container[str]
    ) -> tuple[exp.Expr, list[TableRef]]:
        self.policy.role(principal.role)  # an unknown role is refused before anything else
        tree = parse_query(sql)
        refs = lake_tables(check_tree(tree, trusted), known)
        for ref in refs:
            if not self.policy.can_read(principal.role, ref.dataset):
                # worded as for a table that does not exist: a refusal tells nothing of what does
                raise AccessDenied(
                    f"no lake table {ref.dataset} you may read",
                    "list the datasets you may read in the catalog, or ask for a grant",
                )
        return tree, refs

    def _rewrite(
        self,
        tree: exp.Expr,
        refs: Sequence[TableRef],
        role: str,
        columns: Mapping[str, Sequence[str]],
    ) -> str:
        qualified = {(r.node.db.lower(), r.node.name.lower()) for r in refs}
        for column in tree.find_all(exp.Column):
            # layer.table.column: the table now goes by its name alone
            if column.args.get("db") and (column.db.lower(), column.table.lower()) in qualified:
                column.set("db", None)
        for ref in refs:
            scan = self._scan(role, ref.dataset, tuple(columns[ref.dataset]))
            node = ref.node
            layer, name = ref.dataset.split(".")
            if scan is None:
                # nothing to mask or filter: the same view, under a name DuckDB cannot read otherwise
                node.set("db", exp.to_identifier(self._namespace + layer, quoted=True))
                node.set("this", exp.to_identifier(name, quoted=True))
                continue
            alias = node.args.get("alias")
            if alias is None:
                alias = exp.TableAlias(this=exp.to_identifier(node.name, quoted=True))
            node.replace(exp.Subquery(this=scan.copy(), alias=alias))
        # comments go: DuckDB nests block comments, SQLGlot does not
        # the tree is this query's own (scans are copies), so it need not be copied again
        try:
            rendered = _DUCKDB.generate(tree, copy=False, comments=False)
        except RecursionError:
            raise QueryError(
                "the SQL is nested too deeply", "flatten it with CTEs (WITH …)"
            ) from None
        self._verify(rendered, {self._namespace + r.dataset for r in refs})
        return rendered

    def _verify(self, rendered: str, views: set[str]) -> None:
        """The SQL DuckDB will run must name no table but the views the check allowed.

        The check reads SQLGlot's tree and DuckDB runs SQLGlot's text: where the two
        could differ (a word SQLGlot writes back verbatim), this has the last word.
        DuckDB's own parser answers when it can; it also binds some of the query
        (a join's USING columns) and then cannot, without the tables: SQLGlot
        reads the text back instead.
        """
        try:
            with self._parser_lock:
                found = [
                    _VIEW_REFERENCE.match(entry)
                    for entry in self._parser.get_table_names(rendered, qualified=True)
                ]
            named = [m.group(1).lower() if m else "?" for m in found]
        except (duckdb.BinderException, duckdb.CatalogException):
            named = _tables_read_back(rendered)
        except duckdb.Error:
            raise QueryError(
                "the query could not be checked", "simplify it, or ask the data team"
            ) from None
        if any(name not in views for name in named):
            raise AccessDenied(
                "the query reads something it was not checked for",
                "write lake tables as layer.table, with plain SQL",
            )

    def _scan(self, role: str, dataset: str, columns: tuple[str, ...]) -> exp.Expr | None:
        """``SELECT <masked columns> FROM layer.table WHERE <filter>`` for a role, or None if plain."""
        key = (role, dataset, columns)
        if key in self._scans:
            return self._scans[key]
        rule = self.policy.rule(role, dataset, columns)
        scan = (
            None
            if not rule.masked and rule.row_filter is None
            else scan_select(rule, columns, self.view_name(dataset))
        )
        self._scans[key] = scan
        return scan

    # -- running --------------------------------------------------------------------
    def query(
        self,
        sql: str,
        principal: Principal,
        as_of: datetime | None = None,
        limit: int | None = None,
        timeout: float = 30.0,
        trusted: bool = False,
    ) -> QueryResult:
        """Run ``sql`` for ``principal`` on the lake as it is now (or was at ``as_of``)."""
        return self.run(self.prepare(sql, principal, as_of, trusted), limit, timeout)

    def prepare(
        self,
        sql: str,
        principal: Principal,
        as_of: datetime | None = None,
        trusted: bool = False,
    ) -> PreparedQuery:
        """Check and rewrite ``sql`` for ``principal``: AccessDenied or QueryError when refused.

        What this raises is a refusal (the query never reaches the engine); what
        ``run`` raises is a failure of a query the gateway allowed.
        """
        started = time.perf_counter()
        with self._lock:
            checked = self._checked.get((sql, principal.role, trusted))
        if checked is not None and as_of is None:
            # checked before: the same SQL runs, unless a table's columns changed since
            check_ms = _ms(started)
            con, columns = self._current(checked.datasets)
            if all(tuple(columns[d]) == self.policy.columns(d) for d in checked.datasets):
                return PreparedQuery(con, checked.sql, checked.datasets, check_ms, sql)
            con.close()
        tree, refs = self._analyse(sql, principal, trusted, _LakeNames(self._known, self.lake))
        check_ms = _ms(started)
        datasets = _datasets(refs)
        if as_of is None:
            con, columns = self._current(datasets)
        else:
            # an old snapshot gets a connection of its own; the current policy still applies
            con, columns = self._connect(datasets, as_of)
        try:
            begun = time.perf_counter()
            rewritten = self._rewrite(tree, refs, principal.role, columns)
            check_ms += _ms(begun)
            if as_of is None and all(tuple(columns[d]) == self.policy.columns(d) for d in datasets):
                self._remember((sql, principal.role, trusted), CheckedQuery(rewritten, datasets, 0))
        except BaseException:
            con.close()
            raise
        return PreparedQuery(con, rewritten, datasets, check_ms, sql)

    def run(
        self, prepared: PreparedQuery, limit: int | None = None, timeout: float = 30.0
    ) -> QueryResult:
        """Run a prepared query once (its connection is closed after): QueryError when it fails."""
        try:
            begun = time.perf_counter()
            table, truncated = self._run(
                prepared.con, prepared.sql, limit, timeout, prepared.original
            )
            return QueryResult(table, prepared.datasets, prepared.check_ms, _ms(begun), truncated)
        finally:
            prepared.con.close()

    def close(self) -> None:
        with self._lock:
            if self._database is not None:
                self._database.close()
                self._database = None
                self._shown.clear()

    def _current(
        self, datasets: Sequence[str]
    ) -> tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]]:
        """A cursor on the shared database, its views at the tables' current snapshots.

        Views are replaced when a table has a new snapshot; a query already
        running keeps the version it started on (DuckDB's catalog is versioned).
        """
        with self._lock:
            if self._database is None:
                self._database, _ = self._connect([], None)
            database = self._database
            columns: dict[str, list[str]] = {}
            for dataset in datasets:
                layer, name = dataset.split(".")
                snapshot = self.lake.snapshot_for(layer, name)
                version = snapshot.snapshot_id if snapshot is not None else None
                shown = self._shown.get(dataset)
                if shown is None or shown[0] != version:
                    files = self._files(dataset, snapshot)
                    shown = (version, self._define_view(database, dataset, files))
                    self._shown[dataset] = shown
                columns[dataset] = list(shown[1])
            cursor = database.cursor()
        try:
            cursor.execute(f"SET VARIABLE {KEY_VARIABLE} = ?", [self._key])
        except BaseException:
            cursor.close()
            raise
        return cursor, columns

    def _files(self, dataset: str, snapshot: Snapshot | None) -> list[str]:
        """The data files of one snapshot of a table; planned once per snapshot."""
        if snapshot is None:
            return []
        key = (dataset, snapshot.snapshot_id)
        files = self._planned.get(key)
        if files is None:
            layer, name = dataset.split(".")
            files = self.lake.data_files(layer, name, snapshot)
            self._planned[key] = files
            if len(self._planned) > _CACHE_SIZE:
                self._planned.popitem(last=False)
        return files

    def connect(self, datasets: Sequence[str], as_of: datetime | None) -> duckdb.DuckDBPyConnection:
        """A locked-down connection with views of ``datasets`` (at ``as_of``) only.

        It can read the lake folder and nothing else (no other file, no network,
        no extension, no Python object by name), and its settings are locked.
        The views live under names only the gateway knows (see ``view_name``).
        """
        return self._connect(datasets, as_of)[0]

    def view_name(self, dataset: str) -> str:
        """Where ``dataset`` is on the gateway's connections (SQL a user sends cannot name it)."""
        layer, name = dataset.split(".")
        return exp.table_(name, db=self._namespace + layer, quoted=True).sql("duckdb")

    def _connect(
        self, datasets: Sequence[str], as_of: datetime | None
    ) -> tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]]:
        con = duckdb.connect(
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "allow_community_extensions": False,
                "python_enable_replacements": False,
                "memory_limit": self.memory_limit,
                "threads": self.threads,
            }
        )
        columns: dict[str, list[str]] = {}
        try:
            con.execute("SET allowed_directories = ?", [[str(self.lake.warehouse) + "/"]])
            con.execute("SET enable_external_access = false")
            con.execute("SET TimeZone = 'UTC'")
            for dataset in datasets:
                layer, name = dataset.split(".")
                snapshot = self.lake.snapshot_for(layer, name, as_of=as_of)
                columns[dataset] = self._define_view(con, dataset, self._files(dataset, snapshot))
            con.execute(f"SET VARIABLE {KEY_VARIABLE} = ?", [self._key])
            con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        return con, columns

    def _define_view(
        self, con: duckdb.DuckDBPyConnection, dataset: str, files: list[str]
    ) -> list[str]:
        """(Re)define the view of ``dataset`` over ``files``; returns its columns."""
        layer, name = dataset.split(".")
        view = self.view_name(dataset)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._namespace}{layer}"')
        if files:
            con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {parquet_scan(files)}")
        else:
            # no snapshot (yet, or at that time): an empty table of the right columns and types
            holder = exp.table_(f"_empty_{name}", db=self._namespace + layer, quoted=True).sql()
            con.register("_weir_empty", self.lake.arrow_schema(layer, name).empty_table())
            try:
                con.execute(f"CREATE OR REPLACE TABLE {holder} AS SELECT * FROM _weir_empty")
            finally:
                con.unregister("_weir_empty")
            con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {holder}")
        described = con.execute(f"SELECT * FROM {view} LIMIT 0").description or []
        return [str(column[0]) for column in described]

    def _run(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        limit: int | None,
        timeout: float,
        original: str,
    ) -> tuple[pa.Table, bool]:
        timer = threading.Timer(timeout, con.interrupt)
        timer.start()
        try:
            reader = con.sql(sql).to_arrow_reader(min(limit + 1, 100_000) if limit else 100_000)
            batches: list[pa.RecordBatch] = []
            rows = 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if limit is not None and rows > limit:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            raise QueryError(
                f"the query ran longer than {timeout:g}s and was stopped",
                "narrow it: filter by day, aggregate, or add a LIMIT",
            ) from None
        except duckdb.Error as exc:
            raise _safe_error(exc, original, self._namespace) from None
        finally:
            timer.cancel()
        if limit is not None and table.num_rows > limit:
            return table.slice(0, limit), True
        return table, False


class _LakeNames:
    """The lake's tables as the policy knew them, and any made since (listed only when asked)."""

    def __init__(self, known: frozenset[str], lake: Lake) -> None:
        self.known = known
        self.lake = lake
        self.listed: frozenset[str] | None = None

    def __contains__(self, dataset: object) -> bool:
        if dataset in self.known:
            return True
        if self.listed is None:
            self.listed = frozenset(f"{layer}.{name}" for layer, name in self.lake.tables())
        return dataset in self.listed


def _tables_read_back(rendered: str) -> list[str]:
    """The tables SQLGlot finds in SQL it wrote: ``schema.table``, or "?" for anything else."""
    try:
        tree = parse_query(rendered)
    except WeirError:
        return ["?"]
    named = []
    for table in tree.find_all(exp.Table):
        try:
            check_table(table)  # only the table functions and forms the check allows
        except WeirError:
            return ["?"]
        if isinstance(table.this, exp.Func):
            continue
        if not table.db:
            if not names_cte_in_scope(table):
                return ["?"]
            continue
        named.append(f"{table.db}.{table.name}".lower())
    return named


# get_table_names() gives "schema.table", with " AS alias(…)" when the query aliased it
_VIEW_REFERENCE = re.compile(r"^([a-z0-9_]+\.[a-z0-9_]+)(?: AS .*)?$", re.IGNORECASE | re.DOTALL)
_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


def _safe_error(error: duckdb.Error, original: str, namespace: str) -> WeirError:
    """The engine's failure in the gateway's words: never a data value, never the rewritten SQL."""
    if isinstance(error, duckdb.ConversionException):
        return QueryError(
            "a value could not be converted to the type the query asks for",
            "use TRY_CAST, or check the column's type in the catalog (masked columns are text)",
        )
    if isinstance(error, duckdb.OutOfMemoryException):
        return QueryError(
            "the query needs more memory than a query may use",
            "aggregate or filter before joining, or add a LIMIT",
        )
    if isinstance(error, (duckdb.BinderException, duckdb.CatalogException)):
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        first = first.split(": ", 1)[-1]
        lowered = original.lower()

        def keep_if_asked(match: re.Match[str]) -> str:
            # a name the query itself wrote can be repeated; anything else cannot
            inner = match.group(1) if match.group(1) is not None else match.group(2)
            return match.group(0) if inner and inner.lower() in lowered else "…"

        detail = _QUOTED.sub(keep_if_asked, first.replace(namespace, ""))[:200]
        return QueryError(
            f"the query does not fit the tables it reads: {detail}",
            "check column names and types in the catalog",
        )
    if isinstance(error, (duckdb.OutOfRangeException, duckdb.InvalidInputException)):
        return QueryError(
            "a function got a value out of its range or of the wrong form",
            "check the arguments of the functions in the query",
        )
    return QueryError("the query failed in the engine", "simplify the query, or ask the data team")


def _datasets(refs: Sequence[TableRef]) -> tuple[str, ...]:
    return tuple(sorted({r.dataset for r in refs}))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
