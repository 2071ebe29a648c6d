/*
kind: incremental_by_time
time_column: order_date
lookback: 2
grain: [order_id]
owner: finance
description: >
  One row per accepted online order (order_id is the key: one product per
  order) on its order_date: revenue = quantity x retail_price (no discount),
  tax = revenue x tax_rate, and cogs = quantity x the product's cost price
  valid on order_date.
audits:
  - not_null: [order_id, order_date, customer_id, product_id, quantity, retail_price, revenue, tax_rate, tax]
  - not_null: [product_type, cost_price, cogs]
  - unique: [order_id]
  - relationships: {column: product_id, to: warehouse.dim_product, field: product_id}
  - sql: "SELECT * FROM this WHERE quantity < 1 OR revenue < 0 OR tax < 0 OR tax_rate NOT BETWEEN 0 AND 1 OR cogs < 0"
*/
WITH orders AS (
    SELECT order_id, order_date, customer_id, product_id, quantity, retail_price, tax_rate
    FROM staging.orders
    WHERE order_date >= CAST($start AS DATE) AND order_date < CAST($end AS DATE)
)
SELECT
    o.order_id,
    o.order_date,
    o.customer_id,
    o.product_id,
    p.product_type,
    o.quantity,
    o.retail_price,
    o.quantity * o.retail_price AS revenue,
    o.tax_rate,
    o.quantity * o.retail_price * o.tax_rate AS tax,
    p.cost_price,
    o.quantity * p.cost_price AS cogs
FROM orders AS o
LEFT JOIN warehouse.dim_product AS p
    ON p.product_id = o.product_id
    AND p.valid_from <= o.order_date
    AND (p.valid_to IS NULL OR o.order_date < p.valid_to)
