"""``weir health``: the state of every source, stream and model, in one list.

A source's state is the worst of its freshness (judged now), its volume and
its schema drift (as the last ``weir quality run`` found them); a stream's
comes from its consumer (stopped, failing, erring); a model's from its last
build. Other parts of weir add their own rows through a ``HealthPart``: a
function of the time that returns rows (scheduled runs add theirs so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from weir.quality.checks import Check, CheckState, worst
from weir.quality.freshness import human_age


@dataclass(frozen=True)
class HealthItem:
    """One thing weir runs or keeps, and how it is: ``ok``, ``warn`` or ``error``."""

    component: str  # source, stream, model (and what other parts add)
    name: str
    state: CheckState
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "name": self.name,
            "state": self.state,
            "detail": self.detail,
            **self.facts,
        }


HealthPart = Callable[[float], list[HealthItem]]


@dataclass(frozen=True)
class Health:
    """Every item's state at ``checked_at``; the whole is as bad as its worst item."""

    checked_at: float
    items: tuple[HealthItem, ...]

    @property
    def state(self) -> CheckState:
        return worst(i.state for i in self.items)

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per item, every row with the same columns (for tables and CSV)."""
        extra: list[str] = []
        for item in self.items:
            extra += [k for k in item.facts if k not in extra]
        return [
            {**dict.fromkeys(["component", "name", "state", "detail", *extra]), **i.as_row()}
            for i in self.items
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": datetime.fromtimestamp(self.checked_at, UTC).isoformat(),
            "state": self.state,
            "items": [i.as_row() for i in self.items],
        }


def source_item(
    name: str,
    freshness: Check | None,
    event_age: float | None,
    arrival_age: float | None,
    volume: Sequence[Check],
    drift: Check | None,
) -> HealthItem:
    """A source's row: freshness now, and its newest day's volume and its drift as last run."""
    newest = max((c.day for c in volume if c.day is not None), default=None)
    latest = [c for c in volume if c.day == newest]
    volume_state = worst(c.state for c in latest)
    states = [volume_state, drift.state if drift else "ok"]
    if freshness is not None:
        states.append(freshness.state)
    parts = []
    if freshness is not None and freshness.state != "ok":
        parts.append(freshness.message)
    parts += [c.message for c in latest if c.state != "ok"]
    if drift is not None and drift.state != "ok":
        parts.append(drift.message)
    return HealthItem(
        "source",
        name,
        worst(states),
        "; ".join(parts) or "ok",
        {
            "freshness": freshness.state if freshness else "no contract",
            "event_age": human_age(event_age) if event_age is not None else None,
            "arrival_age": human_age(arrival_age) if arrival_age is not None else None,
            "volume": volume_state if volume else "not run",
            "drift": drift.state if drift else "not run",
        },
    )
