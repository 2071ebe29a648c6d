/*
kind: scd2
unique_key: [customer_id]
valid_from: valid_from
grain: [customer_id, valid_from]
owner: marketing
description: >
  Customers of the loyalty programme and the online shop, with their history
  (SCD2): a new version when any attribute (address, e-mail, …) changes in a
  daily extract. first_name, last_name, email, phone and address are personal
  data (pii), carried as the staging layer protects them.
audits:
  - not_null: [customer_id, valid_from, created_at]
  - unique: [customer_id, valid_from]
  - sql: "SELECT customer_id FROM this WHERE is_current GROUP BY customer_id HAVING count(*) > 1"
  - row_count_change: {max_pct: 50}
*/
SELECT
    customer_id,
    first_name,
    last_name,
    email,
    phone,
    address,
    country,
    created_at,
    _extract_date AS valid_from
FROM staging.customers
