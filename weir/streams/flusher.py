"""The collector's flusher: a background service moving the logs into the lake.

Two ways to run, the same batches and guarantees either way:

- in a thread (no ``process``): it flushes every ``flush_seconds``, and early
  when a batch fills up (``flush_events``);
- beside the server in a process of its own (``process``, the command that
  starts it: what ``weir serve`` does, ``flush_process.py``): here a thread only closes the open
  batches every ``flush_seconds``, seals the log's segment, and learns from the
  ledger what the lake holds (deleting those segments); the lake commits run
  in the other process, so they do not hold up requests.

A failed flush (the lake locked by another writer, a full disk, a batch the
lake refuses) is logged, counted in the collector's stats (and, when the flush
process failed, reported to this process on its stdout) and tried again on the
next round; the events wait safely in the log, each source flushes on its own,
and backpressure refuses new ones once a source's log is too long.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import subprocess
import threading
from collections.abc import Sequence

from weir.errors import WeirError
from weir.streams.collector import Collector
from weir.streams.flush_process import read_report
from weir.streams.health import FlushFailure
from weir.streams.lane import Lane
from weir.streams.logs import STREAM_PREFIX

log = logging.getLogger("weir.collector")


class Flusher:
    """Moves the collector's logs into the lake while the server runs (a ``Service``)."""

    name = "collector-flusher"

    def __init__(self, collector: Collector, process: Sequence[str] | None = None) -> None:
        self.collector = collector
        self.process = process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None
        self._reports: queue.SimpleQueue[tuple[str, float, bool] | FlushFailure] = (
            queue.SimpleQueue()
        )

    def start(self) -> None:
        self._stop.clear()
        target = self._run_beside if self.process else self._run
        self._thread = threading.Thread(target=target, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, after one last flush of everything received."""
        self._stop.set()
        self.collector.batch_closed.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.process:
            self._stop_beside()
        else:
            self._flush()
        self.collector.close()

    # -- in a thread ------------------------------------------------------------------
    def _run(self) -> None:
        self._open_logs()
        seconds = self.collector.config.flush_seconds
        while not self._stop.is_set():
            self._flush()
            self.collector.batch_closed.wait(seconds)
            self.collector.batch_closed.clear()

    def _open_logs(self) -> None:
        try:
            self.collector.open_logs()  # a backlog left by the last run is flushed first
        except WeirError as exc:
            log.error("collector: cannot open the logs: %s", exc)

    def _flush(self) -> None:
        try:
            self.collector.flush()  # each source on its own; a failure is logged and counted there
        except Exception:
            log.exception("collector: the flush failed, retrying next round")

    # -- beside the server, in a process of its own --------------------------------------
    def _run_beside(self) -> None:
        self._open_logs()
        seconds = self.collector.config.flush_seconds
        while not self._stop.is_set():
            self._cut_and_catch_up()
            self.collector.batch_closed.wait(seconds)
            self.collector.batch_closed.clear()

    def _cut_and_catch_up(self) -> None:
        """Close the open batches for the flush process, and learn what the lake holds."""
        lanes = [self.collector.lane(name) for name in self.collector.opened]
        if lanes and self._child is None:
            self._spawn()  # only once there is a log: a server that collects nothing forks nothing
        for lane in lanes:
            try:
                self.collector.cut(lane.source.name)
                lane.wal.seal()  # each batch in segments of its own: deleted once in the lake
            except WeirError as exc:
                log.warning("collector: cannot close a batch of %s: %s", lane.source.name, exc)
        self._catch_up(lanes)
        if self._child is not None and self._child.poll() is not None and not self._stop.is_set():
            log.error(
                "collector: the flush process stopped (exit %s); starting it again",
                self._child.returncode,
            )
            self._child = None

    def _catch_up(self, lanes: list[Lane]) -> None:
        positions = self.collector.ledger.positions(STREAM_PREFIX)
        for lane in lanes:
            stream = self.collector.stream(lane.source.name)
            lane.caught_up(int(positions.get(stream, "0")))
            lane.wal.release(lane.committed)
        while True:
            try:
                reported = self._reports.get_nowait()
            except queue.Empty:
                break
            if isinstance(reported, FlushFailure):
                # the flush process logged it and kept it for `weir status`; counted here for /metrics
                self.collector.record_failure(reported.source, reported.error, reported.since)
            else:
                self.collector.record_flush(*reported)

    def _spawn(self) -> None:
        # a plain child process (not multiprocessing): nothing of the server's main module
        # is imported again there
        self._child = subprocess.Popen(
            list(self.process or ()),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        child = self._child

        def read_reports() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                with contextlib.suppress(ValueError):
                    self._reports.put(read_report(line))

        threading.Thread(target=read_reports, name="weir-flush-reports", daemon=True).start()

    def _stop_beside(self) -> None:
        lanes = [self.collector.lane(name) for name in self.collector.opened]
        for lane in lanes:
            with contextlib.suppress(WeirError):
                self.collector.cut(lane.source.name)  # everything received is in a closed batch
        if lanes and self._child is None:
            self._spawn()  # it makes one pass, since it is told to stop at once
        if self._child is not None:
            assert self._child.stdin is not None
            self._child.stdin.close()  # the child's last pass, then it exits
            try:
                self._child.wait(timeout=300)
            except subprocess.TimeoutExpired:
                self._child.kill()
            self._child = None
        self._catch_up(lanes)
