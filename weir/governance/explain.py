"""Why a number of a dashboard is what it is: one call that explains a tile, chart or table.

``Explanations.explain`` answers, for one item of a dashboard under its
filters and as the principal who sees it: the KPI's definition in words, the
SQL the KPI service runs for exactly that question (the gateway then applies
the role's masks and row filters), the column lineage of every mart column
the KPI reads down to the source fields, the lake snapshots the answer is
computed from, the days flagged in its range and why, and the question that
reproduces it as of those snapshots (``Access.kpi`` with ``as_of``: what
``GET /api/v1/kpis/<name>`` asks).

Nothing the role may not read is shown: a KPI outside its grants is not found
(as its answer is), and lineage leaves out, and bridges, the datasets the role
may not read, as the catalog does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from weir.governance.catalog import Catalog, LineageGraph
from weir.governance.dashboards import Asked, Dashboards, Filters
from weir.governance.policy import Principal
from weir.lake import Lake, SnapshotInfo
from weir.metrics import KpiDefinition, columns_read, kpi_sql
from weir.metrics.flags import FlaggedDay
from weir.metrics.service import Kpis, marts_of


@dataclass(frozen=True)
class ColumnLineage:
    """One mart column a KPI reads and where it comes from, within what the role may read."""

    column: str  # layer.table.column
    graph: LineageGraph
    sources: tuple[str, ...]  # the furthest upstream fields the role may see (the column if none)
    through: tuple[str, ...] = ()  # the fields between the sources and the column

    @property
    def hidden_upstream(self) -> bool:
        """Nothing upstream is shown: the column is a source itself or its inputs are not readable."""
        return self.sources == (self.column,)


@dataclass(frozen=True)
class Explanation:
    """Everything behind one number of a dashboard (see the module's docstring)."""

    dashboard: str
    kind: str  # tile, chart or table
    number: int  # 1-based, as the page numbers it
    asked: Asked
    sql: str
    lineage: tuple[ColumnLineage, ...]
    snapshots: tuple[SnapshotInfo, ...]  # one per mart the KPI reads: the one it is computed from
    flags: tuple[FlaggedDay, ...]

    @property
    def kpi(self) -> KpiDefinition:
        return self.asked.kpi

    @property
    def as_of(self) -> datetime | None:
        """The moment the lake is read as to reproduce the number: the newest of its snapshots."""
        return max((s.committed_at for s in self.snapshots), default=None)

    def reproduce(self) -> list[tuple[str, str]]:
        """The query parameters of ``GET /api/v1/kpis/<name>`` that answer this number again."""
        asked = self.asked
        params = [
            ("grain", asked.grain),
            ("from", asked.start.isoformat()),
            ("to", asked.end.isoformat()),
        ]
        params += [("by", b) for b in asked.by]
        if asked.compare:
            params.append(("compare", "previous_period"))
        if asked.exclude_flagged:
            params.append(("exclude_flagged", "true"))
        moment = self.as_of
        if moment is not None:
            params.append(("as_of", moment.isoformat(timespec="milliseconds")))
        return params


class Explanations:
    """Explains the numbers of the project's dashboards, as a principal."""

    def __init__(self, dashboards: Dashboards, catalog: Catalog, kpis: Kpis, lake: Lake) -> None:
        self.dashboards = dashboards
        self.catalog = catalog
        self.kpis = kpis
        self.lake = lake

    def explain(
        self, principal: Principal, name: str, kind: str, index: int, filters: Filters
    ) -> Explanation:
        """The explanation of item ``index`` (0-based) of kind ``kind`` of dashboard ``name``."""
        asked = self.dashboards.asked(principal, name, kind, index, filters)
        kpi = asked.kpi
        question = self.kpis.question(
            kpi,
            asked.grain,
            asked.by,
            start=asked.start,
            end=asked.end,
            compare="previous_period" if asked.compare else None,
            exclude_flagged=asked.exclude_flagged,
        )
        lineage = tuple(
            self._lineage(principal, f"{mart}.{column}")
            for mart, columns in columns_read(kpi).items()
            for column in columns
        )
        snapshots = tuple(
            found
            for mart in marts_of(kpi)
            for found in self.lake.snapshots(*mart.split(".", 1))[-1:]
        )
        flags = tuple(
            f
            for f in self.kpis.flags.entries()
            if asked.start <= f.day <= asked.end and f.concerns(kpi.name)
        )
        return Explanation(
            name, kind, index + 1, asked, kpi_sql(question), lineage, snapshots, flags
        )

    def _lineage(self, principal: Principal, column: str) -> ColumnLineage:
        graph = self.catalog.lineage_graph(principal, column)
        # upstream of the column only: walk the edges backwards from it
        before: dict[str, set[str]] = {}
        for source, target in graph.edges:
            before.setdefault(target, set()).add(source)
        sources: list[str] = []
        stack, seen = [column], {column}
        while stack:
            node = stack.pop()
            inputs = before.get(node, set())
            if not inputs:
                sources.append(node)
            for found in sorted(inputs - seen):
                seen.add(found)
                stack.append(found)
        through = sorted(seen - {column} - set(sources))
        return ColumnLineage(column, graph, tuple(sorted(sources)), tuple(through))
