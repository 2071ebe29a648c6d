"""Retention in ``weir.yml``: how long each layer keeps its rows, and what happens after.

``retention:`` names, per layer (``raw``, ``quarantine``, ``staging``) and per
source, how long a row is kept (``keep``), what happens to it after
(``then``: ``archive`` to Parquet files with a manifest, or ``destroy``) and
where its age comes from (``age``: ``received``, the moment its batch was
taken in, or ``event``, its own time: the source's time column, an entity
extract's date). ``snapshots`` is how far back time travel reaches on every
lake table; ``collector_log`` how long the collector's log keeps segments the
lake already holds. A rule may be written short: ``raw: 90d`` is
``raw: {keep: 90d, then: archive}``.

What needs the rest of the project (the sources a rule names, the collector's
de-duplication window) is checked when the project opens
(``weir.lifecycle.rules.check_retention``), with the file's line and a fix.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field

from weir.project.base import Name, Strict
from weir.project.durations import Duration, parse_duration

Action = Literal["archive", "destroy"]
ACTIONS: tuple[str, ...] = get_args(Action)
AgeFrom = Literal["received", "event"]
AGES: tuple[str, ...] = get_args(AgeFrom)
RetainedLayer = Literal["raw", "quarantine", "staging"]
RETAINED_LAYERS: tuple[str, ...] = get_args(RetainedLayer)


class RetentionRule(Strict):
    """One layer's rule: keep rows this long, then archive or destroy them."""

    keep: Duration = Field(description="how long a row is kept, e.g. 90d, 2w")
    then: Action = Field(
        default="archive",
        description="archive: write the rows to the archive folder (Parquet and a manifest) "
        "and verify it before they leave the lake; destroy: remove them",
    )
    age: AgeFrom = Field(
        default="received",
        description="received: a row's age counts from when its batch was taken in; "
        "event: from its own time (the source's time_column, or an entity extract's date)",
    )

    @property
    def keep_for(self) -> timedelta:
        return parse_duration(self.keep)

    def describe(self, layer: str) -> str:
        return f"{layer}: keep {self.keep} by {self.age} time, then {self.then}"


def _short(value: Any) -> Any:
    """``90d`` is ``{keep: 90d}`` (then archive, the step that loses nothing)."""
    return {"keep": value} if isinstance(value, str) else value


Rule = Annotated[RetentionRule, BeforeValidator(_short)]


class SourceRetention(Strict):
    """A source's own rules, in place of the layer-wide ones."""

    raw: Rule | None = None
    quarantine: Rule | None = None
    staging: Rule | None = None
    snapshots: Duration | None = Field(
        default=None, description="time travel on this source's tables reaches this far back"
    )
    collector_log: Duration | None = None


class RetentionConfig(Strict):
    """``weir.yml`` ``retention:``: the data life cycle."""

    archive_dir: str | None = Field(
        default=None,
        description="where archived rows are written: a folder (relative to the project folder) "
        "or s3://bucket/prefix when the lake is on that store; default: archive/ in the state "
        "folder",
    )
    raw: Rule | None = None
    quarantine: Rule | None = None
    staging: Rule | None = None
    snapshots: Duration | None = Field(
        default=None,
        description="time travel reaches this far back on every lake table (older snapshots "
        "are expired and the files only they named deleted), e.g. 30d",
    )
    collector_log: Duration | None = Field(
        default=None,
        description="the collector's log segments already in the lake are deleted once older "
        "than this (a segment not yet in the lake is never deleted)",
    )
    sources: dict[Name, SourceRetention] = Field(
        default={}, description="rules of one source, in place of the layer-wide ones"
    )

    @property
    def configured(self) -> bool:
        return any(
            (self.raw, self.quarantine, self.staging, self.snapshots, self.collector_log)
        ) or bool(self.sources)

    def rule(self, layer: str, source: str) -> RetentionRule | None:
        """The rule for ``layer.source``: the source's own, else the layer's."""
        own = self.sources.get(source)
        found: RetentionRule | None = getattr(own, layer, None) if own is not None else None
        return found if found is not None else getattr(self, layer)

    def snapshots_for(self, source: str | None) -> str | None:
        own = self.sources.get(source) if source is not None else None
        if own is not None and own.snapshots is not None:
            return own.snapshots
        return self.snapshots

    def log_for(self, source: str) -> str | None:
        own = self.sources.get(source)
        if own is not None and own.collector_log is not None:
            return own.collector_log
        return self.collector_log
