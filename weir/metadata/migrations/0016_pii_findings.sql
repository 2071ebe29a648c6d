-- What the catalog's scan found in a sample of each column: how many sampled values
-- look like each kind of personal or card data. Never a value: only counts. A scan
-- replaces the findings of the tables it sampled; flagged is true where the column's
-- classification does not already say it holds that kind of data.
CREATE TABLE weir_pii_findings (
    dataset         VARCHAR(200) NOT NULL,
    column_name     VARCHAR(200) NOT NULL,
    kind            VARCHAR(16) NOT NULL,
    matches         INTEGER NOT NULL,
    sampled         INTEGER NOT NULL,
    confidence      DOUBLE PRECISION NOT NULL,
    classification  VARCHAR(8),
    flagged         BOOLEAN NOT NULL,
    scanned_at      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (dataset, column_name, kind)
);

-- Each table's latest scan: when, how many rows were sampled, of how many.
CREATE TABLE weir_pii_scans (
    dataset         VARCHAR(200) PRIMARY KEY,
    sampled         INTEGER NOT NULL,
    row_count       BIGINT,
    snapshot_id     BIGINT,
    scanned_by      VARCHAR(200) NOT NULL,
    scanned_at      DOUBLE PRECISION NOT NULL
);
