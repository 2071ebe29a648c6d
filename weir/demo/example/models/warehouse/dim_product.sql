/*
kind: scd2
unique_key: [product_id]
valid_from: valid_from
grain: [product_id, valid_from]
owner: sales
description: >
  The product catalogue with its history (SCD2): a new version whenever any
  attribute changes in a daily extract, most often the cost price. The
  extract dated D is the state at the start of day D, so a sale, an order or
  a stock level on day D is costed with the version valid on D
  (valid_from <= D < coalesce(valid_to, 'infinity')).
audits:
  - not_null: [product_id, valid_from, product_name, product_type, cost_price, list_price, launched_on]
  - unique: [product_id, valid_from]
  - accepted_values: {column: product_type, values: [Backpack, Duffel, Tote, Messenger, Wallet, Accessory]}
  - sql: "SELECT * FROM this WHERE cost_price < 0 OR list_price < 0"
  - sql: "SELECT a.product_id, a.valid_from, b.valid_from AS overlapping FROM this AS a JOIN this AS b ON a.product_id = b.product_id AND a.valid_from < b.valid_from AND (a.valid_to IS NULL OR a.valid_to > b.valid_from)"
  - row_count_change: {max_pct: 50}
*/
SELECT
    product_id,
    name AS product_name,
    type AS product_type,
    color,
    size,
    material,
    cost_price,
    list_price,
    launched_on,
    _extract_date AS valid_from
FROM staging.products
