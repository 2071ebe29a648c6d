"""The anomaly detector for daily series: seasonal by weekday, robust, both ways.

A day is judged against the same weekday of the ``training_weeks`` weeks
before it (a Monday against the previous Mondays), so a weekly rhythm (quiet
Sundays, busy Saturdays) is not an anomaly. From those values, the median
``m`` and the median absolute deviation ``MAD`` give the expected range
``m ± threshold * spread``, where the spread is ``1.4826 * MAD`` (a normal
series' standard deviation), but at least ``relative_floor * |m|`` and at
least the series' own ``floor`` (a count's noise is at least one record): a
flat history does not make every small wobble an anomaly. A day with fewer
than ``min_history`` same-weekday values before it is not judged. Outside the
range below is a drop, above a spike. Median and MAD ignore a few bad weeks
in the training window, so one incident does not hide the next.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from weir.project.quality import QualityConfig

MAD_SCALE = 1.4826  # MAD * this estimates a normal distribution's standard deviation
Direction = Literal["drop", "spike"]


@dataclass(frozen=True)
class Expected:
    """What the history says a day should be: its median, spread and range."""

    median: float
    mad: float
    spread: float  # the scaled MAD, raised to the floors
    low: float
    high: float
    history: int  # how many values it was learnt from


@dataclass(frozen=True)
class Judgement:
    """One day of a series, judged: its value against what its history expects."""

    day: date
    observed: float
    expected: Expected

    @property
    def direction(self) -> Direction | None:
        if self.observed < self.expected.low:
            return "drop"
        if self.observed > self.expected.high:
            return "spike"
        return None

    @property
    def anomalous(self) -> bool:
        return self.direction is not None


def expected_range(
    history: Iterable[float], settings: QualityConfig, floor: float = 0.0, counts: bool = False
) -> Expected:
    """The median, MAD and range of ``history`` (at least one value).

    ``counts``: the values count things, whose noise is at least the square
    root of the count (and at least one), as a Poisson count's is.
    """
    values = [float(v) for v in history]
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    if counts:
        floor = max(floor, math.sqrt(max(abs(median), 1.0)))
    spread = max(MAD_SCALE * mad, settings.relative_floor * abs(median), floor)
    reach = settings.threshold * spread
    return Expected(median, mad, spread, median - reach, median + reach, len(values))


def training_days(day: date, settings: QualityConfig) -> list[date]:
    """The days ``day`` is judged against: the same weekday of each of the previous weeks."""
    return [day - timedelta(weeks=w) for w in range(1, settings.training_weeks + 1)]


def judge(
    series: Mapping[date, float | None],
    day: date,
    settings: QualityConfig,
    floor: float = 0.0,
    counts: bool = False,
) -> Judgement | None:
    """``day`` of ``series`` judged, or None: no value that day, or too little history."""
    observed = series.get(day)
    if observed is None or not math.isfinite(observed):
        return None
    history = [series.get(d) for d in training_days(day, settings)]
    known = [v for v in history if v is not None and math.isfinite(v)]
    if len(known) < settings.min_history:
        return None
    return Judgement(day, float(observed), expected_range(known, settings, floor, counts))


def judge_days(
    series: Mapping[date, float | None],
    days: Iterable[date],
    settings: QualityConfig,
    floor: float = 0.0,
    counts: bool = False,
) -> list[Judgement]:
    """Each of ``days`` that can be judged, in order."""
    found = (judge(series, day, settings, floor, counts) for day in sorted(days))
    return [j for j in found if j is not None]
