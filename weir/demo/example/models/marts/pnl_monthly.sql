/*
kind: full
grain: [month]
owner: finance
description: >
  The accounting system's profit and loss by month (staging.accounting_pnl),
  beside weir's own revenue of the same month (marts.finance_daily: POS plus
  online revenue), so the books can be reconciled with the sales weir
  received. `month` is the month's first day. net_income = revenue - cogs -
  taxes - other_charges; revenue_gap = revenue - weir_revenue (0 when weir has
  no sales that month: weir_revenue is then 0). Rebuilt whole: a month's export
  can come any time after it, and every month's weir revenue can change with
  late sales.
audits:
  - not_null: [month, revenue, cogs, taxes, other_charges, net_income, weir_revenue, revenue_gap]
  - unique: [month]
  - sql: "SELECT * FROM this WHERE abs(net_income - (revenue - cogs - taxes - other_charges)) > 0.005 OR abs(revenue_gap - (revenue - weir_revenue)) > 0.005 OR day(month) <> 1"
*/
WITH books AS (
    SELECT
        CAST(strptime(month || '-01', '%Y-%m-%d') AS DATE) AS month,
        revenue,
        cogs,
        taxes,
        other_charges
    FROM staging.accounting_pnl
),
weir AS (
    SELECT CAST(date_trunc('month', day) AS DATE) AS month, sum(revenue) AS weir_revenue
    FROM marts.finance_daily
    GROUP BY 1
)
SELECT
    b.month,
    b.revenue,
    b.cogs,
    b.taxes,
    b.other_charges,
    b.revenue - b.cogs - b.taxes - b.other_charges AS net_income,
    coalesce(w.weir_revenue, 0) AS weir_revenue,
    b.revenue - coalesce(w.weir_revenue, 0) AS revenue_gap
FROM books AS b
LEFT JOIN weir AS w USING (month)
