"""Broker consumers: Kafka and MQTT into a source, one ingest batch per broker batch.

``base`` holds what both share (the batch buffer, counters, state files,
backoff); ``kafka`` and ``mqtt`` import it, never the other way round, and
each loads its broker library only when a consumer of that kind is opened.
"""

from __future__ import annotations

from weir.ingest.batch import Ingestor
from weir.project.consumers import KafkaConsumerConfig, MqttConsumerConfig
from weir.streams.consumers.base import (
    AfterLakeCommit,
    StreamConsumer,
    check_consumers,
    consumer_config,
    read_stream_states,
)


def open_consumer(
    config: KafkaConsumerConfig | MqttConsumerConfig,
    ingestor: Ingestor,
    after_lake_commit: AfterLakeCommit | None = None,
) -> StreamConsumer:
    """The consumer ``config`` describes, ready to ``run`` or ``start``."""
    ingestor.project.source(config.source)  # an unknown source fails before connecting
    if isinstance(config, KafkaConsumerConfig):
        from weir.streams.consumers.kafka import KafkaConsumer

        return KafkaConsumer(config, ingestor, after_lake_commit)
    from weir.streams.consumers.mqtt import MqttConsumer

    return MqttConsumer(config, ingestor, after_lake_commit)


__all__ = [
    "AfterLakeCommit",
    "StreamConsumer",
    "check_consumers",
    "consumer_config",
    "open_consumer",
    "read_stream_states",
]
