"""The team dashboards (``dashboards/*.yml``) answered as a principal, cached per lake version.

Every number of a dashboard is a KPI answer from ``Access.kpi`` (the same call
``GET /api/v1/kpis/<name>`` makes: grants, masks, row filters, the audit log)
or a query through ``Access.query``; nothing here writes SQL of its own. A
filter on a dimension asks the KPI by that dimension and keeps the rows of the
chosen value, so a tile under a filter equals the API's row for that value.

Answers are cached per role and question while the lake's tables and the
flagged days stay as they were: a page seen twice asks the engine once. A
page answered from the cache leaves one audit record saying so.

A dashboard a role may not open is not found, like a dataset outside its grants.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from weir.errors import AccessDenied, NotFoundError, ProjectError, QueryError
from weir.governance.access import Access
from weir.governance.policy import Principal
from weir.lake import Lake
from weir.metadata.audit import AuditEntry
from weir.metrics.definitions import METRICS_DIR, KpiDefinition
from weir.metrics.flags import FlaggedDay
from weir.metrics.service import Kpis, marts_of
from weir.project import ProjectFiles
from weir.project.dashboards import (
    DASHBOARDS_DIR,
    Chart,
    DashboardConfig,
    Table,
    Tile,
    load_dashboards,
)
from weir.project.durations import parse_duration

CACHE_ANSWERS = 2000  # KPI answers kept, across roles and questions
TABLE_ROWS = 1000  # rows a dashboard table shows at most


@dataclass(frozen=True)
class Filters:
    """What a view of a dashboard asks: range, grain, comparison, flagged days, dimensions."""

    start: date
    end: date
    grain: str
    compare: bool
    exclude_flagged: bool
    dimensions: tuple[tuple[str, str], ...] = ()  # (dimension, value) chosen

    def value_of(self, dimension: str) -> str | None:
        return dict(self.dimensions).get(dimension)

    def period_start(self) -> date:
        """The first day of the last period of the range (the period tiles and bars show)."""
        if self.grain == "week":
            first = self.end - timedelta(days=self.end.weekday())
        elif self.grain == "month":
            first = self.end.replace(day=1)
        else:
            first = self.end
        return max(first, self.start)


@dataclass(frozen=True)
class Answer:
    """The rows behind one tile, chart or table, and the question that gave them."""

    kpi: KpiDefinition | None
    rows: pa.Table
    by: tuple[str, ...]
    note: str = ""  # e.g. a filter this KPI cannot take
    truncated: bool = False


@dataclass(frozen=True)
class Asked:
    """What one tile, chart or table asks of its KPI: the question its answer comes from."""

    kpi: KpiDefinition
    grain: str
    by: tuple[str, ...]  # the dimensions asked by (those chosen in the filters among them)
    start: date
    end: date
    compare: bool
    exclude_flagged: bool
    chosen: tuple[tuple[str, str], ...] = ()  # the rows kept: (dimension, value)
    skipped: tuple[str, ...] = ()  # dimensions of the filters this KPI does not have


@dataclass
class View:
    """A dashboard answered for one principal and one set of filters."""

    name: str
    config: DashboardConfig
    filters: Filters
    newest: date | None
    tiles: list[tuple[Tile, Answer]] = field(default_factory=list)
    charts: list[tuple[Chart, Answer]] = field(default_factory=list)
    tables: list[tuple[Table, Answer]] = field(default_factory=list)
    flags: list[FlaggedDay] = field(default_factory=list)
    cached: int = 0  # answers that came from the cache
    asked: int = 0  # answers the engine computed


class Dashboards:
    """The project's dashboards, checked against its KPIs, and their answers as a principal."""

    def __init__(self, files: ProjectFiles, access: Access, kpis: Kpis, lake: Lake) -> None:
        self.files = files
        self.access = access
        self.kpis = kpis
        self.lake = lake
        self._cache: OrderedDict[Hashable, tuple[pa.Table, bool]] = OrderedDict()
        self._lock = threading.Lock()
        self._configs: tuple[Hashable, dict[str, DashboardConfig]] | None = None
        self._catalogue: dict[str, KpiDefinition] = {}

    # -- the files ------------------------------------------------------------------------------
    def configs(self) -> dict[str, DashboardConfig]:
        """Every dashboard file, checked: its shape, its roles, its KPIs and their dimensions.

        Read again when a dashboard or metrics file changes (their times are compared).
        """
        root = self.files.root
        stamp = tuple(
            (str(p), p.stat().st_mtime_ns)
            for folder in (DASHBOARDS_DIR, METRICS_DIR)
            for p in sorted((root / folder).glob("*.yml"))
        )
        if self._configs is not None and self._configs[0] == stamp:
            return self._configs[1]
        boards = load_dashboards(self.files)
        catalogue = self.kpis.catalogue().kpis
        for name, board in boards.items():
            _check(name, board, catalogue)
        self._configs = (stamp, boards)
        self._catalogue = catalogue
        return boards

    def readable(self, principal: Principal) -> set[str]:
        """The KPIs whose marts the principal's role may read (as ``Access.kpis`` says)."""
        if self._configs is None:
            self.configs()
        policy = self.access.policy()
        return {
            name
            for name, kpi in self._catalogue.items()
            if all(policy.can_read(principal.role, m) for m in marts_of(kpi))
        }

    def built(self, kpi: str) -> bool:
        """Whether every mart the KPI reads is in the lake (not before its sources first arrive)."""
        return all(self.lake.exists(*m.split(".", 1)) for m in marts_of(self.definition(kpi)))

    def definition(self, kpi: str) -> KpiDefinition:
        """A KPI's definition, as of the files the dashboards were last checked against.

        (Every public call checks the files first, through ``get``, ``visible`` or ``configs``.)
        """
        found = self._catalogue.get(kpi)
        return found if found is not None else self.kpis.catalogue().get(kpi)

    def visible(self, principal: Principal) -> dict[str, DashboardConfig]:
        """The dashboards the principal's role may open (admin roles: every one)."""
        admin = self.access.policy().is_admin(principal.role)
        return {n: b for n, b in self.configs().items() if admin or principal.role in b.roles}

    def get(self, principal: Principal, name: str) -> DashboardConfig:
        """One dashboard the role may open; not found (with the closest it may) otherwise."""
        visible = self.visible(principal)
        if name not in visible:
            raise NotFoundError.among(
                "dashboard", name, list(visible), "open one from the top bar", "dashboard"
            )
        return visible[name]

    # -- answering ---------------------------------------------------------------------------------
    def default_filters(self, principal: Principal, name: str) -> Filters:
        board = self.get(principal, name)
        newest = self.newest_day(principal, board) or date.today()
        span = parse_duration(board.filters.range)
        return Filters(
            start=newest - timedelta(days=max(span.days, 1) - 1),
            end=newest,
            grain=board.filters.grain,
            compare=board.filters.compare,
            exclude_flagged=board.filters.exclude_flagged,
        )

    def view(self, principal: Principal, name: str, filters: Filters | None = None) -> View:
        """Every tile, chart and table of the dashboard, answered as ``principal``."""
        board = self.get(principal, name)
        stamp = self._stamp()
        newest = self.newest_day(principal, board, stamp)
        if filters is None:
            filters = self.default_filters(principal, name)
        unknown = [d for d, _ in filters.dimensions if d not in board.filters.dimensions]
        if unknown:
            raise QueryError(
                f"the dashboard {name} has no filter {', '.join(unknown)}",
                f"its filters: {', '.join(board.filters.dimensions) or 'none'}",
            )
        view = View(name, board, filters, newest)
        counter: list[int] = [0, 0]
        # what the role may not read is left out of its view, as if it were not there; so is
        # a KPI whose mart is not built yet (its sources have not arrived): no data yet
        readable = {kpi for kpi in self.readable(principal) if self.built(kpi)}
        for tile in board.tile_list():
            if tile.kpi in readable:
                view.tiles.append((tile, self.tile(principal, tile, filters, stamp, counter)))
        for chart in board.charts:
            if chart.kpi in readable:
                view.charts.append((chart, self.chart(principal, chart, filters, stamp, counter)))
        for table in board.tables:
            if table.kpi is None or table.kpi in readable:
                try:
                    answer = self.table(principal, table, filters, stamp, counter)
                except (NotFoundError, AccessDenied):  # a query naming a table it may not read
                    continue
                view.tables.append((table, answer))
        kpis = {t.kpi for t in board.tile_list()} | {c.kpi for c in board.charts}
        view.flags = [
            f
            for f in self.kpis.flags.entries()
            if filters.start <= f.day <= filters.end and any(f.concerns(k) for k in kpis)
        ]
        view.cached, view.asked = counter
        if view.cached and not view.asked:
            marts = sorted({m for k in kpis for m in marts_of(self.definition(k))})
            self.access.audit.append(
                AuditEntry(
                    "kpi",
                    f"dashboard {name} from={filters.start} to={filters.end} "
                    f"grain={filters.grain}: {view.cached} answers as cached for this lake version",
                    principal.user,
                    principal.role,
                    tuple(marts),
                )
            )
        return view

    def item(
        self, principal: Principal, name: str, kind: str, index: int, filters: Filters
    ) -> Answer:
        """The answer behind one tile, chart or table (``kind``, its 0-based ``index``)."""
        found = self._item(principal, name, kind, index)
        stamp = self._stamp()
        counter = [0, 0]
        if isinstance(found, Tile):
            return self.tile(principal, found, filters, stamp, counter)
        if isinstance(found, Chart):
            return self.chart(principal, found, filters, stamp, counter)
        return self.table(principal, found, filters, stamp, counter)

    def asked(
        self, principal: Principal, name: str, kind: str, index: int, filters: Filters
    ) -> Asked:
        """The KPI question behind one tile, chart or KPI table, as its answer asks it.

        Not found when the role may not read the KPI's marts, as for its answer.
        """
        found = self._item(principal, name, kind, index)
        plan = _plan(found, filters)
        if plan is None:
            raise NotFoundError(
                f"{kind} {index + 1} of the dashboard {name} is a query, not a KPI",
                f"its SQL is in dashboards/{name}.yml",
            )
        if plan[0] not in self.readable(principal):
            raise NotFoundError(f"the dashboard {name} has no {kind} {index + 1}", "see the page")
        return self._asked(*plan)

    def _item(self, principal: Principal, name: str, kind: str, index: int) -> Tile | Chart | Table:
        board = self.get(principal, name)
        lists: dict[str, Sequence[Tile | Chart | Table]] = {
            "tile": board.tile_list(),
            "chart": board.charts,
            "table": board.tables,
        }
        items = lists.get(kind, [])
        if not 0 <= index < len(items):
            raise NotFoundError(f"the dashboard {name} has no {kind} {index + 1}", "see the page")
        return items[index]

    def version(self, principal: Principal, name: str) -> str:
        """The version of what the dashboard shows: it changes when its answers may.

        The current version of each mart its KPIs read (of every table when it
        has a table of SQL), the flagged days of its KPIs and the policy; cheap
        enough to ask every few seconds (the lake's versions are kept until its
        change signal moves). A live page asks again only when this changed.
        """
        board = self.get(principal, name)
        kpis = {t.kpi for t in board.tile_list()} | {c.kpi for c in board.charts}
        kpis |= {t.kpi for t in board.tables if t.kpi is not None}
        marts = {m for k in kpis for m in marts_of(self.definition(k))}
        every = any(t.sql is not None for t in board.tables)
        versions = sorted(
            (f"{layer}.{table}", location)
            for (layer, table), location in self.lake.versions().items()
            if every or f"{layer}.{table}" in marts
        )
        flags = sorted(
            (f.day.isoformat(), f.dataset, f.kpi or "")
            for f in self.kpis.flags.entries()
            if any(f.concerns(k) for k in kpis)
        )
        text = repr((versions, flags, hash(self.access.policy())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def newest_day(
        self, principal: Principal, board: DashboardConfig, stamp: Hashable | None = None
    ) -> date | None:
        """The newest day the dashboard's first built KPI has rows for (the default range ends there)."""
        kpis = [*(t.kpi for t in board.tile_list()), *(c.kpi for c in board.charts)]
        first = next((kpi for kpi in kpis if self.built(kpi)), None)
        if first is None:
            return None
        rows = self._ask(principal, first, "month", (), None, None, False, False, stamp, [0, 0])
        if rows.num_rows == 0:
            return None
        last_month = max(rows.column("period").to_pylist())
        days = self._ask(principal, first, "day", (), last_month, None, False, False, stamp, [0, 0])
        found = [d for d in days.column("period").to_pylist() if d is not None]
        return max(found) if found else None

    def tile(
        self,
        principal: Principal,
        tile: Tile,
        filters: Filters,
        stamp: Hashable,
        counter: list[int],
    ) -> Answer:
        """The KPI at the filters' grain over the range; its last row is the tile's value."""
        plan = _plan(tile, filters)
        assert plan is not None
        return self._kpi_answer(principal, *plan, stamp, counter)

    def chart(
        self,
        principal: Principal,
        chart: Chart,
        filters: Filters,
        stamp: Hashable,
        counter: list[int],
    ) -> Answer:
        plan = _plan(chart, filters)
        assert plan is not None
        return self._kpi_answer(principal, *plan, stamp, counter)

    def table(
        self,
        principal: Principal,
        table: Table,
        filters: Filters,
        stamp: Hashable,
        counter: list[int],
    ) -> Answer:
        plan = _plan(table, filters)
        if plan is not None:
            return self._kpi_answer(principal, *plan, stamp, counter)
        assert table.sql is not None
        key = ("sql", stamp, principal.role, table.sql)
        cached = self._cached(key)
        if cached is not None:
            counter[0] += 1
            return Answer(None, cached[0], (), truncated=cached[1])
        counter[1] += 1
        result = self.access.query(table.sql, principal, limit=TABLE_ROWS)
        self._keep(key, result.table, result.truncated)
        return Answer(None, result.table, (), truncated=result.truncated)

    # -- the parts ----------------------------------------------------------------------------------
    def _kpi_answer(
        self,
        principal: Principal,
        name: str,
        by: tuple[str, ...],
        filters: Filters,
        start: date,
        stamp: Hashable,
        counter: list[int],
    ) -> Answer:
        asked = self._asked(name, by, filters, start)
        rows = self._ask(
            principal,
            name,
            asked.grain,
            asked.by,
            asked.start,
            asked.end,
            asked.compare,
            asked.exclude_flagged,
            stamp,
            counter,
        )
        for dimension, value in asked.chosen:
            keep = [shown(v) == value for v in rows.column(dimension).to_pylist()]
            rows = rows.filter(pa.array(keep, pa.bool_()))
        skipped = asked.skipped
        note = f"not split by {', '.join(skipped)}: the filter does not apply" if skipped else ""
        return Answer(asked.kpi, rows, asked.by, note)

    def _asked(self, name: str, by: tuple[str, ...], filters: Filters, start: date) -> Asked:
        kpi = self.definition(name)
        chosen = tuple((d, v) for d, v in filters.dimensions if d in kpi.dimensions)
        skipped = tuple(d for d, _ in filters.dimensions if d not in kpi.dimensions)
        return Asked(
            kpi,
            filters.grain,
            tuple(dict.fromkeys([*by, *(d for d, _ in chosen)])),
            start,
            filters.end,
            filters.compare,
            filters.exclude_flagged,
            chosen,
            skipped,
        )

    def _ask(
        self,
        principal: Principal,
        name: str,
        grain: str,
        by: tuple[str, ...],
        start: date | None,
        end: date | None,
        compare: bool,
        exclude_flagged: bool,
        stamp: Hashable | None,
        counter: list[int],
    ) -> pa.Table:
        stamp = self._stamp() if stamp is None else stamp
        key = (stamp, principal.role, name, grain, by, start, end, compare, exclude_flagged)
        cached = self._cached(key)
        if cached is not None:
            counter[0] += 1
            return cached[0]
        counter[1] += 1
        result = self.access.kpi(
            principal,
            name,
            grain,
            by,
            start=start,
            end=end,
            compare="previous_period" if compare else None,
            exclude_flagged=exclude_flagged,
        )
        self._keep(key, result.table, result.truncated)
        return result.table

    def _stamp(self) -> Hashable:
        """The lake's and the flags' state: an answer is reused only while it holds."""
        versions = tuple(sorted(self.lake.versions().items()))
        flags = tuple((f.day, f.dataset, f.kpi) for f in self.kpis.flags.entries())
        return hash((versions, flags, self.access.policy()))

    def _cached(self, key: Hashable) -> tuple[pa.Table, bool] | None:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found

    def _keep(self, key: Hashable, table: pa.Table, truncated: bool) -> None:
        with self._lock:
            self._cache[key] = (table, truncated)
            while len(self._cache) > CACHE_ANSWERS:
                self._cache.popitem(last=False)


def _plan(
    item: Tile | Chart | Table, filters: Filters
) -> tuple[str, tuple[str, ...], Filters, date] | None:
    """What an item asks its KPI: name, dimensions, filters and first day (None: a SQL table)."""
    if isinstance(item, Tile):
        return item.kpi, (), filters, filters.start
    if isinstance(item, Table):
        if item.kpi is None:
            return None
        return item.kpi, tuple(item.by), filters, filters.period_start()
    by: tuple[str, ...] = (item.by,) if item.by else ()
    if item.kind == "line":
        return item.kpi, by, filters, filters.start
    if item.kind == "funnel":
        plain = Filters(
            filters.start,
            filters.end,
            filters.grain,
            False,
            filters.exclude_flagged,
            filters.dimensions,
        )
        return item.kpi, (), plain, plain.period_start()
    assert item.by is not None
    if filters.value_of(item.by) is not None and item.drill:
        by = (item.by, item.drill)  # drilled down: the chosen value's parts
    return item.kpi, by, filters, filters.period_start()


def shown(value: Any) -> str:
    """A dimension's value as a filter names it (a missing value is ``(none)``)."""
    return "(none)" if value is None else str(value)


def _check(name: str, board: DashboardConfig, catalogue: dict[str, KpiDefinition]) -> None:
    """Every KPI a dashboard names exists and has the dimensions it is asked by."""
    shown = f"dashboards/{name}.yml"

    def kpi(where: str, kpi_name: str) -> KpiDefinition:
        found = catalogue.get(kpi_name)
        if found is None:
            close = difflib.get_close_matches(kpi_name, list(catalogue), n=1)
            raise ProjectError(
                f"{shown}: {where}: no KPI '{kpi_name}'",
                f"did you mean '{close[0]}'?" if close else "KPIs are defined in metrics/*.yml",
            )
        return found

    def dimension(where: str, definition: KpiDefinition, dim: str | None) -> None:
        if dim is not None and dim not in definition.dimensions:
            raise ProjectError(
                f"{shown}: {where}: {definition.name} has no dimension '{dim}'",
                f"its dimensions: {', '.join(definition.dimensions) or 'none'}",
            )

    for i, tile in enumerate(board.tile_list()):
        kpi(f"tiles[{i}]", tile.kpi)
    for i, chart in enumerate(board.charts):
        where = f"charts[{i}]"
        found = kpi(where, chart.kpi)
        dimension(f"{where}.by", found, chart.by)
        dimension(f"{where}.drill", found, chart.drill)
        if (chart.kind == "funnel") != bool(found.steps):
            raise ProjectError(
                f"{shown}: {where}: kind {chart.kind} does not fit {found.name}",
                "a KPI with steps is drawn as kind: funnel, and only such a KPI",
            )
    for i, table in enumerate(board.tables):
        if table.kpi is not None:
            found = kpi(f"tables[{i}]", table.kpi)
            for dim in table.by:
                dimension(f"tables[{i}].by", found, dim)
    every = set().union(*(set(k.dimensions) for k in catalogue.values())) if catalogue else set()
    for dim in board.filters.dimensions:
        if dim not in every:
            raise ProjectError(
                f"{shown}: filters.dimensions: no KPI has a dimension '{dim}'",
                f"dimensions of the KPIs: {', '.join(sorted(every)) or 'none'}",
            )
