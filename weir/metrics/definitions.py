"""KPI definitions: ``metrics/*.yml``, one entry per KPI (see docs/kpis.md).

A KPI is an aggregate over the rows of one mart, grouped by period (day, ISO
week, month) and any of its dimensions. Ratios are written as ratios of sums,
so they hold for any period. A KPI measured at a moment (a stock level, a
backlog) takes only the rows of each period's last day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import sqlglot
from pydantic import AfterValidator, Field, model_validator
from sqlglot import exp

from weir.engine.sql import PARSE_ERRORS
from weir.errors import ProjectError, UnknownName
from weir.project.base import FieldProblem, Strict
from weir.project.config import Team
from weir.project.loader import load_model

METRICS_DIR = "metrics"
Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# what a versus_control KPI counts per variant (weir.metrics.experiments sets them against control)
VERSUS_CONTROL_COUNTS = ("sessions", "conversions", "excluded_sessions")


def _mart_name(text: str) -> str:
    """``layer.table``, each part a plain name: it is written into SQL as a quoted table."""
    layer, _, table = text.partition(".")
    if not (_NAME.fullmatch(layer) and _NAME.fullmatch(table)):
        raise ValueError(f"'{text}' is not a table name: write layer.table, e.g. marts.sales_daily")
    return text


def _expression(text: str) -> str:
    """One SQL expression, nothing around it: KPI SQL puts it in parentheses as it is."""
    try:
        sqlglot.parse_one(text, read="duckdb", into=exp.Condition)
    except PARSE_ERRORS:
        raise ValueError(
            f"'{text}' is not one SQL expression (check its brackets and quotes)"
        ) from None
    return text


MartName = Annotated[str, AfterValidator(_mart_name)]
Expression = Annotated[str, AfterValidator(_expression)]


class Step(Strict):
    step: int = Field(ge=1)
    name: str
    value: Expression = Field(description="aggregate counting what reached this step")


class Figure(Strict):
    """A secondary figure read from another mart (e.g. the backlog beside time to resolution)."""

    mart: MartName
    time: str
    value: Expression
    at_period_end: bool = False


class KpiDefinition(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    team: Team
    description: str
    mart: MartName = Field(description="namespace.table the KPI reads")
    time: str = Field(description="the mart column holding each row's day")
    value: Expression = Field(description="SQL aggregate: the headline figure")
    empty: Literal["zero", "null"] = Field(
        default="null",
        description="what a period with no rows shows: zero for sums and counts, null for ratios",
    )
    secondary: dict[str, Expression | Figure] = Field(
        default_factory=dict, description="name → SQL aggregate, or a figure from another mart"
    )
    where: Expression | None = Field(
        default=None, description="a filter on the mart's rows before grouping"
    )
    period_figures: dict[str, Expression] = Field(
        default_factory=dict,
        description="name → aggregate over all the period's rows (whatever the grouping), "
        "usable in value as any_value(name)",
    )
    dimensions: list[str] = Field(default_factory=list)
    at_period_end: bool = Field(
        default=False, description="only the rows of each period's last day count"
    )
    steps: list[Step] = Field(default_factory=list, description="funnels: one row per step")
    versus_control: bool = Field(
        default=False,
        description="A/B tests: always by experiment and variant, each variant set against "
        "its experiment's control (lift, interval, p-value, sessions needed)",
    )

    @model_validator(mode="after")
    def _versus_control(self) -> KpiDefinition:
        """An A/B KPI has the dimensions and counts its statistics are worked out from."""
        if not self.versus_control:
            return self
        missing = [d for d in ("experiment", "variant") if d not in self.dimensions]
        if missing:
            raise FieldProblem(
                "dimensions",
                f"a versus_control KPI needs the dimension(s) {', '.join(missing)}",
                "add them to dimensions",
            )
        absent = [c for c in VERSUS_CONTROL_COUNTS if c not in self.secondary]
        if absent:
            raise FieldProblem(
                "secondary",
                f"a versus_control KPI needs the secondary figure(s) {', '.join(absent)}",
                "add them, e.g. sessions: sum(sessions), conversions: sum(converted), "
                "excluded_sessions: sum(excluded)",
            )
        if self.steps:
            raise FieldProblem("steps", "a versus_control KPI has no steps", "remove steps")
        return self


class MetricsFile(Strict):
    kpis: list[KpiDefinition]


@dataclass(frozen=True)
class Catalogue:
    kpis: dict[str, KpiDefinition]

    def get(self, name: str) -> KpiDefinition:
        try:
            return self.kpis[name]
        except KeyError:
            fix = "list them with `weir kpi --list`"
            raise UnknownName.among("kpi", name, self.kpis, fix, "KPI") from None


def load_catalogue(root: Path) -> Catalogue:
    kpis: dict[str, KpiDefinition] = {}
    for path in sorted((root / METRICS_DIR).glob("*.yml")):
        for kpi in load_model(path, MetricsFile, root).kpis:
            if kpi.name in kpis:
                raise ProjectError(
                    f"{path.name}: KPI {kpi.name} is defined twice", "keep one definition"
                )
            kpis[kpi.name] = kpi
    return Catalogue(kpis)


def columns_read(kpi: KpiDefinition) -> dict[str, list[str]]:
    """The columns of each mart a KPI reads (its time column first), by mart.

    Read from its expressions: value, secondary figures, steps, ``where`` and
    the period figures; a name the KPI defines itself (a period figure) is not
    a column. Figures from another mart count under their own mart.
    """
    own = [kpi.value, *(s.value for s in kpi.steps), *kpi.period_figures.values()]
    own += [e for e in kpi.secondary.values() if isinstance(e, str)]
    if kpi.where:
        own.append(kpi.where)
    found: dict[str, list[str]] = {kpi.mart: [kpi.time, *_columns(own, set(kpi.period_figures))]}
    for figure in kpi.secondary.values():
        if isinstance(figure, Figure):
            known = found.setdefault(figure.mart, [])
            known += [figure.time, *_columns([figure.value], set())]
    return {mart: list(dict.fromkeys(names)) for mart, names in found.items()}


def _columns(expressions: list[str], defined: set[str]) -> list[str]:
    names: list[str] = []
    for text in expressions:
        tree = sqlglot.parse_one(text, read="duckdb", into=exp.Condition)
        names += [c.name for c in tree.find_all(exp.Column) if c.name not in defined]
    return names
