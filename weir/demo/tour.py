"""The demo: a fresh example project, the sample retailer's files, and their ingestion.

``make demo`` runs this; each later capability adds its step here, so the
demo stays the front door to the whole platform.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pyarrow as pa

from weir.alerts.checks import stockouts
from weir.alerts.records import Incident as AlertIncident
from weir.demo.carrier import ADDRESS_VARIABLE, serving
from weir.demo.generate import Manifest, generate
from weir.demo.generate.incidents import Incident
from weir.demo.generate.logistics import DB_FILE, DB_FOLDER, SHOP_DB_VARIABLE
from weir.errors import ProjectError
from weir.governance.erasure import Certificate
from weir.ingest import BatchResult
from weir.ingest.batch import Progress
from weir.transform import RunResult
from weir.workspace import Project, init_project

# A few KPIs per team the demo ends with: (name, grain, dimensions).
HEADLINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("net_sales", "month", ("region",)),
    ("gross_margin", "month", ("channel",)),
    ("conversion_rate", "month", ("device_type",)),
    ("inventory_turnover", "month", ("product_type",)),
    ("feedback_score", "month", ("channel",)),
    ("experiment_conversion", "month", ()),  # always by experiment and variant
    ("pnl_revenue_gap", "month", ()),
)


# The demo's last step erases one customer: the first one who bought nothing and browsed
# nothing signed in, so the sales and web tables (and their time travel) stay as built.
ERASED_CUSTOMER_SQL = """
SELECT min(c.customer_id) AS customer_id FROM staging.customers c
WHERE c.customer_id > 0  -- an erased customer's pseudonym is negative
  AND NOT EXISTS (SELECT 1 FROM staging.pos p WHERE p.customer_id = c.customer_id)
  AND NOT EXISTS (SELECT 1 FROM staging.orders o WHERE o.customer_id = c.customer_id)
  AND NOT EXISTS (SELECT 1 FROM staging.web_traffic w WHERE w.user_id = c.customer_id)
"""
ERASURE_REASON = "GDPR art. 17 request (the demo's erased customer)"


# The demo's people: one user per team (and the admin), who sign in to the web app.
DEMO_USERS: tuple[str, ...] = ("sam", "nina", "mia", "oscar", "leo", "sue", "fay", "ana", "ada")


def set_demo_passwords(project: Project, users: Sequence[str] = DEMO_USERS) -> list[dict[str, str]]:
    """Give each demo user (of ``users`` the project has) a new random password for the web
    app; returns who, role, password.

    Printed once by ``weir demo --serve``; only their argon2 hashes are kept.
    """
    known = project.files.config.users
    people = []
    for user in users:
        if user not in known:
            continue
        password = "-".join(secrets.token_urlsafe(6) for _ in range(3))
        project.signin.set_password(user, password, by="weir demo")
        config = known[user]
        people.append(
            {
                "user": user,
                "role": config.roles[0],
                "who": config.description,
                "password": password,
            }
        )
    return people


@dataclass(frozen=True)
class DemoTour:
    project: Path
    manifest: Manifest
    results: list[BatchResult]
    generate_seconds: float
    ingest_seconds: float
    run: RunResult | None = None
    run_seconds: float = 0.0
    headlines: tuple[tuple[str, pa.Table], ...] = ()
    watched: tuple[dict[str, Any], ...] = ()  # each planted incident, and what weir made of it
    alerts: tuple[AlertIncident, ...] = ()
    watch_seconds: float = 0.0
    erased: str | None = None  # the erased customer's id
    erasure: Certificate | None = None
    erase_seconds: float = 0.0

    def summary_rows(self) -> list[dict[str, Any]]:
        rows = []
        for result in self.results:
            expected = self.manifest.sources[result.source]
            c = result.counts
            rows.append(
                {
                    "source": result.source,
                    "files": result.files,
                    "received": c.received,
                    "accepted": c.accepted,
                    "quarantined": c.quarantined,
                    "duplicates": c.duplicates,
                    "seconds": round(result.seconds, 2),
                    "expected": "✓"
                    if _matches(result, expected)
                    else f"✗ {expected.accepted}/{expected.quarantined}/{expected.duplicates}",
                }
            )
        return rows

    @property
    def reconciled(self) -> bool:
        return all(_matches(r, self.manifest.sources[r.source]) for r in self.results)

    @property
    def total_received(self) -> int:
        return sum(r.counts.received for r in self.results)


def _matches(result: BatchResult, expected: Any) -> bool:
    c = result.counts
    return (c.received, c.accepted, c.quarantined, c.duplicates, result.files) == (
        expected.received,
        expected.accepted,
        expected.quarantined,
        expected.duplicates,
        expected.files,
    )


def run_demo(
    folder: Path,
    *,
    days: int = 30,
    scale: float = 1.0,
    seed: int = 7,
    progress: Progress | None = None,
    build_models: bool = True,
    end: date | None = None,
    incidents: bool = True,
) -> DemoTour:
    """Replace ``folder`` with the example project, generate its data, ingest it, build its models.

    The history ends on ``end`` (yesterday, UTC, by default), with the
    generator's planted incidents unless ``incidents`` is off.
    """
    folder = fresh_example(folder, "retail", days, scale, progress)
    started = time.perf_counter()
    manifest = generate(
        folder / "landing", days=days, scale=scale, seed=seed, end=end, incidents=incidents
    )
    generated = time.perf_counter() - started
    with Project(folder, progress=progress) as project:
        started = time.perf_counter()
        # the sources the generator wrote data for; a stream-only source (device_events) has
        # none; the carrier's API and the shop's database are the local stand-ins it wrote
        with connected(folder / "landing"):
            results = project.sources.ingest(list(manifest.sources))
        ingested = time.perf_counter() - started
        if not build_models:
            return DemoTour(folder, manifest, results, generated, ingested)
        started = time.perf_counter()
        _, run = project.run(ingest=False)
        built = time.perf_counter() - started
        defined = {k.name for k in project.kpis.definitions()}
        headlines = tuple(
            (f"{name} by {', '.join(by)} ({grain})", project.kpis.answer(name, grain, by))
            for name, grain, by in HEADLINES
            if name in defined and run.ok
        )
        started = time.perf_counter()
        # weir watches the history as its scheduler would: quality checks, then alerts
        project.quality.run(since=date.fromisoformat(manifest.start))
        project.alerts.run_once()
        raised = tuple(project.alerts.incidents(limit=1000))
        flags = project.quality.flags()
        watched = tuple(_watched(i, flags, raised, project) for i in manifest.incidents)
        watch_seconds = time.perf_counter() - started
        started = time.perf_counter()
        erased, erasure = _erase_one(project) if run.ok else (None, None)
        erase_seconds = time.perf_counter() - started
    return DemoTour(
        folder,
        manifest,
        results,
        generated,
        ingested,
        run,
        built,
        headlines,
        watched,
        raised,
        watch_seconds,
        erased,
        erasure,
        erase_seconds,
    )


def fresh_example(
    folder: Path, example: str, days: int, scale: float, progress: Progress | None
) -> Path:
    """Replace ``folder`` with a fresh ``example`` project (``weir init --example``); return it.

    A folder that exists but is no weir project is refused rather than deleted
    (a mistyped ``--dir`` must not cost someone their files). ``progress`` is
    told the generation of ``days`` days at ``scale`` that follows.
    """
    folder = folder.resolve()
    if folder.exists():
        if not (folder / "weir.yml").exists():
            raise ProjectError(f"{folder} exists and is not a weir project", "choose another --dir")
        shutil.rmtree(folder)
    init_project(folder, example)
    if progress:
        progress("generate", f"{days} days at scale {scale}")
    return folder


@contextmanager
def connected(landing: Path) -> Iterator[None]:
    """The example's API and database sources reach the generator's stand-ins while in the block.

    The carrier API (``weir.demo.carrier``) serves the generated parcel hops on
    127.0.0.1, and the shop's database is the SQLite file the generator wrote;
    their addresses are put in the environment variables the sources' URLs
    name, and the variables are put back as they were afterwards.
    """
    with serving(landing) as api:
        values = {
            ADDRESS_VARIABLE: api.address,
            SHOP_DB_VARIABLE: f"sqlite:///{(landing / DB_FOLDER / DB_FILE).resolve()}",
        }
        before = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _erase_one(project: Project) -> tuple[str | None, Certificate | None]:
    """Erase the demo's customer (a right-to-erasure request), as `weir subject erase` does."""
    if not project.files.config.privacy.subjects or not project.lake.exists("staging", "customers"):
        return None, None
    [row] = project.sql(ERASED_CUSTOMER_SQL).to_pylist()
    if row["customer_id"] is None:
        return None, None
    subject = project.subjects.resolve(row["customer_id"], kind="customer")
    return subject.id, project.subjects.erase(subject, ERASURE_REASON)


def _watched(
    incident: Incident, flags: list[Any], raised: tuple[AlertIncident, ...], project: Project
) -> dict[str, Any]:
    """A planted incident beside the days weir flagged and the alerts it raised about it.

    Alerts judge stock as it is now; a stockout planted earlier (and restocked
    since) is judged by the same rule as of its day.
    """
    flagged: list[Any] = []
    if incident.kind == "stockout":
        ids = dict(part.split("=", 1) for part in incident.subject.split())
        about = f"warehouse {ids.get('warehouse_id')} / product {ids.get('product_id')}"
        alerts = [
            f"{a.rule} ({a.state})" for a in raised if a.kind == "stockout" and a.subject == about
        ]
        if not alerts:
            that_day = datetime.combine(date.fromisoformat(incident.day), dt_time.max, UTC)
            alerts = [
                f"stockout rule as of that day: {c.message}"
                for c in stockouts(project.lake, that_day)
                if c.subject == about and c.firing
            ]
    else:
        alerts = [
            f"{a.rule} ({a.state})" for a in raised if a.subject.endswith(f" on {incident.day}")
        ]
        flagged = [f for f in flags if f.day.isoformat() == incident.day and f.flagged_by == "auto"]
    return {
        "planted": incident.kind,
        "day": incident.day,
        "subject": incident.subject,
        "flagged": "; ".join(f.reason for f in flagged[:2]) or "-",
        "alerts": ", ".join(sorted(set(alerts))) or "-",
        "found": "✓" if flagged or alerts else "✗",
    }
