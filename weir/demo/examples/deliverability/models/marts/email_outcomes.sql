/*
kind: full
grain: [message_id]
owner: operations
description: >
  One row per accepted e-mail on the UTC day it was sent (day), with its
  client (name and plan on that day), sending domain, receiving provider,
  the domain's warming_day and 0/1 outcome counters: sent, delivered,
  bounced, hard_bounced, opened, clicked, complained, marked_spam,
  to_suppressed (see warehouse.fact_emails for each definition). Every
  deliverability KPI is a ratio of sums of these counters. The recipient's
  address is left in the warehouse: no KPI needs it.
audits:
  - not_null: [message_id, day, client_id, sending_domain, provider]
  - unique: [message_id]
*/
SELECT
    message_id,
    sent_date AS day,
    client_id,
    coalesce(client_name, 'client ' || client_id) AS client_name,
    coalesce(plan, 'unknown') AS plan,
    sending_domain,
    provider,
    campaign,
    warming_day,
    sent,
    delivered,
    bounced,
    hard_bounced,
    opened,
    clicked,
    complained,
    marked_spam,
    to_suppressed
FROM warehouse.fact_emails
