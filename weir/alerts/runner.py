"""Evaluating and delivering in the background, for ``weir serve``."""

from __future__ import annotations

import logging
import threading

from weir.alerts.records import Clock
from weir.alerts.service import Alerts

logger = logging.getLogger("weir.alerts")


class AlertService:
    """Every ``every`` seconds (the first round ``first_after`` seconds after it starts):
    evaluate the rules, then deliver what is due (a server service).

    The time each round uses comes from ``clock`` (the project's alerts clock by
    default). A round that fails is logged; the next one runs as planned.
    """

    name = "alerts"

    def __init__(
        self,
        alerts: Alerts,
        every: float | None = None,
        clock: Clock | None = None,
        first_after: float = 5.0,
    ) -> None:
        self.alerts = alerts
        self.every = float(every if every is not None else alerts.config.evaluate_seconds)
        # the first round waits a moment: a server started and stopped at once (a test, a
        # failed start) stops without waiting for a round it did not need
        self.first_after = min(first_after, self.every)
        self.clock = clock or alerts.clock
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or not self.alerts.config.rules:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="weir-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def run_once(self) -> None:
        """One round: evaluate at the clock's time, then deliver what is due then."""
        now = self.clock()
        try:
            self.alerts.evaluate(now)
        except Exception:  # a round that fails must not stop the next: logged, not raised
            logger.exception("evaluating the alert rules failed")
        try:
            self.alerts.deliver_pending(now)  # delivered even when evaluating failed
        except Exception:
            logger.exception("delivering alerts failed")
        self.rounds += 1

    def _run(self) -> None:
        if self._stop.wait(self.first_after):
            return
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.every)
