/*
kind: incremental_by_time
time_column: delivered_on
lookback: 2
grain: [parcel_id]
owner: operations
description: >
  One row per delivered parcel, on the day it was delivered: the carrier's
  feed ends each route at the hop located `Doorstep`, whose earliest `arrive`
  event is the delivery (a repeated scan counts once, the earliest).
  is_late = 1 when the delivery day is after promised_date, else 0.
audits:
  - not_null: [parcel_id, carrier, promised_date, delivered_at, delivered_on, is_late]
  - unique: [parcel_id]
  - sql: "SELECT * FROM this WHERE is_late NOT IN (0, 1)"
*/
WITH arrivals AS (
    SELECT
        parcel_id,
        min(timestamp) AS delivered_at,
        arg_min(carrier, timestamp) AS carrier,
        arg_min(order_id, timestamp) AS order_id,
        arg_min(hop_number, timestamp) AS hops,
        arg_min(promised_date, timestamp) AS promised_date
    FROM staging.parcel_hops
    WHERE event_type = 'arrive' AND location = 'Doorstep'
    GROUP BY parcel_id
)
SELECT
    parcel_id,
    order_id,
    carrier,
    hops,
    promised_date,
    delivered_at,
    CAST(delivered_at AS DATE) AS delivered_on,
    CASE WHEN CAST(delivered_at AS DATE) > promised_date THEN 1 ELSE 0 END AS is_late
FROM arrivals
WHERE CAST(delivered_at AS DATE) >= CAST($start AS DATE)
    AND CAST(delivered_at AS DATE) < CAST($end AS DATE)
