"""Live streams into the lake: the HTTP collector and the broker consumers.

The collector (``collector``) checks each event at the door (``lane``),
answers only once it is in a durable write-ahead log (``wal``), and flushes
the log into the lake in batches (``flusher``, or a process of its own,
``flush_process``). The consumers (``consumers``) read Kafka and MQTT.
Both hand their batches to ingest's one batch path
(``Ingestor.ingest_events``), so a streamed record meets the same contract,
card protection, de-duplication and quarantine as a file's. ``status`` says
where each stream stands. This package depends on ``ingest``; ``ingest``
knows nothing of it.
"""
