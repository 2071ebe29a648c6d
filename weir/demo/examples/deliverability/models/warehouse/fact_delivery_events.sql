/*
kind: full
grain: [event_id]
owner: operations
description: >
  One row per accepted delivery event (delivered, bounced, opened, clicked,
  complained, spam) on the UTC day it happened. known_message says whether
  the e-mail it is about was accepted (an event of a quarantined e-mail
  stays here, counted nowhere else).
audits:
  - not_null: [event_id, message_id, event_type, occurred_at, event_date]
  - unique: [event_id]
*/
SELECT
    e.event_id,
    e.message_id,
    e.event_type,
    e.bounce_type,
    e.occurred_at,
    CAST(e.occurred_at AS DATE) AS event_date,
    m.message_id IS NOT NULL AS known_message
FROM staging.delivery_events AS e
LEFT JOIN staging.emails_sent AS m USING (message_id)
