/*
kind: incremental_by_time
time_column: interaction_date
lookback: 2
grain: [event_id]
owner: support
description: >
  One row per accepted CRM interaction on the UTC day of its timestamp, with
  its type, channel, rating (is_rated, is_satisfied = rating >= 4 for CSAT)
  and the support case it belongs to with the status it sets (open /
  resolved; null leaves the case as it is). The free-text message_excerpt
  (pii) is left in staging: no KPI needs it.
audits:
  - not_null: [event_id, interaction_at, interaction_date, customer_id, interaction_type, is_rated, is_satisfied]
  - unique: [event_id]
  - accepted_values: {column: interaction_type, values: [Feedback, Loyalty, Complaint]}
  - accepted_values: {column: channel, values: [Email, App, Phone]}
  - accepted_values: {column: case_status, values: [open, resolved]}
  - sql: "SELECT * FROM this WHERE rating NOT BETWEEN 1 AND 5 OR (case_status IS NOT NULL AND case_id IS NULL)"
*/
SELECT
    event_id,
    "timestamp" AS interaction_at,
    CAST("timestamp" AS DATE) AS interaction_date,
    customer_id,
    interaction_type,
    channel,
    rating,
    rating IS NOT NULL AS is_rated,
    coalesce(rating >= 4, FALSE) AS is_satisfied,
    case_id,
    case_status
FROM staging.crm_interactions
WHERE "timestamp" >= CAST($start AS DATE) AND "timestamp" < CAST($end AS DATE)
