"""The generated period, its calendar effects, and the random streams drawn for it.

Every source and day draws from its own stream, derived from the seed, the
stream's name and the day, so one day's data does not depend on the order in
which sources or days are generated, and adding a source never shifts another.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

DAY_SECONDS = 86_400
HOUR_SECONDS = 3_600
DAY_MS = DAY_SECONDS * 1000
HOUR_MS = HOUR_SECONDS * 1000
_EPOCH = date(1970, 1, 1)

# Timestamps written by the generator stay below this bound so Arrow renders them
# as plain decimals (it switches to exponent notation from 1e10) and so they stay
# epochs in seconds (year 2286), never milliseconds.
MAX_EPOCH_SECONDS = 9_999_999_999


def epoch_seconds(day: date) -> int:
    """Seconds since 1970 at 00:00 UTC of ``day``."""
    return (day - _EPOCH).days * DAY_SECONDS


def stream(seed: int, name: str, *index: int) -> np.random.Generator:
    """The random stream ``name`` (for day ``index``...) of a run with ``seed``."""
    key = (zlib.crc32(name.encode("ascii")), *index)
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=key)
    return np.random.Generator(np.random.PCG64(sequence))


@dataclass(frozen=True)
class Period:
    """``days`` consecutive calendar days (UTC) from ``start``; day 0 is ``start``."""

    start: date
    days: int

    def day(self, d: int) -> date:
        return self.start + timedelta(days=d)

    def stamp(self, d: int) -> str:
        """``YYYY-MM-DD`` of day ``d`` (may lie outside the period)."""
        return self.day(d).isoformat()

    def compact(self, d: int) -> str:
        """``YYYYMMDD`` of day ``d``, for ids."""
        return self.day(d).strftime("%Y%m%d")

    def hour_stamp(self, hour: int) -> str:
        """``YYYY-MM-DDTHH`` of the period's hour number ``hour`` (0 = 00:00 of day 0)."""
        d, h = divmod(hour, 24)
        return f"{self.stamp(d)}T{h:02d}"

    def epoch(self, d: int) -> int:
        """Seconds since 1970 at 00:00 UTC of day ``d``."""
        return epoch_seconds(self.day(d))

    def epoch_ms(self, d: int) -> int:
        return self.epoch(d) * 1000

    @property
    def end_ms(self) -> int:
        """The first millisecond after the period."""
        return self.epoch_ms(self.days)

    @property
    def hours(self) -> int:
        return self.days * 24

    def weekday(self, d: int) -> int:
        """0 = Monday ... 6 = Sunday."""
        return self.day(d).weekday()

    def season(self, d: int) -> float:
        """Demand relative to an ordinary day: a pre-Christmas peak and a January sale."""
        day = self.day(d)
        doy = day.timetuple().tm_yday
        christmas = 0.35 * float(np.exp(-(((doy - 352) / 14.0) ** 2)))
        january_sale = 0.12 * float(np.exp(-(((doy - 6) / 6.0) ** 2)))
        summer = 0.06 * float(np.exp(-(((doy - 200) / 25.0) ** 2)))
        return 1.0 + christmas + january_sale + summer


def weighted_draw(rng: np.random.Generator, cumulative: np.ndarray, k: int) -> np.ndarray:
    """``k`` indices drawn with weights given as a cumulative sum.

    On a large table, sorted draws make the binary searches walk it in order
    (several times faster); a permutation then restores random order.
    """
    picks: np.ndarray
    if len(cumulative) < 8192:
        picks = np.searchsorted(cumulative, rng.random(k) * cumulative[-1], side="right")
        return picks
    draws = np.sort(rng.random(k)) * cumulative[-1]
    picks = np.searchsorted(cumulative, draws, side="right")[rng.permutation(k)]
    return picks
