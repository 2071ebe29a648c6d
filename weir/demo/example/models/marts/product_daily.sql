/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, product_id]
owner: operations
description: >
  Per day and product: units sold and COGS in stores and online, end-of-day
  units on hand summed over warehouses, and inventory at cost (units on hand
  x that day's cost price, summed over warehouses). One row per product in
  the catalogue on that day (or with sales or stock that day), zeros where
  nothing happened, so the day counts of a period are complete.
  With days = the number of days of the period in the mart
  (count(DISTINCT day) over all its rows in the period):
  product_turnover = sum(units_sold) / (sum(units_on_hand) / days);
  inventory_turnover = sum(cogs) / (sum(inventory_value) / days);
  days_of_inventory = days / inventory_turnover (null when it is 0);
  by product_id or product_type.
audits:
  - not_null: [day, product_id, units_sold_store, units_sold_online, units_sold, cogs_store, cogs_online, cogs, units_on_hand, inventory_value, stocked_warehouses]
  - not_null: [product_type]
  - unique: [day, product_id]
  - sql: "SELECT * FROM this WHERE units_sold <> units_sold_store + units_sold_online OR units_on_hand < 0 OR inventory_value < 0 OR cogs < 0"
*/
WITH days AS (
    SELECT day
    FROM warehouse.dim_date
    WHERE day >= CAST($start AS DATE) AND day < CAST($end AS DATE)
),
catalogue AS (
    SELECT d.day, p.product_id, p.product_type, p.cost_price
    FROM days AS d
    JOIN warehouse.dim_product AS p
        ON p.valid_from <= d.day AND (p.valid_to IS NULL OR d.day < p.valid_to)
),
store_sales AS (
    SELECT sale_date AS day, product_id, any_value(product_type) AS product_type,
        sum(quantity) AS units, sum(cogs) AS cogs
    FROM warehouse.fact_sales_lines
    WHERE sale_date >= CAST($start AS DATE) AND sale_date < CAST($end AS DATE)
    GROUP BY sale_date, product_id
),
online_sales AS (
    SELECT order_date AS day, product_id, any_value(product_type) AS product_type,
        sum(quantity) AS units, sum(cogs) AS cogs
    FROM warehouse.fact_online_orders
    WHERE order_date >= CAST($start AS DATE) AND order_date < CAST($end AS DATE)
    GROUP BY order_date, product_id
),
stock AS (
    SELECT day, product_id, any_value(product_type) AS product_type,
        sum(stock_level) AS units_on_hand, sum(stock_value) AS inventory_value,
        count(*) FILTER (WHERE is_in_stock) AS stocked_warehouses
    FROM warehouse.fact_stock_daily
    WHERE day >= CAST($start AS DATE) AND day < CAST($end AS DATE)
    GROUP BY day, product_id
),
product_days AS (
    SELECT day, product_id FROM catalogue
    UNION
    SELECT day, product_id FROM store_sales
    UNION
    SELECT day, product_id FROM online_sales
    UNION
    SELECT day, product_id FROM stock
)
SELECT
    k.day,
    k.product_id,
    coalesce(c.product_type, s.product_type, o.product_type, i.product_type) AS product_type,
    c.cost_price,
    CAST(coalesce(s.units, 0) AS BIGINT) AS units_sold_store,
    CAST(coalesce(o.units, 0) AS BIGINT) AS units_sold_online,
    CAST(coalesce(s.units, 0) + coalesce(o.units, 0) AS BIGINT) AS units_sold,
    coalesce(s.cogs, 0) AS cogs_store,
    coalesce(o.cogs, 0) AS cogs_online,
    coalesce(s.cogs, 0) + coalesce(o.cogs, 0) AS cogs,
    CAST(coalesce(i.units_on_hand, 0) AS BIGINT) AS units_on_hand,
    coalesce(i.inventory_value, 0) AS inventory_value,
    coalesce(i.stocked_warehouses, 0) AS stocked_warehouses
FROM product_days AS k
LEFT JOIN catalogue AS c USING (day, product_id)
LEFT JOIN store_sales AS s USING (day, product_id)
LEFT JOIN online_sales AS o USING (day, product_id)
LEFT JOIN stock AS i USING (day, product_id)
