/*
kind: full
grain: [case_id]
owner: support
description: >
  One row per support case (interactions sharing a case_id), rebuilt whole
  because a later interaction can re-open or resolve any past case. opened_at
  is the first interaction's time, channel and customer are those of the
  first interaction. Only interactions with a case_status change the state:
  the case is resolved at its last `resolved` interaction provided no later
  `open` re-opened it (i.e. the last interaction carrying a status is
  `resolved`); otherwise it is open. resolution_hours = resolved_at -
  opened_at. Order within a case: interaction time, then event_id.
audits:
  - not_null: [case_id, opened_at, opened_date, customer_id, status, interactions, reopen_count]
  - unique: [case_id]
  - accepted_values: {column: status, values: [open, resolved]}
  - accepted_values: {column: channel, values: [Email, App, Phone]}
  - sql: "SELECT * FROM this WHERE (status = 'resolved') <> (resolved_at IS NOT NULL) OR resolved_at < opened_at OR resolution_hours < 0"
*/
WITH case_interactions AS (
    SELECT
        case_id,
        event_id,
        interaction_at,
        customer_id,
        channel,
        interaction_type,
        case_status,
        row_number() OVER (PARTITION BY case_id ORDER BY interaction_at, event_id) AS seq,
        lag(case_status IGNORE NULLS) OVER (PARTITION BY case_id ORDER BY interaction_at, event_id) AS previous_status
    FROM warehouse.fact_interactions
    WHERE case_id IS NOT NULL
),
first_interaction AS (
    SELECT case_id, interaction_at AS opened_at, customer_id, channel, interaction_type AS first_interaction_type
    FROM case_interactions
    WHERE seq = 1
),
last_status AS (
    SELECT case_id, case_status, interaction_at
    FROM case_interactions
    WHERE case_status IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY interaction_at DESC, event_id DESC) = 1
),
summary AS (
    SELECT
        case_id,
        count(*) AS interactions,
        max(interaction_at) AS last_interaction_at,
        count(*) FILTER (WHERE case_status = 'open' AND previous_status = 'resolved') AS reopen_count
    FROM case_interactions
    GROUP BY case_id
)
SELECT
    f.case_id,
    f.customer_id,
    f.channel,
    f.first_interaction_type,
    f.opened_at,
    CAST(f.opened_at AS DATE) AS opened_date,
    CASE WHEN l.case_status = 'resolved' THEN 'resolved' ELSE 'open' END AS status,
    CASE WHEN l.case_status = 'resolved' THEN l.interaction_at END AS resolved_at,
    CASE WHEN l.case_status = 'resolved' THEN CAST(l.interaction_at AS DATE) END AS resolved_date,
    CASE
        WHEN l.case_status = 'resolved'
        THEN CAST(epoch_us(l.interaction_at) - epoch_us(f.opened_at) AS DOUBLE) / 3600000000
    END AS resolution_hours,
    s.interactions,
    s.last_interaction_at,
    s.reopen_count
FROM first_interaction AS f
JOIN summary AS s USING (case_id)
LEFT JOIN last_status AS l USING (case_id)
