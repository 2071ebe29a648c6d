/*
kind: full
grain: [day, channel]
owner: support
description: >
  Support backlog per calendar day and case channel (including a null
  channel when the first interaction had none): open_cases = cases open at
  the end of the day, i.e. opened on or before it and whose last
  status-bearing interaction up to the end of the day is not `resolved`
  (a case with no status yet is open); opened_cases and resolved_cases by day
  of the first interaction and of the (final) resolution. One row per day
  and channel, zeros included. backlog of a period = sum(open_cases) over
  the rows of the period's last day (last_day = max(day) of the mart within
  the period), by channel. Rebuilt whole: a late interaction changes every
  day after it.
audits:
  - not_null: [day, open_cases, opened_cases, resolved_cases]
  - unique: [day, channel]
  - sql: "SELECT * FROM this WHERE open_cases < 0 OR opened_cases < 0 OR resolved_cases < 0"
*/
WITH case_events AS (
    SELECT
        case_id,
        event_id,
        interaction_at,
        CAST(interaction_at AS DATE) AS day,
        last_value(case_status IGNORE NULLS) OVER (
            PARTITION BY case_id ORDER BY interaction_at, event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS status_so_far
    FROM warehouse.fact_interactions
    WHERE case_id IS NOT NULL
),
day_states AS (  -- each case's state at the end of each day it had an interaction
    SELECT case_id, day, coalesce(status_so_far, 'open') AS state
    FROM case_events
    QUALIFY row_number() OVER (PARTITION BY case_id, day ORDER BY interaction_at DESC, event_id DESC) = 1
),
spans AS (  -- the state holds from that day until the next day with an interaction
    SELECT case_id, state, day AS from_day, lead(day) OVER (PARTITION BY case_id ORDER BY day) AS to_day
    FROM day_states
),
open_counts AS (
    SELECT d.day, c.channel, count(*) AS open_cases
    FROM warehouse.dim_date AS d
    JOIN spans AS s ON s.from_day <= d.day AND (s.to_day IS NULL OR d.day < s.to_day)
    JOIN warehouse.fact_cases AS c ON c.case_id = s.case_id
    WHERE s.state = 'open'
    GROUP BY d.day, c.channel
),
opened AS (
    SELECT opened_date AS day, channel, count(*) AS opened_cases
    FROM warehouse.fact_cases
    GROUP BY opened_date, channel
),
resolved AS (
    SELECT resolved_date AS day, channel, count(*) AS resolved_cases
    FROM warehouse.fact_cases
    WHERE resolved_date IS NOT NULL
    GROUP BY resolved_date, channel
),
grid AS (
    SELECT d.day, c.channel
    FROM warehouse.dim_date AS d
    CROSS JOIN (SELECT DISTINCT channel FROM warehouse.fact_cases) AS c
)
SELECT
    g.day,
    g.channel,
    coalesce(o.open_cases, 0) AS open_cases,
    coalesce(n.opened_cases, 0) AS opened_cases,
    coalesce(r.resolved_cases, 0) AS resolved_cases
FROM grid AS g
LEFT JOIN open_counts AS o ON o.day = g.day AND o.channel IS NOT DISTINCT FROM g.channel
LEFT JOIN opened AS n ON n.day = g.day AND n.channel IS NOT DISTINCT FROM g.channel
LEFT JOIN resolved AS r ON r.day = g.day AND r.channel IS NOT DISTINCT FROM g.channel
