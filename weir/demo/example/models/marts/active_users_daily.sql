/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, user_id, device_type]
owner: marketing
description: >
  Who was active on the website or app: one row per day, signed-in user_id
  and the device_type of their events that day (each event's own device;
  null when the event had none). daily_active_users = count(DISTINCT user_id)
  over the rows of the period (a week or month counts each user once), by
  device_type when asked.
audits:
  - not_null: [day, user_id, events]
  - unique: [day, user_id, device_type]
*/
SELECT
    event_date AS day,
    user_id,
    device_type,
    count(*) AS events
FROM warehouse.fact_web_events
WHERE user_id IS NOT NULL
    AND event_date >= CAST($start AS DATE) AND event_date < CAST($end AS DATE)
GROUP BY event_date, user_id, device_type
