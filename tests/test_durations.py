"""One duration parser for weir.yml (the collector's dedupe window) and ``--expires``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.errors import ProjectError, QueryError
from weir.project import load_project
from weir.project.durations import UNITS, DurationError, parse_duration

SECONDS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60, "w": 7 * 24 * 60 * 60}


@given(
    n=st.integers(min_value=1, max_value=10**6),
    unit=st.sampled_from(sorted(SECONDS)),
    before=st.sampled_from(["", " "]),
    between=st.sampled_from(["", " "]),
    after=st.sampled_from(["", " ", "\n"]),
)
def test_a_written_duration_reads_back_as_written(
    n: int, unit: str, before: str, between: str, after: str
) -> None:
    assert parse_duration(f"{before}{n}{between}{unit}{after}") == timedelta(
        seconds=n * SECONDS[unit]
    )


def test_the_units_are_seconds_minutes_hours_days_weeks() -> None:
    assert UNITS == SECONDS
    assert parse_duration("2w") == parse_duration("14d") == timedelta(weeks=2)
    assert parse_duration("90m") == parse_duration("5400s") == timedelta(hours=1.5)


@given(text=st.text(max_size=12))
def test_anything_else_is_refused_with_how_to_write_one(text: str) -> None:
    try:
        parsed = parse_duration(text)
    except DurationError as error:
        assert "not a duration" in error.what and error.fix and "30d" in error.fix
        assert isinstance(error, QueryError) and isinstance(error, ValueError)
    else:
        assert parsed > timedelta(0)
        digits = "".join(c for c in text if c.isdigit())
        assert parsed == timedelta(seconds=int(digits) * SECONDS[text.strip()[-1]])


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "0d", "00h", "1.5h", "3 years", "1d2h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError, match="30d"):
        parse_duration(text)


def test_a_bad_dedupe_window_names_the_line_and_the_fix(project_root: Path) -> None:
    config = project_root / "weir.yml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("dedupe_window: 7d", "dedupe_window: 3 years"), "utf-8")
    line = next(
        i + 1 for i, row in enumerate(config.read_text("utf-8").splitlines()) if "3 years" in row
    )
    with pytest.raises(ProjectError) as caught:
        load_project(project_root)
    assert str(caught.value).startswith(
        f"weir.yml:{line}: collector.dedupe_window: '3 years' is not a duration"
    )
    assert caught.value.fix is not None and "2w" in caught.value.fix


def test_the_dedupe_window_takes_weeks(project_root: Path) -> None:
    config = project_root / "weir.yml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("dedupe_window: 7d", "dedupe_window: 2w"), "utf-8")
    collector = load_project(project_root).config.collector
    assert collector.dedupe_window_seconds == 14 * 24 * 60 * 60
