-- Write keys: what a tracker or a service posts events to the collector with.
-- Only a SHA-256 of each key is kept; the key itself is shown once, when created.
CREATE TABLE weir_write_keys (
    key_id      VARCHAR(32) PRIMARY KEY,
    key_hash    VARCHAR(64) NOT NULL UNIQUE,
    sources     TEXT NOT NULL,
    note        TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    revoked_at  DOUBLE PRECISION
);
