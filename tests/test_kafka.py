"""The Kafka consumer against librdkafka's mock cluster (the real wire protocol, in process).

Produced events land in the lake exactly once: bad ones in quarantine, redelivered
ones as duplicates; offsets reach Kafka only after the lake commit, and a consumer
stopped between the two resumes from the ledger without redelivery.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, Producer, TopicPartition

import weir
from weir.cli.main import cli
from weir.ingest import BatchResult
from weir.project.consumers import KafkaConsumerConfig
from weir.streams.consumers.kafka import position_key
from weir.workspace import init_project

T0 = 1735732800


class _Bootstrap(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.servers: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "Mock cluster enabled" in text:
            self.servers = text.rsplit(" ", 1)[-1]


@pytest.fixture(scope="module")
def brokers() -> Iterator[str]:
    """A one-broker mock cluster; its address is only told in librdkafka's log."""
    handler = _Bootstrap()
    logger = logging.getLogger("weir.tests.kafka.mock")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    owner = Producer({"test.mock.num.brokers": 1, "logger": logger})
    owner.poll(1.0)
    assert handler.servers, "the mock cluster did not say its address"
    yield handler.servers
    owner.flush(5)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[weir.Project]:
    with weir.Project(init_project(tmp_path / "shop")) as opened:
        yield opened


def new_topic(brokers: str) -> str:
    """A fresh topic; the mock cluster creates it (4 partitions) when a producer asks for it."""
    name = f"clicks-{uuid.uuid4().hex[:8]}"
    Producer({"bootstrap.servers": brokers}).list_topics(name, timeout=10)
    return name


def produce(
    brokers: str, topic: str, values: list[str | bytes], partition: int | None = None
) -> None:
    producer = Producer({"bootstrap.servers": brokers})
    for i, value in enumerate(values):
        target = partition if partition is not None else i % 2
        producer.produce(topic, value=value, partition=target)
    assert producer.flush(10) == 0


def click(event_id: str, page: str = "/", **extra: Any) -> str:
    return json.dumps(
        {"event_id": event_id, "session_id": "s-1", "page": page, "timestamp": T0, **extra}
    )


def config(brokers: str, topic: str, **extra: Any) -> KafkaConsumerConfig:
    return KafkaConsumerConfig(
        kind="kafka",
        source="web_traffic",
        topic=topic,
        brokers=brokers,
        batch_events=extra.pop("batch_events", 100),
        batch_seconds=extra.pop("batch_seconds", 0.5),
        # a member that went away without leaving (a crash) holds the group this long
        settings={"session.timeout.ms": 3000, "heartbeat.interval.ms": 300},
        **extra,
    )


def staged_ids(project: weir.Project) -> list[str]:
    rows = project.sql("SELECT event_id FROM staging.web_traffic ORDER BY event_id").to_pylist()
    return [r["event_id"] for r in rows]


def committed(brokers: str, group: str, topic: str) -> dict[int, int]:
    reader = Consumer({"bootstrap.servers": brokers, "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in (0, 1)]
        return {tp.partition: tp.offset for tp in reader.committed(parts, timeout=10)}
    finally:
        reader.close()


def test_every_event_lands_once_bad_ones_quarantined(brokers: str, project: weir.Project) -> None:
    topic = new_topic(brokers)
    good = [click(f"e{i:03d}") for i in range(40)]
    bad: list[str | bytes] = [
        "not json",
        b"\xff\xfe not utf-8",
        json.dumps({"event_id": "b1", "page": "/", "timestamp": T0}),  # no session_id
        click("b2", page="/nowhere"),
    ]
    duplicates = [good[3], good[17]]  # a producer's retry: the same event again
    produce(brokers, topic, [*good, *bad, *duplicates])

    seen_by_kafka: list[dict[int, int]] = []

    def at_lake_commit(_result: BatchResult) -> None:
        # the batch is in the lake: what does Kafka hold as committed right now?
        seen_by_kafka.append(committed(brokers, "weir-web_traffic", topic))

    consumer = project.streams.consumer(config(brokers, topic), after_lake_commit=at_lake_commit)
    consumer.run(max_seconds=20, max_events=46)
    assert seen_by_kafka and all(offset < 0 for offset in seen_by_kafka[0].values())

    assert staged_ids(project) == sorted(f"e{i:03d}" for i in range(40))
    held = project.sql("SELECT _raw, _source_file FROM quarantine.web_traffic").to_pylist()
    assert len(held) == 4
    assert all(r["_source_file"].startswith(f"kafka:{topic}/") for r in held)
    assert any("not utf-8" in (r["_raw"] or "") for r in held), (
        "undecodable bytes are kept, readable"
    )
    c = consumer.counters
    assert (c.received, c.accepted, c.quarantined, c.duplicates) == (46, 40, 4, 2)
    [raw] = project.sql("SELECT count(*) AS n FROM raw.web_traffic").to_pylist()
    assert raw["n"] == 46
    # offsets reached Kafka (after the lake) and match the ledger's positions
    group = "weir-web_traffic"
    offsets = committed(brokers, group, topic)
    assert offsets == {0: 23, 1: 23}
    ledger = project.ledger.positions(f"kafka:{group}:{topic}:")
    assert ledger == {position_key(group, topic, p): "23" for p in (0, 1)}


def test_a_stop_between_lake_and_kafka_commit_neither_loses_nor_repeats(
    brokers: str, project: weir.Project
) -> None:
    topic = new_topic(brokers)
    produce(brokers, topic, [click(f"a{i:02d}") for i in range(20)])

    class Crash(Exception):
        pass

    def crash(_result: BatchResult) -> None:
        raise Crash  # the batch is in the lake; Kafka is never told

    first = project.streams.consumer(
        config(brokers, topic, group="g-crash"), after_lake_commit=crash
    )
    with pytest.raises(Crash):
        first.run(max_seconds=20, max_events=20)
    assert staged_ids(project) == sorted(f"a{i:02d}" for i in range(20))
    assert all(offset < 0 for offset in committed(brokers, "g-crash", topic).values())

    produce(brokers, topic, [click(f"b{i:02d}") for i in range(10)])
    second = project.streams.consumer(config(brokers, topic, group="g-crash"))
    second.run(max_seconds=20, max_events=10)

    # the restart sought to the ledger's positions: nothing was delivered twice
    assert (second.counters.received, second.counters.duplicates) == (10, 0)
    expected = sorted([*(f"a{i:02d}" for i in range(20)), *(f"b{i:02d}" for i in range(10))])
    assert staged_ids(project) == expected
    assert committed(brokers, "g-crash", topic) == {0: 15, 1: 15}


def test_the_group_resumes_where_it_committed(brokers: str, project: weir.Project) -> None:
    topic = new_topic(brokers)
    produce(brokers, topic, [click(f"r{i:02d}") for i in range(10)])
    project.streams.consumer(config(brokers, topic, group="g-resume")).run(
        max_seconds=20, max_events=10
    )

    produce(brokers, topic, [click(f"s{i:02d}") for i in range(6)])
    again = project.streams.consumer(config(brokers, topic, group="g-resume"))
    again.run(max_seconds=20, max_events=6)
    assert (again.counters.received, again.counters.accepted) == (6, 6)
    assert len(staged_ids(project)) == 16

    [stream] = [s for s in project.streams.status() if s.kind == "kafka"]
    assert stream.stream == f"kafka:g-resume:{topic}" and stream.source == "web_traffic"
    assert stream.backlog == 0 and stream.last_commit_at is not None
    assert stream.events_per_second > 0 and stream.running is False


def test_a_started_service_flushes_and_commits_when_stopped(
    brokers: str, project: weir.Project
) -> None:
    topic = new_topic(brokers)
    service = project.streams.consumer(config(brokers, topic, group="g-svc", batch_seconds=60))
    service.start()
    try:
        produce(brokers, topic, [click(f"v{i}") for i in range(5)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and service.buffered < 5:
            time.sleep(0.1)
        assert service.buffered == 5 and not project.lake.exists("staging", "web_traffic")
    finally:
        service.stop()
    assert staged_ids(project) == [f"v{i}" for i in range(5)]
    assert committed(brokers, "g-svc", topic) in ({0: 3, 1: 2}, {0: 2, 1: 3})


def test_weir_consume_kafka_and_status_streams(brokers: str, project: weir.Project) -> None:
    topic = new_topic(brokers)
    produce(brokers, topic, [click(f"c{i}") for i in range(7)])
    runner = CliRunner()
    args = ["--project", str(project.root), "consume", "kafka", "--source", "web_traffic"]
    args += ["--topic", topic, "--brokers", brokers, "--group", "g-cli", "--batch-seconds", "0.5"]
    args += ["--setting", "session.timeout.ms=3000", "--max-events", "7", "--format", "json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["received"], row["accepted"], row["lag"]) == (7, 7, 0)

    status = runner.invoke(
        cli, ["--project", str(project.root), "status", "--streams", "--format", "json"]
    )
    assert status.exit_code == 0, status.output
    [stream] = json.loads(status.stdout)
    assert stream["stream"] == f"kafka:g-cli:{topic}" and stream["backlog"] == 0
    table = runner.invoke(cli, ["--project", str(project.root), "status"])
    assert "Streams" in table.output and "g-cli" in table.output


def test_consumer_settings_are_checked_with_a_fix(project: weir.Project) -> None:
    runner = CliRunner()
    base = ["--project", str(project.root), "consume", "kafka", "--source", "web_traffic"]
    bad = runner.invoke(cli, [*base, "--topic", "t", "--brokers", "nohost"])
    assert bad.exit_code == 1 and "'nohost' is not host:port" in bad.output
    owned = runner.invoke(
        cli, [*base, "--topic", "t", "--brokers", "h:9092", "--setting", "enable.auto.commit=true"]
    )
    assert owned.exit_code == 1 and "set by weir" in owned.output
    unknown = runner.invoke(
        cli, [*base[:-1], "web_trafic", "--topic", "t", "--brokers", "h:9092", "--max-seconds", "1"]
    )
    assert unknown.exit_code == 1 and "did you mean 'web_traffic'" in unknown.output

    with (project.root / "weir.yml").open("a", encoding="utf-8") as handle:
        handle.write("consumers:\n  - {kind: kafka, source: nope, topic: t, brokers: 'h:9092'}\n")
    with pytest.raises(weir.WeirError, match=r"consumers\[0\]\.source: no source named 'nope'"):
        weir.Project(project.root).streams.consumers()
    (project.root / "weir.yml").write_text(
        (project.root / "weir.yml").read_text().replace("kind: kafka", "kind: rabbit"), "utf-8"
    )
    with pytest.raises(weir.WeirError, match="consumers"):
        weir.Project(project.root)


def test_consume_commands_have_help_with_an_example() -> None:
    for command in (["consume"], ["consume", "kafka"], ["consume", "mqtt"]):
        result = CliRunner().invoke(cli, [*command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, command
