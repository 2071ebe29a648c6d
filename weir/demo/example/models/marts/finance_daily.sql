/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, channel]
owner: finance
description: >
  Store (POS) and online sales per day and channel (`store`, `online`). Every
  finance KPI is a sum over the rows of the period, by channel or not:
  revenue, discounts, net_revenue (= revenue - discounts), cogs,
  gross_margin (= net_revenue - cogs), gross_margin_pct = sum(gross_margin) /
  sum(net_revenue), taxes (online only), transaction_count =
  sum(transactions) (distinct POS transaction ids + distinct order ids),
  average_transaction = sum(net_revenue) / sum(transactions).
audits:
  - not_null: [day, channel, revenue, discounts, net_revenue, cogs, gross_margin, taxes, transactions, units]
  - unique: [day, channel]
  - accepted_values: {column: channel, values: [store, online]}
  - sql: "SELECT * FROM this WHERE revenue < 0 OR discounts < 0 OR discounts > revenue OR taxes < 0 OR transactions < 1 OR (channel = 'online' AND discounts <> 0) OR (channel = 'store' AND taxes <> 0)"
*/
SELECT
    sale_date AS day,
    'store' AS channel,
    sum(revenue) AS revenue,
    sum(discount) AS discounts,
    sum(net_sales) AS net_revenue,
    sum(cogs) AS cogs,
    sum(net_sales) - sum(cogs) AS gross_margin,
    CAST(0 AS DOUBLE) AS taxes,
    count(DISTINCT transaction_id) AS transactions,
    CAST(sum(quantity) AS BIGINT) AS units
FROM warehouse.fact_sales_lines
WHERE sale_date >= CAST($start AS DATE) AND sale_date < CAST($end AS DATE)
GROUP BY sale_date
UNION ALL
SELECT
    order_date AS day,
    'online' AS channel,
    sum(revenue) AS revenue,
    CAST(0 AS DOUBLE) AS discounts,
    sum(revenue) AS net_revenue,
    sum(cogs) AS cogs,
    sum(revenue) - sum(cogs) AS gross_margin,
    sum(tax) AS taxes,
    count(DISTINCT order_id) AS transactions,
    CAST(sum(quantity) AS BIGINT) AS units
FROM warehouse.fact_online_orders
WHERE order_date >= CAST($start AS DATE) AND order_date < CAST($end AS DATE)
GROUP BY order_date
