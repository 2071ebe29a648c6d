"""The MQTT consumer: a persistent QoS 1 session whose messages are acknowledged after the lake commit.

MQTT has no offsets to seek to; what makes it exactly-once in the lake is:

- a fixed client id, ``clean_start=False`` and an MQTT 5 session expiry, so the
  broker keeps the subscription and queues QoS 1 messages while weir is down;
- ``manual_ack``: a message's PUBACK is sent only after the batch holding it is
  committed to the lake. A crash before that makes the broker deliver it again
  (with the DUP flag), and de-duplication by the source's key absorbs it;
- MQTT 5 Receive Maximum = ``batch_events``, so the broker may have a whole
  batch unacknowledged in flight (otherwise a broker's default window, e.g. 20,
  would cap every batch).

The stream position ``mqtt:<client_id>:<topic>`` counts the messages committed
so far (for status; the broker, not weir, remembers what is unacknowledged).
A message received on a connection that has since dropped is still ingested,
but not acknowledged: its packet id means nothing on the new connection, and
the broker sends it again anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from weir.errors import WeirError
from weir.ingest.batch import Ingestor
from weir.project.consumers import MqttConsumerConfig, consumer_stream
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

log = logging.getLogger("weir.consumers.mqtt")

# how often the state file says the consumer is alive while idle
_REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class _Received:
    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int  # which connection delivered it: a packet id only means something there


class MqttConsumer(ThreadedService):
    """Consumes ``config.topic`` into ``config.source``; see the module docstring for the guarantees."""

    def __init__(
        self,
        config: MqttConsumerConfig,
        ingestor: Ingestor,
        after_lake_commit: AfterLakeCommit | None = None,
    ) -> None:
        self.config = config
        self.ingestor = ingestor
        self.after_lake_commit = after_lake_commit
        self.name = consumer_stream(config)
        self.position = f"mqtt:{config.session_id}:{config.topic}"
        self.counters = StreamCounters(self.name, config.source, "mqtt")
        self.state = StreamState(ingestor.project.state_dir, self.name)
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._buffer: list[_Received] = []
        self._first_at = 0.0
        self._connection = 0
        self._client: mqtt.Client | None = None

    @property
    def buffered(self) -> int:
        """Messages received and not yet in the lake."""
        with self._lock:
            return len(self._buffer)

    # -- the loop -----------------------------------------------------------------
    def run(self, max_seconds: float | None = None, max_events: int | None = None) -> None:
        """Consume until stopped (or ``max_seconds`` / ``max_events`` received), then flush, ack, disconnect."""
        deadline = time.monotonic() + max_seconds if max_seconds else None
        if not recover_when_free(self.ingestor, self.stopping):
            return
        committed = int(self.ingestor.ledger.positions(self.position).get(self.position, "0"))
        client = self._client = self._connect()
        backoff = Backoff()
        client.loop_start()  # the network thread; it reconnects by itself, with backoff
        refreshed = time.monotonic()
        try:
            while not self.stopping.is_set():
                if time.monotonic() - refreshed >= _REFRESH_SECONDS:
                    self.state.write(self.counters)  # alive, for `weir status`
                    refreshed = time.monotonic()
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if max_events is not None and self.counters.received >= max_events:
                    break
                if self._due(max_events):
                    try:
                        committed = self._flush(committed)
                        backoff.succeeded()
                    except WeirError as exc:
                        # unacknowledged messages stay with the broker: waiting loses nothing
                        wait = backoff.failed()
                        self._report(
                            f"ingesting a batch of {self.config.source} failed ({exc}); retry in {wait:.1f} s"
                        )
                        self.stopping.wait(wait)
                        continue
                self.stopping.wait(0.05)
            for attempt in range(5):
                try:
                    committed = self._flush(committed)
                    break
                except WeirError as exc:
                    self._report(f"final batch failed ({exc}); the broker delivers it again")
                    time.sleep(backoff.failed() if attempt < 4 else 0)
        finally:
            self.state.write(self.counters, running=False)
            # the PUBACKs queued by the last flush leave before the DISCONNECT
            client.disconnect()
            client.loop_stop()
            self._client = None

    def _connect(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.config.session_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.config.session_expiry
        properties.ReceiveMaximum = min(self.config.batch_events, 65535)
        host, _, port = self.config.broker.rpartition(":")
        client.connect_async(
            host.strip("[]"), int(port), keepalive=30, clean_start=False, properties=properties
        )
        return client

    def _due(self, max_events: int | None) -> bool:
        with self._lock:
            size = len(self._buffer)
            first = self._first_at
        if not size:
            return False
        if size >= self.config.batch_events:
            return True
        if max_events is not None and self.counters.received + size >= max_events:
            return True
        return time.monotonic() - first >= self.config.batch_seconds

    def _flush(self, committed: int) -> int:
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return committed
        try:
            rows = [
                (decode_payload(m.payload), f"mqtt:{m.topic}", committed + i + 1)
                for i, m in enumerate(batch)
            ]
            total = committed + len(batch)
            result = self.ingestor.ingest_events(
                self.config.source, events_table(rows), {self.position: str(total)}
            )
        except BaseException:
            with self._lock:  # back in front of what arrived meanwhile, for the retry
                self._buffer = batch + self._buffer
            raise
        self.counters.count(result)
        if self.after_lake_commit is not None:
            self.after_lake_commit(result)
        # in the lake: now the broker may forget them (in the order they came, as MQTT wants)
        client = self._client
        current = self._connection
        if client is not None:
            for message in batch:
                if message.qos > 0 and message.connection == current:
                    client.ack(message.mid, message.qos)
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
        return total

    # -- callbacks (the network thread) -------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._report(f"the broker {self.config.broker} refused the connection: {reason}")
            return
        with self._lock:
            self._connection += 1
        self.counters.connected = True
        # retain handling 1: retained messages only when the subscription is new, not on every reconnect
        options = SubscribeOptions(qos=self.config.qos, retainHandling=1)  # type: ignore[no-untyped-call]
        client.subscribe(self.config.topic, options=options)
        log.info(
            "%s: connected to %s (session %s)",
            self.name,
            self.config.broker,
            "resumed" if flags.session_present else "new",
        )
        self.state.write(self.counters)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            self._report(
                f"the broker refused the subscription to {self.config.topic}: {refused[0]}"
            )
            return
        self.ready.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            # packet ids of this connection mean nothing on the next: never acknowledge them
            self._connection += 1
        self.counters.connected = False
        if not self.stopping.is_set() and reason.value != 0:
            self._report(f"disconnected from {self.config.broker} ({reason}); reconnecting")

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self.counters.connected = False
        self._report(f"cannot reach the MQTT broker {self.config.broker}; retrying")

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            if not self._buffer:
                self._first_at = time.monotonic()
            self._buffer.append(
                _Received(
                    message.topic,
                    bytes(message.payload),
                    message.mid,
                    message.qos,
                    self._connection,
                )
            )

    def _report(self, message: str) -> None:
        self.counters.failed(message)
        log.warning("%s: %s", self.name, message)
