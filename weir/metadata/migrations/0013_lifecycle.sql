-- The data life cycle: legal holds, the journal of retention actions, and the rows
-- each action took out of the lake, per batch (so a batch's counts still reconcile
-- after its rows were archived or destroyed). Times are epoch seconds; ids are made
-- by weir (the same SQL on SQLite and PostgreSQL).
CREATE TABLE weir_holds (
    hold_id         VARCHAR(32) PRIMARY KEY,
    source          VARCHAR(63),
    subject         TEXT,
    reason          TEXT NOT NULL,
    created_by      VARCHAR(200) NOT NULL,
    created_at      DOUBLE PRECISION NOT NULL,
    released_at     DOUBLE PRECISION,
    released_by     VARCHAR(200),
    release_reason  TEXT
);
CREATE INDEX weir_holds_source ON weir_holds (source, released_at);

-- One action of a lifecycle run on one table or log: archived (written and
-- verified), then destroyed (the rows rewritten out of the lake), then done. A run
-- cut short leaves its action in the state it reached; the next run finishes it.
CREATE TABLE weir_lifecycle_actions (
    action_id     VARCHAR(32) PRIMARY KEY,
    run_id        VARCHAR(32) NOT NULL,
    dataset       VARCHAR(200) NOT NULL,
    kind          VARCHAR(16) NOT NULL,
    rule          TEXT NOT NULL,
    state         VARCHAR(16) NOT NULL,
    cutoff        DOUBLE PRECISION,
    row_count     BIGINT,
    file_count    INTEGER,
    time_from     DOUBLE PRECISION,
    time_to       DOUBLE PRECISION,
    archive       TEXT,
    snapshot_id   BIGINT,
    started_at    DOUBLE PRECISION NOT NULL,
    finished_at   DOUBLE PRECISION,
    detail        TEXT
);
CREATE INDEX weir_lifecycle_actions_open ON weir_lifecycle_actions (state, dataset);

-- The rows an action took out of a table, per batch and fate (raw's _status).
CREATE TABLE weir_expired_rows (
    action_id   VARCHAR(32) NOT NULL,
    batch_id    VARCHAR(200) NOT NULL,
    source      VARCHAR(63) NOT NULL,
    layer       VARCHAR(32) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    row_count   BIGINT NOT NULL,
    PRIMARY KEY (action_id, batch_id, layer, status)
);
CREATE INDEX weir_expired_rows_source ON weir_expired_rows (source, layer);
