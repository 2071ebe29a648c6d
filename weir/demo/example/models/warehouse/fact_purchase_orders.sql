/*
kind: full
grain: [po_id]
owner: operations
description: >
  One row per purchase order in its latest state: the accepted version with
  the greatest updated_at (each change of an order in the shop's database is
  a record of purchase_orders). Latest state rather than SCD2 because every
  supplier KPI counts an order once, as it stands (earlier states are in the
  lake's time travel). due_at = ordered_at + promised_lead_days days;
  lead_time_days = delivered_at - ordered_at and dispatch_days =
  dispatched_at - ordered_at, in fractional days (null until known);
  is_late = 1 when it was delivered after due_at, else 0 (null while not
  delivered); late_from is due_at and late_until the delivery (null: still
  outstanding), the time the order was overdue.
audits:
  - not_null: [po_id, supplier_id, product_id, warehouse_id, ordered_at, due_at, updated_at]
  - unique: [po_id]
  - sql: "SELECT * FROM this WHERE lead_time_days < 0 OR dispatch_days < 0"
*/
WITH latest AS (
    SELECT *
    FROM staging.purchase_orders
    QUALIFY row_number() OVER (PARTITION BY po_id ORDER BY updated_at DESC) = 1
)
SELECT
    po_id,
    supplier_id,
    product_id,
    warehouse_id,
    batch_number,
    quantity,
    promised_lead_days,
    ordered_at,
    dispatched_at,
    delivered_at,
    updated_at,
    ordered_at + to_days(CAST(promised_lead_days AS INTEGER)) AS due_at,
    (epoch(delivered_at) - epoch(ordered_at)) / 86400.0 AS lead_time_days,
    (epoch(dispatched_at) - epoch(ordered_at)) / 86400.0 AS dispatch_days,
    CASE
        WHEN delivered_at IS NULL THEN NULL
        WHEN delivered_at > ordered_at + to_days(CAST(promised_lead_days AS INTEGER)) THEN 1
        ELSE 0
    END AS is_late,
    ordered_at + to_days(CAST(promised_lead_days AS INTEGER)) AS late_from,
    delivered_at AS late_until
FROM latest
