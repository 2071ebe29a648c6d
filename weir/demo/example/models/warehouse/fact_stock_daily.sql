/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, product_id, warehouse_id]
owner: operations
description: >
  End-of-day stock per active (product, warehouse) pair: one row per pair and
  calendar day (warehouse.dim_date) from the day of the pair's first accepted
  inventory record on. stock_level and restock_threshold are those of the
  pair's last record (by last_updated, then inventory_id) up to the end of
  the day, carried over days without records; the last record before the
  interval is read as context. Flags: in stock (level > 0), stockout
  (level = 0), low stock (0 < level <= restock_threshold of that latest
  record; a null threshold is never low). stock_value = stock_level x the
  product's cost price on the day.
audits:
  - not_null: [day, product_id, warehouse_id, stock_level, last_record_at, is_in_stock, is_stockout, is_low_stock]
  - not_null: [warehouse_region, product_type, cost_price, stock_value]
  - unique: [day, product_id, warehouse_id]
  - sql: "SELECT * FROM this WHERE stock_level < 0 OR CAST(last_record_at AS DATE) > day OR (is_in_stock = is_stockout) OR (is_low_stock AND is_stockout)"
*/
WITH days AS (
    SELECT day
    FROM warehouse.dim_date
    WHERE day >= CAST($start AS DATE) AND day < CAST($end AS DATE)
),
context AS (  -- each pair's last record before the interval: its state when the interval starts
    SELECT product_id, warehouse_id, stock_level, restock_threshold, last_updated
    FROM staging.inventory
    WHERE last_updated < CAST($start AS DATE)
    QUALIFY row_number() OVER (
        PARTITION BY product_id, warehouse_id ORDER BY last_updated DESC, inventory_id DESC
    ) = 1
),
day_end AS (  -- each pair's last record of each day of the interval
    SELECT product_id, warehouse_id, CAST(last_updated AS DATE) AS day, stock_level, restock_threshold, last_updated
    FROM staging.inventory
    WHERE last_updated >= CAST($start AS DATE) AND last_updated < CAST($end AS DATE)
    QUALIFY row_number() OVER (
        PARTITION BY product_id, warehouse_id, CAST(last_updated AS DATE)
        ORDER BY last_updated DESC, inventory_id DESC
    ) = 1
),
pairs AS (  -- active pairs and the first day of the interval they are active on
    SELECT product_id, warehouse_id, min(first_day) AS first_day
    FROM (
        SELECT product_id, warehouse_id, CAST($start AS DATE) AS first_day FROM context
        UNION ALL
        SELECT product_id, warehouse_id, min(day) FROM day_end GROUP BY product_id, warehouse_id
    ) AS starts
    GROUP BY product_id, warehouse_id
),
grid AS (
    SELECT d.day, p.product_id, p.warehouse_id
    FROM days AS d
    JOIN pairs AS p ON d.day >= p.first_day
),
carried AS (  -- the latest day of the interval, up to this one, with a record (null: none yet)
    SELECT
        g.day,
        g.product_id,
        g.warehouse_id,
        max(e.day) OVER (
            PARTITION BY g.product_id, g.warehouse_id ORDER BY g.day
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS record_day
    FROM grid AS g
    LEFT JOIN day_end AS e
        ON e.product_id = g.product_id AND e.warehouse_id = g.warehouse_id AND e.day = g.day
),
levels AS (
    SELECT
        c.day,
        c.product_id,
        c.warehouse_id,
        CASE WHEN c.record_day IS NULL THEN x.stock_level ELSE e.stock_level END AS stock_level,
        CASE WHEN c.record_day IS NULL THEN x.restock_threshold ELSE e.restock_threshold END AS restock_threshold,
        CASE WHEN c.record_day IS NULL THEN x.last_updated ELSE e.last_updated END AS last_record_at
    FROM carried AS c
    LEFT JOIN day_end AS e
        ON e.product_id = c.product_id AND e.warehouse_id = c.warehouse_id AND e.day = c.record_day
    LEFT JOIN context AS x
        ON x.product_id = c.product_id AND x.warehouse_id = c.warehouse_id
)
SELECT
    l.day,
    l.product_id,
    p.product_type,
    l.warehouse_id,
    w.region AS warehouse_region,
    l.stock_level,
    l.restock_threshold,
    l.last_record_at,
    l.stock_level > 0 AS is_in_stock,
    l.stock_level = 0 AS is_stockout,
    coalesce(l.stock_level > 0 AND l.stock_level <= l.restock_threshold, FALSE) AS is_low_stock,
    p.cost_price,
    l.stock_level * p.cost_price AS stock_value
FROM levels AS l
LEFT JOIN warehouse.dim_product AS p
    ON p.product_id = l.product_id
    AND p.valid_from <= l.day
    AND (p.valid_to IS NULL OR l.day < p.valid_to)
LEFT JOIN warehouse.dim_warehouse AS w
    ON w.warehouse_id = l.warehouse_id
    AND w.valid_from <= l.day
    AND (w.valid_to IS NULL OR l.day < w.valid_to)
