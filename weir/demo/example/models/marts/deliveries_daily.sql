/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, carrier]
owner: operations
description: >
  Parcels delivered per day and carrier (warehouse.fact_parcel_deliveries),
  and how many of them after their promised date: late_parcel_rate =
  sum(late_parcels) / sum(parcels_delivered) over any period.
audits:
  - not_null: [day, carrier, parcels_delivered, late_parcels]
  - unique: [day, carrier]
  - sql: "SELECT * FROM this WHERE late_parcels > parcels_delivered"
*/
SELECT
    delivered_on AS day,
    carrier,
    count(*) AS parcels_delivered,
    CAST(sum(is_late) AS BIGINT) AS late_parcels
FROM warehouse.fact_parcel_deliveries
WHERE delivered_on >= CAST($start AS DATE) AND delivered_on < CAST($end AS DATE)
GROUP BY delivered_on, carrier
