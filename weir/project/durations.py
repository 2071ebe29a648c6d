"""Durations as people write them, in project files and on the command line: ``30d``, ``36h``.

One whole number and one unit: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days,
``w`` weeks. A duration is more than zero.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator

from weir.errors import QueryError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}  # seconds in each unit
_DURATION = re.compile(r"^\s*(?P<n>[0-9]+)\s*(?P<unit>[smhdw])\s*$")


class DurationError(QueryError, ValueError):
    """Text that is not a duration (a ValueError too, so a project file's check names its line)."""


def parse_duration(text: str) -> timedelta:
    """``"30d"`` → 30 days; ``"90m"``, ``"36h"``, ``"2w"``, ``"45s"`` likewise."""
    match = _DURATION.match(text)
    if match is None or int(match["n"]) == 0:
        raise DurationError(
            f"'{text}' is not a duration",
            "write a whole number above zero and a unit (s, m, h, d or w): 30d, 36h, 2w, 90m",
        )
    return timedelta(seconds=int(match["n"]) * UNITS[match["unit"]])


def _checked(text: str) -> str:
    parse_duration(text)  # a DurationError is a ValueError: a project file's loader names the line
    return text


# A project file's duration field: kept as written (``30d``), checked at load.
Duration = Annotated[str, AfterValidator(_checked)]
