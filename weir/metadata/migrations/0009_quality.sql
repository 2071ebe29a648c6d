-- Quality checks: each check's result as `weir quality run` found it, and who flagged a day.
-- A flagged day now says who flagged it (flagged_by: 'auto' for a check, 'user' for a
-- person; by_name: the check or the user) and the KPI it concerns (kpi: NULL means every
-- KPI, as every flag before this migration did).
ALTER TABLE weir_flagged_days ADD COLUMN flagged_by VARCHAR(8) DEFAULT 'user' NOT NULL;
ALTER TABLE weir_flagged_days ADD COLUMN by_name TEXT;
ALTER TABLE weir_flagged_days ADD COLUMN kpi TEXT;

CREATE TABLE weir_quality_checks (
    checked_at     DOUBLE PRECISION NOT NULL,
    kind           VARCHAR(16) NOT NULL,
    subject        TEXT NOT NULL,
    state          VARCHAR(8) NOT NULL,
    message        TEXT NOT NULL,
    day            VARCHAR(10),
    observed       DOUBLE PRECISION,
    expected_low   DOUBLE PRECISION,
    expected_high  DOUBLE PRECISION
);
CREATE INDEX weir_quality_checks_subject ON weir_quality_checks (kind, subject, checked_at);
CREATE INDEX weir_quality_checks_at ON weir_quality_checks (checked_at);
