"""What the stream consumers share: the batch buffer, counters, state files, backoff.

A consumer (Kafka in ``kafka.py``, MQTT in ``mqtt.py``) buffers messages until
a batch is full or old enough, ingests it as ONE batch through
``Ingestor.ingest_events`` (the same contract, PCI, dedupe and quarantine code
as files), and only then acknowledges it to its broker. A crash before the
acknowledgement makes the broker deliver again; de-duplication by the source's
key makes that harmless. So: at-least-once from the broker + dedupe = each
event once in the lake.

Each running consumer writes a small JSON state file (``<state>/streams/``)
with its counters and lag, so ``weir status`` in another process can show it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from pydantic import ValidationError

from weir.errors import LockedError, ProjectError, WeirError
from weir.ingest.batch import BatchResult, Ingestor
from weir.project import ProjectFiles
from weir.project.base import FieldProblem
from weir.project.consumers import (
    KafkaConsumerConfig,
    MqttConsumerConfig,
    consumer_stream,
    unknown_sources,
)

log = logging.getLogger("weir.consumers")

EVENTS_SCHEMA = pa.schema(
    [("_raw", pa.string()), ("_source_file", pa.string()), ("_offset", pa.int64())]
)
STATE_FOLDER = "streams"
# the batch is in the lake, the broker does not know yet: tests stop a consumer here
AfterLakeCommit = Callable[[BatchResult], None]


@dataclass
class StreamCounters:
    """What a consumer did since it started (one writer: the consumer's own thread)."""

    stream: str
    source: str
    kind: str
    started_at: float = field(default_factory=time.time)
    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    batches: int = 0
    errors: int = 0
    last_error: str | None = None
    last_commit_at: float | None = None
    lag: dict[str, int] = field(default_factory=dict)  # partition → messages behind
    connected: bool = False
    updated_at: float = field(default_factory=time.time)

    def count(self, result: BatchResult) -> None:
        self.received += result.counts.received
        self.accepted += result.counts.accepted
        self.quarantined += result.counts.quarantined
        self.duplicates += result.counts.duplicates
        self.batches += 1
        self.last_commit_at = time.time()

    def failed(self, message: str) -> None:
        self.errors += 1
        self.last_error = message

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


class StreamState:
    """The JSON file a running consumer keeps up to date for ``weir status``."""

    def __init__(self, state_dir: Path, stream: str) -> None:
        folder = state_dir / STATE_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", stream) + ".json")

    def write(self, counters: StreamCounters, running: bool = True) -> None:
        counters.updated_at = time.time()
        body = {**asdict(counters), "running": running, "pid": os.getpid()}
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(body, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.path)  # readers never see half a file


def read_stream_states(state_dir: Path) -> list[dict[str, Any]]:
    """Every consumer state file of the project (running or stopped)."""
    folder = state_dir / STATE_FOLDER
    states = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            states.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # being replaced right now, or damaged: status shows the rest
    return states


class Backoff:
    """Waits that double after each failure up to a ceiling, and reset after a success."""

    def __init__(self, first: float = 0.5, ceiling: float = 30.0) -> None:
        self.first = first
        self.ceiling = ceiling
        self.next = first

    def failed(self) -> float:
        wait, self.next = self.next, min(self.next * 2, self.ceiling)
        return wait

    def succeeded(self) -> None:
        self.next = self.first


def decode_payload(payload: bytes | None) -> str:
    """A message's bytes as text; bytes that are not UTF-8 stay visible, and break JSON on purpose.

    An undecodable or empty message must still reach the contract (and quarantine),
    never be dropped: ``\\x..`` escapes are not valid JSON, so it is quarantined
    with the bytes readable in ``_raw``.
    """
    if payload is None:
        return ""
    return payload.decode("utf-8", errors="backslashreplace")


def events_table(rows: Sequence[tuple[str, str, int]]) -> pa.Table:
    """(JSON text, origin, position) rows as the table ``Ingestor.ingest_events`` takes."""
    raw, origin, offset = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.Table.from_arrays(
        [pa.array(raw, pa.string()), pa.array(origin, pa.string()), pa.array(offset, pa.int64())],
        schema=EVENTS_SCHEMA,
    )


class StreamConsumer(Protocol):
    """A consumer as ``weir serve`` runs it (a ``Service``) or ``weir consume`` in the foreground."""

    name: str
    counters: StreamCounters
    ready: threading.Event  # set once subscribed (MQTT) or assigned partitions (Kafka)
    stopping: threading.Event  # set it to stop gracefully (from a signal handler, say)

    @property
    def buffered(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def run(self, max_seconds: float | None = None, max_events: int | None = None) -> None: ...


class ThreadedService:
    """start()/stop() for a consumer whose ``run`` loop watches ``self.stopping``."""

    name: str
    stopping: threading.Event
    _thread: threading.Thread | None = None

    def run(self, max_seconds: float | None = None, max_events: int | None = None) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.stopping.clear()
        self._thread = threading.Thread(target=self._run_logged, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Flush what is buffered, commit it, then disconnect (waits up to ``timeout`` s)."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("%s stopped after an unexpected error", self.name)


def recover_when_free(ingestor: Ingestor, stopping: threading.Event) -> bool:
    """Roll back what a crash left half-written before the first batch; False if stopped first.

    A pending batch must go before a consumer commits anything: its records would
    otherwise count as stored for de-duplication, then vanish when it is rolled back.
    Another writer may hold the lake for a while (an ingest, a flush): wait for it.
    """
    backoff = Backoff()
    while not stopping.is_set():
        try:
            ingestor.recover()
            return True
        except LockedError:
            stopping.wait(backoff.failed())
    return False


def check_consumers(project: ProjectFiles) -> None:
    """Every consumer of ``weir.yml`` names a declared source (weir.yml is read before sources/)."""
    for index, source in unknown_sources(project.config.consumers, project.sources):
        known = ", ".join(sorted(project.sources))
        raise ProjectError(
            f"weir.yml: consumers[{index}].source: no source named '{source}'",
            f"use one of: {known}, or add sources/{source}.yml",
        )


def consumer_config(
    kind: str,
    fields: dict[str, object],
    batch_events: int | None = None,
    batch_seconds: float | None = None,
) -> KafkaConsumerConfig | MqttConsumerConfig:
    """A consumer's settings from command-line values, validated like ``weir.yml``."""
    given = {k: v for k, v in fields.items() if v is not None and v != {}}
    if batch_events is not None:
        given["batch_events"] = batch_events
    if batch_seconds is not None:
        given["batch_seconds"] = batch_seconds
    model = KafkaConsumerConfig if kind == "kafka" else MqttConsumerConfig
    try:
        return model.model_validate({"kind": kind, **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        where = ".".join(str(p) for p in first["loc"]) or kind
        message = str(first["msg"]).removeprefix("Value error, ")
        fix = (
            cause.fix
            if isinstance(cause, FieldProblem) and cause.fix
            else f"see weir consume {kind} --help"
        )
        raise WeirError(f"{where}: {message}", fix) from None


__all__ = [
    "AfterLakeCommit",
    "Backoff",
    "StreamConsumer",
    "StreamCounters",
    "StreamState",
    "check_consumers",
    "consumer_stream",
    "decode_payload",
    "events_table",
    "read_stream_states",
]
