"""The collector's flush in a process of its own, beside the server.

Committing to the lake is mostly Python (pyiceberg's manifests), and in the
server's process it would hold the interpreter while requests wait. So
``weir serve`` runs it here: this process reads each source's log as another
reader sees it (up to the last whole record), takes the batches the server
closed with cut records, and ingests them exactly as an in-process flush does
(``Collector.ingest_batch``): the log position is committed with each batch.
The process itself is started by the server (``weir.serve.flush_worker``,
which opens the project and calls ``serve``). It owns no log: the server keeps writing, cutting batches and deleting the
segments the lake holds. When the server stops or dies, its end of the pipe
on this process's stdin closes: this process makes a last pass and exits. Each
pass holds the project's flush lock, so it never takes a batch another
flusher (the next server's) is taking.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from weir.errors import LockedError
from weir.streams.collector import Collector
from weir.streams.health import FlushFailure, describe
from weir.streams.lane import CUT, LogRecord, decode
from weir.streams.logs import flushing
from weir.streams.wal import read_log

log = logging.getLogger("weir.collector")
Failed = Callable[[str, str, float], None]  # source, error, failing since


def flush_logs(collector: Collector, failed: Failed | None = None) -> list[tuple[str, float, bool]]:
    """Ingest every closed batch of every source's log; returns (source, seconds, agreed).

    Each source on its own: a batch that fails is rolled back and stays in the log,
    the failure is logged, counted (``Collector.flush_failed``) and passed to
    ``failed``, and the next source is flushed all the same.
    """
    done: list[tuple[str, float, bool]] = []
    for name in collector.sources:
        folder = collector.wal_root / name
        if not folder.is_dir():
            continue
        try:
            _flush_source(collector, name, folder, done)
        except Exception as exc:
            since = collector.flush_failed(name, exc)
            if failed is not None and since is not None:
                failed(name, describe(exc), since)
            continue
        collector.flush_succeeded(name)
    return done


def _flush_source(
    collector: Collector, name: str, folder: Path, done: list[tuple[str, float, bool]]
) -> None:
    source = collector.files.sources[name]
    cards = sum(1 for c in source.columns if c.classification == "pci")
    stream = collector.stream(name)
    committed = int(collector.ledger.positions(stream).get(stream, "0"))
    batch: list[LogRecord] = []
    for position, payload in read_log(folder, committed):
        record = decode(position, payload, cards)
        if record.verdict != CUT:
            batch.append(record)
            continue
        if batch:
            started = time.monotonic()
            report = collector.ingest_batch(source, batch, record)
            done.append((name, time.monotonic() - started, report.matches_receipts))
        batch = []


def run(
    collector: Collector,
    report: Callable[[str, float, bool], None],
    stopping: threading.Event,
    failed: Failed | None = None,
) -> None:
    """Flush every half ``flush_seconds`` until ``stopping`` is set, then once more."""
    pause = max(collector.config.flush_seconds / 2, 0.05)
    since_compaction: dict[str, int] = {}
    last = False
    while not last:
        last = stopping.is_set()
        try:
            with flushing(collector.wal_root, wait=60.0):
                collector.ingestor.recover(wait=30.0)
                flushed = flush_logs(collector, failed)
            for source, seconds, agreed in flushed:
                report(source, seconds, agreed)
                since_compaction[source] = since_compaction.get(source, 0) + 1
            for name, flushes in since_compaction.items():
                if flushes >= collector.config.compact_after_files:
                    since_compaction[name] = 0
                    collector.compact(name)
        except LockedError as exc:
            log.info("collector: the flush waits for the lake: %s", describe(exc))
        except Exception as exc:
            # the log keeps every batch not yet in the lake for the next round
            log.warning("collector: a flush pass failed, tried again next round: %s", describe(exc))
        if not last:
            stopping.wait(pause)


def failure_line(failure: FlushFailure) -> str:
    """A failed flush as the flush process reports it on stdout (one JSON line)."""
    return (
        json.dumps({"failed": failure.source, "error": failure.error, "since": failure.since})
        + "\n"
    )


def read_report(line: str) -> tuple[str, float, bool] | FlushFailure:
    """A line of the flush process's stdout: a flushed batch, or a failed flush.

    Raises ValueError for a line that is neither.
    """
    try:
        reported = json.loads(line)
        if isinstance(reported, dict):
            return FlushFailure(
                str(reported["failed"]), str(reported["error"]), float(reported["since"])
            )
        source, seconds, agreed = reported
        return (str(source), float(seconds), bool(agreed))
    except (TypeError, KeyError) as exc:
        raise ValueError(f"not a flush report: {line!r}") from exc


def serve(collector: Collector) -> None:
    """The flush process's loop: stops after a last pass when stdin closes.

    Each batch flushed is reported on stdout as one JSON line, ``[source, seconds,
    agreed]``; each failed flush of a source as ``{"failed": source, "error": ...,
    "since": ...}``, so the server counts it in its stats and ``/metrics``.
    """
    stopping = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the server closes the pipe (or dies)
        stopping.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    def tell(line: str) -> None:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except BrokenPipeError:
            stopping.set()  # the server died: the lake has the batch; a last pass, then exit

    def report(source: str, seconds: float, agreed: bool) -> None:
        tell(json.dumps([source, seconds, agreed]) + "\n")

    def failed(source: str, error: str, since: float) -> None:
        tell(failure_line(FlushFailure(source, error, since)))

    run(collector, report, stopping, failed)
