/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, product_id, warehouse_id]
owner: operations
description: >
  End-of-day stock per active (product, warehouse) pair and day, with 0/1
  counters so period-end KPIs are sums over the rows of the period's last
  day (last_day = max(day) of the mart within the period): stock_availability
  = sum(in_stock_pairs) / sum(active_pairs), stockouts = sum(stockout_pairs),
  low_stock = sum(low_stock_pairs), by product_id, product_type,
  warehouse_id or region (the warehouse's region).
audits:
  - not_null: [day, product_id, product_type, warehouse_id, region, stock_level, active_pairs, in_stock_pairs, stockout_pairs, low_stock_pairs]
  - unique: [day, product_id, warehouse_id]
  - sql: "SELECT * FROM this WHERE active_pairs <> 1 OR in_stock_pairs + stockout_pairs <> 1 OR low_stock_pairs > in_stock_pairs"
*/
SELECT
    day,
    product_id,
    product_type,
    warehouse_id,
    warehouse_region AS region,
    stock_level,
    restock_threshold,
    last_record_at,
    stock_value,
    1 AS active_pairs,
    CASE WHEN is_in_stock THEN 1 ELSE 0 END AS in_stock_pairs,
    CASE WHEN is_stockout THEN 1 ELSE 0 END AS stockout_pairs,
    CASE WHEN is_low_stock THEN 1 ELSE 0 END AS low_stock_pairs
FROM warehouse.fact_stock_daily
WHERE day >= CAST($start AS DATE) AND day < CAST($end AS DATE)
