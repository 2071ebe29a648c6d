"""The Kafka consumer: a consumer group member that ingests a topic into a source.

Exactly once in the lake, from at-least-once delivery:

1. offsets are never committed automatically (``enable.auto.commit=false``);
2. a batch (up to ``batch_events`` messages or ``batch_seconds``) is ingested as
   one lake batch, and the next offset of each partition is recorded as the
   stream position ``kafka:<group>:<topic>:<partition>`` in the same metadata
   transaction that commits the batch;
3. only then are the offsets committed to Kafka.

A crash before step 2 loses nothing (Kafka delivers again); a crash between 2
and 3 does not even redeliver: on assignment the consumer seeks to the ledger's
position when it is ahead of Kafka's committed offset. Whatever is delivered
twice anyway (a producer's retries, a rebalance) is a duplicate by key.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from weir.errors import WeirError
from weir.ingest.batch import Ingestor
from weir.project.consumers import KafkaConsumerConfig, consumer_stream
from weir.streams.consumers.base import (
    AfterLakeCommit,
    Backoff,
    StreamCounters,
    StreamState,
    ThreadedService,
    decode_payload,
    events_table,
    recover_when_free,
)

log = logging.getLogger("weir.consumers.kafka")

# how often lag and the state file are refreshed while idle
_REFRESH_SECONDS = 5.0


def position_key(group: str, topic: str, partition: int) -> str:
    return f"kafka:{group}:{topic}:{partition}"


class KafkaConsumer(ThreadedService):
    """Consumes ``config.topic`` into ``config.source``; see the module docstring for the guarantees."""

    def __init__(
        self,
        config: KafkaConsumerConfig,
        ingestor: Ingestor,
        after_lake_commit: AfterLakeCommit | None = None,
    ) -> None:
        self.config = config
        self.ingestor = ingestor
        self.after_lake_commit = after_lake_commit
        self.name = consumer_stream(config)
        self.counters = StreamCounters(self.name, config.source, "kafka")
        self.state = StreamState(ingestor.project.state_dir, self.name)
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._buffer: list[Message] = []
        self._first_at = 0.0
        self._consumer: Consumer | None = None
        self._paused = False

    @property
    def buffered(self) -> int:
        """Messages read and not yet in the lake."""
        return len(self._buffer)

    # -- the loop -----------------------------------------------------------------
    def run(self, max_seconds: float | None = None, max_events: int | None = None) -> None:
        """Consume until stopped (or ``max_seconds`` / ``max_events`` received), then flush and close."""
        deadline = time.monotonic() + max_seconds if max_seconds else None
        if not recover_when_free(self.ingestor, self.stopping):
            return
        consumer = Consumer(self._settings())
        self._consumer = consumer
        backoff = Backoff()
        refreshed = 0.0
        try:
            consumer.subscribe(
                [self.config.topic], on_assign=self._on_assign, on_revoke=self._on_revoke
            )
            while not self.stopping.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if max_events is not None and self.counters.received >= max_events:
                    break
                room = self.config.batch_events - len(self._buffer)
                if max_events is not None:
                    room = min(room, max_events - self.counters.received - len(self._buffer))
                if room <= 0 and not self._paused:
                    # a full buffer the lake will not take yet: stop fetching, stay in the group
                    consumer.pause(consumer.assignment())
                    self._paused = True
                messages = consumer.consume(max(1, min(room, 10_000)), timeout=0.2)
                for message in messages:
                    self._take(message)
                if self._due() and not self._flush_or_wait(backoff):
                    continue
                if time.monotonic() - refreshed >= _REFRESH_SECONDS:
                    self._refresh_lag()
                    refreshed = time.monotonic()
            self._flush_until_done(backoff)
            self._refresh_lag()
        finally:
            self.state.write(self.counters, running=False)
            # no commit on close: offsets are committed only after their batch is in the lake
            consumer.close()
            self._consumer = None

    def _settings(self) -> dict[str, object]:
        return {
            **self.config.settings,
            "bootstrap.servers": self.config.brokers,
            "group.id": self.config.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": str(self.config.settings.get("auto.offset.reset", "earliest")),
            "error_cb": self._on_error,
        }

    def _take(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return
            self._report(f"Kafka: {error.str()}")
            if error.fatal():
                raise WeirError(
                    f"the Kafka consumer of {self.config.topic} hit a fatal error: {error.str()}",
                    "check the brokers and the consumer settings, then start it again",
                )
            return
        if not self._buffer:
            self._first_at = time.monotonic()
        self._buffer.append(message)

    def _due(self) -> bool:
        if not self._buffer:
            return False
        full = len(self._buffer) >= self.config.batch_events
        return full or time.monotonic() - self._first_at >= self.config.batch_seconds

    def _flush_or_wait(self, backoff: Backoff) -> bool:
        try:
            self._flush()
        except WeirError as exc:
            # the lake is busy (another writer) or a batch failed and was rolled back:
            # the messages stay buffered and uncommitted, so nothing is lost by waiting
            wait = backoff.failed()
            self._report(
                f"ingesting a batch of {self.config.source} failed ({exc}); retry in {wait:.1f} s"
            )
            self.stopping.wait(wait)
            return False
        backoff.succeeded()
        if self._paused and self._consumer is not None:
            self._consumer.resume(self._consumer.assignment())
            self._paused = False
        return True

    def _flush_until_done(self, backoff: Backoff) -> None:
        """On stop: the buffered batch goes to the lake and is committed (a few tries)."""
        for _ in range(5):
            if not self._buffer:
                return
            try:
                self._flush()
                return
            except WeirError as exc:
                wait = backoff.failed()
                self._report(
                    f"final batch of {self.config.source} failed ({exc}); retry in {wait:.1f} s"
                )
                time.sleep(wait)
        log.warning(
            "%s: %d message(s) not ingested at stop; Kafka delivers them again at the next start",
            self.name,
            len(self._buffer),
        )

    def _flush(self) -> None:
        if not self._buffer or self._consumer is None:
            return
        messages = self._buffer
        topic = self.config.topic
        rows = []
        ends: dict[int, int] = {}
        for message in messages:
            partition, offset = message.partition() or 0, message.offset() or 0
            rows.append((decode_payload(message.value()), f"kafka:{topic}/{partition}", offset))
            ends[partition] = max(ends.get(partition, -1), offset + 1)
        positions = {
            position_key(self.config.group_id, topic, p): str(end) for p, end in ends.items()
        }
        result = self.ingestor.ingest_events(self.config.source, events_table(rows), positions)
        self._buffer = []
        self.counters.count(result)
        if self.after_lake_commit is not None:
            self.after_lake_commit(result)
        # in the lake (with its positions): now Kafka may forget these messages
        offsets = [TopicPartition(topic, p, end) for p, end in sorted(ends.items())]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # harmless: the ledger's positions are ahead, the next assignment seeks to them
            self._report(f"committing offsets to Kafka failed ({exc}); the ledger has them")
        self.state.write(self.counters)
        log.info(
            "%s: batch %s, %d received, %d accepted, %d quarantined, %d duplicates",
            self.name,
            result.batch_id,
            result.counts.received,
            result.counts.accepted,
            result.counts.quarantined,
            result.counts.duplicates,
        )

    # -- rebalancing --------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each partition at the ledger's position when it is ahead of Kafka's committed offset."""
        group, topic = self.config.group_id, self.config.topic
        stored = self.ingestor.ledger.positions(f"kafka:{group}:{topic}:")
        try:
            committed = {
                tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)
            }
        except KafkaException as exc:
            self._report(f"reading committed offsets failed ({exc}); starting from the ledger")
            committed = {}
        for tp in partitions:
            ledger = stored.get(position_key(group, topic, tp.partition))
            kafka = committed.get(tp.partition, OFFSET_INVALID)
            if ledger is not None and (kafka < 0 or int(ledger) > kafka):
                tp.offset = int(ledger)
                log.info(
                    "%s: partition %d starts at the ledger's offset %s (Kafka had %s)",
                    self.name,
                    tp.partition,
                    ledger,
                    kafka,
                )
        consumer.assign(partitions)
        self.counters.connected = True
        self.ready.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Before partitions move to another member, what was read from them goes to the lake."""
        if self._buffer:
            try:
                self._flush()
            except WeirError as exc:
                # dropped from the buffer, not from Kafka: the new owner reads them again
                self._report(f"batch at rebalance failed ({exc}); the new owner reads it again")
                self._buffer = []
        consumer.unassign()

    # -- status -------------------------------------------------------------------
    def _refresh_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        try:
            assigned = consumer.assignment()
            lag = {}
            for tp in consumer.position(assigned) if assigned else []:
                _, high = consumer.get_watermark_offsets(tp, timeout=2, cached=False)
                position = tp.offset if tp.offset >= 0 else 0
                lag[str(tp.partition)] = max(0, high - position)
            self.counters.lag = lag
        except KafkaException as exc:
            self._report(f"reading the lag failed ({exc})")
        self.state.write(self.counters)

    def _on_error(self, error: KafkaError) -> None:
        # librdkafka reconnects by itself (with its own backoff); say what is wrong meanwhile
        self.counters.connected = error.code() not in (
            KafkaError._ALL_BROKERS_DOWN,
            KafkaError._TRANSPORT,
        )
        self._report(f"Kafka: {error.str()}")

    def _report(self, message: str) -> None:
        self.counters.failed(message)
        log.warning("%s: %s", self.name, message)
