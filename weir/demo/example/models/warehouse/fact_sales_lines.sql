/*
kind: incremental_by_time
time_column: sale_date
lookback: 2
grain: [transaction_id]
owner: sales
description: >
  One row per accepted POS line (transaction_id is the POS key, so one row per
  transaction id), on the UTC day of its timestamp, with the store's region
  and the product's type and cost price as of that day (SCD2 versions valid
  on sale_date). net_sales = revenue - discount; cogs = quantity x cost_price.
audits:
  - not_null: [transaction_id, sold_at, sale_date, store_id, product_id, quantity, revenue, discount, net_sales]
  - not_null: [region, product_type, cost_price, cogs]
  - unique: [transaction_id]
  - relationships: {column: store_id, to: warehouse.dim_store, field: store_id}
  - relationships: {column: product_id, to: warehouse.dim_product, field: product_id}
  - sql: "SELECT * FROM this WHERE quantity < 1 OR revenue < 0 OR discount < 0 OR discount > revenue OR net_sales < 0 OR cogs < 0"
*/
WITH lines AS (
    SELECT
        transaction_id,
        "timestamp" AS sold_at,
        CAST("timestamp" AS DATE) AS sale_date,
        store_id,
        product_id,
        customer_id,
        quantity,
        revenue,
        coalesce(discount_applied, 0) AS discount
    FROM staging.pos
    WHERE "timestamp" >= CAST($start AS DATE) AND "timestamp" < CAST($end AS DATE)
)
SELECT
    l.transaction_id,
    l.sold_at,
    l.sale_date,
    l.store_id,
    s.region,
    l.product_id,
    p.product_type,
    l.customer_id,
    l.quantity,
    l.revenue,
    l.discount,
    l.revenue - l.discount AS net_sales,
    p.cost_price,
    l.quantity * p.cost_price AS cogs
FROM lines AS l
LEFT JOIN warehouse.dim_store AS s
    ON s.store_id = l.store_id
    AND s.valid_from <= l.sale_date
    AND (s.valid_to IS NULL OR l.sale_date < s.valid_to)
LEFT JOIN warehouse.dim_product AS p
    ON p.product_id = l.product_id
    AND p.valid_from <= l.sale_date
    AND (p.valid_to IS NULL OR l.sale_date < p.valid_to)
