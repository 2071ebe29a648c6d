"""The step handlers a project supplies from its own services: ingest, models, quality, lifecycle.

Each turns a step's arguments into one call of the service that owns the work
(``Sources.ingest``, ``Models.run``) and reports what it did for the step
record. Both are idempotent, so a step retried after a crash does its work once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

from weir.ingest.service import Sources
from weir.lifecycle import Lifecycle
from weir.orchestrate.records import Handler, StepOutcome, StepRequest
from weir.transform.runner import Window
from weir.transform.service import Models

# a step waits this long for the lake's write lock: the workers of a project share one lake,
# and a run queued behind another's batch is late, not failed
LAKE_WAIT = 600.0


def ingest_step(sources: Sources) -> Handler:
    def ingest(step: StepRequest) -> StepOutcome:
        batches = sources.ingest(list(step.args.get("sources") or []) or None, wait=LAKE_WAIT)
        for b in batches:
            step.log(
                f"{b.source}: {b.files} files, {b.counts.received} received, "
                f"{b.counts.accepted} accepted, {b.counts.quarantined} quarantined"
                + (f" (batch {b.batch_id})" if b.batch_id else " (nothing new)")
            )
        rows = sum(b.counts.accepted for b in batches)
        return StepOutcome(rows, f"ingested {rows} records in {len(batches)} sources")

    return ingest


def models_step(models: Models) -> Handler:
    def build(step: StepRequest) -> StepOutcome:
        window: Window = {}
        if step.args.get("start"):
            window["start"] = date.fromisoformat(str(step.args["start"]))
        if step.args.get("end"):
            window["end"] = date.fromisoformat(str(step.args["end"]))
        if step.args.get("full_refresh"):
            window["full_refresh"] = True
        select = list(step.args.get("select") or []) or None
        result = models.run(select, **window)
        for b in result.builds:
            if b.status != "skipped" or b.error:
                step.log(f"{b.model}: {b.status}, {b.rows or 0} rows" + _why(b.error))
        built = [b for b in result.builds if b.status == "built"]
        failed = [b for b in result.builds if b.status == "failed"]
        rows = sum(b.rows or 0 for b in built)
        error = (
            f"models failed: {', '.join(b.model for b in failed)} ({failed[0].error})"
            if failed
            else None
        )
        return StepOutcome(rows, f"built {len(built)} models (run {result.run_id})", error)

    return build


def _why(error: str | None) -> str:
    return f" ({error})" if error else ""


class Judged(Protocol):
    """A check's result as a quality step reports it (the quality package's ``Check``)."""

    @property
    def state(self) -> str: ...

    @property
    def message(self) -> str: ...


def quality_step(run_checks: Callable[[], Sequence[Judged]]) -> Handler:
    """A quality pass: every check now. What it finds is news for alerts, not a failed step."""

    def judge(step: StepRequest) -> StepOutcome:
        checks = run_checks()
        failing = [c for c in checks if c.state != "ok"]
        for check in failing[:50]:
            step.log(f"{check.state}: {check.message}")
        if len(failing) > 50:
            step.log(f"… and {len(failing) - 50} more (weir health)")
        return StepOutcome(len(checks), f"{len(checks)} checks, {len(failing)} not ok")

    return judge


def lifecycle_step(lifecycle: Lifecycle) -> Handler:
    """Apply the retention rules; a part held by a legal hold is logged, not a failure."""

    def retain(step: StepRequest) -> StepOutcome:
        done = lifecycle.run()
        for s in done:
            state = f"skipped: {s.held}" if s.held else s.note or "done"
            step.log(f"{s.dataset}: {s.kind} {s.rows} ({s.rule}) {state}")
        rows = sum(s.rows for s in done if not s.held and s.kind in ("archive", "destroy"))
        held = sum(1 for s in done if s.held)
        return StepOutcome(
            rows, f"{len(done) - held} retention actions, {rows} rows out of the lake, {held} held"
        )

    return retain
