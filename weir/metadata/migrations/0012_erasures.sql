-- Erased data subjects. An erasure is recorded before anything is changed and
-- names its subject only by a keyed hash of their identifier (never the value);
-- its steps are ticked off one by one, so an erasure a crash interrupted is
-- finished by running it again. The certificate (JSON) is written when it ends.
CREATE TABLE weir_erasures (
    erasure_id        VARCHAR(32) PRIMARY KEY,
    subject           VARCHAR(63) NOT NULL,
    subject_hash      VARCHAR(64) NOT NULL,
    reason            TEXT NOT NULL,
    requested_by      VARCHAR(200),
    state             VARCHAR(16) NOT NULL,
    steps             TEXT NOT NULL,
    started_at        DOUBLE PRECISION NOT NULL,
    finished_at       DOUBLE PRECISION,
    certificate       TEXT
);
CREATE UNIQUE INDEX weir_erasures_subject ON weir_erasures (subject, subject_hash);

-- The keyed hashes of an erased subject's identifier as each source writes it: a
-- late file or event carrying one is suppressed at ingestion and counted.
CREATE TABLE weir_erased_values (
    subject           VARCHAR(63) NOT NULL,
    value_hash        VARCHAR(64) NOT NULL,
    erasure_id        VARCHAR(32) NOT NULL,
    PRIMARY KEY (subject, value_hash)
);

-- received = accepted + quarantined + duplicates + suppressed
ALTER TABLE weir_batches ADD COLUMN suppressed INTEGER NOT NULL DEFAULT 0;
