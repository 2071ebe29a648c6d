/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, customer_id]
owner: marketing
description: >
  What each customer did each day (a web user_id is the same person as a
  customer_id): one row per day and customer with a page view (web View
  event) or click, a POS transaction carrying their customer_id, an online
  order or a CRM interaction, with the counts of each and of Loyalty
  interactions. is_active (0/1): a CRM interaction, a POS sale or an online
  order that day; engagement_points: 1 x page_views + 3 x clicks + 10 x
  purchases + 5 x loyalty_interactions. loyalty_activity_rate =
  count(DISTINCT customer_id) FILTER (WHERE loyalty_interactions > 0) /
  count(DISTINCT customer_id) FILTER (WHERE is_active = 1) over the rows of
  the period.
audits:
  - not_null: [day, customer_id, page_views, clicks, pos_transactions, online_orders, purchases, interactions, loyalty_interactions, is_active, engagement_points]
  - unique: [day, customer_id]
  - sql: "SELECT * FROM this WHERE loyalty_interactions > interactions OR (is_active = 1) <> (interactions + pos_transactions + online_orders > 0) OR page_views + clicks + interactions + purchases = 0"
*/
WITH activity AS (
    SELECT event_date AS day, user_id AS customer_id,
        count(*) FILTER (WHERE event_type = 'View') AS page_views,
        count(*) FILTER (WHERE event_type = 'Click') AS clicks,
        0 AS pos_transactions, 0 AS online_orders, 0 AS interactions, 0 AS loyalty_interactions
    FROM warehouse.fact_web_events
    WHERE user_id IS NOT NULL AND event_type IN ('View', 'Click')
        AND event_date >= CAST($start AS DATE) AND event_date < CAST($end AS DATE)
    GROUP BY event_date, user_id
    UNION ALL
    SELECT sale_date, customer_id, 0, 0, count(DISTINCT transaction_id), 0, 0, 0
    FROM warehouse.fact_sales_lines
    WHERE customer_id IS NOT NULL
        AND sale_date >= CAST($start AS DATE) AND sale_date < CAST($end AS DATE)
    GROUP BY sale_date, customer_id
    UNION ALL
    SELECT order_date, customer_id, 0, 0, 0, count(DISTINCT order_id), 0, 0
    FROM warehouse.fact_online_orders
    WHERE order_date >= CAST($start AS DATE) AND order_date < CAST($end AS DATE)
    GROUP BY order_date, customer_id
    UNION ALL
    SELECT interaction_date, customer_id, 0, 0, 0, 0, count(*), count(*) FILTER (WHERE interaction_type = 'Loyalty')
    FROM warehouse.fact_interactions
    WHERE interaction_date >= CAST($start AS DATE) AND interaction_date < CAST($end AS DATE)
    GROUP BY interaction_date, customer_id
),
daily AS (
    SELECT
        day,
        customer_id,
        CAST(sum(page_views) AS BIGINT) AS page_views,
        CAST(sum(clicks) AS BIGINT) AS clicks,
        CAST(sum(pos_transactions) AS BIGINT) AS pos_transactions,
        CAST(sum(online_orders) AS BIGINT) AS online_orders,
        CAST(sum(interactions) AS BIGINT) AS interactions,
        CAST(sum(loyalty_interactions) AS BIGINT) AS loyalty_interactions
    FROM activity
    GROUP BY day, customer_id
)
SELECT
    day,
    customer_id,
    page_views,
    clicks,
    pos_transactions,
    online_orders,
    pos_transactions + online_orders AS purchases,
    interactions,
    loyalty_interactions,
    CASE WHEN interactions + pos_transactions + online_orders > 0 THEN 1 ELSE 0 END AS is_active,
    page_views + 3 * clicks + 10 * (pos_transactions + online_orders) + 5 * loyalty_interactions AS engagement_points
FROM daily
