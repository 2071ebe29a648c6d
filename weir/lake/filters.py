"""Row filters over a lake table's columns: which rows a write deletes, which files a read plans.

The lake plans and deletes with Iceberg's expressions; callers build them
here, so nothing outside the lake needs pyiceberg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThan,
)

RowFilter = BooleanExpression

# pyiceberg's predicates are built by __new__; mypy reads the pydantic __init__ (hence the ignores)


def every_row() -> RowFilter:
    return AlwaysTrue()


def at_least(column: str, value: Any) -> RowFilter:
    """Rows whose ``column`` is ``value`` or more."""
    return GreaterThanOrEqual(column, value)  # type: ignore[call-arg,arg-type]


def between(column: str, low: Any, high: Any) -> RowFilter:
    """Rows whose ``column`` is at least ``low`` and less than ``high``."""
    return And(GreaterThanOrEqual(column, low), LessThan(column, high))  # type: ignore[call-arg,arg-type]


def equal(column: str, value: Any) -> RowFilter:
    """Rows whose ``column`` is ``value``."""
    return EqualTo(column, value)  # type: ignore[call-arg,arg-type]


def one_of(column: str, values: Sequence[Any]) -> RowFilter:
    """Rows whose ``column`` is one of ``values``."""
    return In(column, list(values))  # type: ignore[call-arg,arg-type]
