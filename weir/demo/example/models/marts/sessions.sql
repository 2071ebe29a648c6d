/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [session_key]
owner: marketing
description: >
  One row per web session on the day of its first event, with its device,
  browser and landing page and 0/1 counters, so every session KPI is an
  aggregate over the rows of the period: sessions = sum(sessions);
  session_duration = avg(duration_seconds), median =
  quantile_cont(duration_seconds, 0.5); bounce_rate = sum(bounced) /
  sum(sessions); conversion_rate = sum(converted) / sum(sessions); funnel
  step k (1 product, 2 cart, 3 payment, 4 confirmation) reached by
  sum(reached_<step>) sessions, conversion = sum(reached_k) /
  sum(reached_k-1). Dimensions: device_type, browser, landing_page.
audits:
  - not_null: [session_key, day, started_at, duration_seconds, landing_page, sessions, bounced, converted, funnel_step]
  - unique: [session_key]
  - sql: "SELECT * FROM this WHERE reached_product < reached_cart OR reached_cart < reached_payment OR reached_payment < reached_confirmation OR reached_product <> CASE WHEN funnel_step >= 1 THEN 1 ELSE 0 END"
*/
SELECT
    session_key,
    session_id,
    session_date AS day,
    started_at,
    ended_at,
    duration_seconds,
    user_id,
    device_type,
    browser,
    landing_page,
    event_count,
    page_views,
    clicks,
    1 AS sessions,
    CASE WHEN is_bounce THEN 1 ELSE 0 END AS bounced,
    CASE WHEN is_converted THEN 1 ELSE 0 END AS converted,
    funnel_step,
    CASE WHEN funnel_step >= 1 THEN 1 ELSE 0 END AS reached_product,
    CASE WHEN funnel_step >= 2 THEN 1 ELSE 0 END AS reached_cart,
    CASE WHEN funnel_step >= 3 THEN 1 ELSE 0 END AS reached_payment,
    CASE WHEN funnel_step >= 4 THEN 1 ELSE 0 END AS reached_confirmation
FROM warehouse.fact_sessions
WHERE session_date >= CAST($start AS DATE) AND session_date < CAST($end AS DATE)
