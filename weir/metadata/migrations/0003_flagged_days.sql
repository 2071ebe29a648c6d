-- Days whose KPI inputs failed a quality check, and why: KPI queries can leave them out.
CREATE TABLE weir_flagged_days (
    day         VARCHAR(10) NOT NULL,
    dataset     VARCHAR(200) NOT NULL,
    reason      TEXT NOT NULL,
    flagged_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (day, dataset)
);
