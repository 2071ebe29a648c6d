/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, product_id, warehouse_id]
owner: operations
description: >
  Inventory updates and restock events per day, product and warehouse (only
  pairs with at least one accepted record that day). restock_frequency =
  sum(restocks) over any period, by product_id, product_type, warehouse_id
  or region (the warehouse's region on the day).
audits:
  - not_null: [day, product_id, warehouse_id, updates, restocks, units_restocked]
  - unique: [day, product_id, warehouse_id]
  - sql: "SELECT * FROM this WHERE restocks > updates OR updates < 1 OR units_restocked < 0"
*/
SELECT
    u.update_date AS day,
    u.product_id,
    p.product_type,
    u.warehouse_id,
    w.region,
    count(*) AS updates,
    count(*) FILTER (WHERE u.is_restock) AS restocks,
    CAST(sum(u.units_restocked) AS BIGINT) AS units_restocked
FROM warehouse.fact_inventory_updates AS u
LEFT JOIN warehouse.dim_product AS p
    ON p.product_id = u.product_id
    AND p.valid_from <= u.update_date
    AND (p.valid_to IS NULL OR u.update_date < p.valid_to)
LEFT JOIN warehouse.dim_warehouse AS w
    ON w.warehouse_id = u.warehouse_id
    AND w.valid_from <= u.update_date
    AND (w.valid_to IS NULL OR u.update_date < w.valid_to)
WHERE u.update_date >= CAST($start AS DATE) AND u.update_date < CAST($end AS DATE)
GROUP BY u.update_date, u.product_id, p.product_type, u.warehouse_id, w.region
