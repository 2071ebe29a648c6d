/*
kind: full
grain: [message_id]
owner: operations
description: >
  One row per accepted e-mail on the UTC day it was sent, with what became of
  it, rebuilt whole because an event can arrive days after its e-mail.
  Outcomes (each 0/1, from the e-mail's accepted events, whenever they came):
  bounced = it has a bounced event (hard_bounced: one of them hard);
  delivered = it has a delivered event and no bounce; opened = delivered and
  an opened or a clicked event (a click is an open whose pixel was blocked);
  clicked = delivered and a clicked event; complained = delivered and a
  complained event; marked_spam = delivered and a spam event.
  provider = the receiving mailbox provider, from the recipient's domain
  (gmail: gmail.com, googlemail.com; outlook: outlook.com, hotmail.com,
  live.com, msn.com; yahoo: yahoo.com, ymail.com, aol.com; apple:
  icloud.com, me.com, mac.com; gmx: gmx.de, gmx.net, web.de; other: the
  rest). to_suppressed = the recipient was on the client's suppression list
  before the e-mail was sent. warming_day = days since the sending domain's
  warmup_started_on (in the CRM), plus one; null for a domain the CRM does
  not know. plan: the client's plan on the day it was sent (SCD2).
audits:
  - not_null: [message_id, client_id, sending_domain, sent_at, sent_date, provider, sent, delivered, bounced]
  - unique: [message_id]
  - sql: "SELECT * FROM this WHERE delivered + bounced > 1 OR opened > delivered OR clicked > opened OR complained > delivered OR marked_spam > delivered OR hard_bounced > bounced"
*/
WITH outcomes AS (
    SELECT
        message_id,
        bool_or(event_type = 'delivered') AS has_delivered,
        bool_or(event_type = 'bounced') AS has_bounced,
        bool_or(event_type = 'bounced' AND bounce_type = 'hard') AS has_hard_bounce,
        bool_or(event_type IN ('opened', 'clicked')) AS has_opened,
        bool_or(event_type = 'clicked') AS has_clicked,
        bool_or(event_type = 'complained') AS has_complained,
        bool_or(event_type = 'spam') AS has_spam
    FROM staging.delivery_events
    GROUP BY message_id
),
emails AS (
    SELECT
        m.*,
        lower(split_part(m.recipient, '@', 2)) AS recipient_domain,
        coalesce(o.has_bounced, FALSE) AS is_bounced,
        coalesce(o.has_delivered, FALSE) AND NOT coalesce(o.has_bounced, FALSE) AS is_delivered,
        o.has_hard_bounce, o.has_opened, o.has_clicked, o.has_complained, o.has_spam
    FROM staging.emails_sent AS m
    LEFT JOIN outcomes AS o USING (message_id)
)
SELECT
    e.message_id,
    e.client_id,
    c.client_name,
    c.plan,
    e.sending_domain,
    e.recipient,
    e.recipient_domain,
    CASE
        WHEN e.recipient_domain IN ('gmail.com', 'googlemail.com') THEN 'gmail'
        WHEN e.recipient_domain IN ('outlook.com', 'hotmail.com', 'live.com', 'msn.com') THEN 'outlook'
        WHEN e.recipient_domain IN ('yahoo.com', 'ymail.com', 'aol.com') THEN 'yahoo'
        WHEN e.recipient_domain IN ('icloud.com', 'me.com', 'mac.com') THEN 'apple'
        WHEN e.recipient_domain IN ('gmx.de', 'gmx.net', 'web.de') THEN 'gmx'
        ELSE 'other'
    END AS provider,
    e.campaign,
    e.sent_at,
    CAST(e.sent_at AS DATE) AS sent_date,
    CASE
        WHEN d.warmup_started_on IS NOT NULL
        THEN date_diff('day', d.warmup_started_on, CAST(e.sent_at AS DATE)) + 1
    END AS warming_day,
    1 AS sent,
    CASE WHEN e.is_delivered THEN 1 ELSE 0 END AS delivered,
    CASE WHEN e.is_bounced THEN 1 ELSE 0 END AS bounced,
    CASE WHEN e.is_bounced AND e.has_hard_bounce THEN 1 ELSE 0 END AS hard_bounced,
    CASE WHEN e.is_delivered AND e.has_opened THEN 1 ELSE 0 END AS opened,
    CASE WHEN e.is_delivered AND e.has_clicked THEN 1 ELSE 0 END AS clicked,
    CASE WHEN e.is_delivered AND e.has_complained THEN 1 ELSE 0 END AS complained,
    CASE WHEN e.is_delivered AND e.has_spam THEN 1 ELSE 0 END AS marked_spam,
    CASE WHEN s.address IS NOT NULL THEN 1 ELSE 0 END AS to_suppressed
FROM emails AS e
LEFT JOIN warehouse.dim_client AS c
    ON c.client_id = e.client_id
    AND c.valid_from <= CAST(e.sent_at AS DATE)
    AND (c.valid_to IS NULL OR CAST(e.sent_at AS DATE) < c.valid_to)
LEFT JOIN warehouse.dim_sending_domain AS d ON d.sending_domain = e.sending_domain
LEFT JOIN warehouse.dim_suppression AS s
    ON s.client_id = e.client_id AND lower(s.address) = lower(e.recipient) AND s.suppressed_at < e.sent_at
