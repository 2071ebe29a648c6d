"""The demo's live traffic: the last generated day, posted to a real collector, lands once."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

from served import serving

import weir
from weir.demo.generate import generate
from weir.demo.live import LIVE_SOURCES, LiveEvent, LiveReplay, day_of_events, restamped
from weir.workspace import init_project


def test_a_replayed_event_is_new_and_sent_now() -> None:
    event = LiveEvent(10.0, "web_traffic", json.dumps({"event_id": "e1", "timestamp": 5}))
    sent = json.loads(restamped(event, 7, 1_700_000_000.5))
    assert sent == {"event_id": "e1-live7", "timestamp": 1_700_000_000}
    broken = LiveEvent(0.0, "web_traffic", '{"event_id": "e2", "timest')
    assert restamped(broken, 8, 1.0) == broken.text  # dirty lines go as they are


def test_the_last_generated_day_in_time_order(tmp_path: Path) -> None:
    generate(tmp_path / "landing", days=2, scale=0.02, seed=3, end=date(2026, 3, 2))
    events = day_of_events(tmp_path / "landing")
    assert {e.source for e in events} == set(LIVE_SOURCES)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert all(0 <= e.at < 86_400 for e in events)
    # only the last day (2 March), not the whole month's files
    last_day = [
        line
        for source in LIVE_SOURCES
        for path in (tmp_path / "landing" / source).glob(f"{source}_2026-03-02*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(events) == len(last_day) > 0


def test_live_traffic_lands_in_the_lake_once(tmp_path: Path) -> None:
    root = init_project(tmp_path / "shop")
    generate(root / "landing", days=1, scale=0.02, seed=3)
    with (root / "weir.yml").open("a", encoding="utf-8") as handle:
        handle.write("\ncollector:\n  flush_seconds: 0.2\n")
    project = weir.Project(root)
    key = project.access.write_keys().create(list(LIVE_SOURCES), "live test").key
    with serving(project) as base:
        # a whole day in about two seconds
        live = LiveReplay(root / "landing", base, key, speed=43_200, tick=0.1)
        live.start()
        time.sleep(3)
        live.stop()
    # stopping the server flushed what its log still held
    try:
        assert live.sent.get("web_traffic", 0) > 0 and live.sent.get("crm_interactions", 0) > 0
        for source in LIVE_SOURCES:
            stored = project.sql(
                f"SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM staging.{source}"
            ).to_pylist()[0]
            assert stored["n"] == stored["ids"] == live.accepted[source]
            held = project.sql(f"SELECT count(*) AS n FROM quarantine.{source}").to_pylist()[0]
            assert stored["n"] + held["n"] == live.sent[source]
        # the stream batches reconcile in `weir status` like file batches do
        totals = {s.source: s.totals for s in project.sources.status()}
        for source in LIVE_SOURCES:
            assert totals[source].received == live.sent[source]
            assert totals[source].reconciles()
    finally:
        project.close()
