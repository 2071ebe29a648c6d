"""The orchestration services of an opened project: ``runs``, ``schedules``, and the loop.

``Orchestration`` owns the run store, the step handlers and the hooks; it hands
out ``Runs`` (list, show, logs, trigger, re-run, cancel, backfill) and
``Schedules`` (list, pause, resume, a cron override and its reset) — what the
CLI, the API and a control panel call — and builds the ``Scheduler``, a
``Worker`` and the ``Orchestrator`` service that ticks and works in a thread.
"""

from __future__ import annotations

import builtins
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime

from weir.errors import NotFoundError, QueryError, UnknownName, WeirError
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator
from weir.orchestrate.checks import check_schedules, project_zone
from weir.orchestrate.records import (
    FINISHED,
    LEASE_SECONDS,
    RUN_STATUSES,
    Clock,
    Handler,
    LogLine,
    PlannedStep,
    Run,
    RunHook,
    ScheduleState,
    at,
    system_clock,
)
from weir.orchestrate.scheduler import Scheduler, next_fire, scheduled_run
from weir.orchestrate.store import NewRun, RunStore, StoredState
from weir.orchestrate.worker import Worker, notify
from weir.project import ProjectFiles
from weir.project.durations import DurationError, parse_duration
from weir.project.schedules import ScheduleConfig, check_cron

MAX_PAGE = 1000
_log = logging.getLogger("weir.orchestrate")


class Orchestration:
    """A project's schedules, runs, handlers and hooks."""

    def __init__(
        self,
        files: ProjectFiles,
        store: MetadataStore,
        audit: AuditLog,
        handlers: Mapping[str, Handler],
        models: Callable[[], Iterable[str]],
        clock: Clock = system_clock,
        interrupt: Callable[[int], object] | None = None,
    ) -> None:
        check_schedules(files, models)
        self.files = files
        self.zone = project_zone(files)
        self.store = RunStore(store)
        self.audit = audit
        self.models = models
        self.handlers: dict[str, Handler] = dict(handlers)  # the quality package adds its own
        self.hooks: list[RunHook] = []  # called with each finished run (alerts subscribe)
        self.clock = clock
        self.interrupt = interrupt  # thread id → stop the queries it runs (the engine's)
        self.runs = Runs(self)
        self.schedules = Schedules(self)

    def config(self, name: str) -> ScheduleConfig:
        for schedule in self.files.config.schedules:
            if schedule.name == name:
                return schedule
        names = [s.name for s in self.files.config.schedules]
        raise UnknownName.among(
            "schedule", name, names, "schedules are declared in weir.yml under schedules:"
        )

    def limits(self) -> dict[str, int]:
        return {s.name: s.concurrency for s in self.files.config.schedules}

    def scheduler(self) -> Scheduler:
        return Scheduler(lambda: self.files.config.schedules, self.store, self.zone)

    def worker(self, name: str | None = None, lease_seconds: float = LEASE_SECONDS) -> Worker:
        return Worker(
            self.store,
            self.handlers,
            self.hooks,
            self.limits,
            self.clock,
            name,
            lease_seconds,
            self.interrupt,
        )

    def service(
        self, poll_seconds: float = 5.0, lease_seconds: float = LEASE_SECONDS
    ) -> Orchestrator:
        return Orchestrator(self, poll_seconds, lease_seconds)


class Runs:
    """Runs: list, show, logs, trigger, re-run, cancel, backfill."""

    def __init__(self, owner: Orchestration) -> None:
        self.owner = owner
        self.store = owner.store

    def list(
        self,
        status: str | None = None,
        since: datetime | str | None = None,
        schedule: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Run]:
        """Runs, newest first; ``since`` is a time, a day (2026-01-01) or a duration back (24h)."""
        if status is not None and status not in RUN_STATUSES:
            raise UnknownName.among(
                "status", status, RUN_STATUSES, f"use one of: {', '.join(RUN_STATUSES)}"
            )
        if limit < 1 or limit > MAX_PAGE:
            raise QueryError(f"limit {limit} is out of range", f"ask for 1 to {MAX_PAGE} runs")
        return self.store.runs(
            status=status,
            schedule=schedule,
            since=self._since(since),
            limit=limit,
            offset=max(offset, 0),
        )

    def get(self, run_id: int) -> Run:
        run = self.store.get(int(run_id))
        if run is None:
            raise NotFoundError(
                f"no run {run_id}", "see `weir runs list`", kind="run", name=str(run_id)
            )
        return run

    def logs(self, run_id: int) -> builtins.list[LogLine]:
        self.get(run_id)
        return self.store.logs(int(run_id))

    def trigger(
        self,
        schedule: str | None = None,
        select: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        by: str | None = None,
    ) -> Run:
        """Queue a run now: of a schedule, or of models (``select``) and/or ``sources``."""
        who = by or operator()
        now = self.owner.clock()
        if schedule is not None:
            if select or sources:
                raise QueryError(
                    "a trigger names a schedule or what to run, not both",
                    "drop --select/--source, or the schedule",
                )
            config = self.owner.config(schedule)
            return self._queued(scheduled_run(config, "manual", now, who))
        plan = self._plan(select, sources)
        return self._queued(NewRun("manual", plan, now, triggered_by=who))

    def backfill(self, select: Sequence[str], start: date, end: date, by: str | None = None) -> Run:
        """One run whose models step rebuilds the days from ``start`` to ``end`` (exclusive)."""
        if not select:
            raise QueryError("a backfill names the models it rebuilds", "pass --select MODEL")
        if end <= start:
            raise QueryError(
                f"the window {start} … {end} is empty", "--end is exclusive: give a later day"
            )
        self._check_models(select)
        step = PlannedStep(
            "models",
            f"{' '.join(select)} {start}…{end}",
            {"select": list(select), "start": start.isoformat(), "end": end.isoformat()},
        )
        now = self.owner.clock()
        return self._queued(NewRun("backfill", [step], now, triggered_by=by or operator()))

    def rerun(self, run_id: int, failed_only: bool = False, by: str | None = None) -> Run:
        """Queue run N again: every step, or (``failed_only``) those that did not succeed."""
        run = self.get(run_id)
        if not run.finished:
            raise QueryError(
                f"run {run_id} is {run.status}",
                "re-run a finished run; cancel it first to stop it",
            )
        plan = builtins.list(run.plan)
        if failed_only:
            done = {s.position for s in run.steps if s.status == "succeeded"}
            plan = [step for i, step in enumerate(run.plan) if i not in done]
            if not plan:
                raise QueryError(
                    f"every step of run {run_id} succeeded", "re-run it whole without --failed-only"
                )
        new = NewRun(
            "rerun",
            plan,
            self.owner.clock(),
            schedule=run.schedule,
            triggered_by=by or operator(),
            parent_run=run.run_id,
            timeout_seconds=run.timeout_seconds,
        )
        return self._queued(new)

    def cancel(self, run_id: int, by: str | None = None) -> Run:
        """Cancel a queued run at once, or a running one before its next step."""
        run = self.get(run_id)
        if run.finished:
            raise QueryError(f"run {run_id} is already {run.status}", "nothing to cancel")
        now = self.owner.clock()
        who = by or operator()
        if run.status == "queued" and self.store.finish(
            run.run_id, None, "cancelled", now, f"cancelled by {who} before it started"
        ):
            self.store.log(run.run_id, now, "info", f"cancelled by {who}")
            notify(self.owner.hooks, self.get(run_id))
        else:
            self.store.request_cancel(run.run_id)
            self.store.log(run.run_id, now, "info", f"cancel asked by {who}")
        return self.get(run_id)

    def status_counts(self) -> dict[str, int]:
        """How many runs are in each status."""
        found = self.store.status_counts()
        return {status: found.get(status, 0) for status in RUN_STATUSES}

    def _queued(self, new: NewRun) -> Run:
        run_id = self.store.enqueue(new)
        if run_id is None:  # only a keyed fire can be refused, and a trigger has no key
            raise WeirError("the run was queued already", "see `weir runs list`")
        self.store.log(
            run_id, new.queued_at, "info", f"queued: {new.trigger} by {new.triggered_by}"
        )
        return self.get(run_id)

    def _plan(
        self, select: Sequence[str] | None, sources: Sequence[str] | None
    ) -> builtins.list[PlannedStep]:
        plan: builtins.list[PlannedStep] = []
        if sources:
            for name in sources:
                self.owner.files.source(name)
            plan.append(PlannedStep("ingest", ", ".join(sources), {"sources": list(sources)}))
        if select:
            self._check_models(select)
            plan.append(PlannedStep("models", " ".join(select), {"select": list(select)}))
        if not plan:
            raise QueryError(
                "a trigger needs a schedule, --select MODEL or --source SOURCE",
                "e.g. `weir runs trigger nightly` or `weir runs trigger --select marts.sales_daily`",
            )
        return plan

    def _check_models(self, select: Sequence[str]) -> None:
        known = set(self.owner.models())
        for selector in select:
            name = selector.strip("+")
            if name not in known:
                raise UnknownName.among("model", name, known, "see `weir plan`", quoted=True)

    def _since(self, since: datetime | str | None) -> datetime | None:
        if since is None or isinstance(since, datetime):
            return since
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", since.strip()):
                day = date.fromisoformat(since.strip())
                start = datetime(day.year, day.month, day.day, tzinfo=self.owner.zone)
                start.timestamp()  # a day the database's times can hold
                return start
            return self.owner.clock() - parse_duration(since)
        except (DurationError, ValueError, OverflowError):
            raise QueryError(
                f"since '{since}' is neither a day nor a duration back from now",
                "write a day (2026-01-01) or a duration (24h, 7d)",
            ) from None


class Schedules:
    """Schedules as they stand: the file's values, the overrides kept beside them."""

    def __init__(self, owner: Orchestration) -> None:
        self.owner = owner
        self.store = owner.store

    def list(self) -> builtins.list[ScheduleState]:
        states = self.store.states()
        return [self._state(s, states) for s in self.owner.files.config.schedules]

    def get(self, name: str) -> ScheduleState:
        return self._state(self.owner.config(name), self.store.states())

    def pause(self, name: str, by: str | None = None) -> ScheduleState:
        return self._change(name, by, f"pause {name}", paused=1)

    def resume(self, name: str, by: str | None = None) -> ScheduleState:
        return self._change(name, by, f"resume {name}", paused=0)

    def set(self, name: str, cron: str, by: str | None = None) -> ScheduleState:
        """Override the schedule's cron line (kept in the metadata database, not weir.yml)."""
        try:
            check_cron(cron)
        except ValueError as exc:
            raise QueryError(str(exc), 'e.g. weir schedule set nightly "0 2 * * *"') from None
        return self._change(name, by, f"set {name} cron '{cron}'", cron_override=cron)

    def reset(self, name: str, by: str | None = None) -> ScheduleState:
        """Drop the override: the schedule's cron line is weir.yml's again."""
        return self._change(name, by, f"reset {name}", cron_override=None)

    def lag(self) -> dict[str, float]:
        """schedule → seconds from its newest started run's scheduled time to its start."""
        return {s: max(t - f, 0.0) for s, (f, t) in self.store.last_started().items()}

    def _change(self, name: str, by: str | None, action: str, **values: object) -> ScheduleState:
        config = self.owner.config(name)
        who = by or operator()
        before = self.get(name)
        now = self.owner.clock()
        if "cron_override" in values and config.cron is None and values["cron_override"]:
            raise QueryError(
                f"schedule '{name}' runs after its inputs, not on a cron line",
                "add cron: to it in weir.yml first",
            )
        self.store.set_state(name, updated_at=now.timestamp(), updated_by=who, **values)
        after = self.get(name)
        self.owner.audit.append(
            AuditEntry(
                "schedule.change",
                action,
                user=who,
                detail={"schedule": name, "before": _audited(before), "after": _audited(after)},
            )
        )
        return after

    def _state(self, config: ScheduleConfig, states: Mapping[str, StoredState]) -> ScheduleState:
        state = states.get(config.name)
        cron = (state.cron_override if state else None) or config.cron
        now = self.owner.clock()
        return ScheduleState(
            name=config.name,
            file_cron=config.cron,
            override_cron=state.cron_override if state else None,
            after=tuple(config.after),
            paused=bool(state and state.paused),
            next_fire=None
            if cron is None or (state and state.paused)
            else next_fire(cron, self.owner.zone, now),
            last_fire=at(state.last_fire) if state else None,
            updated_by=state.updated_by if state else None,
            updated_at=at(state.updated_at) if state else None,
        )


def _audited(state: ScheduleState) -> dict[str, object]:
    return {"cron": state.cron, "override": state.override_cron, "paused": state.paused}


class Orchestrator:
    """The scheduler and a worker in one thread: ``weir serve`` runs it as a service."""

    name = "orchestrate"

    def __init__(
        self, owner: Orchestration, poll_seconds: float = 5.0, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.owner = owner
        self.poll_seconds = poll_seconds
        # how long a run stays this process's without a heartbeat: a killed worker's run
        # is taken as abandoned (and retried elsewhere) that long after its last one
        self.lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> builtins.list[Run]:
        """One round: tick the scheduler, then execute every run that is due."""
        self.owner.scheduler().tick(self.owner.clock())
        worker = self.owner.worker(lease_seconds=self.lease_seconds)
        done: builtins.list[Run] = []
        while not self._stop.is_set():
            run = worker.run_once()
            if run is None:
                break
            done.append(run)
        return done

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the metadata database away, say: the next round tries again
                _log.exception(
                    "orchestration round failed; trying again in %s s", self.poll_seconds
                )
            self._stop.wait(self.poll_seconds)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, name="weir-orchestrate", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


__all__ = ["FINISHED", "Orchestration", "Orchestrator", "Runs", "Schedules"]
