"""The retention rules of a project, resolved per lake table, and their checks at open.

``retention:`` in ``weir.yml`` is per layer with per-source overrides; here it
becomes one ``TableRule`` per source table (``raw.pos``, ``quarantine.pos``,
``staging.pos``) with the SQL of a row's age. A row's age counts from:

- ``received``: ``_received_at``, the moment its batch was taken in (every row
  of a batch has the same one, so a batch leaves a layer whole);
- ``event``: the row's own time: the source's ``time_column`` (typed as the
  contract types it: in raw and quarantine the column is the text received),
  else an entity extract's date (from its file name), and ``_received_at``
  for a row whose time is missing or does not parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from weir.engine import ident
from weir.errors import ProjectError, UnknownName
from weir.project import ProjectFiles, SourceConfig
from weir.project.durations import parse_duration
from weir.project.loader import where_in_config
from weir.project.retention import RETAINED_LAYERS, RetentionRule


@dataclass(frozen=True)
class TableRule:
    """One source table's retention rule."""

    layer: str
    source: SourceConfig
    rule: RetentionRule

    @property
    def dataset(self) -> str:
        return f"{self.layer}.{self.source.name}"

    @property
    def keep(self) -> timedelta:
        return self.rule.keep_for

    def describe(self) -> str:
        return self.rule.describe(self.layer)

    def age_sql(self) -> str:
        """SQL of a row's age moment (a TIMESTAMPTZ)."""
        if self.rule.age == "received":
            return "_received_at"
        # the contract's own casts (imported here: a project checks its rules at open)
        from weir.ingest.contract import EXTRACT_DATE_SQL, Contract

        source = self.source
        if source.time_column is not None:
            column = source.column(source.time_column)
            typed = (
                ident(column.name)
                if self.layer == "staging"
                else Contract(source).typed_sql(column)
            )
            moment = f"TRY_CAST({typed} AS TIMESTAMPTZ)"
        elif source.kind == "entity":
            day = "_extract_date" if self.layer == "staging" else EXTRACT_DATE_SQL
            moment = f"TRY_CAST({day} AS TIMESTAMPTZ)"
        else:
            return "_received_at"
        return f"coalesce({moment}, _received_at)"

    def where(self, cutoff: datetime) -> str:
        """SQL true for the rows older than ``cutoff``."""
        return f"({self.age_sql()}) < to_timestamp({cutoff.timestamp()!r})"


def table_rules(files: ProjectFiles) -> list[TableRule]:
    """Every source table that has a rule, in layer then source order."""
    retention = files.config.retention
    found = []
    for layer in RETAINED_LAYERS:
        for name, source in sorted(files.sources.items()):
            rule = retention.rule(layer, name)
            if rule is not None:
                found.append(TableRule(layer, source, rule))
    return found


def archive_root(files: ProjectFiles) -> str:
    """Where archives are written: a local folder's path, or ``s3://bucket/prefix``."""
    configured = files.config.retention.archive_dir
    if configured is None:
        return str(files.state_dir / "archive")
    if "://" in configured:
        return configured.rstrip("/")
    path = Path(configured).expanduser()
    return str((path if path.is_absolute() else files.root / path).resolve())


def check_retention(files: ProjectFiles) -> None:
    """Every source ``retention.sources`` names exists; staging outlives de-duplication.

    A collected source's flush checks new events against the accepted ones of
    the last ``collector.dedupe_window``; staging rows destroyed sooner would let a
    re-sent event in again as new.
    """
    retention = files.config.retention
    archive = retention.archive_dir or ""
    if "://" in archive and not (
        archive.startswith("s3://") and "://" in (files.config.lake or "")
    ):
        raise ProjectError(
            f"{where_in_config(files.root, ('retention', 'archive_dir'))}: archive_dir {archive}"
            " is on an object store, but the lake is not",
            "an archive on s3:// needs the lake on the same store (lake: s3://bucket/prefix);"
            " otherwise give archive_dir a folder",
        )
    for name in retention.sources:
        if name not in files.sources:
            found = UnknownName.among("source", name, files.sources, "see sources/", quoted=True)
            where = where_in_config(files.root, ("retention", "sources", name))
            raise ProjectError(f"{where}: retention.sources: {found.what}", found.fix)
    window = parse_duration(files.config.collector.dedupe_window)
    collected = files.config.collector.sources
    for name, source in sorted(files.sources.items()):
        rule = retention.rule("staging", name)
        streamed = name in collected if collected is not None else source.kind == "events"
        if rule is not None and streamed and rule.keep_for < window:
            own = name in retention.sources and retention.sources[name].staging is not None
            loc = ("retention", "sources", name, "staging") if own else ("retention", "staging")
            raise ProjectError(
                f"{where_in_config(files.root, loc)}: staging of {name} is kept {rule.keep}, less than "
                f"the collector's dedupe_window ({files.config.collector.dedupe_window}): an event "
                "re-sent after its row was destroyed would be taken in again",
                f"keep staging at least {files.config.collector.dedupe_window}, "
                "or shorten collector.dedupe_window",
            )
