"""What the orchestration tests share: a clock they move by hand and projects with schedules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import weir

STORES = "store_id,name,city,region,country,opened_on\n1,Main,Leeds,North,GB,2020-01-01\n"


class HandClock:
    """A clock that stands still until a test moves it (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self.now += timedelta(**delta)
            return self.now


def with_schedules(root: Path, yaml_text: str, timezone: str = "UTC") -> Path:
    """Replace the example's schedules with ``yaml_text`` (a ``schedules:`` block)."""
    config = root / "weir.yml"
    text = config.read_text(encoding="utf-8")
    text = text[: text.index("\nschedules:")] + "\n" + yaml_text
    text = text.replace("timezone: UTC", f"timezone: {timezone}")
    config.write_text(text, encoding="utf-8")
    return root


def open_with_clock(root: Path, clock: HandClock) -> weir.Project:
    project = weir.Project(root)
    project.orchestrate.clock = clock
    return project


def land_stores(root: Path, name: str = "stores_2026-03-01.csv", content: str = STORES) -> None:
    path = root / "landing" / "stores" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


T_UTC = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)
