-- API tokens and the tamper-evident audit log.
-- A token keeps only the sha256 of its secret: the secret is shown once, at creation.
CREATE TABLE weir_tokens (
    token_id     VARCHAR(32) PRIMARY KEY,
    user_name    VARCHAR(63) NOT NULL,
    role         VARCHAR(63) NOT NULL,
    secret_hash  VARCHAR(64) NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    expires_at   DOUBLE PRECISION,
    revoked_at   DOUBLE PRECISION,
    note         TEXT
);
CREATE INDEX weir_tokens_user ON weir_tokens (user_name);

-- Append-only: each record carries the hash of the one before it (prev_hash) and
-- its own hash over its fields and prev_hash, so an edited, removed or inserted
-- record breaks the chain. seq is assigned by weir (no gaps), not by the database.
CREATE TABLE weir_audit (
    seq          BIGINT PRIMARY KEY,
    at           DOUBLE PRECISION NOT NULL,
    kind         VARCHAR(32) NOT NULL,
    user_name    VARCHAR(63),
    role         VARCHAR(63),
    action       TEXT NOT NULL,
    datasets     TEXT NOT NULL,
    row_count    BIGINT,
    duration_ms  DOUBLE PRECISION,
    allowed      BOOLEAN NOT NULL,
    reason       TEXT,
    detail       TEXT,
    prev_hash    VARCHAR(64) NOT NULL,
    hash         VARCHAR(64) NOT NULL
);
CREATE INDEX weir_audit_kind ON weir_audit (kind, seq);
CREATE INDEX weir_audit_user ON weir_audit (user_name, seq);
