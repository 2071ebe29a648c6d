"""Stream consumers ``weir serve`` runs (``weir.yml`` ``consumers:``).

Each entry names the broker, the topic and the source its messages are
ingested into; ``kind`` says which broker speaks::

    consumers:
      - {kind: kafka, source: web_traffic, topic: clicks, brokers: "kafka1:9092,kafka2:9092"}
      - {kind: mqtt, source: device_events, topic: "backpacks/+/events", broker: "mqtt.local:1883"}

Whether the source exists is checked against the project (``check_consumers``),
since ``weir.yml`` is read before the source files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from weir.project.base import FieldProblem, Name, Strict

ConsumerKind = Literal["kafka", "mqtt"]
CONSUMER_KINDS: tuple[str, ...] = get_args(ConsumerKind)

_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")
# librdkafka settings weir decides itself: changing them would break at-least-once + dedupe
_OWNED_SETTINGS = frozenset(
    {"enable.auto.commit", "enable.auto.offset.store", "group.id", "bootstrap.servers"}
)


class _Batching(Strict):
    batch_events: int = Field(
        default=5000, ge=1, le=1_000_000, description="a batch is ingested at this many events"
    )
    batch_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="… or this long after its first event, whichever comes first",
    )


class KafkaConsumerConfig(_Batching):
    """A Kafka consumer group member reading ``topic`` into ``source``."""

    kind: Literal["kafka"]
    source: Name
    topic: str = Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._\-]+$")
    brokers: str = Field(min_length=1, description="bootstrap servers, host:port[,host:port…]")
    group: str | None = Field(default=None, description="consumer group; default weir-<source>")
    settings: dict[str, str | int | float | bool] = Field(
        default={}, description="extra librdkafka settings (security.protocol, sasl.* …)"
    )

    @field_validator("brokers")
    @classmethod
    def _brokers_are_host_port(cls, value: str) -> str:
        for broker in value.split(","):
            if not _HOST_PORT.match(broker.strip()):
                raise FieldProblem(
                    "brokers",
                    f"'{broker.strip()}' is not host:port",
                    "write the bootstrap servers as host:port[,host:port…], e.g. kafka:9092",
                )
        return value

    @field_validator("settings")
    @classmethod
    def _settings_leave_commits_to_weir(
        cls, value: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        owned = sorted(_OWNED_SETTINGS & set(value))
        if owned:
            raise FieldProblem(
                "settings",
                f"{', '.join(owned)} {'is' if len(owned) == 1 else 'are'} set by weir",
                "use brokers: and group: instead; weir commits offsets itself, after the lake commit",
            )
        return value

    @property
    def group_id(self) -> str:
        return self.group or f"weir-{self.source}"


class MqttConsumerConfig(_Batching):
    """A persistent MQTT session subscribed to ``topic`` (wildcards allowed) into ``source``."""

    kind: Literal["mqtt"]
    source: Name
    topic: str = Field(min_length=1, max_length=65535)
    broker: str = Field(description="host:port of the MQTT broker")
    client_id: str | None = Field(
        default=None,
        description="fixed client id, so the broker keeps the session; default weir-<source>",
    )
    qos: Literal[1, 2] = 1
    session_expiry: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        le=0xFFFFFFFE,
        description="seconds the broker keeps the session (and queues messages) while weir is down",
    )
    batch_events: int = Field(default=1000, ge=1, le=65535)
    batch_seconds: float = Field(default=2.0, gt=0, le=3600)

    @field_validator("broker")
    @classmethod
    def _broker_is_host_port(cls, value: str) -> str:
        if not _HOST_PORT.match(value):
            raise FieldProblem("broker", f"'{value}' is not host:port", "e.g. mqtt.local:1883")
        return value

    @model_validator(mode="after")
    def _topic_filter_is_valid(self) -> MqttConsumerConfig:
        levels = self.topic.split("/")
        for i, level in enumerate(levels):
            if "#" in level and (level != "#" or i != len(levels) - 1):
                raise FieldProblem(
                    "topic",
                    "'#' must be a whole last level",
                    "e.g. backpacks/# or backpacks/+/events",
                )
            if "+" in level and level != "+":
                raise FieldProblem("topic", "'+' must be a whole level", "e.g. backpacks/+/events")
        return self

    @property
    def session_id(self) -> str:
        return self.client_id or f"weir-{self.source}"


ConsumerConfig = Annotated[KafkaConsumerConfig | MqttConsumerConfig, Field(discriminator="kind")]


def consumer_stream(config: KafkaConsumerConfig | MqttConsumerConfig) -> str:
    """A short name of the consumer for status and logs."""
    if isinstance(config, KafkaConsumerConfig):
        return f"kafka:{config.group_id}:{config.topic}"
    return f"mqtt:{config.session_id}:{config.topic}"


def unknown_sources(
    consumers: Iterable[KafkaConsumerConfig | MqttConsumerConfig], sources: Iterable[str]
) -> list[tuple[int, str]]:
    """(index, source) of every consumer whose source the project does not declare."""
    known = set(sources)
    return [(i, c.source) for i, c in enumerate(consumers) if c.source not in known]


__all__ = [
    "CONSUMER_KINDS",
    "ConsumerConfig",
    "ConsumerKind",
    "KafkaConsumerConfig",
    "MqttConsumerConfig",
    "consumer_stream",
    "unknown_sources",
]
