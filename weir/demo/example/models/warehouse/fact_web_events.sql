/*
kind: incremental_by_time
time_column: event_date
lookback: 2
grain: [event_id]
owner: marketing
description: >
  One row per accepted clickstream event on the UTC day of its own timestamp
  (per-event KPIs: daily active users, new-product clicks, home page views),
  with the page's type, the product id named by a clicked element, and the
  new-product click flag: a Click on a `new_product:<id>` element while that
  product is new (launched_on <= event_date <= launched_on + 29, from the
  product's version valid on event_date).
audits:
  - not_null: [event_id, event_at, event_date, session_id, page, page_type, is_home_page_view, is_new_product_click]
  - unique: [event_id]
  - accepted_values: {column: page_type, values: [home, category, product, cart, payment, confirmation]}
  - accepted_values: {column: event_type, values: [View, Click, Scroll, Close]}
  - accepted_values: {column: device_type, values: [Desktop, Mobile, Tablet]}
  - sql: "SELECT * FROM this WHERE is_new_product_click AND (event_type <> 'Click' OR element NOT LIKE 'new_product:%')"
*/
WITH events AS (
    SELECT
        event_id,
        "timestamp" AS event_at,
        CAST("timestamp" AS DATE) AS event_date,
        session_id,
        user_id,
        page,
        CASE
            WHEN page = '/' THEN 'home'
            WHEN page LIKE '/category/%' THEN 'category'
            WHEN page LIKE '/product/%' THEN 'product'
            WHEN page = '/cart' THEN 'cart'
            WHEN page = '/checkout/payment' THEN 'payment'
            WHEN page = '/checkout/confirmation' THEN 'confirmation'
        END AS page_type,
        device_type,
        browser,
        event_type,
        element,
        CASE
            WHEN element LIKE 'new_product:%' THEN TRY_CAST(substr(element, length('new_product:') + 1) AS BIGINT)
            WHEN element LIKE 'product:%' THEN TRY_CAST(substr(element, length('product:') + 1) AS BIGINT)
        END AS element_product_id
    FROM staging.web_traffic
    WHERE "timestamp" >= CAST($start AS DATE) AND "timestamp" < CAST($end AS DATE)
)
SELECT
    e.event_id,
    e.event_at,
    e.event_date,
    e.session_id,
    e.user_id,
    e.page,
    e.page_type,
    e.device_type,
    e.browser,
    e.event_type,
    e.element,
    e.element_product_id,
    coalesce(e.event_type = 'View' AND e.page = '/', FALSE) AS is_home_page_view,
    coalesce(
        e.event_type = 'Click'
        AND e.element LIKE 'new_product:%'
        AND e.event_date BETWEEN p.launched_on AND p.launched_on + 29,
        FALSE
    ) AS is_new_product_click
FROM events AS e
LEFT JOIN warehouse.dim_product AS p
    ON e.element LIKE 'new_product:%'
    AND p.product_id = e.element_product_id
    AND p.valid_from <= e.event_date
    AND (p.valid_to IS NULL OR e.event_date < p.valid_to)
