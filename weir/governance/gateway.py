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
4. **The session** (``queries``): the engine's locked read session can read
   the lake folder and nothing else, its configuration is locked, extensions
   cannot load, no Python object is a table, and a timer interrupts a query
   that runs too long.

The gateway itself is a pure rewrite: SQL and a principal in, checked SQL
out. ``GatewayQueries`` (``queries``) runs what it lets through, and words
the engine's errors.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from weir.engine import BindError, EngineError, Session
from weir.engine import table as table_sql
from weir.errors import AccessDenied, QueryError, WeirError
from weir.governance.masks import scan_select
from weir.governance.policy import Policy, Principal
from weir.governance.sqlcheck import (
    TableRef,
    check_table,
    check_tree,
    lake_tables,
    names_cte_in_scope,
    parse_query,
)

_CACHE_SIZE = 1024
_DUCKDB = Dialect.get_or_raise("duckdb")


@dataclass(frozen=True)
class CheckedQuery:
    sql: str  # the rewritten DuckDB SQL (never shown to users)
    datasets: tuple[str, ...]  # lake tables it reads, "layer.name", sorted
    check_ms: float  # parse + check + rewrite time


class Gateway:
    """Checks, rewrites and runs SQL for a principal under one policy."""

    def __init__(self, policy: Policy, parser: Session) -> None:
        self.policy = policy
        # the views' schemas carry a random prefix: text that slipped past the check
        # could still not name a table, not even one another query has shown
        self.prefix = f"weir_{secrets.token_hex(6)}_"
        self._parser = parser  # lists the tables of the final SQL; it can read nothing
        self.known = frozenset(policy.known_datasets())
        self._checked: OrderedDict[tuple[str, str, bool], CheckedQuery] = OrderedDict()
        self._scans: dict[tuple[str, str, tuple[str, ...]], exp.Expr | None] = {}
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
        tree, refs = self.analyse(sql, principal, trusted, self.known)
        columns = {}
        for ref in refs:
            known = self.policy.columns(ref.dataset)
            if known is None:
                raise AccessDenied(
                    f"no lake table {ref.dataset} you may read",
                    "list the datasets you may read in the catalog, or ask for a grant",
                )
            columns[ref.dataset] = known
        rewritten = self.rewrite(tree, refs, principal.role, columns)
        checked = CheckedQuery(rewritten, datasets_of(refs), _ms(started))
        self.remember(cache_key, checked)
        return checked

    def cached(self, sql: str, principal: Principal, trusted: bool) -> CheckedQuery | None:
        """The query as checked before for the principal's role, if it was."""
        with self._lock:
            return self._checked.get((sql, principal.role, trusted))

    def remember(self, key: tuple[str, str, bool], checked: CheckedQuery) -> None:
        with self._lock:
            self._checked[key] = checked
            if len(self._checked) > _CACHE_SIZE:
                self._checked.popitem(last=False)

    def analyse(
        self, sql: str, principal: Principal, trusted: bool, known: Container[str]
    ) -> tuple[exp.Expr, list[TableRef]]:
        """Parse and check ``sql`` for ``principal``; the tree and the lake tables it reads."""
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

    def rewrite(
        self,
        tree: exp.Expr,
        refs: Sequence[TableRef],
        role: str,
        columns: Mapping[str, Sequence[str]],
    ) -> str:
        """The checked tree as the SQL to run: each table its view, masked and filtered."""
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
                node.set("db", exp.to_identifier(self.prefix + layer, quoted=True))
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
        self._verify(rendered, {self.prefix + r.dataset for r in refs})
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
                    _VIEW_REFERENCE.match(entry) for entry in self._parser.table_names(rendered)
                ]
            named = [m.group(1).lower() if m else "?" for m in found]
        except BindError:
            named = _tables_read_back(rendered)
        except EngineError:
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

    def view_name(self, dataset: str) -> str:
        """Where ``dataset`` is shown to the gateway's sessions (SQL a user sends cannot name it)."""
        layer, name = dataset.split(".")
        return table_sql(name, self.prefix + layer)

    def close(self) -> None:
        self._parser.close()


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


def datasets_of(refs: Sequence[TableRef]) -> tuple[str, ...]:
    return tuple(sorted({r.dataset for r in refs}))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
