/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, store_id, product_id]
owner: sales
description: >
  Store (POS) sales per day, store and product, with the store's region and
  the product's type on that day. Every sales KPI is a sum over these rows
  for any period and any of store_id, region, product_id, product_type:
  gross_sales = sum(gross_sales), net_sales = sum(net_sales), units_sold =
  sum(units_sold), transactions = sum(transactions) (a transaction_id is one
  POS line, so it falls in exactly one row), average_basket = sum(net_sales)
  / sum(transactions).
audits:
  - not_null: [day, store_id, region, product_id, product_type, gross_sales, discounts, net_sales, units_sold, transactions, cogs]
  - unique: [day, store_id, product_id]
  - sql: "SELECT * FROM this WHERE transactions < 1 OR units_sold < transactions OR net_sales > gross_sales OR net_sales < 0"
*/
SELECT
    sale_date AS day,
    store_id,
    region,
    product_id,
    product_type,
    sum(revenue) AS gross_sales,
    sum(discount) AS discounts,
    sum(net_sales) AS net_sales,
    CAST(sum(quantity) AS BIGINT) AS units_sold,
    count(DISTINCT transaction_id) AS transactions,
    sum(cogs) AS cogs
FROM warehouse.fact_sales_lines
WHERE sale_date >= CAST($start AS DATE) AND sale_date < CAST($end AS DATE)
GROUP BY sale_date, store_id, region, product_id, product_type
