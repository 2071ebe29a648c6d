"""`weir collect --processes 3`: three collector processes behind one port, one killed mid-stream.

Clients post uniquely numbered events on a new connection each time (so the
kernel hands them to any of the processes), send some acknowledged batches
again (duplicates, reaching another process than the first time), and send a
batch again until it is acknowledged. One process is killed with SIGKILL while
they post; `weir collect` starts it again and it flushes its log. After a clean
stop every acknowledged event is in staging exactly once, whichever process
and log took it, and nothing is there that no client sent.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml
from alert_servers import free_port
from conftest import web_event
from tracker import Trackers, post_until_acknowledged, tracker_events

import weir
from weir.streams.logs import log_stream, wal_folder

PROCESSES = 3
CLIENTS = 4
EVENTS_PER_REQUEST = 20
STREAMED = 300  # events acknowledged before the kill, and as many after it


def collect_command(root: Path, port: int, *more: str) -> list[str]:
    """``weir --project ROOT collect --port PORT ...`` run by this Python."""
    return [
        sys.executable,
        "-m",
        "weir",
        "--project",
        str(root),
        "collect",
        "--port",
        str(port),
        *more,
    ]


class Collect:
    """``weir collect --processes N`` in a child process, and what it says about its processes."""

    def __init__(self, root: Path, port: int) -> None:
        self.child = subprocess.Popen(
            collect_command(root, port, "--processes", str(PROCESSES)),
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "300"},
        )
        self.pids: dict[int, int] = {}  # instance → its process id, the newest
        self.starts = 0
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda: len(self.pids) == PROCESSES)
        deadline = time.monotonic() + 60
        while True:  # each process opens the project: ready once one answers
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "weir collect did not start within 60 s"
            time.sleep(0.1)

    def _read(self) -> None:
        assert self.child.stdout is not None
        for line in self.child.stdout:
            found = re.search(r"collector process (\d+) started \(pid (\d+)\)", line)
            if found:
                with self._changed:
                    self.pids[int(found[1])] = int(found[2])
                    self.starts += 1
                    self._changed.notify_all()

    def wait_for(self, done: object) -> None:
        with self._changed:
            assert self._changed.wait_for(done, timeout=60), "weir collect said nothing in 60 s"  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)  # each process flushes what it acknowledged
        self.child.wait(timeout=300)


class Load(Trackers):
    """Clients posting numbered events, a new connection per request, until told to stop."""

    def __init__(self, port: int, key: str) -> None:
        super().__init__(port, key, CLIENTS)
        self.again = 0  # acknowledged batches sent once more on purpose
        self.start()

    def wait_for(self, events: int, also: Callable[[], bool] = lambda: True) -> None:
        """Until ``events`` events were acknowledged (and ``also`` holds)."""
        deadline = time.monotonic() + 120
        while len(self.acknowledged) < events or not also():
            assert time.monotonic() < deadline, f"{len(self.acknowledged)} events acknowledged"
            time.sleep(0.05)

    def _client(self, number: int) -> None:
        # no connection kept: each request is a new connection, for any of the processes
        with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            self._post(number, client)

    def _post(self, number: int, client: httpx.Client) -> None:
        sequence = 0
        done: list[list[dict[str, object]]] = []
        while not self._stop.is_set():
            if done and sequence % 4 == 3:
                events = done[sequence % len(done)]  # a batch acknowledged already: duplicates
                with self._lock:
                    self.again += 1
            else:
                events = tracker_events(number, sequence, EVENTS_PER_REQUEST)
                with self._lock:
                    self.sent.update(str(e["event_id"]) for e in events)
            # a tracker sends a batch again until it is acknowledged
            if post_until_acknowledged(client, self.url, self.headers, events, self._stop):
                with self._lock:
                    self.acknowledged.update(str(e["event_id"]) for e in events)
                done.append(events)
            sequence += 1


def logged(state: Path, instance: int) -> int:
    """Bytes in collector process ``instance``'s log of web_traffic."""
    return sum(p.stat().st_size for p in wal_folder(state, "web_traffic", instance).glob("*.wal"))


def test_three_collector_processes_one_killed_lose_and_double_nothing(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    config = yaml.safe_load((root / "weir.yml").read_text(encoding="utf-8"))
    # each process flushes from a process of its own (the default); a killed one's flush
    # process makes its last pass and exits, and the restarted one starts another
    config.setdefault("collector", {}).update(flush_seconds=0.3)
    (root / "weir.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with weir.Project(root) as project:
        key = project.access.write_keys().create(["web_traffic"]).key
    port = free_port()
    collect = Collect(root, port)
    load: Load | None = None
    try:
        # a second `weir collect` on the project would write the same logs: it stops, saying why
        second = subprocess.run(
            collect_command(root, free_port()),
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "300"},
        )
        assert second.returncode == 1, second.stderr
        assert "collector process 1 of this project is running already (pid" in second.stderr
        assert "collector process 1 stopped as it started (exit 1)" in second.stderr
        assert "Traceback" not in second.stderr
        load = Load(port, key)
        state = root / ".weir"
        # kill a process that has taken events (its log exists), in the middle of the stream
        load.wait_for(STREAMED, lambda: any(logged(state, n) for n in collect.pids))
        victim = max(collect.pids, key=lambda n: logged(state, n))
        starts = collect.starts
        os.kill(collect.pids[victim], signal.SIGKILL)
        collect.wait_for(lambda: collect.starts > starts)  # weir collect started it again
        # the stream goes on, the restarted process taking its share
        load.wait_for(len(load.acknowledged) + STREAMED)
    finally:
        if load is not None:
            load.stop()
        collect.stop()

    assert load is not None
    with weir.Project(root) as project:
        logs = {}
        for instance in range(1, PROCESSES + 1):
            collector = project.streams.collector(instance)
            collector.open_logs()
            collector.flush()  # nothing should be left; flush anyway, as a restart would
            assert collector.backlog("web_traffic") == 0
            collector.close()
            stream = log_stream("web_traffic", instance)
            logs[instance] = int(project.ledger.positions(stream).get(stream, "0"))
        counts = project.sql(
            "SELECT event_id, count(*) AS n FROM staging.web_traffic GROUP BY 1"
        ).to_pylist()
    stored = {row["event_id"]: row["n"] for row in counts}
    print(
        f"acknowledged {len(load.acknowledged)}, sent {len(load.sent)}, again {load.again},"
        f" stored {len(stored)}, log positions {logs}"
    )
    missing = load.acknowledged - stored.keys()
    assert not missing, f"{len(missing)} acknowledged events are not in the lake"
    twice = {event_id: n for event_id, n in stored.items() if n > 1}
    assert not twice, f"events stored more than once: {sorted(twice)[:5]}"
    assert stored.keys() <= load.sent  # nothing in the lake that no one sent
    assert len(load.acknowledged) >= 2 * STREAMED and load.again > 0
    assert logs[victim] > 0  # what the killed process had logged is in the lake


def test_every_process_log_is_flushed_counted_and_searched(tmp_path: Path) -> None:
    """Two collector processes' logs of one source: status, flush, duplicates, subject search."""
    root = weir.init_project(tmp_path / "shop")
    with weir.Project(root) as project:
        first, second = project.streams.collector(1), project.streams.collector(2)
        try:
            now = time.time()  # within the dedupe window, which both logs' batches check
            first.submit_sync("web_traffic", [json.dumps(web_event("a", user_id=4, timestamp=now))])
            # "a" again, to the other process (a client retrying elsewhere), and "b"
            receipt = second.submit_sync(
                "web_traffic",
                [
                    json.dumps(web_event("a", user_id=4, timestamp=now)),
                    json.dumps(web_event("b", user_id=5, timestamp=now)),
                ],
            )
            assert receipt.accepted == 2  # this process never saw "a": only the lake knows
            found = project.subjects.find(project.subjects.resolve(4))
            # one record of customer 4 in each process's log
            assert found.collector_log["web_traffic"]["records"] == 2
            first.flush()  # what the lake holds leaves the first log
            streams = {s.stream: s.backlog for s in project.streams.status()}
            assert streams["collector:web_traffic@1"] == 0
            assert streams["collector:web_traffic@2"] == 2  # logged, not yet in the lake
            [report] = second.flush()
            counts = report.result.counts
            assert (counts.accepted, counts.duplicates) == (1, 1)  # "a" is in staging once
        finally:
            first.close()
            second.close()
        backlogs = {s.stream: s.backlog for s in project.streams.status()}
        assert (backlogs["collector:web_traffic@1"], backlogs["collector:web_traffic@2"]) == (0, 0)
        rows = project.sql(
            "SELECT event_id, count(*) AS n FROM staging.web_traffic GROUP BY 1 ORDER BY 1"
        ).to_pylist()
    assert rows == [{"event_id": "a", "n": 1}, {"event_id": "b", "n": 1}]
