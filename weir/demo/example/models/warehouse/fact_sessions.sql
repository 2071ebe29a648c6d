/*
kind: incremental_by_time
time_column: session_date
lookback: 2
grain: [session_key]
owner: marketing
description: >
  One row per web session. Events are grouped by session_id in time order
  (timestamp, then event_id); a gap of more than 30 minutes between
  consecutive events of one session_id starts a new session (exactly 30
  minutes does not). A session belongs to the UTC day, device_type and
  browser of its first event; its landing page is that event's page.
  duration = last event time - first event time. Bounce: exactly one View, no
  Click or Scroll, and duration under 10 s. Converted: a View of
  /checkout/confirmation or a Click on `buy`. funnel_step: the furthest step
  reached in order (1 any /product/* event, 2 /cart, 3 /checkout/payment,
  4 /checkout/confirmation), each step counted only when reached by an event
  after the one that reached the previous step.
  Context: whether an event starts a session depends only on the events of
  the 30 minutes before it, so events from $start - 30 min on are read, and a
  session is kept when its first event falls in [$start, $end); all its later
  events are read, however late, so sessions crossing $end are complete.
audits:
  - not_null: [session_key, session_id, session_date, started_at, ended_at, duration_seconds, landing_page, event_count, is_bounce, is_converted, funnel_step]
  - unique: [session_key]
  - sql: "SELECT * FROM this WHERE duration_seconds < 0 OR funnel_step NOT BETWEEN 0 AND 4 OR event_count < 1 OR CAST(started_at AS DATE) <> session_date"
  - sql: "SELECT * FROM this WHERE is_bounce AND (page_views <> 1 OR clicks > 0 OR scrolls > 0 OR duration_seconds >= 10)"
*/
WITH events AS (
    SELECT
        event_id,
        "timestamp" AS event_at,
        session_id,
        user_id,
        page,
        device_type,
        browser,
        event_type,
        element,
        CASE
            WHEN page LIKE '/product/%' THEN 1
            WHEN page = '/cart' THEN 2
            WHEN page = '/checkout/payment' THEN 3
            WHEN page = '/checkout/confirmation' THEN 4
            ELSE 0
        END AS funnel_page
    FROM staging.web_traffic
    WHERE "timestamp" >= CAST($start AS DATE) - INTERVAL 30 MINUTE
),
flagged AS (
    SELECT
        *,
        row_number() OVER w AS seq,
        CASE
            WHEN lag(event_at) OVER w IS NULL OR event_at - lag(event_at) OVER w > INTERVAL 30 MINUTE THEN 1
            ELSE 0
        END AS starts_session
    FROM events
    WINDOW w AS (PARTITION BY session_id ORDER BY event_at, event_id)
),
numbered AS (
    SELECT
        *,
        sum(starts_session) OVER (
            PARTITION BY session_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS session_number
    FROM flagged
),
first_events AS (
    SELECT session_id, session_number, event_at AS started_at, device_type, browser, page AS landing_page
    FROM numbered
    WHERE starts_session = 1
),
kept AS (  -- events of the sessions that start in the interval
    SELECT n.*
    FROM numbered AS n
    JOIN first_events AS f USING (session_id, session_number)
    WHERE f.started_at >= CAST($start AS DATE) AND f.started_at < CAST($end AS DATE)
),
step1 AS (
    SELECT *, min(CASE WHEN funnel_page = 1 THEN seq END) OVER s AS reached_1
    FROM kept
    WINDOW s AS (PARTITION BY session_id, session_number)
),
step2 AS (
    SELECT *, min(CASE WHEN funnel_page = 2 AND seq > reached_1 THEN seq END) OVER s AS reached_2
    FROM step1
    WINDOW s AS (PARTITION BY session_id, session_number)
),
step3 AS (
    SELECT *, min(CASE WHEN funnel_page = 3 AND seq > reached_2 THEN seq END) OVER s AS reached_3
    FROM step2
    WINDOW s AS (PARTITION BY session_id, session_number)
),
step4 AS (
    SELECT *, min(CASE WHEN funnel_page = 4 AND seq > reached_3 THEN seq END) OVER s AS reached_4
    FROM step3
    WINDOW s AS (PARTITION BY session_id, session_number)
),
sessions AS (
    SELECT
        session_id,
        session_number,
        max(event_at) AS ended_at,
        max(user_id) AS user_id,
        count(*) AS event_count,
        count(*) FILTER (WHERE event_type = 'View') AS page_views,
        count(*) FILTER (WHERE event_type = 'Click') AS clicks,
        count(*) FILTER (WHERE event_type = 'Scroll') AS scrolls,
        bool_or(
            (event_type = 'View' AND page = '/checkout/confirmation') OR (event_type = 'Click' AND element = 'buy')
        ) AS converted,
        CASE
            WHEN max(reached_4) IS NOT NULL THEN 4
            WHEN max(reached_3) IS NOT NULL THEN 3
            WHEN max(reached_2) IS NOT NULL THEN 2
            WHEN max(reached_1) IS NOT NULL THEN 1
            ELSE 0
        END AS funnel_step
    FROM step4
    GROUP BY session_id, session_number
)
SELECT
    s.session_id || '@' || CAST(epoch_us(f.started_at) AS VARCHAR) AS session_key,
    s.session_id,
    CAST(f.started_at AS DATE) AS session_date,
    f.started_at,
    s.ended_at,
    CAST(epoch_us(s.ended_at) - epoch_us(f.started_at) AS DOUBLE) / 1000000 AS duration_seconds,
    s.user_id,
    f.device_type,
    f.browser,
    f.landing_page,
    s.event_count,
    s.page_views,
    s.clicks,
    s.scrolls,
    s.page_views = 1 AND s.clicks = 0 AND s.scrolls = 0
        AND epoch_us(s.ended_at) - epoch_us(f.started_at) < 10000000 AS is_bounce,
    coalesce(s.converted, FALSE) AS is_converted,
    s.funnel_step
FROM sessions AS s
JOIN first_events AS f USING (session_id, session_number)
