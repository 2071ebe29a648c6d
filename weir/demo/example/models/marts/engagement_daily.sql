/*
kind: incremental_by_time
time_column: day
lookback: 2
grain: [day, customer_id]
owner: marketing
description: >
  Engagement score per customer for each calendar day D, over the 30 days
  ending on D (D-29 … D): min(100, 1 x page views + 3 x clicks + 10 x
  purchases + 5 x loyalty interactions), purchases = distinct POS
  transactions with their customer_id + distinct online orders. Only
  customers with scored activity in the window have a row. engagement_score
  of a period = avg(engagement_score) over the rows of the period's last day
  (last_day = max(day) of the mart within the period). Reads 29 days of
  customer_activity_daily before $start.
audits:
  - not_null: [day, customer_id, page_views_30d, clicks_30d, purchases_30d, loyalty_interactions_30d, points_30d, engagement_score]
  - unique: [day, customer_id]
  - sql: "SELECT * FROM this WHERE engagement_score NOT BETWEEN 1 AND 100 OR engagement_score <> least(100, points_30d)"
*/
WITH days AS (
    SELECT day
    FROM warehouse.dim_date
    WHERE day >= CAST($start AS DATE) AND day < CAST($end AS DATE)
),
activity AS (
    SELECT day, customer_id, page_views, clicks, purchases, loyalty_interactions, engagement_points
    FROM marts.customer_activity_daily
    WHERE engagement_points > 0
        AND day >= CAST($start AS DATE) - 29 AND day < CAST($end AS DATE)
),
windowed AS (
    SELECT
        d.day,
        a.customer_id,
        CAST(sum(a.page_views) AS BIGINT) AS page_views_30d,
        CAST(sum(a.clicks) AS BIGINT) AS clicks_30d,
        CAST(sum(a.purchases) AS BIGINT) AS purchases_30d,
        CAST(sum(a.loyalty_interactions) AS BIGINT) AS loyalty_interactions_30d,
        CAST(sum(a.engagement_points) AS BIGINT) AS points_30d
    FROM days AS d
    JOIN activity AS a ON a.day <= d.day AND a.day > d.day - 30
    GROUP BY d.day, a.customer_id
)
SELECT
    day,
    customer_id,
    page_views_30d,
    clicks_30d,
    purchases_30d,
    loyalty_interactions_30d,
    points_30d,
    least(100, points_30d) AS engagement_score
FROM windowed
