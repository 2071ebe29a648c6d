/*
kind: scd2
unique_key: [customer_id]
valid_from: valid_from
grain: [customer_id, valid_from]
owner: marketing
description: >
  Customer demographics from the loyalty sign-up form, with their history
  (SCD2). Kept apart from dim_customer because it is a separate extract (a
  day missing from one source must not close the other's versions). Every
  attribute is personal data (pii).
audits:
  - not_null: [customer_id, valid_from]
  - unique: [customer_id, valid_from]
  - sql: "SELECT customer_id FROM this WHERE is_current GROUP BY customer_id HAVING count(*) > 1"
  - row_count_change: {max_pct: 50}
*/
SELECT
    customer_id,
    age,
    gender,
    marital_status,
    parental_status,
    _extract_date AS valid_from
FROM staging.customer_demographics
