"""A real ``weir serve`` killed with SIGKILL under load loses no acknowledged event, doubles none.

Clients post batches of events with unique ids and, like trackers, send a
batch again until it is acknowledged. The server is killed at random moments
(while it checks, logs, flushes or commits) and started again each time, flushing
in a thread and from a flush process by turns; a kill takes the flush process
with it or leaves it to finish its last pass, by turns too.
After a last clean stop, every acknowledged event is in ``staging`` exactly
once, and no event is there twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from alert_servers import free_port
from tracker import Trackers, post_until_acknowledged, tracker_events

import weir

KILLS = 4
CLIENTS = 4
EVENTS_PER_REQUEST = 25


def _configure(root: Path, **settings: object) -> None:
    path = root / "weir.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.setdefault("collector", {}).update(settings)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _start(root: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "weir", "--project", str(root), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its flush process is in its process group: killed together
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("weir serve did not start within 30 s")


class Load(Trackers):
    """Client threads posting batches of uniquely numbered events until told to stop."""

    def __init__(self, port: int, key: str) -> None:
        super().__init__(port, key, CLIENTS)
        self.refused = 0

    def _client(self, number: int) -> None:
        sequence = 0
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                events = tracker_events(number, sequence, EVENTS_PER_REQUEST)
                ids = [str(e["event_id"]) for e in events]
                with self._lock:
                    self.sent.update(ids)
                if post_until_acknowledged(
                    client, self.url, self.headers, events, self._stop, self._refused
                ):
                    with self._lock:
                        self.acknowledged.update(ids)
                sequence += 1

    def _refused(self) -> None:
        with self._lock:
            self.refused += 1


def test_sigkill_under_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    _configure(root, flush_seconds=0.3, compact_after_files=6, flush_process=False)
    with weir.Project(root) as project:
        key = project.access.write_keys().create(["web_traffic"]).key
    port = free_port()
    rng = random.Random(20261122)
    server = _start(root, port)
    load = Load(port, key)
    load.start()
    try:
        for kill in range(KILLS):
            time.sleep(rng.uniform(1.0, 4.0))
            if kill % 4 in (0, 1):
                os.killpg(server.pid, signal.SIGKILL)  # the server and its flush process
            else:
                os.kill(server.pid, signal.SIGKILL)  # the server; its flush process finishes
            server.wait()
            # the next run flushes the other way: in a thread, or from its own process
            _configure(root, flush_process=kill % 2 == 0)
            server = _start(root, port)
        time.sleep(1.0)
    finally:
        load.stop()
        server.send_signal(signal.SIGTERM)  # a clean stop flushes what the log holds
        server.wait(timeout=60)
        time.sleep(1.0)  # a flush process left by a kill finishes its last pass

    with weir.Project(root) as project:
        collector = project.streams.collector()
        collector.open_logs()
        collector.flush()  # nothing should be left; flush anyway, as a restart would
        assert collector.backlog("web_traffic") == 0
        collector.close()
        counts = project.sql(
            "SELECT event_id, count(*) AS n FROM staging.web_traffic GROUP BY 1"
        ).to_pylist()
        every = project.ledger.batches("web_traffic")
        batches = [b for b in every if b.status == "committed"]
        aborted = [b for b in every if b.status == "aborted"]
    stored = {row["event_id"]: row["n"] for row in counts}
    print(
        f"acknowledged {len(load.acknowledged)}, sent {len(load.sent)}, stored {len(stored)}, "
        f"refused {load.refused}, batches {len(batches)} committed / {len(aborted)} rolled back"
    )
    assert len(load.acknowledged) > 1000, "the load generator got too few answers"
    assert len(batches) > KILLS
    missing = load.acknowledged - stored.keys()
    assert not missing, f"{len(missing)} acknowledged events are not in the lake"
    twice = {event_id: n for event_id, n in stored.items() if n > 1}
    assert not twice, f"events stored more than once: {sorted(twice)[:5]}"
    assert stored.keys() <= load.sent  # nothing in the lake that no one sent
