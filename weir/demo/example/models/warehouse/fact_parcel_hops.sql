/*
kind: incremental_by_time
time_column: departed_on
lookback: 2
grain: [parcel_id, hop_number]
owner: operations
description: >
  One row per departed hop of a parcel (parcel_id, hop_number), on the day it
  departed: arrived_at is its earliest accepted `arrive` event and departed_at
  its earliest `depart` event (a repeated scan counts once, the earliest);
  dwell_hours = departed_at - arrived_at in hours. Hops not yet departed, and
  hops whose arrival was never received, are left out. carrier, location and
  promised_date are those of the earliest depart event. Every event of a hop
  departed in the interval is read, whenever it happened.
audits:
  - not_null: [parcel_id, hop_number, carrier, location, arrived_at, departed_at, departed_on, dwell_hours]
  - unique: [parcel_id, hop_number]
  - sql: "SELECT * FROM this WHERE dwell_hours < 0"
*/
WITH departs AS (
    SELECT
        parcel_id,
        hop_number,
        min(timestamp) AS departed_at,
        arg_min(carrier, timestamp) AS carrier,
        arg_min(location, timestamp) AS location,
        arg_min(order_id, timestamp) AS order_id,
        arg_min(promised_date, timestamp) AS promised_date
    FROM staging.parcel_hops
    WHERE event_type = 'depart'
    GROUP BY parcel_id, hop_number
    HAVING CAST(min(timestamp) AS DATE) >= CAST($start AS DATE)
        AND CAST(min(timestamp) AS DATE) < CAST($end AS DATE)
),
arrivals AS (
    SELECT parcel_id, hop_number, min(timestamp) AS arrived_at
    FROM staging.parcel_hops
    WHERE event_type = 'arrive'
    GROUP BY parcel_id, hop_number
)
SELECT
    d.parcel_id,
    d.hop_number,
    d.order_id,
    d.carrier,
    d.location,
    d.promised_date,
    a.arrived_at,
    d.departed_at,
    CAST(d.departed_at AS DATE) AS departed_on,
    (epoch(d.departed_at) - epoch(a.arrived_at)) / 3600.0 AS dwell_hours
FROM departs AS d
JOIN arrivals AS a USING (parcel_id, hop_number)
WHERE a.arrived_at <= d.departed_at
