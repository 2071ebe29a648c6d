"""The quality service of an opened project: checks now, health, flagged days.

``run`` evaluates, at one moment (``now``, from an injectable clock):

- **freshness** of every source with a contract (``freshness.py``);
- **volume** of every source: records, files and duplicates per day (``volume.py``);
- **schema drift** from the quarantine's reasons (``drift.py``);
- **KPI anomalies**: every KPI's daily value (``anomaly.py``);

records each check's result, and flags the anomalous days (``auto``) so KPI
questions with ``exclude_flagged`` leave them out. ``health`` gives the state
of every source, stream and model. ``flag``/``unflag`` are a person's flags,
on the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from weir.errors import NotFoundError
from weir.ingest.service import Sources
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditLog
from weir.metadata.definition import operator
from weir.metrics.definitions import KpiDefinition
from weir.metrics.flags import FlaggedDay
from weir.metrics.service import Kpis, marts_of
from weir.project import ProjectFiles
from weir.project.quality import QualityConfig
from weir.quality.anomaly import series_checks
from weir.quality.checks import Check, CheckLog, worst
from weir.quality.detector import Direction
from weir.quality.drift import drift_check, source_drift
from weir.quality.freshness import Ages, ages, freshness_check, human_age
from weir.quality.health import Health, HealthItem, HealthPart, source_item
from weir.quality.volume import Series, daily_volume
from weir.streams.service import Streams
from weir.transform.service import Models

Clock = Callable[[], float]
ALL_KPIS = "all"
DROPS: tuple[Direction] = ("drop",)
SPIKES: tuple[Direction] = ("spike",)  # the dataset of a person's flag that concerns every KPI


class Quality:
    """Freshness, volume, drift and anomaly checks; health; flagged days."""

    def __init__(
        self,
        files: ProjectFiles,
        store: MetadataStore,
        audit: AuditLog,
        sources: Sources,
        streams: Streams,
        models: Models,
        kpis: Kpis,
        clock: Clock = time.time,
    ) -> None:
        self.files = files
        self.audit = audit
        self.sources = sources
        self.streams = streams
        self.models = models
        self.kpis = kpis
        self.clock = clock
        self.log = CheckLog(store)
        self.health_parts: list[HealthPart] = [self._streams_health, self._models_health]

    @property
    def settings(self) -> QualityConfig:
        return self.files.config.quality

    # -- checks ---------------------------------------------------------------------------
    def run(
        self,
        sources: Sequence[str] | None = None,
        kpis: Sequence[str] | None = None,
        now: float | None = None,
        since: date | None = None,
    ) -> list[Check]:
        """Evaluate the checks now, record their results, flag the anomalous days.

        Without ``sources`` and ``kpis``: every source and every KPI. With either,
        only those named. Anomalies are judged on the last ``lookback_days``
        days of each series (from ``since`` when given), today left out.
        """
        now = self.clock() if now is None else now
        names, definitions = self._selection(sources, kpis)
        asked = [*(f"--source {s}" for s in sources or []), *(f"--kpi {k}" for k in kpis or [])]
        action = " ".join(["quality run", *asked])
        with self.audit.recording("quality.run", action, operator()) as note:
            checks = self.freshness(names, now) if names else []
            spans: dict[str, tuple[date, date]] = {}  # dataset → the days judged
            for name in names:
                checks += self._volume(name, now, since, spans)
                checks.append(drift_check(source_drift(self.sources.lake, name), now))
            for kpi in definitions:
                checks += self._kpi(kpi, now, since, spans)
            self.log.record(checks)
            flagged = self._flag(checks, now, spans)
            note.datasets = tuple(f"staging.{n}" for n in names)
            note.rows = len(checks)
            note.detail = {
                "checks": len(checks),
                "failing": sum(1 for c in checks if c.state != "ok"),
                "flagged": flagged,
            }
        return checks

    def freshness(
        self,
        sources: Sequence[str] | None = None,
        now: float | None = None,
        found: dict[str, Ages] | None = None,
    ) -> list[Check]:
        """The freshness of ``sources`` (all) with a contract, judged at ``now`` (from ``found``
        ages when the caller has them)."""
        now = self.clock() if now is None else now
        found = self._ages(now) if found is None else found
        checks = []
        for name in sources or sorted(self.files.sources):
            source = self.files.source(name)
            if source.freshness is not None:
                checks.append(freshness_check(source, source.freshness, found[name], now))
        return checks

    def ages(self, now: float | None = None) -> dict[str, Ages]:
        """Every source's newest event and newest batch age, in seconds."""
        return self._ages(self.clock() if now is None else now)

    def checks(self) -> list[Check]:
        """The latest recorded result of each check."""
        return self.log.latest()

    def _ages(self, now: float) -> dict[str, Ages]:
        ledger = self.sources.ingestor.ledger
        return {s.source: ages(s, ledger.batches(s.source), now) for s in self.sources.status()}

    def _selection(
        self, sources: Sequence[str] | None, kpis: Sequence[str] | None
    ) -> tuple[list[str], list[KpiDefinition]]:
        everything = not sources and not kpis
        names = sorted(self.files.sources) if everything else list(sources or [])
        for name in names:
            self.files.source(name)  # an unknown name fails before any work
        catalogue = self.kpis.catalogue()
        if everything:
            chosen = (
                [k for k in self.kpis.definitions() if not k.steps] if self.settings.kpis else []
            )
        else:
            chosen = [catalogue.get(name) for name in kpis or []]
        return names, chosen

    def _window(self, series: Series, now: float, since: date | None) -> list[date]:
        today = datetime.fromtimestamp(now, UTC).date()
        known = [d for d in series if d < today]
        if not known:
            return []
        last = max(known)
        first = since if since is not None else last - timedelta(self.settings.lookback_days - 1)
        return [d for d in sorted(known) if first <= d <= last]

    def _volume(
        self, name: str, now: float, since: date | None, spans: dict[str, tuple[date, date]]
    ) -> list[Check]:
        volume = daily_volume(self.sources.lake, self.files.source(name))
        settings = self.settings
        days = self._window(volume.records, now, since)
        if days:
            spans[f"staging.{name}"] = (days[0], days[-1])
        label = f"source {name}"
        checks = series_checks(
            "volume", name, label, volume.records, days, settings, now, True, unit="records"
        )
        if volume.files:
            checks += series_checks(
                "volume",
                f"{name}:files",
                f"{label} files",
                volume.files,
                self._window(volume.files, now, since),
                settings.model_copy(update={"relative_floor": 0.0}),
                now,
                directions=DROPS,
                unit="files",
            )
        checks += series_checks(
            "volume",
            f"{name}:duplicates",
            f"{label} duplicates",
            volume.duplicates,
            days,
            settings,
            now,
            True,
            directions=SPIKES,
            unit="duplicates",
        )
        return checks

    def _kpi(
        self,
        kpi: KpiDefinition,
        now: float,
        since: date | None,
        spans: dict[str, tuple[date, date]],
    ) -> list[Check]:
        lake = self.sources.lake
        missing = [m for m in marts_of(kpi) if not lake.exists(*m.split(".", 1))]
        if missing:
            message = f"kpi {kpi.name}: not judged yet ({', '.join(missing)} not built: `weir run`)"
            return [Check("kpi_anomaly", kpi.name, "ok", message, now)]
        answer = self.kpis.answer(kpi.name, "day")
        series: Series = {}
        for row in answer.select(["period", "value"]).to_pylist():
            value = row["value"]
            day = row["period"]
            series[day.date() if isinstance(day, datetime) else day] = (
                None if value is None else float(value)
            )
        days = self._window(series, now, since)
        if days:
            spans[f"kpi.{kpi.name}"] = (days[0], days[-1])
        return series_checks(
            "kpi_anomaly", kpi.name, f"kpi {kpi.name}", series, days, self.settings, now
        )

    def _flag(
        self, checks: Sequence[Check], now: float, spans: dict[str, tuple[date, date]]
    ) -> int:
        """Flag the days of failing volume (records, files) and KPI checks; never over a person's.

        A check's earlier flag of a day judged again and now found normal is removed.
        """
        entries = self.kpis.flags.entries()
        people = {(f.day, f.dataset) for f in entries if f.flagged_by == "user"}
        failing: set[tuple[date, str]] = set()
        flagged = 0
        for check in checks:
            if check.state == "ok" or check.day is None or check.subject.endswith(":duplicates"):
                continue
            if check.kind == "kpi_anomaly":
                dataset, kpi = f"kpi.{check.subject}", check.subject
            elif check.kind == "volume":
                dataset, kpi = f"staging.{check.subject.split(':')[0]}", None
            else:
                continue
            failing.add((check.day, dataset))
            if (check.day, dataset) in people:
                continue
            self.kpis.flags.flag(
                check.day, dataset, check.message, "auto", f"quality:{check.kind}", kpi, now
            )
            flagged += 1
        for f in entries:
            span = spans.get(f.dataset)
            judged_again = span is not None and span[0] <= f.day <= span[1]
            if f.flagged_by == "auto" and judged_again and (f.day, f.dataset) not in failing:
                self.kpis.flags.remove(f.day, f.dataset)
        return flagged

    # -- health ---------------------------------------------------------------------------
    def health(self, now: float | None = None) -> Health:
        """Every source, stream and model (and what ``health_parts`` add), and its state."""
        now = self.clock() if now is None else now
        found = self._ages(now)
        fresh = {c.subject: c for c in self.freshness(now=now, found=found)}
        latest = self.log.latest()
        items: list[HealthItem] = []
        for name in sorted(self.files.sources):
            items.append(
                source_item(
                    name,
                    fresh.get(name),
                    found[name].event,
                    found[name].arrival,
                    [c for c in latest if c.kind == "volume" and c.subject.split(":")[0] == name],
                    next(
                        (c for c in latest if c.kind == "schema_drift" and c.subject == name), None
                    ),
                )
            )
        for part in self.health_parts:
            items += part(now)
        return Health(now, tuple(items))

    def add_health_part(self, part: HealthPart) -> None:
        """Add rows to ``health`` (e.g. scheduled runs': their last run and whether it is late)."""
        self.health_parts.append(part)

    def _streams_health(self, now: float) -> list[HealthItem]:
        items = []
        for s in self.streams.status():
            if s.running is False or s.failing_since is not None:
                state = "error"
            elif s.errors:
                state = "warn"
            else:
                state = "ok"
            detail = s.last_error or ("not running" if s.running is False else "ok")
            items.append(
                HealthItem(
                    "stream",
                    s.stream,
                    worst([state]),
                    detail,
                    {
                        "source": s.source,
                        "events_per_second": round(s.events_per_second, 3),
                        "backlog": s.backlog,
                    },
                )
            )
        return items

    def _models_health(self, now: float) -> list[HealthItem]:
        states = self.models.log.states()
        last: dict[str, dict[str, Any]] = {}
        for build in self.models.log.builds(limit=10_000):
            last.setdefault(str(build["model"]), build)
        items = []
        for name in sorted(self.models.graph().models):
            state = states.get(name)
            built = f"built {_ago(now - state.built_at)}" if state else "never built"
            failed = last.get(name, {}).get("status") == "failed"
            if failed:
                error = last[name].get("error")
                items.append(
                    HealthItem("model", name, "error", f"last build failed: {error}; {built}")
                )
            else:
                items.append(HealthItem("model", name, "ok" if state else "warn", built))
        return items

    # -- flagged days ---------------------------------------------------------------------
    def flags(self) -> list[FlaggedDay]:
        """Every flagged day: by a check (``auto``) or a person (``user``)."""
        return self.kpis.flags.entries()

    def flag(
        self, day: date, reason: str, kpi: str | None = None, user: str | None = None
    ) -> FlaggedDay:
        """Flag ``day`` (for ``kpi``, else for every KPI): KPI answers can leave it out."""
        if kpi is not None:
            self.kpis.catalogue().get(kpi)  # an unknown KPI fails, with the closest name
        who = user or operator()
        action = f"flags add {day.isoformat()}" + (f" --kpi {kpi}" if kpi else "")
        with self.audit.recording("flag.add", action, who) as note:
            note.datasets = (f"kpi.{kpi}",) if kpi else ()
            note.detail = {"reason": reason}
            return self.kpis.flags.flag(
                day, f"kpi.{kpi}" if kpi else ALL_KPIS, reason, "user", who, kpi, self.clock()
            )

    def unflag(
        self,
        day: date,
        kpi: str | None = None,
        user: str | None = None,
        reason: str | None = None,
    ) -> list[FlaggedDay]:
        """Remove the flags of ``day`` (only those for ``kpi`` when given); returns them.

        ``reason`` (why the day counts again) goes on the audit record.
        """
        who = user or operator()
        action = f"flags remove {day.isoformat()}" + (f" --kpi {kpi}" if kpi else "")
        with self.audit.recording("flag.remove", action, who) as note:
            note.detail = {"reason": reason} if reason else None
            gone = self.kpis.flags.unflag(day, kpi)
            if not gone:
                raise NotFoundError(
                    f"{day.isoformat()} is not flagged" + (f" for {kpi}" if kpi else ""),
                    "see the flagged days: `weir flags list`",
                    kind="flag",
                    name=day.isoformat(),
                )
            note.rows = len(gone)
        return gone


def _ago(seconds: float) -> str:
    return f"{human_age(seconds)} ago"
