-- Model runs: what each run built and why, the published state of each model,
-- and the intervals an incremental model has processed.
CREATE TABLE weir_runs (
    run_id       VARCHAR(64) PRIMARY KEY,
    started_at   DOUBLE PRECISION NOT NULL,
    finished_at  DOUBLE PRECISION,
    status       VARCHAR(16) NOT NULL,
    selection    TEXT,
    error        TEXT
);

CREATE TABLE weir_model_builds (
    run_id          VARCHAR(64) NOT NULL,
    model           VARCHAR(200) NOT NULL,
    kind            VARCHAR(32) NOT NULL,
    status          VARCHAR(16) NOT NULL,
    reason          TEXT,
    interval_start  VARCHAR(10),
    interval_end    VARCHAR(10),
    row_count       BIGINT,
    seconds         DOUBLE PRECISION,
    snapshot_id     BIGINT,
    inputs          TEXT,
    lineage         TEXT,
    error           TEXT,
    failing_sample  TEXT,
    PRIMARY KEY (run_id, model)
);
CREATE INDEX weir_model_builds_model ON weir_model_builds (model, run_id);

CREATE TABLE weir_models (
    model        VARCHAR(200) PRIMARY KEY,
    kind         VARCHAR(32) NOT NULL,
    fingerprint  VARCHAR(64) NOT NULL,
    watermark    VARCHAR(10),
    inputs       TEXT NOT NULL,
    snapshot_id  BIGINT,
    run_id       VARCHAR(64) NOT NULL,
    built_at     DOUBLE PRECISION NOT NULL
);
