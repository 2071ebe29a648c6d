"""The anomaly detector on hand-built daily series, with every number worked by hand.

Settings unless a test says otherwise: the same weekday over the previous 8
weeks, at least 4 of them, 4 robust standard deviations (the project default
is 6: see docs/quality.md for why), a spread of at least 5 % of the median.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from weir.project.quality import QualityConfig
from weir.quality.anomaly import series_checks
from weir.quality.detector import expected_range, judge, judge_days

SETTINGS = QualityConfig(threshold=4.0)
MONDAY = date(2025, 1, 6)
# Mon..Sun: a shop busy on Saturday and quiet on Sunday
WEEK = [100.0, 100.0, 100.0, 100.0, 150.0, 200.0, 50.0]


def weekly(weeks: int, planted: dict[date, float] | None = None) -> dict[date, float | None]:
    """``weeks`` of the weekly pattern from MONDAY, each value nudged by -2, 0 or +2 (by d % 3)."""
    series: dict[date, float | None] = {}
    for d in range(weeks * 7):
        day = MONDAY + timedelta(d)
        series[day] = WEEK[d % 7] + (d % 3 - 1) * 2
    series.update(planted or {})
    return series


def test_median_mad_and_the_relative_floor_by_hand() -> None:
    # sorted: 90 96 98 100 100 102 104 110 → median (100 + 100) / 2 = 100
    # |x - 100|: 10 4 2 0 0 2 4 10 → sorted 0 0 2 2 4 4 10 10 → MAD (2 + 4) / 2 = 3
    # spread = max(1.4826 * 3 = 4.4478, 5 % of 100 = 5) = 5; range 100 ± 4 * 5 = 80..120
    found = expected_range([100, 104, 96, 110, 90, 102, 98, 100], SETTINGS)
    assert (found.median, found.mad, found.spread) == (100, 3, 5)
    assert (found.low, found.high, found.history) == (80, 120, 8)


def test_a_wide_history_uses_the_scaled_mad() -> None:
    # sorted: 76 88 94 100 100 106 112 124 → median 100
    # |x - 100| sorted: 0 0 6 6 12 12 24 24 → MAD (6 + 12) / 2 = 9
    # spread = 1.4826 * 9 = 13.3434 (over 5); reach 4 * 13.3434 = 53.3736
    found = expected_range([100, 112, 88, 106, 94, 100, 124, 76], SETTINGS)
    assert found.mad == 9
    assert found.spread == pytest.approx(13.3434)
    assert (found.low, found.high) == (pytest.approx(46.6264), pytest.approx(153.3736))


def test_a_count_is_never_judged_on_less_noise_than_its_square_root() -> None:
    # duplicates: always 0 before; MAD 0 and 5 % of 0 is 0, but a count's noise is at
    # least sqrt(max(0, 1)) = 1: range 0 ± 4 → 5 duplicates are a spike, 4 are not
    quiet = expected_range([0, 0, 0, 0, 0], SETTINGS, counts=True)
    assert (quiet.spread, quiet.low, quiet.high) == (1, -4, 4)
    # 400 records a day: sqrt(400) = 20 beats 5 % (20 too) and MAD 0 → 320..480
    busy = expected_range([400] * 6, SETTINGS, counts=True)
    assert (busy.low, busy.high) == (320, 480)


def test_no_day_is_judged_before_the_minimum_history() -> None:
    # a Saturday collapse in the 4th week: only 3 Saturdays before it → not judged
    saturday_4 = MONDAY + timedelta(weeks=3, days=5)
    series = weekly(5, {saturday_4: 5.0})
    assert judge(series, saturday_4, SETTINGS) is None
    # the 5th Saturday has 4 Saturdays before it (one the collapse): judged, and normal,
    # as the median and MAD ignore the one bad week
    saturday_5 = saturday_4 + timedelta(weeks=1)
    judged = judge(series, saturday_5, SETTINGS)
    assert judged is not None and judged.expected.history == 4 and not judged.anomalous
    flagged = [j.day for j in judge_days(series, series, SETTINGS) if j.anomalous]
    assert flagged == []


def exact(weeks: int, planted: dict[date, float] | None = None) -> dict[date, float | None]:
    """``weeks`` of the weekly pattern from MONDAY, exactly."""
    series: dict[date, float | None] = {
        MONDAY + timedelta(d): WEEK[d % 7] for d in range(weeks * 7)
    }
    series.update(planted or {})
    return series


def test_a_drop_and_a_spike_on_a_weekly_seasonal_series() -> None:
    saturday = MONDAY + timedelta(weeks=9, days=5)  # 2025-03-15
    sunday = saturday + timedelta(days=1)
    series = exact(10, {saturday: 120.0, sunday: 100.0})
    judged = {j.day: j for j in judge_days(series, series, SETTINGS)}
    # every level (the median of the 7 days before) is the median of one week:
    # 50 100 100 100 100 150 200 → 100. Saturday's ratio to it is 200 / 100 = 2 in every
    # training week: median 2, MAD 0, spread max(0, 5 % of 2 = 0.1) = 0.1, range 2 ± 0.4
    # → at Saturday's level of 100: 160..240. 120 is a drop.
    e = judged[saturday].expected
    assert (e.level, e.median, e.mad, e.low, e.high) == (100, 200, 0, 160, 240)
    assert judged[saturday].direction == "drop"
    # Sunday's level: the week before holds the drop, 50 100 100 100 100 120 150 → 100;
    # its ratio 50 / 100 = 0.5 → spread 0.025 → 0.5 ± 0.1 → 40..60. 100 is a spike (the
    # series' overall median is 100: without the weekday a quiet Sunday looks like a drop)
    e = judged[sunday].expected
    assert (e.level, e.median) == (100, 50)
    assert (e.low, e.high) == (pytest.approx(40), pytest.approx(60))
    assert judged[sunday].direction == "spike"
    assert sorted(d for d, j in judged.items() if j.anomalous) == [saturday, sunday]


def test_a_step_up_is_the_new_normal_within_two_days() -> None:
    # from the Monday of week 7 every day is 1.5 times what it was (a store opened)
    step = MONDAY + timedelta(weeks=6)
    series = exact(10)
    for day, value in list(series.items()):
        if day >= step and value is not None:
            series[day] = value * 1.5
    flagged = [j.day for j in judge_days(series, series, SETTINGS) if j.anomalous]
    # Monday: level 100 (the old week), expected 100 → 150 is a spike. Tuesday: the 7 days
    # before are 100 100 100 150 200 50 150 → level still 100 → 150 is a spike. Wednesday:
    # 100 100 150 200 50 150 150 → level 150 → expected 150: the level has moved, and every
    # later day is at its level times its weekday's ratio, as before.
    assert flagged == [step, step + timedelta(days=1)]


def test_an_anomaly_becomes_a_check_with_its_message() -> None:
    saturday = MONDAY + timedelta(weeks=9, days=5)
    # a conversion rate: 2.5 % on normal days, 0.4 % on the outage day
    series: dict[date, float | None] = {
        MONDAY + timedelta(d): 0.025 + (d % 3 - 1) * 0.001 for d in range(70)
    }
    series[saturday] = 0.004
    checks = series_checks(
        "kpi_anomaly", "conversion_rate", "kpi conversion_rate", series, [saturday], SETTINGS, 0.0
    )
    # every level (7 days of 0.024, 0.025, 0.026 in turn) is 0.025; Saturdays' ratios to it:
    # 1.04 0.96 1 1.04 0.96 1 1.04 0.96 → median 1, MAD 0.04 → spread max(0.059304, 0.05)
    # → 1 ± 0.237216, at the level of 0.025: 0.0190696..0.0309304 → 1.9 %..3.1 %
    [check] = checks
    dash = "\u2013"  # an en dash between the bounds
    assert check.message == (
        f"kpi conversion_rate on 2025-03-15: 0.4 % vs expected 1.9{dash}3.1 % (drop)"
    )
    assert check.state == "error"  # 0.0151 below the low bound: beyond the reach of 0.0059
    assert check.expected_low == pytest.approx(0.0190696)
    assert check.key == "kpi_anomaly:conversion_rate"


def test_a_series_without_enough_history_says_so() -> None:
    series: dict[date, float | None] = {MONDAY + timedelta(d): 10.0 for d in range(14)}
    [check] = series_checks("volume", "pos", "source pos", series, list(series), SETTINGS, 0.0)
    assert check.state == "ok"
    assert "not judged yet (14 days of history" in check.message
