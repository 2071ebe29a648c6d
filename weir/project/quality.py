"""The quality settings of a project's files: a source's freshness contract, the detector's knobs.

A source may say how old its newest data may get before weir warns and then
errs (``freshness: {warn_after: 2h, error_after: 6h}`` in ``sources/<name>.yml``);
``weir.yml`` may tune the anomaly detector (``quality:``). Durations are
written as people write them (``90m``, ``6h``, ``2d``).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from weir.project.base import FieldProblem, Strict
from weir.project.durations import Duration, parse_duration


class FreshnessConfig(Strict):
    """How old a source's newest event and newest batch may be: a warning, then an error."""

    warn_after: Duration = Field(description="a duration, e.g. 2h: older than this is a warning")
    error_after: Duration = Field(description="a duration, e.g. 6h: older than this is an error")

    @model_validator(mode="after")
    def _ordered(self) -> FreshnessConfig:
        if self.error_seconds < self.warn_seconds:
            raise FieldProblem(
                "error_after",
                f"error_after ({self.error_after}) is shorter than warn_after ({self.warn_after})",
                "make error_after at least warn_after",
            )
        return self

    @property
    def warn(self) -> timedelta:
        return parse_duration(self.warn_after)

    @property
    def error(self) -> timedelta:
        return parse_duration(self.error_after)

    @property
    def warn_seconds(self) -> float:
        return self.warn.total_seconds()

    @property
    def error_seconds(self) -> float:
        return self.error.total_seconds()


class QualityConfig(Strict):
    """``quality:`` in ``weir.yml``: how the anomaly detector judges a daily series."""

    training_weeks: int = Field(
        default=8,
        ge=2,
        le=52,
        description="a day is judged against the same weekday over this many previous weeks",
    )
    min_history: int = Field(
        default=4,
        ge=2,
        description="same-weekday values needed before a day is judged (fewer: not judged)",
    )
    threshold: float = Field(
        default=6.0,
        gt=0,
        description="how many robust standard deviations (1.4826 * MAD) from the median flag a day",
    )
    relative_floor: float = Field(
        default=0.05,
        ge=0,
        description="the spread is at least this share of the median (a flat series is not judged on noise)",
    )
    lookback_days: int = Field(
        default=35,
        ge=1,
        description="`weir quality run` judges the days of this last stretch (each once)",
    )
    kpis: bool = Field(default=True, description="judge every KPI's daily series")

    @model_validator(mode="after")
    def _history_fits(self) -> QualityConfig:
        if self.min_history > self.training_weeks:
            raise FieldProblem(
                "min_history",
                f"min_history ({self.min_history}) is more than training_weeks ({self.training_weeks})",
                "make min_history at most training_weeks",
            )
        return self
