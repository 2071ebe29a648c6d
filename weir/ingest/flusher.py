"""The collector's flusher: a background service moving the logs into the lake.

It flushes every ``flush_seconds``, and early when a batch fills up
(``flush_events``). A failed flush (the lake locked by another writer, a full
disk) is logged and tried again on the next round; the events wait safely in
the log, and backpressure refuses new ones once the log is too long.
"""

from __future__ import annotations

import logging
import threading

from weir.errors import WeirError
from weir.ingest.collector import Collector

log = logging.getLogger("weir.collector")


class Flusher:
    """Runs ``Collector.flush`` in a thread while the server runs (a ``Service``)."""

    name = "collector-flusher"

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, after one last flush of everything received."""
        self._stop.set()
        self.collector.batch_closed.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._flush()
        self.collector.close()

    def _run(self) -> None:
        try:
            self.collector.open_logs()  # a backlog left by the last run is flushed first
        except WeirError as exc:
            log.error("collector: cannot open the logs: %s", exc)
        seconds = self.collector.config.flush_seconds
        while not self._stop.is_set():
            self._flush()
            self.collector.batch_closed.wait(seconds)
            self.collector.batch_closed.clear()

    def _flush(self) -> None:
        for source in self.collector.opened:
            try:
                self.collector.flush(source)
            except WeirError as exc:
                log.warning("collector: flush of %s failed, retrying next round: %s", source, exc)
            except Exception:
                log.exception("collector: flush of %s failed, retrying next round", source)
