-- Orchestrated runs: what started each one, its attempts, steps and log lines
-- (weir_runs holds the model runs a models step makes), and the state of each
-- schedule kept beside weir.yml: paused, a cron override, how far its fires and
-- its `after:` inputs have been taken in.
-- fire_key is set on a schedule's first attempt at one scheduled time (or one
-- new input batch, or one retry), so each is enqueued once however many
-- schedulers tick. A running run holds a lease (worker, lease_until) that its
-- worker renews; a lease past its time means the worker is gone.
CREATE TABLE weir_orchestrated_runs (
    run_id           BIGINT PRIMARY KEY,
    schedule         VARCHAR(63),
    trigger_kind     VARCHAR(16) NOT NULL,
    triggered_by     TEXT,
    parent_run       BIGINT,
    attempt          INTEGER NOT NULL DEFAULT 1,
    max_attempts     INTEGER NOT NULL DEFAULT 1,
    backoff_seconds  DOUBLE PRECISION NOT NULL DEFAULT 0,
    timeout_seconds  DOUBLE PRECISION,
    status           VARCHAR(16) NOT NULL,
    plan             TEXT NOT NULL,
    scheduled_for    DOUBLE PRECISION,
    fire_key         TEXT,
    queued_at        DOUBLE PRECISION NOT NULL,
    not_before       DOUBLE PRECISION NOT NULL,
    started_at       DOUBLE PRECISION,
    finished_at      DOUBLE PRECISION,
    worker           TEXT,
    lease_until      DOUBLE PRECISION,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error            TEXT
);
CREATE UNIQUE INDEX weir_orchestrated_runs_fire ON weir_orchestrated_runs (fire_key);
CREATE INDEX weir_orchestrated_runs_status ON weir_orchestrated_runs (status, not_before);
CREATE INDEX weir_orchestrated_runs_schedule ON weir_orchestrated_runs (schedule, run_id);

CREATE TABLE weir_run_steps (
    run_id       BIGINT NOT NULL,
    position     INTEGER NOT NULL,
    kind         VARCHAR(16) NOT NULL,
    target       TEXT NOT NULL,
    status       VARCHAR(16) NOT NULL,
    row_count    BIGINT,
    seconds      DOUBLE PRECISION,
    error        TEXT,
    PRIMARY KEY (run_id, position)
);

CREATE TABLE weir_run_logs (
    run_id   BIGINT NOT NULL,
    seq      INTEGER NOT NULL,
    at       DOUBLE PRECISION NOT NULL,
    level    VARCHAR(8) NOT NULL,
    message  TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE weir_schedule_state (
    schedule       VARCHAR(63) PRIMARY KEY,
    paused         INTEGER NOT NULL DEFAULT 0,
    cron_override  TEXT,
    last_fire      DOUBLE PRECISION,
    input_mark     DOUBLE PRECISION,
    updated_at     DOUBLE PRECISION,
    updated_by     TEXT
);
