/*
kind: full
grain: [day, product_id, warehouse_id]
owner: operations
description: >
  Stockout days (as in Operations: a pair at zero stock at the end of the day,
  warehouse.fact_stock_daily) of a product in a warehouse while a purchase
  order for that pair was late: at the end of the day its due time
  (ordered_at + promised_lead_days) had passed and it was not yet delivered.
  stockout_days = 1 per row; late_orders = how many such orders.
  stockouts_from_late_delivery = sum(stockout_days), by warehouse_id.
audits:
  - not_null: [day, product_id, warehouse_id, stockout_days, late_orders]
  - unique: [day, product_id, warehouse_id]
*/
SELECT
    s.day,
    s.product_id,
    s.warehouse_id,
    1 AS stockout_days,
    count(*) AS late_orders
FROM warehouse.fact_stock_daily AS s
JOIN warehouse.fact_purchase_orders AS o
    ON o.product_id = s.product_id
    AND o.warehouse_id = s.warehouse_id
    AND o.late_from <= CAST(s.day + INTERVAL 1 DAY AS TIMESTAMPTZ)
    AND (o.late_until IS NULL OR o.late_until > CAST(s.day + INTERVAL 1 DAY AS TIMESTAMPTZ))
WHERE s.is_stockout
GROUP BY s.day, s.product_id, s.warehouse_id
