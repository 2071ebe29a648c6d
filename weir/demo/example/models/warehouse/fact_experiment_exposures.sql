/*
kind: incremental_by_time
time_column: session_date
lookback: 2
grain: [session_key, experiment]
owner: marketing
description: >
  One row per web session and A/B test it was exposed to (experiments/*.yml).
  An event names an experiment and a variant in its `experiment` and
  `variant` fields (an event with only one of the two exposes nothing). The
  session (as in fact_sessions: same session_key, day, device and browser)
  is exposed at its first event naming the experiment, in time order
  (timestamp, then event_id). A session shown two or more variants of one
  experiment is excluded (variant null, variants_seen >= 2): it counts in no
  variant but is counted. Converted: a converting event (as in
  conversion_rate: a View of /checkout/confirmation or a Click on `buy`) at or
  after the exposure, so a purchase made before the test was shown does not
  count for it.
  Context: an event belongs to the session of its session_id whose first and
  last events enclose it; sessions are those of fact_sessions with their day in
  [$start, $end), whose events all fall after $start.
audits:
  - not_null: [session_key, session_date, experiment, exposed_at, variants_seen, is_excluded, is_converted]
  - unique: [session_key, experiment]
  - sql: "SELECT * FROM this WHERE (variant IS NULL) <> is_excluded OR (variants_seen >= 2) <> is_excluded OR variants_seen < 1 OR (is_excluded AND is_converted)"
*/
WITH sessions AS (
    SELECT session_key, session_id, session_date, started_at, ended_at, device_type, browser
    FROM warehouse.fact_sessions
    WHERE session_date >= CAST($start AS DATE) AND session_date < CAST($end AS DATE)
),
events AS (
    SELECT
        s.session_key,
        w.event_id,
        w."timestamp" AS event_at,
        w.experiment,
        w.variant,
        coalesce(
            (w.event_type = 'View' AND w.page = '/checkout/confirmation')
            OR (w.event_type = 'Click' AND w.element = 'buy'),
            FALSE
        ) AS converting
    FROM sessions AS s
    JOIN staging.web_traffic AS w
        ON w.session_id = s.session_id
        AND w."timestamp" >= s.started_at
        AND w."timestamp" <= s.ended_at
    WHERE w."timestamp" >= CAST($start AS DATE)
),
marks AS (  -- the events that expose their session to a variant
    SELECT *,
        row_number() OVER (PARTITION BY session_key, experiment ORDER BY event_at, event_id) AS nth
    FROM events
    WHERE experiment IS NOT NULL AND variant IS NOT NULL
),
exposures AS (
    SELECT
        session_key,
        experiment,
        count(DISTINCT variant) AS variants_seen,
        min(variant) AS only_variant,
        min(event_at) FILTER (WHERE nth = 1) AS exposed_at,
        min(event_id) FILTER (WHERE nth = 1) AS exposed_event_id
    FROM marks
    GROUP BY session_key, experiment
),
converted AS (
    SELECT
        x.session_key,
        x.experiment,
        bool_or(
            e.converting
            AND (e.event_at > x.exposed_at OR (e.event_at = x.exposed_at AND e.event_id >= x.exposed_event_id))
        ) AS after_exposure
    FROM exposures AS x
    JOIN events AS e USING (session_key)
    GROUP BY x.session_key, x.experiment
)
SELECT
    s.session_key,
    s.session_id,
    s.session_date,
    x.experiment,
    CASE WHEN x.variants_seen = 1 THEN x.only_variant END AS variant,
    CAST(x.variants_seen AS INTEGER) AS variants_seen,
    x.variants_seen >= 2 AS is_excluded,
    x.exposed_at,
    s.device_type,
    s.browser,
    x.variants_seen = 1 AND coalesce(c.after_exposure, FALSE) AS is_converted
FROM exposures AS x
JOIN sessions AS s USING (session_key)
JOIN converted AS c USING (session_key, experiment)
