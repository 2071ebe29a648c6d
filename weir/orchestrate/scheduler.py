"""The scheduler: turns cron fires and committed input batches into queued runs.

``Scheduler.tick(now)`` is safe to call from any number of processes at once:
every fire carries a key (schedule and scheduled time, or schedule and input
batch) that the database keeps unique, so each is enqueued once. A tick also
finds runs whose worker stopped renewing its lease, marks them ``abandoned``
and queues their retry, as their schedule's ``retries`` allow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from weir.orchestrate.records import PlannedStep, Run, Trigger
from weir.orchestrate.store import NewRun, RunStore
from weir.project.schedules import ScheduleConfig

MAX_CATCHUP = 1000  # fires of one schedule enqueued by one tick at most (catchup: all)


def fires_between(cron: str, zone: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """The times ``cron`` fires in ``zone`` after ``after`` up to and including ``until``."""
    found: list[datetime] = []
    it = croniter(cron, after.astimezone(zone))
    while len(found) < MAX_CATCHUP:
        fire: datetime = it.get_next(datetime)
        if fire > until:
            break
        found.append(fire)
    return found


def next_fire(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    fire: datetime = croniter(cron, after.astimezone(zone)).get_next(datetime)
    return fire


def plan_of(schedule: ScheduleConfig) -> list[PlannedStep]:
    """The steps a schedule's run takes: ingest, then models, then the quality pass."""
    steps: list[PlannedStep] = []
    if schedule.sources:
        steps.append(
            PlannedStep("ingest", ", ".join(schedule.sources), {"sources": schedule.sources})
        )
    if schedule.select is not None:
        steps.append(
            PlannedStep("models", " ".join(schedule.select) or "(all)", {"select": schedule.select})
        )
    if schedule.quality:
        steps.append(PlannedStep("quality", schedule.name, {"schedule": schedule.name}))
    if schedule.lifecycle:
        steps.append(PlannedStep("lifecycle", "retention", {}))
    return steps


def scheduled_run(
    schedule: ScheduleConfig,
    trigger: Trigger,
    now: datetime,
    by: str | None,
    scheduled_for: datetime | None = None,
    fire_key: str | None = None,
    plan: Sequence[PlannedStep] | None = None,
) -> NewRun:
    """A run of ``schedule``, with its retries and timeout."""
    return NewRun(
        trigger=trigger,
        plan=list(plan_of(schedule) if plan is None else plan),
        queued_at=now,
        schedule=schedule.name,
        triggered_by=by,
        max_attempts=1 + schedule.retries.count,
        backoff_seconds=schedule.retries.backoff_seconds,
        timeout_seconds=schedule.timeout_seconds,
        scheduled_for=scheduled_for,
        fire_key=fire_key,
    )


def queue_retry(store: RunStore, run: Run, now: datetime) -> int | None:
    """Queue the next attempt of a failed or abandoned run, if it has attempts left.

    Attempt n + 1 waits the run's backoff times 2^(n - 1): 30 s, 60 s, 120 s …
    """
    if run.attempt >= run.max_attempts:
        return None
    wait = timedelta(seconds=run.backoff_seconds * 2 ** (run.attempt - 1))
    return store.enqueue(
        NewRun(
            trigger=run.trigger,
            plan=run.plan,
            queued_at=now,
            schedule=run.schedule,
            triggered_by=run.triggered_by,
            parent_run=run.run_id,
            attempt=run.attempt + 1,
            max_attempts=run.max_attempts,
            backoff_seconds=run.backoff_seconds,
            timeout_seconds=run.timeout_seconds,
            scheduled_for=run.scheduled_for,
            fire_key=f"retry:{run.run_id}",
            not_before=now + wait,
        )
    )


class Scheduler:
    """Enqueues the fires of a project's schedules; reaps runs whose worker is gone."""

    def __init__(
        self,
        schedules: Callable[[], Sequence[ScheduleConfig]],
        store: RunStore,
        zone: ZoneInfo,
    ) -> None:
        self.schedules = schedules
        self.store = store
        self.zone = zone

    def tick(self, now: datetime) -> list[int]:
        """Enqueue what is due at ``now``; returns the ids of the runs queued."""
        queued = [run_id for run_id in self.reap(now) if run_id is not None]
        states = self.store.states()
        for schedule in self.schedules():
            state = states.get(schedule.name)
            if state is not None and state.paused:
                continue
            cron = (state.cron_override if state else None) or schedule.cron
            if cron is not None:
                last = state.last_fire if state else None
                queued += self._cron(schedule, cron, last, now)
            if schedule.after:
                mark = state.input_mark if state else None
                queued += self._input(schedule, mark, now)
        return queued

    def reap(self, now: datetime) -> list[int | None]:
        """Mark runs with a lapsed lease ``abandoned``; queue their retries."""
        retries: list[int | None] = []
        for run_id in self.store.lapsed(now):
            run = self.store.get(run_id)
            if run is not None:
                self.store.log(run_id, now, "error", "abandoned: its worker's lease ran out")
                retries.append(queue_retry(self.store, run, now))
        return retries

    def _cron(
        self, schedule: ScheduleConfig, cron: str, last: float | None, now: datetime
    ) -> list[int]:
        if last is None:  # a new schedule fires from now on, not for the past
            self.store.set_state(schedule.name, last_fire=now.timestamp())
            return []
        fires = fires_between(cron, self.zone, datetime.fromtimestamp(last, now.tzinfo), now)
        if not fires:
            return []
        wanted = fires if schedule.catchup == "all" else fires[-1:]
        queued = []
        for fire in wanted:
            key = f"{schedule.name}@{fire.timestamp():.0f}"
            run_id = self.store.enqueue(scheduled_run(schedule, "schedule", now, "cron", fire, key))
            if run_id is not None:
                queued.append(run_id)
        self.store.set_state(schedule.name, last_fire=fires[-1].timestamp())
        return queued

    def _input(self, schedule: ScheduleConfig, mark: float | None, now: datetime) -> list[int]:
        if mark is None:  # batches committed before the schedule existed do not start it
            self.store.set_state(schedule.name, input_mark=self.store.newest_commit(schedule.after))
            return []
        found = self.store.committed_since(schedule.after, mark)
        if found is None:
            return []
        finished, batch_id = found
        if self.store.runs(schedule=schedule.name, status="queued", limit=1):
            # a run of it is waiting to start: it will read this batch too
            self.store.set_state(schedule.name, input_mark=finished)
            return []
        key = f"{schedule.name}@batch:{batch_id}"
        run_id = self.store.enqueue(
            scheduled_run(schedule, "input", now, f"batch {batch_id}", fire_key=key)
        )
        self.store.set_state(schedule.name, input_mark=finished)
        return [] if run_id is None else [run_id]
