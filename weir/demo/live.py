"""The demo's live traffic: generated web and CRM events posted to the collector as they "happen".

The generator writes a day of clickstream and CRM interactions as files;
``LiveReplay`` plays the last generated day back through ``POST
/collect/v1/{source}``, as a website's tracker would, at ``speed`` times real
time (60: an hour of traffic a minute). Each event gets a fresh ``event_id``
and the time it is sent, so it is new to the lake and the live traffic
carries on where the generated history (which ends yesterday) stops; the
dirty records the generator mixed in (malformed lines, unknown values)
arrive too and are quarantined. It runs as a service of ``weir serve`` in ``weir demo --serve``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

LIVE_SOURCES = ("web_traffic", "crm_interactions")
log = logging.getLogger("weir.demo.live")


@dataclass(frozen=True)
class LiveEvent:
    at: float  # seconds into the replayed day
    source: str
    text: str  # the event as the generator wrote it


def day_of_events(landing: Path, sources: tuple[str, ...] = LIVE_SOURCES) -> list[LiveEvent]:
    """The last generated day of ``sources``, in time order (lines that are not JSON keep order 0)."""
    events: list[LiveEvent] = []
    for source in sources:
        files = sorted((landing / source).glob("*.jsonl"))
        if not files:
            continue
        last_day = _day_of(files[-1], source)
        for path in files:
            if _day_of(path, source) != last_day:
                continue
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.strip():
                    events.append(LiveEvent(_second_of_day(line), source, line))
    return sorted(events, key=lambda e: e.at)


def _day_of(path: Path, source: str) -> str:
    """``YYYY-MM-DD`` of a daily or hourly file (``crm_interactions_2026-03-01``, ``web_traffic_2026-03-01T09``)."""
    return path.stem.removeprefix(f"{source}_")[:10]


def _second_of_day(line: str) -> float:
    try:
        stamp = json.loads(line).get("timestamp")
        return float(stamp) % 86_400 if isinstance(stamp, int | float) else 0.0
    except (ValueError, AttributeError):
        return 0.0


def restamped(event: LiveEvent, serial: int, now: float) -> str:
    """The event as sent now: a new event_id and the current time; other text unchanged."""
    try:
        record = json.loads(event.text)
    except ValueError:
        return event.text
    if not isinstance(record, dict):
        return event.text
    if record.get("event_id") is not None:
        record["event_id"] = f"{record['event_id']}-live{serial}"
    if isinstance(record.get("timestamp"), int | float):
        record["timestamp"] = int(now)
    return json.dumps(record)


class LiveReplay:
    """Posts the last generated day of web and CRM events to a collector, paced by their times."""

    name = "demo-live-traffic"

    def __init__(
        self, landing: Path, url: str, write_key: str, speed: float = 60.0, tick: float = 0.5
    ) -> None:
        self.landing = landing
        self.url = url.rstrip("/")
        self.write_key = write_key
        self.speed = speed
        self.tick = tick
        self.sent: dict[str, int] = {}
        self.accepted: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        events = day_of_events(self.landing)
        if not events:
            log.warning("no generated web or CRM events under %s to replay", self.landing)
            return
        headers = {"Authorization": f"Bearer {self.write_key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            serial = 0
            while not self._stop.is_set():  # the day starts again when it is over
                for due in self._paced(events):
                    serial += 1
                    self._post(client, due, serial)
                    if self._stop.is_set():
                        return

    def _paced(self, events: list[LiveEvent]) -> Iterator[list[LiveEvent]]:
        """Events in groups, each group when its time (scaled by ``speed``) has come."""
        started = time.monotonic()
        index = 0
        while index < len(events) and not self._stop.is_set():
            clock = (time.monotonic() - started) * self.speed
            end = index
            while end < len(events) and events[end].at <= clock:
                end += 1
            if end > index:
                yield events[index:end]
                index = end
            self._stop.wait(self.tick)

    def _post(self, client: httpx.Client, due: list[LiveEvent], serial: int) -> None:
        now = time.time()
        for source in LIVE_SOURCES:
            texts = [
                restamped(e, serial * 100_000 + i, now)
                for i, e in enumerate(due)
                if e.source == source
            ]
            if not texts:
                continue
            body = "\n".join(texts).encode()
            for attempt in range(20):  # the server may still be starting, or busy (503)
                try:
                    answer = client.post(
                        f"/collect/v1/{source}",
                        content=body,
                        headers={"Content-Type": "application/x-ndjson"},
                    )
                except httpx.TransportError:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    receipt = answer.json()
                    self.sent[source] = self.sent.get(source, 0) + len(texts)
                    self.accepted[source] = self.accepted.get(source, 0) + int(
                        receipt.get("accepted", 0)
                    )
                    break
                if answer is not None and answer.status_code < 500:
                    log.warning("the collector refused live %s events: %s", source, answer.text)
                    break
                if self._stop.wait(min(0.2 * 2**attempt, 5.0)):
                    return
