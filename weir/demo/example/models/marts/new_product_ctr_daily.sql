/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, product_id]
owner: marketing
description: >
  The inputs of new_product_ctr per day: one row per product that is new that
  day (launched_on <= day <= launched_on + 29, from the product's version
  valid that day) with new_product_clicks, the Clicks on its
  `new_product:<id>` element (0 when none). home_page_views, the day's View
  events of `/` (the denominator, which belongs to no product), is carried
  once per day: on the day's first row (lowest product_id), 0 on the others;
  a day without any new product has a single row with product_id null to
  carry it. new_product_ctr = sum(new_product_clicks) / sum(home_page_views)
  over the period's rows; by product, a product's clicks are divided by the
  home page views of the whole period (all rows), e.g.
  sum(new_product_clicks) / sum(sum(home_page_views)) OVER (PARTITION BY period)
  in a query grouped by period and product_id.
audits:
  - not_null: [day, new_product_clicks, home_page_views]
  - unique: [day, product_id]
  - sql: "SELECT * FROM this WHERE product_id IS NOT NULL AND (launched_on IS NULL OR day < launched_on OR day > launched_on + 29)"
  - sql: "SELECT day FROM this GROUP BY day HAVING count(*) FILTER (WHERE home_page_views <> 0) > 1 OR (count(*) FILTER (WHERE product_id IS NULL) > 0 AND count(*) > 1) OR sum(new_product_clicks) FILTER (WHERE product_id IS NULL) <> 0"
*/
WITH days AS (
    SELECT day
    FROM warehouse.dim_date
    WHERE day >= CAST($start AS DATE) AND day < CAST($end AS DATE)
),
new_products AS (
    SELECT d.day, p.product_id, p.launched_on
    FROM days AS d
    JOIN warehouse.dim_product AS p
        ON p.valid_from <= d.day AND (p.valid_to IS NULL OR d.day < p.valid_to)
    WHERE d.day BETWEEN p.launched_on AND p.launched_on + 29
),
clicks AS (
    SELECT event_date AS day, element_product_id AS product_id, count(*) AS new_product_clicks
    FROM warehouse.fact_web_events
    WHERE is_new_product_click
        AND event_date >= CAST($start AS DATE) AND event_date < CAST($end AS DATE)
    GROUP BY event_date, element_product_id
),
home AS (
    SELECT event_date AS day, count(*) AS home_page_views
    FROM warehouse.fact_web_events
    WHERE is_home_page_view
        AND event_date >= CAST($start AS DATE) AND event_date < CAST($end AS DATE)
    GROUP BY event_date
),
product_rows AS (  -- a day without a new product keeps one row, with product_id null
    SELECT
        d.day,
        n.product_id,
        n.launched_on,
        coalesce(c.new_product_clicks, 0) AS new_product_clicks,
        row_number() OVER (PARTITION BY d.day ORDER BY n.product_id) AS position
    FROM days AS d
    LEFT JOIN new_products AS n ON n.day = d.day
    LEFT JOIN clicks AS c ON c.day = n.day AND c.product_id = n.product_id
)
SELECT
    r.day,
    r.product_id,
    r.launched_on,
    CAST(r.new_product_clicks AS BIGINT) AS new_product_clicks,
    CAST(CASE WHEN r.position = 1 THEN coalesce(h.home_page_views, 0) ELSE 0 END AS BIGINT) AS home_page_views
FROM product_rows AS r
LEFT JOIN home AS h ON h.day = r.day
