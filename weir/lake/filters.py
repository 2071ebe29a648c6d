"""Row filters over a lake table's columns: which rows a write deletes, which files a read plans.

The lake plans and deletes with Iceberg's expressions; callers build them
here, so nothing outside the lake needs pyiceberg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:  # pyiceberg is imported when a filter is made: planning needs none
    from pyiceberg.expressions import BooleanExpression

    RowFilter: TypeAlias = BooleanExpression

# pyiceberg's predicates are built by __new__; mypy reads the pydantic __init__ (hence the ignores)


def every_row() -> RowFilter:
    from pyiceberg.expressions import AlwaysTrue

    return AlwaysTrue()


def at_least(column: str, value: Any) -> RowFilter:
    """Rows whose ``column`` is ``value`` or more."""
    from pyiceberg.expressions import GreaterThanOrEqual

    return GreaterThanOrEqual(column, value)  # type: ignore[call-arg,arg-type]


def between(column: str, low: Any, high: Any) -> RowFilter:
    """Rows whose ``column`` is at least ``low`` and less than ``high``."""
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

    return And(GreaterThanOrEqual(column, low), LessThan(column, high))  # type: ignore[call-arg,arg-type]


def equal(column: str, value: Any) -> RowFilter:
    """Rows whose ``column`` is ``value``."""
    from pyiceberg.expressions import EqualTo

    return EqualTo(column, value)  # type: ignore[call-arg,arg-type]


def one_of(column: str, values: Sequence[Any]) -> RowFilter:
    """Rows whose ``column`` is one of ``values``."""
    from pyiceberg.expressions import In

    return In(column, list(values))  # type: ignore[call-arg,arg-type]
