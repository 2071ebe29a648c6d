"""Flagged days and check results on a real PostgreSQL server (migration 0009 is portable).

Uses the server of ``WEIR_TEST_POSTGRES`` (default the local one); without one the
test fails under CI and skips elsewhere, saying why.
"""

from __future__ import annotations

import os
import secrets
from datetime import date

import sqlalchemy as sa
from conftest import require_server

from weir.metadata import MetadataStore
from weir.metrics.flags import DayFlags
from weir.quality.checks import Check, CheckLog

try:
    import psycopg
except ImportError as exc:
    require_server("psycopg", f"the PostgreSQL tests need the postgres extra (psycopg 3): {exc}")

SERVER = os.environ.get("WEIR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def test_flags_and_checks_round_trip_on_postgres() -> None:
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        require_server("PostgreSQL", f"no server at {SERVER} ({' '.join(str(exc).split())})")
    name = f"weir_t_{secrets.token_hex(5)}"
    admin.execute(f"CREATE DATABASE {name}")
    base = sa.make_url(SERVER.replace("postgresql://", "postgresql+psycopg://", 1))
    store = MetadataStore(base.set(database=name).render_as_string(hide_password=False))
    try:
        flags = DayFlags(store)
        day = date(2025, 3, 14)
        flags.flag(day, "marts.sales_daily", "an old-style flag")  # as before 0009: every KPI
        flags.flag(
            day, "kpi.conversion_rate", "0.4 %", "auto", "quality:kpi_anomaly", "conversion_rate"
        )
        assert [(f.dataset, f.flagged_by, f.kpi) for f in flags.entries()] == [
            ("kpi.conversion_rate", "auto", "conversion_rate"),
            ("marts.sales_daily", "user", None),
        ]
        assert flags.days_for("net_sales") == [day]  # the old flag concerns every KPI
        assert [f.dataset for f in flags.unflag(day, "conversion_rate")] == ["kpi.conversion_rate"]
        log = CheckLog(store)
        checks = [
            Check(
                "volume", "pos", "warn", "source pos on 2025-03-14: …", 10.0, day, 5.0, 8.0, 12.0
            ),
            Check("volume", "pos", "ok", "source pos on 2025-03-15: …", 20.0, date(2025, 3, 15)),
        ]
        log.record(checks)
        assert log.latest() == [checks[1]]
        assert log.history() == [checks[1], checks[0]]
    finally:
        store.dispose()
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
