/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, carrier, location]
owner: operations
description: >
  One row per day and (carrier, location) pair with departed hops that day:
  hops and p90_dwell (the 90th percentile of dwell_hours, interpolated) of the
  day, and baseline_hops and baseline_p90 over the 28 days before it (read as
  context). ratio = p90_dwell / baseline_p90; is_bottleneck = 1 when both
  windows hold at least 20 hops and p90_dwell > 1.5 x baseline_p90, else 0.
audits:
  - not_null: [day, carrier, location, hops, p90_dwell, baseline_hops, is_bottleneck]
  - unique: [day, carrier, location]
  - sql: "SELECT * FROM this WHERE is_bottleneck = 1 AND (hops < 20 OR baseline_hops < 20)"
*/
WITH days AS (
    SELECT departed_on AS day, carrier, location,
        count(*) AS hops,
        quantile_cont(dwell_hours, 0.9) AS p90_dwell
    FROM warehouse.fact_parcel_hops
    WHERE departed_on >= CAST($start AS DATE) AND departed_on < CAST($end AS DATE)
    GROUP BY departed_on, carrier, location
),
baseline AS (
    SELECT d.day, d.carrier, d.location,
        count(h.dwell_hours) AS baseline_hops,
        quantile_cont(h.dwell_hours, 0.9) AS baseline_p90
    FROM days AS d
    LEFT JOIN warehouse.fact_parcel_hops AS h
        ON h.carrier = d.carrier
        AND h.location = d.location
        AND h.departed_on >= d.day - INTERVAL 28 DAY
        AND h.departed_on < d.day
    GROUP BY d.day, d.carrier, d.location
)
SELECT
    d.day,
    d.carrier,
    d.location,
    d.hops,
    d.p90_dwell,
    b.baseline_hops,
    b.baseline_p90,
    d.p90_dwell / nullif(b.baseline_p90, 0) AS ratio,
    CASE
        WHEN d.hops >= 20 AND b.baseline_hops >= 20 AND d.p90_dwell > 1.5 * b.baseline_p90
        THEN 1 ELSE 0
    END AS is_bottleneck
FROM days AS d
JOIN baseline AS b USING (day, carrier, location)
