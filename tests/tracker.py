"""A tracker posting to the event collector, as the collector tests' clients do.

Its events are numbered uniquely (``c<client>-<sequence>-<i>``), and it sends a
batch again until the collector acknowledges it, as a real tracker does after a
lost answer or a refusal: what the crash tests count on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import httpx


def tracker_events(client: int, sequence: int, count: int) -> list[dict[str, object]]:
    """``count`` web_traffic events of client ``client``'s ``sequence``-th batch, ids unique."""
    return [
        {
            "event_id": f"c{client}-{sequence}-{i}",
            "session_id": f"s{client}",
            "page": "/cart",
            "event_type": "View",
            "timestamp": time.time(),
        }
        for i in range(count)
    ]


def post_until_acknowledged(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    events: Sequence[dict[str, object]],
    stop: threading.Event,
    refused: Callable[[], None] = lambda: None,
) -> bool:
    """Post ``events`` until they are acknowledged (True) or ``stop`` is set (False).

    A connection error (the process reached was killed) and a refusal
    (backpressure: ``refused`` is told) are tried again after 50 ms. The answer
    must count every event as accepted or a duplicate.
    """
    while not stop.is_set():
        try:
            answer = client.post(url, json=list(events), headers=headers)
        except httpx.HTTPError:
            time.sleep(0.05)
            continue
        if answer.status_code == 200:
            body = answer.json()
            assert body["accepted"] + body["duplicates"] == len(events), body
            return True
        refused()
        time.sleep(0.05)
    return False


class Trackers:
    """``clients`` tracker threads posting web_traffic to the collector on ``port``.

    A subclass's ``_client(number)`` is one tracker's loop; it records what it
    sent in ``sent`` and what was acknowledged in ``acknowledged`` (under
    ``_lock``) and ends once ``_stop`` is set.
    """

    def __init__(self, port: int, key: str, clients: int) -> None:
        self.url = f"http://127.0.0.1:{port}/collect/v1/web_traffic"
        self.headers = {"Authorization": f"Bearer {key}"}
        self.acknowledged: set[str] = set()
        self.sent: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _client(self, number: int) -> None:
        raise NotImplementedError
