-- Alerts: incidents, the deliveries of their notifications, and every attempt at one.
-- An incident is one (rule, subject) firing, from the moment it fires until it is
-- resolved; its ids are made by weir (no database sequence: the same SQL on SQLite
-- and PostgreSQL). Times are epoch seconds.
CREATE TABLE weir_alert_incidents (
    incident_id       VARCHAR(32) PRIMARY KEY,
    rule              VARCHAR(63) NOT NULL,
    subject           TEXT NOT NULL,
    kind              VARCHAR(32) NOT NULL,
    severity          VARCHAR(16) NOT NULL,
    state             VARCHAR(16) NOT NULL,
    message           TEXT NOT NULL,
    detail            TEXT,
    started_at        DOUBLE PRECISION NOT NULL,
    updated_at        DOUBLE PRECISION NOT NULL,
    resolved_at       DOUBLE PRECISION,
    notified_at       DOUBLE PRECISION,
    notifications     INTEGER NOT NULL
);
-- at most one open incident per (rule, subject), whichever process evaluates
CREATE UNIQUE INDEX weir_alert_incidents_open ON weir_alert_incidents (rule, subject)
    WHERE state = 'firing';
CREATE INDEX weir_alert_incidents_started ON weir_alert_incidents (started_at);

-- One notification of one incident (or a test message) to one channel. It stays
-- 'pending' until a channel accepts it: a failure only moves next_attempt_at on.
CREATE TABLE weir_alert_deliveries (
    delivery_id       VARCHAR(32) PRIMARY KEY,
    incident_id       VARCHAR(32),
    rule              VARCHAR(63) NOT NULL,
    channel           VARCHAR(63) NOT NULL,
    event             VARCHAR(16) NOT NULL,
    payload           TEXT NOT NULL,
    status            VARCHAR(16) NOT NULL,
    attempts          INTEGER NOT NULL,
    created_at        DOUBLE PRECISION NOT NULL,
    last_attempt_at   DOUBLE PRECISION,
    next_attempt_at   DOUBLE PRECISION,
    last_error        TEXT
);
CREATE INDEX weir_alert_deliveries_due ON weir_alert_deliveries (status, next_attempt_at);
CREATE INDEX weir_alert_deliveries_incident ON weir_alert_deliveries (incident_id);

-- Every attempt at a delivery, kept: when, through which channel, what came of it.
CREATE TABLE weir_alert_attempts (
    delivery_id       VARCHAR(32) NOT NULL,
    attempt           INTEGER NOT NULL,
    at                DOUBLE PRECISION NOT NULL,
    channel           VARCHAR(63) NOT NULL,
    outcome           VARCHAR(16) NOT NULL,
    error             TEXT,
    next_attempt_at   DOUBLE PRECISION,
    PRIMARY KEY (delivery_id, attempt)
);

-- A rule quiet until a time: for one subject, or for all of them (subject '').
CREATE TABLE weir_alert_silences (
    rule              VARCHAR(63) NOT NULL,
    subject           TEXT NOT NULL,
    until_at          DOUBLE PRECISION NOT NULL,
    created_at        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (rule, subject)
);
