"""Asking a project the golden questions and comparing with the hand-worked answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from golden.expected import DIMENSION_COLUMNS, EXPECTED, ROUND

# one question of each KPI, for a project checked another way too (sealed, encrypted at rest)
ONE_PER_KPI = list({entry["kpi"]: entry for entry in EXPECTED}.values())


def plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, ROUND)
    if isinstance(value, date):
        return value.isoformat()
    return value


def assert_answer(project: Any, entry: dict[str, Any]) -> None:
    """``project`` (a ``weir.Project``) answers ``entry``'s question with its hand-worked rows."""
    table = project.kpis.answer(
        entry["kpi"],
        grain=entry["grain"],
        by=[DIMENSION_COLUMNS[b] for b in entry["by"]],
        start=date.fromisoformat(entry["from"]),
        end=date.fromisoformat(entry["to"]),
    )
    expected = entry["rows"]
    wanted = sorted({key for row in expected for key in row})
    got = [{key: plain(row.get(key)) for key in wanted} for row in table.to_pylist()]
    assert got == [{key: plain(row.get(key)) for key in wanted} for row in expected]
