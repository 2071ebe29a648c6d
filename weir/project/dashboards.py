"""Dashboards as project files: ``dashboards/<name>.yml``, one team's page of the web app.

A dashboard names the roles that may open it, its default filters, its KPI
tiles, its charts and its tables. The file's shape is checked here (unknown
fields refused, every problem with the file, the line and the fix); whether
its KPIs and their dimensions exist is checked against the KPI catalogue when
the dashboards are opened (``weir.governance.dashboards``)::

    title: Sales
    roles: [sales, sales_north, analyst]      # admin roles may open every dashboard
    filters: {range: 8w, grain: week, compare: true, dimensions: [region, product_type]}
    tiles:
      - net_sales                              # a KPI name, or {kpi, title, format}
      - {kpi: average_basket, format: currency}
    charts:
      - {kpi: net_sales, kind: line}
      - {kpi: net_sales, kind: bar, by: region, drill: store_id}
    tables:
      - {title: Products, kpi: net_sales, by: [product_type, product_id]}
      - {title: Out of stock, sql: "SELECT … FROM marts.stock_daily WHERE …"}
    refresh: 15s                               # over streamed data: new numbers on their own
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from weir.errors import ProjectError
from weir.project.base import FieldProblem, Name, Strict
from weir.project.durations import Duration
from weir.project.loader import ProjectFiles, load_model

DASHBOARDS_DIR = "dashboards"
ValueFormat = Literal["number", "count", "currency", "share", "percent", "hours", "seconds", "days"]
VALUE_FORMATS: tuple[str, ...] = get_args(ValueFormat)
ChartKind = Literal["line", "bar", "funnel"]
CHART_KINDS: tuple[str, ...] = get_args(ChartKind)
DashboardGrain = Literal["day", "week", "month"]


class Filters(Strict):
    """What a dashboard shows before anyone changes a filter."""

    range: Duration = Field(
        default="8w",
        description="the date range: this long, ending on the newest day the tiles' KPIs have",
    )
    grain: DashboardGrain = "week"
    compare: bool = Field(default=True, description="compare with the previous period")
    exclude_flagged: bool = Field(default=False, description="leave out flagged days")
    dimensions: list[str] = Field(
        default=[], description="dimensions offered as filters (each KPI that has one is split)"
    )


class Tile(Strict):
    """A KPI's value for the period, its change against the previous period, a sparkline."""

    kpi: str
    title: str | None = None
    format: ValueFormat = "number"


class Chart(Strict):
    """A KPI over time (line), by a dimension for the last period (bar), or a funnel."""

    kpi: str
    kind: ChartKind = "line"
    title: str | None = None
    by: str | None = Field(default=None, description="line: one series per value; bar: the bars")
    drill: str | None = Field(
        default=None, description="bar: the dimension a click on a bar breaks it into"
    )
    format: ValueFormat = "number"

    @model_validator(mode="after")
    def _shape(self) -> Chart:
        if self.kind == "bar" and self.by is None:
            raise FieldProblem("by", "a bar chart needs the dimension of its bars", "add by: …")
        if self.drill is not None and self.kind != "bar":
            raise FieldProblem(
                "drill", "only a bar chart drills down", "remove drill, or kind: bar"
            )
        if self.kind == "funnel" and self.by is not None:
            raise FieldProblem("by", "a funnel is not split by a dimension", "remove by")
        return self


class Table(Strict):
    """Rows: a KPI by dimensions for the last period, or a read-only query as the viewer."""

    title: str
    kpi: str | None = None
    by: list[str] = Field(default=[], description="kpi: the dimensions of its rows")
    sql: str | None = Field(default=None, description="one read-only query over granted tables")
    format: ValueFormat = "number"
    description: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> Table:
        if (self.kpi is None) == (self.sql is None):
            raise FieldProblem("sql", "a table takes either kpi (with by) or sql", "keep one")
        if self.kpi is not None and not self.by:
            raise FieldProblem("by", "a KPI table lists its values by dimensions", "add by: [...]")
        return self


class DashboardConfig(Strict):
    """One dashboard file."""

    title: str = Field(min_length=1, max_length=120)
    description: str = ""
    roles: list[Name] = Field(min_length=1, description="roles that may open it (admin: all)")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    filters: Filters = Filters()
    tiles: list[str | Tile] = Field(default=[], description="KPI tiles, in one row")
    charts: list[Chart] = Field(default=[], description="charts, two to a row")
    tables: list[Table] = Field(default=[], description="tables, below the charts")
    refresh: Duration | None = Field(
        default=None,
        description="while the page is open, look for new data this often (e.g. 15s): "
        "for a dashboard over streamed data; left out, the page shows what it was opened with",
    )

    @field_validator("tiles")
    @classmethod
    def _tiles(cls, tiles: list[str | Tile]) -> list[str | Tile]:
        return [Tile(kpi=t) if isinstance(t, str) else t for t in tiles]

    @model_validator(mode="after")
    def _not_empty(self) -> DashboardConfig:
        if not (self.tiles or self.charts or self.tables):
            raise FieldProblem(
                "tiles", "the dashboard shows nothing", "add tiles, charts or tables"
            )
        return self

    def tile_list(self) -> list[Tile]:
        return [t if isinstance(t, Tile) else Tile(kpi=t) for t in self.tiles]


def dashboard_files(root: Path) -> list[Path]:
    return sorted((root / DASHBOARDS_DIR).glob("*.yml"))


def load_dashboards(files: ProjectFiles) -> dict[str, DashboardConfig]:
    """Every ``dashboards/*.yml`` by name (the file's stem), its shape and roles checked."""
    found: dict[str, DashboardConfig] = {}
    for path in dashboard_files(files.root):
        name = path.stem
        shown = path.relative_to(files.root)
        if not name.replace("_", "").replace("-", "").isalnum() or not name[:1].isalpha():
            raise ProjectError(
                f"{shown}: '{name}' is not a dashboard name",
                "name the file with letters, digits, - and _, starting with a letter",
            )
        config = load_model(path, DashboardConfig, files.root)
        for role in config.roles:
            if role not in files.config.roles:
                defined = ", ".join(sorted(files.config.roles)) or "none"
                raise ProjectError(
                    f"{shown}: roles: no role '{role}' in weir.yml",
                    f"roles defined in weir.yml: {defined}",
                )
        found[name] = config
    return found
