/*
kind: scd2
unique_key: [store_id]
valid_from: valid_from
grain: [store_id, valid_from]
owner: sales
description: >
  Stores with their history (SCD2): one version per run of daily extracts in
  which the store is unchanged. A sale on day D uses the version with
  valid_from <= D < coalesce(valid_to, 'infinity'), so a store that moves to
  another region keeps its past sales in the old one.
audits:
  - not_null: [store_id, valid_from, store_name, region]
  - unique: [store_id, valid_from]
  - accepted_values: {column: region, values: [North, South, East, West, Central]}
  - sql: "SELECT store_id FROM this WHERE is_current GROUP BY store_id HAVING count(*) > 1"
*/
SELECT
    store_id,
    name AS store_name,
    city,
    region,
    country,
    opened_on,
    _extract_date AS valid_from
FROM staging.stores
