"""The anomaly detector for daily series: seasonal by weekday, level-adjusted, robust, both ways.

A day ``d`` is judged against the same weekday of the ``training_weeks``
weeks before it (a Monday against the previous Mondays), so a weekly rhythm
(quiet Sundays, busy Saturdays) is not an anomaly. Each of those days is
first divided by its **level**, the median of the seven days before it
(one of each weekday, so the rhythm cancels out): what is learnt is the
weekday's ratio to the level, and the day is expected at ``level(d)`` times
that ratio. A series that grows (a store opens, a campaign lifts traffic)
moves its level within a few days, instead of looking like a spike for
weeks; a one-day outage barely moves a median of seven.

The median ``m`` of the weekday's ratios and the median absolute deviation
``MAD`` give the expected range ``m +/- threshold * spread``. The MAD is
pooled over the whole training window, every day against the median of its
own weekday (56 deviations in 8 weeks rather than 8): a spread learnt from a
handful of values is itself noisy, and would flag a day of ordinary noise.
The spread is ``1.4826 * MAD`` (a normal series' standard deviation), but at least
``relative_floor * |m|``, and for a count at least its square root (a
Poisson count's noise): a flat history does not make every wobble an
anomaly. The range is then scaled by ``level(d)``. Training days whose level
is unknown (the first week) or zero are left out of the ratios; where the day's
own level is unknown or zero, or fewer than ``min_history`` ratios remain (a
series of mostly zeros, such as duplicates), the values themselves are
compared, the same way. A day with fewer than
``min_history`` same-weekday values before it is not judged. Below the
range is a drop, above a spike. Median and MAD ignore a few bad weeks in
the training window, so one incident does not hide the next.
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
LEVEL_DAYS = 7  # a level is the median of this many days before a day
LEVEL_MIN = 5  # ... of which at least this many have a value
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
    level: float | None = None  # the day's level, when the history was learnt as ratios


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
    history: Iterable[float],
    settings: QualityConfig,
    floor: float = 0.0,
    counts: bool = False,
    deviations: Iterable[float] | None = None,
) -> Expected:
    """The median, MAD and range of ``history`` (at least one value).

    ``deviations``: the absolute deviations the MAD is the median of (by default
    those of ``history`` from its median). ``counts``: the values count things,
    whose noise is at least the square root of the count (and at least one), as
    a Poisson count's is.
    """
    values = [float(v) for v in history]
    median = statistics.median(values)
    spread_of = list(deviations) if deviations is not None else [abs(v - median) for v in values]
    mad = statistics.median(spread_of) if spread_of else 0.0
    if counts:
        floor = max(floor, math.sqrt(max(abs(median), 1.0)))
    spread = max(MAD_SCALE * mad, settings.relative_floor * abs(median), floor)
    reach = settings.threshold * spread
    return Expected(median, mad, spread, median - reach, median + reach, len(values))


def scaled(ratios: Expected, level: float, settings: QualityConfig, counts: bool) -> Expected:
    """A range learnt on ratios to the level, at ``level`` (a count keeps its noise floor)."""
    median = ratios.median * level
    spread = ratios.spread * level
    if counts:
        spread = max(spread, math.sqrt(max(abs(median), 1.0)))
    reach = settings.threshold * spread
    return Expected(
        median, ratios.mad * level, spread, median - reach, median + reach, ratios.history, level
    )


def level(series: Mapping[date, float | None], day: date) -> float | None:
    """The median of the seven days before ``day`` (None with fewer than five values)."""
    values = [_known(series.get(day - timedelta(d))) for d in range(1, LEVEL_DAYS + 1)]
    known = [v for v in values if v is not None]
    return statistics.median(known) if len(known) >= LEVEL_MIN else None


def training_days(day: date, settings: QualityConfig) -> list[date]:
    """The days ``day`` is judged against: the same weekday of each of the previous weeks."""
    return [day - timedelta(weeks=w) for w in range(1, settings.training_weeks + 1)]


class Prepared:
    """A series with each day's level and ratio to it worked out once, for judging many days."""

    def __init__(self, series: Mapping[date, float | None]) -> None:
        self.values = {d: _known(v) for d, v in series.items()}
        self.levels = {d: level(self.values, d) for d in self.values}
        self.ratios: dict[date, float | None] = {}
        for d, v in self.values.items():
            lv = self.levels[d]
            self.ratios[d] = v / lv if v is not None and lv is not None and lv > 0 else None


def judge(
    series: Mapping[date, float | None] | Prepared,
    day: date,
    settings: QualityConfig,
    counts: bool = False,
) -> Judgement | None:
    """``day`` of ``series`` judged, or None: no value that day, or too little history.

    The spread is learnt from the whole training window, each day against the
    median of its own weekday (seven times the deviations one weekday gives),
    so a heavy tail in a few weeks of one weekday does not widen or narrow it.
    """
    found = series if isinstance(series, Prepared) else Prepared(series)
    observed = found.values.get(day)
    if observed is None:
        return None
    now_level = found.levels.get(day)
    if now_level is not None and now_level > 0:
        groups = _weekday_groups(found.ratios, day, settings)
        if len(groups[0]) >= settings.min_history:
            ratios = expected_range(groups[0], settings, deviations=_pooled(groups))
            return Judgement(day, observed, scaled(ratios, now_level, settings, counts))
    groups = _weekday_groups(found.values, day, settings)
    if len(groups[0]) < settings.min_history:
        return None
    expected = expected_range(groups[0], settings, counts=counts, deviations=_pooled(groups))
    return Judgement(day, observed, expected)


def judge_days(
    series: Mapping[date, float | None],
    days: Iterable[date],
    settings: QualityConfig,
    counts: bool = False,
) -> list[Judgement]:
    """Each of ``days`` that can be judged, in order."""
    prepared = Prepared(series)
    found = (judge(prepared, day, settings, counts) for day in sorted(days))
    return [j for j in found if j is not None]


def _weekday_groups(
    values: Mapping[date, float | None], day: date, settings: QualityConfig
) -> list[list[float]]:
    """The known values of the training window (the weeks before ``day``), by weekday.

    Group 0 is ``day``'s own weekday; group ``g`` the days ``g`` days earlier in each week.
    """
    groups: list[list[float]] = [[] for _ in range(7)]
    for offset in range(1, 7 * settings.training_weeks + 1):
        value = values.get(day - timedelta(days=offset))
        if value is not None:
            groups[offset % 7].append(value)
    return groups


def _pooled(groups: list[list[float]]) -> list[float]:
    """Every value's distance from the median of its weekday."""
    out: list[float] = []
    for values in groups:
        if values:
            middle = statistics.median(values)
            out += [abs(v - middle) for v in values]
    return out


def _known(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
