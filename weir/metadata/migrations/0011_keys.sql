-- The key store, and the audit log's keyed chain with its literals kept apart.
--
-- weir_master: one row once the project has a key store: the id of the master key
-- that seals it (a keyed digest, never the key) and a value sealed under that key,
-- which only the right master key opens.
CREATE TABLE weir_master (
    id           INTEGER PRIMARY KEY,
    key_id       VARCHAR(32) NOT NULL,
    nonce        VARCHAR(24) NOT NULL,
    sealed       TEXT NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    rotated_at   DOUBLE PRECISION
);

-- Every key, encrypted under the master key (AES-GCM); the name, kind, creation time
-- and meta are the associated data, so none of them can be changed or swapped unseen.
CREATE TABLE weir_keys (
    name         TEXT PRIMARY KEY,
    kind         VARCHAR(16) NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    meta         TEXT NOT NULL,
    nonce        VARCHAR(24) NOT NULL,
    sealed       TEXT NOT NULL
);
CREATE INDEX weir_keys_kind ON weir_keys (kind, name);

-- A record of the keyed chain (hash = HMAC-SHA256 under the audit key) keeps, in
-- literals, the HMAC of each literal of its SQL; a record of the older, plain sha256
-- chain has NULL there. The literal values live in weir_audit_literals, so erasing
-- one removes its row and leaves the record, and the chain, verifiable.
ALTER TABLE weir_audit ADD COLUMN literals TEXT;
CREATE TABLE weir_audit_literals (
    seq          BIGINT NOT NULL,
    idx          INTEGER NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (seq, idx)
);
