/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [parcel_id, hop_number]
owner: operations
description: >
  Every departed hop on the day it departed, with its dwell in hours
  (warehouse.fact_parcel_hops): hop_dwell_hours = median(dwell_hours) over
  any period, by carrier, location or hop_number.
audits:
  - not_null: [day, parcel_id, hop_number, carrier, location, dwell_hours]
  - unique: [parcel_id, hop_number]
*/
SELECT
    departed_on AS day,
    parcel_id,
    hop_number,
    carrier,
    location,
    dwell_hours
FROM warehouse.fact_parcel_hops
WHERE departed_on >= CAST($start AS DATE) AND departed_on < CAST($end AS DATE)
