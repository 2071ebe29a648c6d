"""Judged days as checks: a source's volume and a KPI's daily value, drops and spikes.

Each daily series is judged by the detector (``detector.py``) over the days
of one evaluation; every day outside its expected range becomes a ``warn``
check (an ``error`` when it is beyond twice the range's reach), with a
message a person reads at a glance:
``kpi conversion_rate on 2025-03-14: 0.4 % vs expected 2.1-2.9 %`` (an en dash
between the bounds). A series
with nothing out of range gives one ``ok`` check for its newest judged day.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date

from weir.project.quality import QualityConfig
from weir.quality.checks import Check, CheckKind, CheckState
from weir.quality.detector import Direction, Judgement, judge_days

RANGE_DASH = "\u2013"  # an en dash, as between the bounds of a range
BOTH: frozenset[Direction] = frozenset({"drop", "spike"})


def series_checks(
    kind: CheckKind,
    subject: str,
    label: str,
    series: Mapping[date, float | None],
    days: Sequence[date],
    settings: QualityConfig,
    now: float,
    counts: bool = False,
    directions: Collection[Direction] = BOTH,
    unit: str = "",
) -> list[Check]:
    """The checks of ``series`` over ``days``: one per anomalous day, else one ``ok``.

    ``label`` names the series in messages (``kpi conversion_rate``, ``source pos``);
    ``unit`` follows a count (``records``); a ratio series (every value in 0..1
    and no unit) is shown in per cent.
    """
    judged = judge_days(series, days, settings, counts)
    if not judged:
        history = sum(1 for v in series.values() if v is not None)
        return [
            Check(
                kind,
                subject,
                "ok",
                f"{label}: not judged yet ({history} days of history; a day needs"
                f" {settings.min_history} same weekdays in the {settings.training_weeks} weeks before it)",
                now,
            )
        ]
    percent = not unit and all(0 <= v <= 1 for v in series.values() if v is not None)
    out = [
        _check(kind, subject, label, j, now, percent, unit, directions)
        for j in judged
        if j.direction in directions
    ]
    if out:
        return out
    return [_check(kind, subject, label, judged[-1], now, percent, unit, directions)]


def _check(
    kind: CheckKind,
    subject: str,
    label: str,
    judged: Judgement,
    now: float,
    percent: bool,
    unit: str,
    directions: Collection[Direction],
) -> Check:
    e = judged.expected
    state: CheckState = "ok"
    word = ""
    if judged.direction in directions:
        reach = e.high - e.median
        beyond = e.low - judged.observed if judged.direction == "drop" else judged.observed - e.high
        state = "error" if beyond > reach else "warn"
        word = f" ({judged.direction})"
    low = max(e.low, 0.0) if e.median >= 0 and e.low < 0 else e.low
    bounds = show(low, percent).removesuffix(" %") + RANGE_DASH + show(e.high, percent, unit)
    message = (
        f"{label} on {judged.day.isoformat()}: {show(judged.observed, percent, unit)}"
        f" vs expected {bounds}{word}"
    )
    return Check(kind, subject, state, message, now, judged.day, judged.observed, low, e.high)


def show(value: float, percent: bool = False, unit: str = "") -> str:
    """A value as a message shows it: ``0.4 %``, ``12,480 records``, ``3.27``."""
    if percent:
        return f"{value * 100:.1f} %"
    text = f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"
    return f"{text} {unit}" if unit else text
