/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [event_id]
owner: support
description: >
  One row per CRM interaction on its own day, with 0/1 counters:
  interaction_volume = sum(interactions) by interaction_type and channel;
  feedback_score (CSAT, 0-100) = 100 x sum(satisfied) / sum(rated) (null
  when nothing was rated), mean_rating = sum(rating) / sum(rated), by
  channel. Rated interactions of any type count.
audits:
  - not_null: [event_id, day, customer_id, interaction_type, interactions, rated, satisfied]
  - unique: [event_id]
  - sql: "SELECT * FROM this WHERE satisfied > rated OR (rated = 1) <> (rating IS NOT NULL)"
*/
SELECT
    event_id,
    interaction_date AS day,
    interaction_at,
    customer_id,
    interaction_type,
    channel,
    case_id,
    case_status,
    rating,
    1 AS interactions,
    CASE WHEN is_rated THEN 1 ELSE 0 END AS rated,
    CASE WHEN is_satisfied THEN 1 ELSE 0 END AS satisfied
FROM warehouse.fact_interactions
WHERE interaction_date >= CAST($start AS DATE) AND interaction_date < CAST($end AS DATE)
