"""A KPI question → one SQL query over its mart → one row per period and dimension values.

The answer's shape (docs/kpis.md): ``period`` (the first day of the period), the
dimension columns, ``value`` and the secondary figures. Every period of the
asked range appears, even one with no rows: its sums are 0 and its ratios
null. ``compare="previous_period"`` adds the previous period's value and the
change; ``exclude_flagged`` leaves out the days a quality check flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, TypedDict, cast

import pyarrow as pa

from weir.engine import EngineError, Session, ident, lit, table
from weir.errors import QueryError
from weir.metrics.definitions import GRAINS, Figure, Grain, KpiDefinition

Compare = Literal["previous_period"]
# every period of an asked range is a row, empty or not: a range is held to this many
MAX_PERIODS = 10_000
_DAYS_PER_PERIOD = {"day": 1, "week": 7, "month": 28}


class KpiOptions(TypedDict, total=False):
    """What a KPI question may add to its name, grain and dimensions."""

    start: date | None  # the first day asked for
    end: date | None  # the last day asked for (inclusive)
    compare: str | None  # "previous_period"
    exclude_flagged: bool  # leave out the days a quality check flagged
    as_of: datetime | str | None  # the marts as they were then


@dataclass(frozen=True)
class KpiQuestion:
    kpi: KpiDefinition
    grain: Grain = "day"
    by: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None  # inclusive
    compare: Compare | None = None
    flagged_days: tuple[date, ...] | None = None  # when set: leave these days out

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise QueryError(f"unknown grain {self.grain}", f"use one of {', '.join(GRAINS)}")
        unknown = [d for d in self.by if d not in self.kpi.dimensions]
        if unknown:
            allowed = ", ".join(self.kpi.dimensions) or "none"
            raise QueryError(
                f"{self.kpi.name} has no dimension {', '.join(unknown)}",
                f"its dimensions: {allowed}",
            )


def mart_table(name: str) -> str:
    """A mart's ``layer.table`` name as a quoted, qualified table."""
    layer, _, mart = name.partition(".")
    return table(mart, layer)


def kpi_sql(question: KpiQuestion) -> str:
    kpi = question.kpi
    dims = [ident(d) for d in question.by]
    if kpi.steps:
        return _steps_sql(question, _source(question), ", ".join(["period", *dims]), dims)
    aggregated, names = _aggregated(question)
    spine = _spine(question)
    if spine is None:
        answer = aggregated
    else:
        # every period of the range appears; its dimensions are those seen in it, or none
        dim_cols = "".join(f", a.{d}" for d in dims)
        chosen = ", ".join(
            f"coalesce(a.{ident(name)}, 0) AS {ident(name)}"
            if kpi.empty == "zero" and name == "value"
            else f"a.{ident(name)}"
            for name in names
        )
        answer = (
            f"SELECT s.period{dim_cols}, {chosen} "
            f"FROM ({spine}) AS s LEFT JOIN ({aggregated}) AS a ON a.period = s.period"
        )
    if question.compare == "previous_period":
        answer = _with_previous(answer, question, dims)
    order = ", ".join(["period", *dims])
    return f"SELECT * FROM ({answer}) ORDER BY {order}"


def _source(question: KpiQuestion) -> str:
    """The mart's rows in the asked range, each with its ``period``."""
    kpi = question.kpi
    period = _period(question.grain, ident(kpi.time))
    filters = [f"{ident(kpi.time)} IS NOT NULL"]
    if question.start is not None:
        filters.append(f"{ident(kpi.time)} >= DATE {lit(question.start.isoformat())}")
    if question.end is not None:
        filters.append(f"{ident(kpi.time)} <= DATE {lit(question.end.isoformat())}")
    if question.flagged_days:
        listed = ", ".join(f"DATE {lit(d.isoformat())}" for d in question.flagged_days)
        filters.append(f"CAST({ident(kpi.time)} AS DATE) NOT IN ({listed})")
    source = (
        f"SELECT *, {period} AS period FROM {mart_table(kpi.mart)} WHERE {' AND '.join(filters)}"
    )
    if kpi.at_period_end:
        source = (
            f"SELECT * FROM ({source}) QUALIFY {ident(kpi.time)} = "
            f"max({ident(kpi.time)}) OVER (PARTITION BY period)"
        )
    if kpi.period_figures:
        figures_sql = ", ".join(
            f"({expr}) AS {ident(name)}" for name, expr in kpi.period_figures.items()
        )
        source = (
            f"SELECT * FROM ({source}) JOIN "
            f"(SELECT period, {figures_sql} FROM ({source}) GROUP BY period) USING (period)"
        )
    if kpi.where:
        source = f"SELECT * FROM ({source}) WHERE ({kpi.where})"
    return source


def _aggregated(question: KpiQuestion) -> tuple[str, list[str]]:
    """One row per period and dimension values that has rows (no spine); and its figures' names.

    A figure from another mart keeps the periods and dimension values only it
    has rows for: the KPI's own figures are null there.
    """
    kpi = question.kpi
    dims = [ident(d) for d in question.by]
    group = ", ".join(["period", *dims])
    own = [("value", kpi.value), *((n, e) for n, e in kpi.secondary.items() if isinstance(e, str))]
    measured = ", ".join(f"({expr}) AS {ident(name)}" for name, expr in own)
    aggregated = f"SELECT {group}, {measured} FROM ({_source(question)}) GROUP BY {group}"
    names = [name for name, _ in own]
    for name, figure in kpi.secondary.items():
        if isinstance(figure, Figure):
            aggregated = _join_figure(aggregated, names, question, name, figure, dims)
            names.append(name)
    return aggregated, names


def _join_figure(
    aggregated: str,
    names: list[str],
    question: KpiQuestion,
    name: str,
    figure: Figure,
    dims: list[str],
) -> str:
    """Add a figure computed on another mart, matched on period and the same dimensions.

    A full join: a period (or dimension value) either side has rows for is kept.
    """
    other = KpiDefinition(
        name=question.kpi.name,
        team=question.kpi.team,
        description=name,
        mart=figure.mart,
        time=figure.time,
        value=figure.value,
        at_period_end=figure.at_period_end,
        dimensions=list(question.by),
    )
    sub, _ = _aggregated(
        KpiQuestion(other, question.grain, question.by, question.start, question.end)
    )
    on = " AND ".join(["f.period = a.period", *[f"f.{d} IS NOT DISTINCT FROM a.{d}" for d in dims]])
    keys = ", ".join(f"coalesce(a.{k}, f.{k}) AS {k}" for k in ["period", *dims])
    kept = "".join(f", a.{ident(n)}" for n in names)
    return (
        f"SELECT {keys}{kept}, f.value AS {ident(name)} "
        f"FROM ({aggregated}) AS a FULL OUTER JOIN ({sub}) AS f ON {on}"
    )


def _period(grain: Grain, column: str) -> str:
    day = f"CAST({column} AS DATE)"
    return day if grain == "day" else f"CAST(date_trunc('{grain}', {day}) AS DATE)"


def _spine(question: KpiQuestion) -> str | None:
    if question.start is None or question.end is None:
        return None
    first = _period(question.grain, f"DATE {lit(question.start.isoformat())}")
    step = {"day": "1 day", "week": "7 days", "month": "1 month"}[question.grain]
    return (
        f"SELECT CAST(range AS DATE) AS period FROM range({first}, "
        f"DATE {lit(question.end.isoformat())} + INTERVAL 1 day, INTERVAL {step})"
    )


def _steps_sql(question: KpiQuestion, source: str, group: str, dims: list[str]) -> str:
    kpi = question.kpi
    reached = ", ".join(f"({s.value}) AS step_{s.step}" for s in kpi.steps)
    per_step = " UNION ALL ".join(
        f"SELECT {group}, {s.step} AS step, {lit(s.name)} AS step_name, step_{s.step} AS sessions, "
        f"{'NULL' if i == 0 else f'step_{s.step} / nullif(step_{kpi.steps[i - 1].step}, 0)'} AS conversion "
        f"FROM counted"
        for i, s in enumerate(kpi.steps)
    )
    return (
        f"WITH counted AS (SELECT {group}, {reached} FROM ({source}) GROUP BY {group}) "
        f"SELECT *, sessions AS value, 1 - conversion AS drop_off FROM ({per_step}) "
        f"ORDER BY {', '.join(['period', *dims, 'step'])}"
    )


def _with_previous(answer: str, question: KpiQuestion, dims: list[str]) -> str:
    shift = {"day": "INTERVAL 1 day", "week": "INTERVAL 7 days", "month": "INTERVAL 1 month"}[
        question.grain
    ]
    join = " AND ".join(
        [
            "cur.period = CAST(prev.period + " + shift + " AS DATE)",
            *[f"cur.{d} IS NOT DISTINCT FROM prev.{d}" for d in dims],
        ]
    )
    widened = KpiQuestion(
        question.kpi,
        question.grain,
        question.by,
        _previous_start(question),
        question.end,
        None,
        question.flagged_days,
    )
    everything = kpi_sql(widened)
    return (
        f"SELECT cur.*, prev.value AS previous_value, cur.value - prev.value AS change, "
        f"(cur.value - prev.value) / nullif(abs(prev.value), 0) AS change_pct "
        f"FROM ({answer}) AS cur LEFT JOIN ({everything}) AS prev ON {join}"
    )


def _previous_start(question: KpiQuestion) -> date | None:
    """The first day of the period before the one ``start`` falls in."""
    start = question.start
    if start is None:
        return None
    try:
        if question.grain == "day":
            return start - timedelta(days=1)
        if question.grain == "week":
            return start - timedelta(days=start.weekday() + 7)
        first = start.replace(day=1) - timedelta(days=1)
        return first.replace(day=1)
    except OverflowError:  # before 0001-01-01, the first day a date can be
        raise QueryError(
            f"the period before {start} would start before the year 1",
            "ask from a later date, or without compare=previous_period",
        ) from None


def answer(con: Session, question: KpiQuestion) -> pa.Table:
    try:
        return con.arrow(kpi_sql(question))
    except EngineError as exc:
        first = exc.what.strip().splitlines()[0]
        raise QueryError(
            f"KPI {question.kpi.name} could not be computed: {first}",
            f"check that {question.kpi.mart} is built (`weir run`) and matches metrics/*.yml",
        ) from None


def ask(
    kpi: KpiDefinition,
    grain: str = "day",
    by: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    compare: str | None = None,
    flagged_days: Sequence[date] | None = None,
) -> KpiQuestion:
    """A KPI question from what a person typed, each part checked once (QueryError if wrong)."""
    if grain not in GRAINS:
        raise QueryError(f"unknown grain {grain}", f"use one of {', '.join(GRAINS)}")
    if compare not in (None, "previous_period"):
        raise QueryError(f"unknown comparison {compare}", "use previous_period")
    if start is not None and end is not None and start > end:
        raise QueryError(f"from ({start}) is after to ({end})", "swap them")
    if start is not None and end is not None:
        periods = (end - start).days // _DAYS_PER_PERIOD[grain] + 1
        if periods > MAX_PERIODS:
            raise QueryError(
                f"from {start} to {end} is about {periods:,} periods of a {grain}, "
                f"more than the {MAX_PERIODS:,} one answer may hold",
                "narrow the range, or ask by a coarser grain (week or month)",
            )
    question = KpiQuestion(
        kpi,
        grain,
        tuple(by),
        start,
        end,
        cast(Compare | None, compare),
        tuple(flagged_days) if flagged_days is not None else None,
    )
    if compare is not None:
        _previous_start(question)  # a previous period before the year 1 is refused here
    return question
