"""The MQTT consumer against the real Mosquitto broker (``WEIR_TEST_MQTT``, by default 127.0.0.1:1883).

QoS 1 messages land in the lake exactly once; messages published while weir is
down arrive after it restarts (a persistent session); a stop between the lake
commit and the acknowledgement redelivers, and de-duplication absorbs it.
Each test uses its own topic and client id. Without a broker the tests fail under CI
and skip elsewhere, saying why.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from conftest import require_server
from paho.mqtt.enums import CallbackAPIVersion

import weir
from weir.cli.main import cli
from weir.ingest import BatchResult
from weir.project.consumers import MqttConsumerConfig
from weir.streams.consumers.base import read_stream_states
from weir.workspace import init_project

BROKER = os.environ.get("WEIR_TEST_MQTT", "127.0.0.1:1883")
HOST, PORT = BROKER.rsplit(":", 1)[0], int(BROKER.rsplit(":", 1)[1])
T0 = 1735732800


def _broker_up() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module", autouse=True)
def broker() -> None:
    if not _broker_up():
        require_server(
            "Mosquitto", f"no MQTT broker at {BROKER} (start mosquitto, or set WEIR_TEST_MQTT)"
        )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[weir.Project]:
    with weir.Project(init_project(tmp_path / "shop")) as opened:
        yield opened


@pytest.fixture
def topic() -> str:
    return f"weir-test/{uuid.uuid4().hex[:10]}/events"


def config(topic: str, client_id: str, **extra: Any) -> MqttConsumerConfig:
    return MqttConsumerConfig(
        kind="mqtt",
        source="device_events",
        topic=topic.rsplit("/", 2)[0] + "/+/events",  # a wildcard subscription
        broker=f"{HOST}:{PORT}",
        client_id=client_id,
        batch_events=extra.pop("batch_events", 50),
        batch_seconds=extra.pop("batch_seconds", 0.3),
        session_expiry=300,  # the broker does not keep test sessions for long
        **extra,
    )


def alarm(event_id: str, **extra: Any) -> str:
    body = {
        "event_id": event_id,
        "device_id": "bp-1",
        "customer_id": 7,
        "event_type": "location",
        "lat": 51.5,
        "lon": -0.12,
        "battery": 80,
        "timestamp": T0,
    }
    body.update(extra)
    return json.dumps(body)


def publish(topic: str, payloads: list[str | bytes]) -> None:
    """QoS 1, each acknowledged by the broker before this returns."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(HOST, PORT)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def staged(project: weir.Project) -> list[str]:
    rows = project.sql("SELECT event_id FROM staging.device_events ORDER BY 1").to_pylist()
    return [r["event_id"] for r in rows]


def client_id() -> str:
    return f"weir-test-{uuid.uuid4().hex[:10]}"


def test_qos1_messages_land_once_bad_ones_quarantined(project: weir.Project, topic: str) -> None:
    ident = client_id()
    consumer = project.streams.consumer(config(topic, ident))
    consumer.start()
    try:
        assert consumer.ready.wait(10), "subscribed before anything is published"
        good = [alarm(f"d{i:02d}") for i in range(30)]
        bad: list[str | bytes] = [
            "{not json",
            alarm("x1", lat=123.0),  # out of range
            alarm("x2", event_type="party"),  # unknown kind
        ]
        publish(topic, [*good, *bad, good[0], good[5]])
        _wait_for(lambda: consumer.counters.received >= 35)
    finally:
        consumer.stop()
    assert staged(project) == [f"d{i:02d}" for i in range(30)]
    c = consumer.counters
    assert (c.received, c.accepted, c.quarantined, c.duplicates) == (35, 30, 3, 2)
    held = project.sql("SELECT _source_file FROM quarantine.device_events").to_pylist()
    assert {r["_source_file"] for r in held} == {f"mqtt:{topic}"}
    position = f"mqtt:{ident}:{config(topic, ident).topic}"
    assert project.ledger.positions(position) == {position: "35"}


def test_messages_sent_while_weir_is_down_arrive_after_restart(
    project: weir.Project, topic: str
) -> None:
    ident = client_id()
    first = project.streams.consumer(config(topic, ident))
    first.run(max_seconds=1.0)  # creates the persistent session, then goes away

    publish(topic, [alarm(f"late{i}") for i in range(8)])  # nobody is connected

    again = project.streams.consumer(config(topic, ident))
    again.run(max_seconds=15, max_events=8)
    assert staged(project) == [f"late{i}" for i in range(8)]
    assert (again.counters.received, again.counters.duplicates) == (8, 0)


def test_a_stop_before_the_ack_redelivers_and_dedupe_absorbs_it(
    project: weir.Project, topic: str
) -> None:
    ident = client_id()
    project.streams.consumer(config(topic, ident)).run(max_seconds=1.0)
    publish(topic, [alarm(f"c{i}") for i in range(6)])

    class Crash(Exception):
        pass

    def crash(_result: BatchResult) -> None:
        raise Crash  # in the lake, never acknowledged

    with pytest.raises(Crash):
        project.streams.consumer(config(topic, ident), after_lake_commit=crash).run(
            max_seconds=15, max_events=6
        )
    assert staged(project) == [f"c{i}" for i in range(6)]

    again = project.streams.consumer(config(topic, ident))
    again.run(max_seconds=15, max_events=6)
    # the broker delivered them again (unacknowledged); the lake keeps one copy
    assert (again.counters.received, again.counters.duplicates) == (6, 6)
    assert staged(project) == [f"c{i}" for i in range(6)]

    # acknowledged now: a third start receives nothing
    last = project.streams.consumer(config(topic, ident))
    last.run(max_seconds=1.5)
    assert last.counters.received == 0


def _wait_for(condition: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_weir_consume_mqtt_and_the_streams_status(project: weir.Project, topic: str) -> None:
    ident = client_id()
    runner = CliRunner()
    base = ["--project", str(project.root), "consume", "mqtt", "--source", "device_events"]
    base += ["--topic", topic, "--broker", f"{HOST}:{PORT}", "--client-id", ident]
    first = runner.invoke(cli, [*base, "--max-seconds", "1"])  # the session now exists
    assert first.exit_code == 0, first.output
    publish(topic, [alarm(f"s{i}") for i in range(4)])
    result = runner.invoke(
        cli, [*base, "--max-events", "4", "--max-seconds", "15", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["received"], row["accepted"]) == (4, 4)
    [stream] = [s for s in project.streams.status() if s.kind == "mqtt"]
    assert stream.stream == f"mqtt:{ident}:{topic}" and stream.source == "device_events"
    assert stream.running is False and stream.last_commit_at is not None


def test_ctrl_c_ingests_and_acknowledges_what_is_buffered(
    project: weir.Project, topic: str
) -> None:
    ident = client_id()
    command = [sys.executable, "-m", "weir", "--project", str(project.root), "consume", "mqtt"]
    command += ["--source", "device_events", "--topic", topic, "--broker", f"{HOST}:{PORT}"]
    command += ["--client-id", ident, "--batch-seconds", "600", "--format", "json"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        states = project.files.state_dir
        _wait_for(lambda: any(s["connected"] for s in read_stream_states(states)), 30)
        time.sleep(0.5)  # subscribed just after connecting
        publish(topic, [alarm(f"i{i}") for i in range(3)])
        time.sleep(1.0)  # received, held for a batch that would close in 10 minutes
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert json.loads(out)[0]["received"] == 3
    assert staged(project) == ["i0", "i1", "i2"]
    again = project.streams.consumer(config(topic, ident))
    again.run(max_seconds=1.5)
    assert again.counters.received == 0, "acknowledged before it disconnected"


def test_weir_serve_runs_the_consumers_of_weir_yml(project: weir.Project, topic: str) -> None:
    from weir.serve.server import project_services

    ident = client_id()
    with (project.root / "weir.yml").open("a", encoding="utf-8") as handle:
        handle.write(
            f"consumers:\n  - {{kind: mqtt, source: device_events, topic: '{topic}', "
            f"broker: '{HOST}:{PORT}', client_id: {ident}, batch_seconds: 0.2, session_expiry: 300}}\n"
        )
    with weir.Project(project.root) as reopened:
        [service] = project_services(reopened)
        service.start()
        try:
            assert service.ready.wait(10)  # type: ignore[attr-defined]
            publish(topic, [alarm("srv1"), alarm("srv2")])
            _wait_for(lambda: service.counters.received >= 2)  # type: ignore[attr-defined]
        finally:
            service.stop()
        assert staged(reopened) == ["srv1", "srv2"]
