-- Where each stream (the collector's log, a Kafka partition, an MQTT topic) was
-- read up to: written in the transaction that commits the batch holding those
-- events, so a restart resumes exactly after what is in the lake.
CREATE TABLE weir_stream_positions (
    stream        VARCHAR(255) PRIMARY KEY,
    source        VARCHAR(63) NOT NULL,
    position      TEXT NOT NULL,
    batch_id      VARCHAR(64) NOT NULL,
    committed_at  DOUBLE PRECISION NOT NULL
);
