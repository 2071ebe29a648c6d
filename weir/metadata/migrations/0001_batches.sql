-- Ingest batches and the files they took in: the record that every
-- received record was accounted for, and which files are already in.
CREATE TABLE weir_batches (
    batch_id     VARCHAR(64) PRIMARY KEY,
    source       VARCHAR(63) NOT NULL,
    kind         VARCHAR(16) NOT NULL,
    status       VARCHAR(16) NOT NULL,
    started_at   DOUBLE PRECISION NOT NULL,
    finished_at  DOUBLE PRECISION,
    files        INTEGER NOT NULL DEFAULT 0,
    received     BIGINT NOT NULL DEFAULT 0,
    accepted     BIGINT NOT NULL DEFAULT 0,
    quarantined  BIGINT NOT NULL DEFAULT 0,
    duplicates   BIGINT NOT NULL DEFAULT 0,
    released     BIGINT NOT NULL DEFAULT 0,
    seconds      DOUBLE PRECISION,
    snapshots    TEXT,
    error        TEXT
);
CREATE INDEX weir_batches_source ON weir_batches (source, started_at);

CREATE TABLE weir_files (
    source     VARCHAR(63) NOT NULL,
    path       VARCHAR(1024) NOT NULL,
    checksum   VARCHAR(64) NOT NULL,
    size       BIGINT NOT NULL,
    mtime_ns   BIGINT NOT NULL,
    records    BIGINT NOT NULL,
    batch_id   VARCHAR(64) NOT NULL,
    PRIMARY KEY (source, path, checksum)
);
