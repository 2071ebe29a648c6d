/*
kind: full
grain: [po_id]
owner: operations
description: >
  Every delivered purchase order (latest state) on the day it was delivered:
  lead_time_days and dispatch_days in fractional days, delivered = 1 and
  is_late = 1 when delivered after ordered_at + promised_lead_days.
  lead_time_days KPI = median(lead_time_days); late_delivery_rate =
  sum(is_late) / sum(delivered), by supplier_id, product_id or warehouse_id.
audits:
  - not_null: [day, po_id, supplier_id, product_id, warehouse_id, lead_time_days, delivered, is_late]
  - unique: [po_id]
*/
SELECT
    CAST(delivered_at AS DATE) AS day,
    po_id,
    supplier_id,
    product_id,
    warehouse_id,
    promised_lead_days,
    lead_time_days,
    dispatch_days,
    1 AS delivered,
    is_late
FROM warehouse.fact_purchase_orders
WHERE delivered_at IS NOT NULL
