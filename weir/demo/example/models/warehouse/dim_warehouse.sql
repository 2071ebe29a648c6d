/*
kind: scd2
unique_key: [warehouse_id]
valid_from: valid_from
grain: [warehouse_id, valid_from]
owner: operations
description: >
  Warehouses with their history (SCD2), from the daily extracts. Stock
  figures by region use the warehouse's region on the day.
audits:
  - not_null: [warehouse_id, valid_from, warehouse_name, region]
  - unique: [warehouse_id, valid_from]
  - accepted_values: {column: region, values: [North, South, East, West, Central]}
  - sql: "SELECT warehouse_id FROM this WHERE is_current GROUP BY warehouse_id HAVING count(*) > 1"
*/
SELECT
    warehouse_id,
    name AS warehouse_name,
    region,
    _extract_date AS valid_from
FROM staging.warehouses
