"""Golden answers of the profit and loss KPIs (docs/kpis.md, "Profit and loss").

The accounting export ``landing/accounting_pnl/accounting_pnl_2025.xlsx`` (written by
``make_xlsx.py``) holds two months, one sheet each:

    month    revenue   cogs    taxes  other_charges
    2025-01  1950.00   800.00  81.00  400.00
    2025-02   100.00    40.00   5.00   70.00

weir's own revenue (``revenue`` in expected.py) is 1935.00 for January (store
1530 + online 405) and nothing for February (no sale that month: 0).
A month's figures count on its first day, so by week January's sit in the ISO
week of 2025-01-01 (Mon 2024-12-30) and no other week has any (null: a ratio or
a figure nobody exported is unknown, not 0).
"""

# fmt: off
PNL = [
    # net income = revenue - cogs - taxes - other_charges
    # 2025-01: 1950 - 800 - 81 - 400 = 669 ; 2025-02: 100 - 40 - 5 - 70 = -15 (a loss)
    {"kpi": "pnl_net_income", "grain": "month", "by": [], "from": "2025-01-01", "to": "2025-02-28",
     "rows": [
         {"period": "2025-01-01", "value": 669.0, "revenue": 1950.0, "cogs": 800.0, "taxes": 81.0,
          "other_charges": 400.0},
         {"period": "2025-02-01", "value": -15.0, "revenue": 100.0, "cogs": 40.0, "taxes": 5.0,
          "other_charges": 70.0},
     ]},
    # by week: January's row is on 2025-01-01, in the week of Mon 2024-12-30; W1 has none
    {"kpi": "pnl_net_income", "grain": "week", "by": [], "from": "2024-12-30", "to": "2025-01-12",
     "rows": [
         {"period": "2024-12-30", "value": 669.0},
         {"period": "2025-01-06", "value": None},
     ]},
    # revenue gap = accounting revenue - weir's revenue ; gap_pct = gap / accounting revenue
    # 2025-01: 1950 - 1935 = 15 ; 15 / 1950 = 0.0076923 ; 2025-02: 100 - 0 = 100 ; 100 / 100 = 1.0
    {"kpi": "pnl_revenue_gap", "grain": "month", "by": [], "from": "2025-01-01", "to": "2025-02-28",
     "rows": [
         {"period": "2025-01-01", "value": 15.0, "gap_pct": 0.007692, "accounting_revenue": 1950.0,
          "weir_revenue": 1935.0},
         {"period": "2025-02-01", "value": 100.0, "gap_pct": 1.0, "accounting_revenue": 100.0,
          "weir_revenue": 0.0},
     ]},
    # a month with no export: March has no sheet, so nothing to reconcile (null)
    {"kpi": "pnl_revenue_gap", "grain": "month", "by": [], "from": "2025-03-01", "to": "2025-03-31",
     "rows": [{"period": "2025-03-01", "value": None, "gap_pct": None}]},
]
# fmt: on
