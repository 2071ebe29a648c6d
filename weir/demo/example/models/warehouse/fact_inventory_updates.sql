/*
kind: incremental_by_time
time_column: update_date
lookback: 2
grain: [inventory_id]
owner: operations
description: >
  One row per accepted inventory record, on the UTC day of last_updated, with
  the stock level of the previous accepted record of the same (product,
  warehouse) pair (ordered by last_updated, then inventory_id) and the
  restock flag: stock_level higher than that previous level. The previous
  record may lie before the interval being built, so each pair's last record
  before $start is read as context. A pair's first record is not a restock.
audits:
  - not_null: [inventory_id, updated_at, update_date, product_id, warehouse_id, stock_level, is_restock, is_first_record]
  - unique: [inventory_id]
  - sql: "SELECT * FROM this WHERE stock_level < 0 OR (is_restock AND NOT stock_level > previous_stock_level) OR (is_first_record <> (previous_stock_level IS NULL))"
*/
WITH interval_records AS (
    SELECT inventory_id, product_id, warehouse_id, stock_level, restock_threshold, last_updated, FALSE AS is_context
    FROM staging.inventory
    WHERE last_updated >= CAST($start AS DATE) AND last_updated < CAST($end AS DATE)
),
context AS (  -- each pair's last record before the interval
    SELECT inventory_id, product_id, warehouse_id, stock_level, restock_threshold, last_updated, TRUE AS is_context
    FROM staging.inventory
    WHERE last_updated < CAST($start AS DATE)
    QUALIFY row_number() OVER (
        PARTITION BY product_id, warehouse_id ORDER BY last_updated DESC, inventory_id DESC
    ) = 1
),
ordered AS (
    SELECT
        *,
        lag(stock_level) OVER (
            PARTITION BY product_id, warehouse_id ORDER BY last_updated, inventory_id
        ) AS previous_stock_level
    FROM (SELECT * FROM interval_records UNION ALL SELECT * FROM context) AS records
)
SELECT
    inventory_id,
    last_updated AS updated_at,
    CAST(last_updated AS DATE) AS update_date,
    product_id,
    warehouse_id,
    stock_level,
    restock_threshold,
    previous_stock_level,
    previous_stock_level IS NULL AS is_first_record,
    coalesce(stock_level > previous_stock_level, FALSE) AS is_restock,
    CASE WHEN stock_level > previous_stock_level THEN stock_level - previous_stock_level ELSE 0 END AS units_restocked
FROM ordered
WHERE NOT is_context
