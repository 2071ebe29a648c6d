"""The worker: claims a queued run, executes its steps, and records how each went.

A run's steps run in order through the handlers the worker is given (kind →
callable). While a run runs its worker renews its lease; a cancel or the
run's timeout sets the step's stop signal (a handler that can interrupt its
query does) and stops the run before its next step. A step that raises or
reports an error fails the run, whose next attempt is queued with backoff as
its schedule's ``retries`` allow. Each finished run is passed to the hooks
(alerts subscribe there).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from weir.errors import WeirError
from weir.orchestrate.records import (
    LEASE_SECONDS,
    Clock,
    Handler,
    PlannedStep,
    Run,
    RunHook,
    RunStatus,
    StepOutcome,
    StepRequest,
)
from weir.orchestrate.scheduler import queue_retry
from weir.orchestrate.store import RunStore

_log = logging.getLogger("weir.orchestrate")


def worker_name() -> str:
    """This process, as a run's ``worker``: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Executes queued runs, one at a time."""

    def __init__(
        self,
        store: RunStore,
        handlers: Mapping[str, Handler],
        hooks: Sequence[RunHook],
        limits: Callable[[], Mapping[str, int]],
        clock: Clock,
        name: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        interrupt: Callable[[int], object] | None = None,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.hooks = hooks
        self.limits = limits
        self.clock = clock
        self.name = name or worker_name()
        self.lease_seconds = lease_seconds
        self.interrupt = interrupt  # thread id → stop the queries that thread runs

    def run_once(self) -> Run | None:
        """Claim one due run and execute it; None when nothing is due."""
        run_id = self.store.claim(self.name, self.clock(), self.lease_seconds, self.limits())
        if run_id is None:
            return None
        run = self.store.get(run_id)
        if run is None:  # removed under us: nothing to do
            return None
        return self.execute(run)

    def execute(self, run: Run) -> Run:
        stop = threading.Event()
        done = threading.Event()
        lost = threading.Event()
        deadline = (
            run.started_at + timedelta(seconds=run.timeout_seconds)
            if run.started_at is not None and run.timeout_seconds is not None
            else None
        )
        beat = threading.Thread(
            target=self._heartbeat,
            args=(run.run_id, deadline, stop, done, lost, threading.get_ident()),
            name=f"weir-run-{run.run_id}-lease",
            daemon=True,
        )
        beat.start()
        self._log(run.run_id, "info", f"attempt {run.attempt} of {run.max_attempts} on {self.name}")
        status: RunStatus = "succeeded"
        error: str | None = None
        try:
            for position, step in enumerate(run.plan):
                lease = self.store.renew(
                    run.run_id, self.name, self._until()
                )  # a heartbeat, and the news of a cancel, between steps
                if not lease.held:
                    lost.set()
                    break
                if lease.cancel:
                    status, error = "cancelled", "cancelled before its next step"
                    break
                if deadline is not None and self.clock() >= deadline:
                    status, error = "failed", _timed_out(run.timeout_seconds)
                    break
                failure = self._step(run, position, step, stop)
                if failure is not None:
                    status, error = failure
                    break
        finally:
            done.set()
            beat.join()
        now = self.clock()
        if lost.is_set() or not self.store.finish(run.run_id, self.name, status, now, error):
            # another process took the run as abandoned (and queued its retry)
            return self.store.get(run.run_id) or run
        self._log(run.run_id, "info" if status == "succeeded" else "error", _ended(status, error))
        finished = self.store.get(run.run_id) or run
        if status == "failed":
            retry = queue_retry(self.store, finished, now)
            if retry is not None:
                self._log(run.run_id, "info", f"attempt {run.attempt + 1} queued as run {retry}")
        notify(self.hooks, finished)
        return finished

    def _step(
        self, run: Run, position: int, step: PlannedStep, stop: threading.Event
    ) -> tuple[RunStatus, str] | None:
        """Run one step; the run's end status and error when the step did not succeed."""
        self.store.step(run.run_id, position, "running")
        self._log(run.run_id, "info", f"step {position + 1}: {step.kind} {step.target}")
        started = time.perf_counter()
        handler = self.handlers.get(step.kind)
        outcome: StepOutcome | None = None
        error: str | None
        if handler is None:
            error = (
                f"no handler runs {step.kind} steps in this installation"
                if step.kind != "quality"
                else "no quality checks are installed: a quality step needs the quality package"
            )
        else:
            try:
                outcome = handler(
                    StepRequest(
                        run.run_id,
                        step.kind,
                        step.target,
                        step.args,
                        stop,
                        lambda line: self._log(run.run_id, "info", line),
                    )
                )
                error = outcome.error
            except WeirError as exc:
                error = str(exc)
            except Exception as exc:  # a step's failure is the run's record, not a crash
                error = f"{type(exc).__name__}: {exc}"
        seconds = round(time.perf_counter() - started, 3)
        rows = outcome.rows if outcome is not None else None
        if stop.is_set() and error is not None:
            cancelled = self.store.renew(run.run_id, self.name, self._until()).cancel
            status: RunStatus = "cancelled" if cancelled else "failed"
            why = "cancelled while it ran" if cancelled else _timed_out(run.timeout_seconds)
            self.store.step(run.run_id, position, "cancelled", rows, seconds, error)
            return status, f"{why}: {error}"
        if error is not None:
            self.store.step(run.run_id, position, "failed", rows, seconds, error)
            self._log(run.run_id, "error", f"step {position + 1} failed: {error}")
            return "failed", f"{step.kind} {step.target}: {error}"
        self.store.step(run.run_id, position, "succeeded", rows, seconds)
        if outcome is not None and outcome.summary:
            self._log(run.run_id, "info", outcome.summary)
        return None

    def _heartbeat(
        self,
        run_id: int,
        deadline: datetime | None,
        stop: threading.Event,
        done: threading.Event,
        lost: threading.Event,
        runner: int,
    ) -> None:
        """Renew the lease every third of it; on a cancel, a timeout or a lost lease, stop the
        step: set its stop signal and interrupt the queries of the thread running it."""
        while not done.wait(self.lease_seconds / 3):
            lease = self.store.renew(run_id, self.name, self._until())
            if not lease.held:
                lost.set()
            if not lease.held or lease.cancel or (deadline and self.clock() >= deadline):
                if not stop.is_set():
                    stop.set()
                    self._log(run_id, "info", "stopping the running step")
                if self.interrupt is not None:
                    self.interrupt(runner)  # again each beat: the step may start another

    def _until(self) -> datetime:
        return self.clock() + timedelta(seconds=self.lease_seconds)

    def _log(self, run_id: int, level: str, message: str) -> None:
        self.store.log(run_id, self.clock(), level, message)


def notify(hooks: Sequence[RunHook], run: Run) -> None:
    """Pass a finished run to each hook; one that fails is logged, not the run's failure."""
    for hook in hooks:
        try:
            hook(run)
        except Exception:
            _log.exception("a hook failed on run %s", run.run_id)


def _timed_out(seconds: float | None) -> str:
    return f"timed out after {seconds or 0:g} s"


def _ended(status: str, error: str | None) -> str:
    return f"run {status}" if error is None else f"run {status}: {error}"
