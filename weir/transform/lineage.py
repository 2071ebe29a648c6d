"""Column-level lineage of a model, from its parsed SQL.

Each output column maps to the ``namespace.table.column`` values it is
computed from, following CTEs and subqueries (SQLGlot's lineage over the
query qualified against the upstream tables' columns).
"""

from __future__ import annotations

import logging
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.lineage import Node, lineage

from weir.engine import Session, ident
from weir.errors import NotFoundError
from weir.transform.dag import ModelGraph
from weir.transform.model import Model

log = logging.getLogger(__name__)


def column_lineage(con: Session, model: Model) -> dict[str, list[str]]:
    """output column → sorted ``namespace.table.column`` it reads; empty when it cannot be traced."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for name in model.depends_on:
        namespace, table = name.split(".", 1)
        columns = con.columns(f"SELECT * FROM {ident(namespace)}.{ident(table)}")
        schema.setdefault(namespace, {})[table] = dict(columns)
    tree = sqlglot.parse_one(model.sql, read="duckdb")
    try:
        nodes = lineage(None, tree, schema=schema, dialect="duckdb")
    except (sqlglot.errors.SqlglotError, KeyError, ValueError) as exc:
        # lineage is a help, never a reason for a build to fail
        log.warning("no column lineage for %s: %s", model.name, exc)
        return {}
    assert isinstance(nodes, dict)
    return {column: sorted(_sources(node)) for column, node in nodes.items()}


def _sources(node: Node) -> set[str]:
    found: set[str] = set()
    for item in node.walk():
        if not item.downstream and isinstance(item.source, exp.Table):
            table = item.source
            # the node is named as the SQL names it (``pos."timestamp"``): the column, unquoted
            column = exp.to_column(item.name, dialect="duckdb").name
            if table.db:
                found.add(f"{table.db}.{table.name}.{column}")
    return found


def dataset_lineage(
    graph: ModelGraph, columns: dict[str, dict[str, list[str]]], dataset: str
) -> dict[str, object]:
    """Upstream and downstream of a dataset, or of one of its columns (``ns.table.column``)."""
    parts = dataset.split(".")
    if len(parts) not in (2, 3):
        raise NotFoundError(
            f"'{dataset}' is not a dataset name", "write namespace.table or namespace.table.column"
        )
    table = ".".join(parts[:2])
    known = set(graph.models) | set(graph.lake_tables)
    if table not in known:
        raise NotFoundError(
            f"no dataset named {table}",
            "list them with `weir status` and `weir plan`",
            kind="dataset",
            name=table,
        )
    if len(parts) == 2:
        upstream: set[str] = set()
        stack = [table]
        while stack:
            model = graph.models.get(stack.pop())
            for dep in model.depends_on if model else ():
                if dep not in upstream:
                    upstream.add(dep)
                    stack.append(dep)
        downstream = {n for n, m in graph.models.items() if _reads(graph, n, table)}
        return {"dataset": table, "upstream": sorted(upstream), "downstream": sorted(downstream)}
    column = dataset
    up: set[str] = set()
    stack = [column]
    while stack:
        current = stack.pop()
        owner, _, name = current.rpartition(".")
        for source in columns.get(owner, {}).get(name, []):
            if source not in up:
                up.add(source)
                stack.append(source)
    down: set[str] = set()
    stack = [column]
    while stack:
        current = stack.pop()
        for owner, mapping in columns.items():
            for name, sources in mapping.items():
                target = f"{owner}.{name}"
                if current in sources and target not in down:
                    down.add(target)
                    stack.append(target)
    return {"dataset": column, "upstream": sorted(up), "downstream": sorted(down)}


def _reads(graph: ModelGraph, name: str, table: str) -> bool:
    return name != table and (
        table in graph.models[name].depends_on
        or any(
            _reads(graph, dep, table)
            for dep in graph.models[name].depends_on
            if dep in graph.models
        )
    )


def lineage_edges(
    graph: ModelGraph, columns: dict[str, dict[str, list[str]]], dataset: str
) -> tuple[str, list[tuple[str, str]]]:
    """The focus and the direct edges (read → written) of everything up- and downstream of it.

    For a table, an edge is a model reading a table; for a column
    (``ns.table.column``), an output column computed from an input column.
    """
    found = dataset_lineage(graph, columns, dataset)
    focus = str(found["dataset"])
    nodes = {focus, *cast(list[str], found["upstream"]), *cast(list[str], found["downstream"])}
    edges: set[tuple[str, str]] = set()
    if focus.count(".") == 1:
        for name in nodes & set(graph.models):
            edges.update((dep, name) for dep in graph.models[name].depends_on if dep in nodes)
    else:
        for owner, mapping in columns.items():
            for name, sources in mapping.items():
                target = f"{owner}.{name}"
                if target in nodes:
                    edges.update((source, target) for source in sources if source in nodes)
    return focus, sorted(edges)
