"""The streams service of an opened project: its collector, its broker consumers, their status."""

from __future__ import annotations

from collections.abc import Callable

from weir.ingest.batch import Ingestor
from weir.project.consumers import ConsumerConfig
from weir.streams.collector import Collector
from weir.streams.consumers import (
    AfterLakeCommit,
    StreamConsumer,
    check_consumers,
    open_consumer,
)
from weir.streams.status import StreamStatus, stream_statuses


class Streams:
    """Live streams into the project's lake; their batches go through ``ingestor``."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.files = ingestor.project

    def collector(self, instance: int = 0) -> Collector:
        """A new event collector over this project's logs (``weir serve`` runs one).

        ``instance``: which of the project's collector processes it is (each has logs
        of its own; 0 is ``weir serve``'s, ``weir collect`` runs 1, 2, …).
        """
        return Collector(
            self.files, self.ingestor, self.ingestor.ledger, self.ingestor.lake, instance
        )

    def consumer(
        self, config: ConsumerConfig, after_lake_commit: AfterLakeCommit | None = None
    ) -> StreamConsumer:
        """A Kafka or MQTT consumer of ``config`` into its source (``run`` it, or ``start``/``stop``)."""
        return open_consumer(config, self.ingestor, after_lake_commit)

    def consumers(self) -> list[StreamConsumer]:
        """The consumers ``weir.yml`` lists (what ``weir serve`` runs)."""
        check_consumers(self.files)
        return [self.consumer(config) for config in self.files.config.consumers]

    def status(self, backlog: Callable[[str], int] | None = None) -> list[StreamStatus]:
        """Each stream into the lake: kind, events/s, backlog or lag, last commit."""
        return stream_statuses(self.files, self.ingestor.ledger, backlog)
