/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [session_key, experiment]
owner: marketing
description: >
  One row per web session exposed to an A/B test (experiments/*.yml), on the
  session's day, with its experiment, variant and device type and 0/1
  counters, so experiment_conversion is a ratio of sums per variant:
  sum(converted) / sum(sessions). A session shown two variants of one
  experiment has variant null, sessions 0, converted 0 and excluded 1: it is
  left out of every variant and counted (excluded_sessions).
audits:
  - not_null: [session_key, day, experiment, sessions, converted, excluded]
  - unique: [session_key, experiment]
  - sql: "SELECT * FROM this WHERE sessions + excluded <> 1 OR converted > sessions OR (variant IS NULL) <> (excluded = 1)"
*/
SELECT
    session_key,
    session_id,
    session_date AS day,
    experiment,
    variant,
    device_type,
    browser,
    exposed_at,
    CASE WHEN is_excluded THEN 0 ELSE 1 END AS sessions,
    CASE WHEN is_converted THEN 1 ELSE 0 END AS converted,
    CASE WHEN is_excluded THEN 1 ELSE 0 END AS excluded
FROM warehouse.fact_experiment_exposures
WHERE session_date >= CAST($start AS DATE) AND session_date < CAST($end AS DATE)
