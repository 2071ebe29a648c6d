/*
kind: full
grain: [day]
owner: data
description: >
  The calendar: one row per day from the first to the last day that any event
  source (POS, online orders, inventory, web traffic, CRM) has data for, with
  its ISO week (starting Monday) and month. Daily facts and marts that need a
  row for every day (stock carried over, backlog, rolling scores) take their
  days from here.
audits:
  - not_null: [day, week_start, month_start, day_of_week, is_weekend]
  - unique: [day]
  - sql: "SELECT * FROM this WHERE day_of_week NOT BETWEEN 1 AND 7 OR week_start > day OR month_start > day"
*/
WITH event_days AS (
    SELECT CAST(min("timestamp") AS DATE) AS first_day, CAST(max("timestamp") AS DATE) AS last_day FROM staging.pos
    UNION ALL
    SELECT min(order_date), max(order_date) FROM staging.orders
    UNION ALL
    SELECT CAST(min(last_updated) AS DATE), CAST(max(last_updated) AS DATE) FROM staging.inventory
    UNION ALL
    SELECT CAST(min("timestamp") AS DATE), CAST(max("timestamp") AS DATE) FROM staging.web_traffic
    UNION ALL
    SELECT CAST(min("timestamp") AS DATE), CAST(max("timestamp") AS DATE) FROM staging.crm_interactions
),
bounds AS (
    SELECT min(first_day) AS first_day, max(last_day) AS last_day FROM event_days
),
days AS (
    SELECT CAST(g.day AS DATE) AS day
    FROM bounds
    CROSS JOIN unnest(generate_series(bounds.first_day, bounds.last_day, INTERVAL 1 DAY)) AS g(day)
)
SELECT
    day,
    CAST(date_trunc('week', day) AS DATE) AS week_start,
    CAST(date_trunc('month', day) AS DATE) AS month_start,
    CAST(isodow(day) AS INTEGER) AS day_of_week,  -- 1 = Monday … 7 = Sunday
    dayname(day) AS day_name,
    isodow(day) >= 6 AS is_weekend,
    CAST(isoyear(day) AS INTEGER) AS iso_year,
    CAST(weekofyear(day) AS INTEGER) AS iso_week,
    CAST(year(day) AS INTEGER) AS year,
    CAST(month(day) AS INTEGER) AS month
FROM days
