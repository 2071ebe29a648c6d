"""``weir demo --example deliverability``: the e-mail delivery company end to end.

It replaces the folder with the example project, generates its data (into the
database at ``DELIVERABILITY_DATABASE_URL``, or a SQLite file in ``landing/`` when
it is not set), starts the CRM's REST API on a free local port, points the
sources' environment variables at all of them (in this process), ingests every
source, checks each count against the generator's manifest, builds the models
and asks a few headline KPIs. The CRM keeps running while ``crm`` is open, so a
served project can ingest again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from weir.demo.deliverability.crm_api import serve_crm
from weir.demo.deliverability.generate import (
    CRM_TOKEN,
    ENV_CRM_TOKEN,
    ENV_CRM_URL,
    ENV_DATABASE_URL,
    generate,
)
from weir.demo.tour import DemoTour, fresh_example
from weir.ingest.batch import Progress
from weir.workspace import Project

HEADLINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("delivery_funnel", "week", ()),
    ("bounce_rate", "week", ("provider",)),
    ("complaint_rate", "week", ("client_name",)),
    ("domain_warming", "week", ("sending_domain",)),
)


@contextmanager
def deliverability_demo(
    folder: Path,
    *,
    days: int = 14,
    scale: float = 1.0,
    seed: int = 7,
    end: date | None = None,
    progress: Progress | None = None,
) -> Iterator[DemoTour]:
    """Build the example in ``folder`` (see the module's docstring); the CRM runs until the
    block ends, and the sources' environment variables stay set in this process."""
    folder = fresh_example(folder, "deliverability", days, scale, progress)
    started = time.perf_counter()
    made = generate(
        folder / "landing",
        database_url=os.environ.get(ENV_DATABASE_URL),
        days=days,
        end=end,
        seed=seed,
        scale=scale,
    )
    generated = time.perf_counter() - started
    with serve_crm(folder / "landing", CRM_TOKEN) as crm:
        os.environ.update(made.environment)
        os.environ[ENV_CRM_URL] = crm.url
        os.environ[ENV_CRM_TOKEN] = CRM_TOKEN
        with Project(folder, progress=progress) as project:
            started = time.perf_counter()
            results = project.sources.ingest(list(made.manifest.sources))
            ingested = time.perf_counter() - started
            started = time.perf_counter()
            _, run = project.run(ingest=False)
            built = time.perf_counter() - started
            headlines = tuple(
                (
                    f"{name} by {', '.join(by) or 'all'} ({grain})",
                    project.kpis.answer(name, grain, by),
                )
                for name, grain, by in HEADLINES
                if run.ok
            )
        yield DemoTour(folder, made.manifest, results, generated, ingested, run, built, headlines)
