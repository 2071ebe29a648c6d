-- Signing in to the web app: users' passwords, server-side sessions, and failed attempts.
-- A password is kept only as its argon2 hash (with its own salt and parameters).
CREATE TABLE weir_passwords (
    user_name     VARCHAR(63) PRIMARY KEY,
    hash          TEXT NOT NULL,
    updated_at    DOUBLE PRECISION NOT NULL
);

-- A session keeps only the sha256 of its id (the id is in the person's cookie). It acts
-- as one user in one role; token_id is the API token it was opened with, if any, so
-- revoking that token closes it. Times are epoch seconds.
CREATE TABLE weir_sessions (
    session_hash  VARCHAR(64) PRIMARY KEY,
    user_name     VARCHAR(63) NOT NULL,
    role          VARCHAR(63) NOT NULL,
    token_id      VARCHAR(32),
    client        VARCHAR(64) NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    seen_at       DOUBLE PRECISION NOT NULL,
    expires_at    DOUBLE PRECISION NOT NULL,
    ended_at      DOUBLE PRECISION
);
CREATE INDEX weir_sessions_user ON weir_sessions (user_name);

-- Refused sign-ins, counted per user and per client address over a sliding window.
CREATE TABLE weir_signin_failures (
    at            DOUBLE PRECISION NOT NULL,
    user_name     VARCHAR(63) NOT NULL,
    client        VARCHAR(64) NOT NULL
);
CREATE INDEX weir_signin_failures_user ON weir_signin_failures (user_name, at);
CREATE INDEX weir_signin_failures_client ON weir_signin_failures (client, at);
