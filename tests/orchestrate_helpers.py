"""What the orchestration tests share: a clock they move by hand and projects with schedules."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

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


GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"
SOURCES = ("stores", "products", "pos")
SCHEDULE = (
    "schedules:\n  - name: nightly\n    sources: [stores, products, pos]\n"
    "    select: [warehouse.dim_store, warehouse.dim_product]\n"
    "    cron: '0 2 * * *'\n    retries: {count: 2, backoff: 30s}\n"
)
TABLES = (
    "raw.stores",
    "staging.stores",
    "raw.products",
    "staging.products",
    "raw.pos",
    "staging.pos",
    "warehouse.dim_store",
    "warehouse.dim_product",
)


def shop(folder: Path, schedules: str = SCHEDULE) -> Path:
    """The example project on three golden sources, with ``schedules``."""
    root = weir.init_project(folder)
    for source in SOURCES:
        shutil.copytree(GOLDEN / source, root / "landing" / source)
    return with_schedules(root, schedules)


def lake_counts(project: weir.Project) -> dict[str, int]:
    """Rows in each table one run of SCHEDULE writes."""
    return {
        t: int(project.sql(f"SELECT count(*) AS n FROM {t}").column("n")[0].as_py()) for t in TABLES
    }


def ledger(project: weir.Project) -> tuple[list[tuple[str, int]], int]:
    """(source, files) of each committed batch, and how many files were taken in twice."""
    with project.store.begin() as db:
        batches = db.execute(
            sa.text(
                "SELECT source, files FROM weir_batches WHERE status = 'committed' ORDER BY source"
            )
        ).all()
        twice = db.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT path FROM weir_files GROUP BY path HAVING count(*) > 1) d"
            )
        ).scalar_one()
    return [(str(s), int(f)) for s, f in batches], int(twice)


T_UTC = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)
