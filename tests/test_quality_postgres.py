"""Flagged days and check results on a real PostgreSQL server (migration 0009 is portable).

Uses the server of ``WEIR_TEST_POSTGRES`` (default the local one); without one the
test fails under CI and skips elsewhere, saying why.
"""

from __future__ import annotations

from datetime import date

from conftest import NewDatabase

from weir.metadata import MetadataStore
from weir.metrics.flags import DayFlags
from weir.quality.checks import Check, CheckLog


def test_flags_and_checks_round_trip_on_postgres(new_database: NewDatabase) -> None:
    store = MetadataStore(new_database())
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
