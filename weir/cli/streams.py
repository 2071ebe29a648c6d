"""Commands over live events: the collector's write keys."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit, errors


@click.group()
def keys() -> None:
    """Create, list and revoke the write keys trackers post events with.

    \b
    Examples:
      weir keys create --source web_traffic --note "shop website"
      weir keys list
      weir keys revoke 3f9a2c1b
    Then post events with the key:
      curl -H "Authorization: Bearer wk_..." -d '{"session_id": "s1", ...}' \\
           http://127.0.0.1:8080/collect/v1/web_traffic
    """


@keys.command("create")
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    help="A source the key may post to (repeat for more).",
)
@click.option("--note", default="", help="What the key is for (shown by `weir keys list`).")
@click.pass_obj
@guarded
def keys_create(obj: Context, sources: tuple[str, ...], note: str) -> None:
    """Create a write key for the given sources and print it, once.

    Only a hash of the key is stored: copy it now.

    \b
    Example:
      weir keys create --source web_traffic --source crm_interactions --note "shop website"
    """
    project = obj.open()
    created = project.access.write_keys().create(
        list(sources), note, allowed=project.streams.collector().sources
    )
    sys.stdout.write(created.key + "\n")
    errors.print(
        f"write key {created.info.key_id} for {', '.join(created.info.sources)}: "
        "it is shown only this once",
        highlight=False,
    )


@keys.command("list")
@format_option
@click.pass_obj
@guarded
def keys_list(obj: Context, fmt: OutputFormat) -> None:
    """List every write key: its id, sources, note and whether it is revoked.

    \b
    Example:
      weir keys list --format json
    """
    rows = [
        {
            "key_id": k.key_id,
            "sources": ", ".join(k.sources),
            "note": k.note,
            "created": datetime.fromtimestamp(k.created_at).isoformat(timespec="seconds"),
            "status": "active" if k.active else "revoked",
        }
        for k in obj.open().access.write_keys().list_keys()
    ]
    emit(rows, fmt, title="Write keys")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_obj
@guarded
def keys_revoke(obj: Context, key_id: str) -> None:
    """Revoke the write key KEY_ID (its id, or the whole key): posts with it are refused.

    A running server stops accepting it within a few seconds.

    \b
    Example:
      weir keys revoke 3f9a2c1b
    """
    revoked = obj.open().access.write_keys().revoke(key_id)
    console.print(f"write key {revoked.key_id} ({', '.join(revoked.sources)}) is revoked")


# -- stream consumers ---------------------------------------------------------------------
@click.group()
def consume() -> None:
    """Consume a Kafka topic or an MQTT subscription into a source, in the foreground.

    Each batch of messages is ingested like a file (contract, quarantine, dedupe);
    offsets (Kafka) or acknowledgements (MQTT) go to the broker only after the
    batch is in the lake, so a crash loses nothing and stores nothing twice.
    Ctrl-C stops gracefully: what is buffered is ingested and acknowledged first.
    To run consumers with the server, list them under `consumers:` in weir.yml.

    \b
    Examples:
      weir consume kafka --source web_traffic --topic clicks --brokers kafka:9092
      weir consume mqtt --source device_events --topic "backpacks/+/events" --broker mqtt:1883
    """


_batch_events = click.option(
    "--batch-events", type=click.IntRange(1), help="Ingest a batch at this many messages."
)
_batch_seconds = click.option(
    "--batch-seconds", type=click.FloatRange(0, min_open=True), help="… or after this long."
)
_max_seconds = click.option(
    "--max-seconds", type=click.FloatRange(0, min_open=True), help="Stop after this long."
)
_max_events = click.option(
    "--max-events", type=click.IntRange(1), help="Stop after this many messages."
)


@consume.command("kafka")
@click.option("--source", required=True, help="The source the messages are ingested into.")
@click.option("--topic", required=True, help="The Kafka topic.")
@click.option("--brokers", required=True, help="Bootstrap servers, host:port[,host:port…].")
@click.option("--group", help="Consumer group (default weir-<source>).")
@click.option(
    "--setting",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="An extra librdkafka setting, e.g. security.protocol=SASL_SSL (repeat for more).",
)
@_batch_events
@_batch_seconds
@_max_seconds
@_max_events
@format_option
@click.pass_obj
@guarded
def consume_kafka(
    obj: Context,
    source: str,
    topic: str,
    brokers: str,
    group: str | None,
    settings: tuple[str, ...],
    batch_events: int | None,
    batch_seconds: float | None,
    max_seconds: float | None,
    max_events: int | None,
    fmt: OutputFormat,
) -> None:
    """Consume the Kafka TOPIC into SOURCE as a member of a consumer group.

    \b
    Examples:
      weir consume kafka --source web_traffic --topic clicks --brokers localhost:9092
      weir consume kafka --source web_traffic --topic clicks --brokers k1:9092,k2:9092 \\
          --group weir-web --setting security.protocol=SSL --max-seconds 60
    """
    from weir.streams.consumers import consumer_config

    fields: dict[str, object] = {"source": source, "topic": topic, "brokers": brokers}
    fields.update(group=group, settings=_pairs(settings))
    _run_consumer(
        obj,
        consumer_config("kafka", fields, batch_events, batch_seconds),
        max_seconds,
        max_events,
        fmt,
    )


@consume.command("mqtt")
@click.option("--source", required=True, help="The source the messages are ingested into.")
@click.option("--topic", required=True, help="The topic filter; + and # wildcards allowed.")
@click.option("--broker", required=True, help="The MQTT broker, host:port.")
@click.option(
    "--client-id", help="Fixed client id: the broker keeps its session (default weir-<source>)."
)
@click.option("--qos", type=click.Choice(["1", "2"]), default="1", show_default=True)
@_batch_events
@_batch_seconds
@_max_seconds
@_max_events
@format_option
@click.pass_obj
@guarded
def consume_mqtt(
    obj: Context,
    source: str,
    topic: str,
    broker: str,
    client_id: str | None,
    qos: str,
    batch_events: int | None,
    batch_seconds: float | None,
    max_seconds: float | None,
    max_events: int | None,
    fmt: OutputFormat,
) -> None:
    """Consume the MQTT topic filter TOPIC into SOURCE over a persistent QoS 1 session.

    \b
    Examples:
      weir consume mqtt --source device_events --topic "backpacks/+/events" --broker localhost:1883
      weir consume mqtt --source device_events --topic "backpacks/#" --broker mqtt:1883 \\
          --client-id weir-backpacks --max-events 1000
    """
    from weir.streams.consumers import consumer_config

    fields: dict[str, object] = {"source": source, "topic": topic, "broker": broker}
    fields.update(client_id=client_id, qos=int(qos))
    _run_consumer(
        obj,
        consumer_config("mqtt", fields, batch_events, batch_seconds),
        max_seconds,
        max_events,
        fmt,
    )


def _pairs(settings: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}' is not KEY=VALUE", param_hint="--setting")
        pairs[key.strip()] = value.strip()
    return pairs


def _run_consumer(
    obj: Context,
    config: Any,
    max_seconds: float | None,
    max_events: int | None,
    fmt: OutputFormat,
) -> None:
    import logging
    import signal

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    project = obj.open()
    consumer = project.streams.consumer(config)
    errors.print(f"consuming {consumer.name} into {config.source} (Ctrl-C stops)", highlight=False)
    # Ctrl-C asks the loop to stop; it then ingests and acknowledges what it holds
    previous = signal.signal(signal.SIGINT, lambda *_: consumer.stopping.set())
    try:
        consumer.run(max_seconds=max_seconds, max_events=max_events)
    finally:
        signal.signal(signal.SIGINT, previous)
    c = consumer.counters
    row = {
        "stream": consumer.name,
        "source": config.source,
        "batches": c.batches,
        "received": c.received,
        "accepted": c.accepted,
        "quarantined": c.quarantined,
        "duplicates": c.duplicates,
        "lag": c.total_lag,
        "errors": c.errors,
    }
    emit([row], fmt, title="Consumed")
