/*
kind: full
grain: [case_id]
owner: support
description: >
  One row per support case, as it stands now (rebuilt whole: a later
  interaction can re-open a case). time_to_resolution over a period =
  quantile_cont(resolution_hours, 0.5), p90 = quantile_cont(resolution_hours,
  0.9), over the cases whose resolved_date falls in the period (status
  resolved), by channel (the channel of the case's first interaction). The
  backlog figure comes from case_backlog_daily.
audits:
  - not_null: [case_id, opened_date, status, is_resolved, cases]
  - unique: [case_id]
  - accepted_values: {column: status, values: [open, resolved]}
  - sql: "SELECT * FROM this WHERE (is_resolved = 1) <> (resolved_date IS NOT NULL) OR (is_resolved = 1) <> (resolution_hours IS NOT NULL) OR resolution_hours < 0"
*/
SELECT
    case_id,
    channel,
    customer_id,
    first_interaction_type,
    opened_at,
    opened_date,
    status,
    resolved_at,
    resolved_date,
    resolution_hours,
    interactions,
    reopen_count,
    1 AS cases,
    CASE WHEN status = 'resolved' THEN 1 ELSE 0 END AS is_resolved
FROM warehouse.fact_cases
