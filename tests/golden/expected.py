"""Golden KPI answers for the hand-made dataset in ``tests/golden/landing``.

Every value below was worked out by hand from the records listed in
``tests/golden/README.md`` and the definitions in docs/kpis.md; the comment on each
entry shows the arithmetic. Record names used in the comments:

- ``P1``..``P17``  POS lines (accepted), in README order; ``O1``..``O5`` online orders;
- ``s01``..``s19`` web sessions by session_id (``s01`` is split in two: ``s01a``, ``s01b``);
- ``c01``..``c26`` CRM interactions (event_id), ``K1``..``K7`` support cases;
- ``A``..``E``     inventory pairs: A=(101,wh1) B=(101,wh2) C=(102,wh1) D=(103,wh2) E=(104,wh1).

Shape (docs/kpis.md, "The shape of an answer"): one row per period (and per combination
of the requested dimensions), ``period`` = first day of the period, the
dimension columns, ``value`` and the secondary figures under their docs/kpis.md
names. Rows are ordered by period, then by the dimension values.

Conventions fixed here:

- ``ROUND``: a figure that involves a division is rounded to 6 decimals;
  compare with ``round(actual, ROUND) == expected`` (sums and counts are exact).
- ``DIMENSION_COLUMNS``: a ``by`` name (as docs/kpis.md names dimensions) and the
  row column that carries it (ids for store, product and warehouse).
- Entries marked ``"reading": "empty_period"`` depend on our reading of an
  empty period: sums and counts over nothing are 0, ratios/means/percentiles
  with an empty denominator are None, and every period of the requested range
  gets a row (see README, "Readings").

Weeks: W1 = Mon 2025-01-06 .. Sun 2025-01-12, W2 = Mon 2025-01-13 .. Sun 2025-01-19.
Product cost prices: 101 costs 40.00 in the extract dated 01-06 and 44.00 from
the extract dated 01-09 (01-06..01-08 -> 40, 01-09..01-19 -> 44); 102 = 12.50,
103 = 50.00, 104 = 8.00 throughout.
"""

ROUND = 6

W1 = "2025-01-06"
W2 = "2025-01-13"

DIMENSION_COLUMNS = {
    "store": "store_id",
    "region": "region",
    "product": "product_id",
    "product_type": "product_type",
    "warehouse": "warehouse_id",
    "device_type": "device_type",
    "browser": "browser",
    "landing_page": "landing_page",
    "interaction_type": "interaction_type",
    "channel": "channel",
}

# Two-week range used by every "week" entry.
FROM, TO = "2025-01-06", "2025-01-19"

# Hand layout (one entry per KPI query, its arithmetic in the comment above it): not reformatted.
# fmt: off
EXPECTED = [
    # =====================================================================
    # SALES (POS only)
    # POS lines (store, product, qty, revenue, discount):
    #   W1  P1 s1 101 1  90 -   P2 s1 102 2 60 6   P3 s2 101 1  90 -   P4 s3 104 3 75 0(explicit)
    #       P5 s1 103 1 120 12  P6 s2 102 1 30 -   P7 s2 101 2 180 18  P8 s3 101 1 90 -   P9 s1 104 1 25 -
    #   W2  P10 s1 101 1 90 9   P11 s1 102 3 90 -  P12 s2 101 2 180 -  P13 s3 103 1 120 20
    #       P14 s2 104 2 50 5   P15 s1 102 1 30 -  P16 s3 101 1 90 -   P17 s1 103 1 120 -
    #   Regions: store 1 North; stores 2, 3 South.  Types: 101, 103 Backpack; 102 Tote; 104 Wallet.
    # =====================================================================
    # gross_sales 01-13 = P10 90 + P11 90 + P12 180 + P13 120 = 480
    # (the quantity-less line T001-20250113-0901 is quarantined; the repeated P12 line is a duplicate)
    {"kpi": "gross_sales", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 480.0}]},
    # W1 = 90+60+90+75+120+30+180+90+25 = 760 ; W2 = 90+90+180+120+50+30+90+120 = 770
    {"kpi": "gross_sales", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 760.0}, {"period": W2, "value": 770.0}]},
    # W1 North = P1 90 + P2 60 + P5 120 + P9 25 = 295 ; South = P3 90 + P4 75 + P6 30 + P7 180 + P8 90 = 465
    # W2 North = P10 90 + P11 90 + P15 30 + P17 120 = 330 ; South = P12 180 + P13 120 + P14 50 + P16 90 = 440
    {"kpi": "gross_sales", "grain": "week", "by": ["region"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "region": "North", "value": 295.0},
         {"period": W1, "region": "South", "value": 465.0},
         {"period": W2, "region": "North", "value": 330.0},
         {"period": W2, "region": "South", "value": 440.0},
     ]},
    # W1: 101 = P1 90 + P3 90 + P7 180 + P8 90 = 450 ; 102 = P2 60 + P6 30 = 90 ; 103 = P5 120 ; 104 = P4 75 + P9 25 = 100
    # W2: 101 = P10 90 + P12 180 + P16 90 = 360 ; 102 = P11 90 + P15 30 = 120 ; 103 = P13 + P17 = 240 ; 104 = P14 50
    {"kpi": "gross_sales", "grain": "week", "by": ["product"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_id": 101, "value": 450.0},
         {"period": W1, "product_id": 102, "value": 90.0},
         {"period": W1, "product_id": 103, "value": 120.0},
         {"period": W1, "product_id": 104, "value": 100.0},
         {"period": W2, "product_id": 101, "value": 360.0},
         {"period": W2, "product_id": 102, "value": 120.0},
         {"period": W2, "product_id": 103, "value": 240.0},
         {"period": W2, "product_id": 104, "value": 50.0},
     ]},
    # net_sales by day 01-11..01-13: no POS on 01-11 or 01-12 -> sum over nothing = 0;
    # 01-13 = 480 - (P10 9 + P13 20) = 451
    {"kpi": "net_sales", "grain": "day", "by": [], "from": "2025-01-11", "to": "2025-01-13",
     "reading": "empty_period",
     "rows": [
         {"period": "2025-01-11", "value": 0.0},
         {"period": "2025-01-12", "value": 0.0},
         {"period": "2025-01-13", "value": 451.0},
     ]},
    # W1 = 760 - (P2 6 + P4 0 + P5 12 + P7 18 = 36) = 724 ; W2 = 770 - (P10 9 + P13 20 + P14 5 = 34) = 736
    {"kpi": "net_sales", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 724.0}, {"period": W2, "value": 736.0}]},
    # W1 North = 295 - (6 + 12) = 277 ; South = 465 - (0 + 18) = 447
    # W2 North = 330 - 9 = 321 ; South = 440 - (20 + 5) = 415
    {"kpi": "net_sales", "grain": "week", "by": ["region"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "region": "North", "value": 277.0},
         {"period": W1, "region": "South", "value": 447.0},
         {"period": W2, "region": "North", "value": 321.0},
         {"period": W2, "region": "South", "value": 415.0},
     ]},
    # W1 Backpack = (P1 90 + P3 90 + P5 120 + P7 180 + P8 90 = 570) - (12 + 18) = 540 ; Tote = 90 - 6 = 84 ; Wallet = 100 - 0 = 100
    # W2 Backpack = (P10 90 + P12 180 + P13 120 + P16 90 + P17 120 = 600) - (9 + 20) = 571 ; Tote = 120 ; Wallet = 50 - 5 = 45
    {"kpi": "net_sales", "grain": "week", "by": ["product_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_type": "Backpack", "value": 540.0},
         {"period": W1, "product_type": "Tote", "value": 84.0},
         {"period": W1, "product_type": "Wallet", "value": 100.0},
         {"period": W2, "product_type": "Backpack", "value": 571.0},
         {"period": W2, "product_type": "Tote", "value": 120.0},
         {"period": W2, "product_type": "Wallet", "value": 45.0},
     ]},
    # January = W1 724 + W2 736 = 1460 (no other POS data in the month)
    {"kpi": "net_sales", "grain": "month", "by": [], "from": "2025-01-01", "to": "2025-01-31",
     "rows": [{"period": "2025-01-01", "value": 1460.0}]},
    # units_sold 01-13 = P10 1 + P11 3 + P12 2 + P13 1 = 7
    {"kpi": "units_sold", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 7}]},
    # W1 = 1+2+1+3+1+1+2+1+1 = 13 ; W2 = 1+3+2+1+2+1+1+1 = 12
    {"kpi": "units_sold", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 13}, {"period": W2, "value": 12}]},
    # W1 Backpack = P1 1 + P3 1 + P5 1 + P7 2 + P8 1 = 6 ; Tote = P2 2 + P6 1 = 3 ; Wallet = P4 3 + P9 1 = 4
    # W2 Backpack = P10 1 + P12 2 + P13 1 + P16 1 + P17 1 = 6 ; Tote = P11 3 + P15 1 = 4 ; Wallet = P14 2
    {"kpi": "units_sold", "grain": "week", "by": ["product_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_type": "Backpack", "value": 6},
         {"period": W1, "product_type": "Tote", "value": 3},
         {"period": W1, "product_type": "Wallet", "value": 4},
         {"period": W2, "product_type": "Backpack", "value": 6},
         {"period": W2, "product_type": "Tote", "value": 4},
         {"period": W2, "product_type": "Wallet", "value": 2},
     ]},
    # W1: 101 = 1+1+2+1 = 5 ; 102 = 2+1 = 3 ; 103 = 1 ; 104 = 3+1 = 4
    # W2: 101 = 1+2+1 = 4 ; 102 = 3+1 = 4 ; 103 = 1+1 = 2 ; 104 = 2
    {"kpi": "units_sold", "grain": "week", "by": ["product"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_id": 101, "value": 5},
         {"period": W1, "product_id": 102, "value": 3},
         {"period": W1, "product_id": 103, "value": 1},
         {"period": W1, "product_id": 104, "value": 4},
         {"period": W2, "product_id": 101, "value": 4},
         {"period": W2, "product_id": 102, "value": 4},
         {"period": W2, "product_id": 103, "value": 2},
         {"period": W2, "product_id": 104, "value": 2},
     ]},
    # transactions 01-13 = distinct transaction_id of P10, P11, P12, P13 = 4 (P12's exact copy is a duplicate)
    {"kpi": "transactions", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 4}]},
    # W1 = P1..P9 = 9 ; W2 = P10..P17 = 8
    {"kpi": "transactions", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 9}, {"period": W2, "value": 8}]},
    # W1 store 1 = P1 P2 P5 P9 = 4 ; store 2 = P3 P6 P7 = 3 ; store 3 = P4 P8 = 2
    # W2 store 1 = P10 P11 P15 P17 = 4 ; store 2 = P12 P14 = 2 ; store 3 = P13 P16 = 2
    {"kpi": "transactions", "grain": "week", "by": ["store"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "store_id": 1, "value": 4},
         {"period": W1, "store_id": 2, "value": 3},
         {"period": W1, "store_id": 3, "value": 2},
         {"period": W2, "store_id": 1, "value": 4},
         {"period": W2, "store_id": 2, "value": 2},
         {"period": W2, "store_id": 3, "value": 2},
     ]},
    # average_basket: 01-11, 01-12 have no transactions -> None ; 01-13 = 451 / 4 = 112.75
    {"kpi": "average_basket", "grain": "day", "by": [], "from": "2025-01-11", "to": "2025-01-13",
     "reading": "empty_period",
     "rows": [
         {"period": "2025-01-11", "value": None},
         {"period": "2025-01-12", "value": None},
         {"period": "2025-01-13", "value": 112.75},
     ]},
    # W1 = 724 / 9 = 80.444444 ; W2 = 736 / 8 = 92
    {"kpi": "average_basket", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 80.444444}, {"period": W2, "value": 92.0}]},
    # W1 North = 277 / 4 = 69.25 ; South = 447 / 5 = 89.4 ; W2 North = 321 / 4 = 80.25 ; South = 415 / 4 = 103.75
    {"kpi": "average_basket", "grain": "week", "by": ["region"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "region": "North", "value": 69.25},
         {"period": W1, "region": "South", "value": 89.4},
         {"period": W2, "region": "North", "value": 80.25},
         {"period": W2, "region": "South", "value": 103.75},
     ]},
    # ---------------------------------------------------------------------
    # Inventory: end-of-day stock_level per pair (carried over days without records;
    # quarantined records -3 (A, 01-15), 'abc' (E, 01-16) and the null-product record ignored):
    #        06  07  08  09  10  11  12 | 13  14  15  16  17  18  19
    #   A    20  20  15  15   8  30  30 | 30  26  26  26  24  24  24   (thr 10; 25 from the 01-17 record)
    #   B     -  12  12  10  10  14  14 |  7   7   7   4   4   4   0   (thr 5; active from 01-07)
    #   C    10  10   0  25  25  25  25 | 18  18   0   0   0   0   0   (thr 8)
    #   D     6   6   4   4   4   4   0 | 10  10  10  10   3   3   3   (thr 4)
    #   E    15  15  15  15  11  11  11 | 11  20   2   2   2   2   2   (thr null)
    # ---------------------------------------------------------------------
    # stock_availability by day: 01-06 active A C D E (B not yet) all > 0 -> 4/4 = 1.0 ;
    # 01-07 + B -> 5/5 = 1.0 ; 01-08 C = 0 -> 4/5 = 0.8
    {"kpi": "stock_availability", "grain": "day", "by": [], "from": "2025-01-06", "to": "2025-01-08",
     "rows": [
         {"period": "2025-01-06", "value": 1.0},
         {"period": "2025-01-07", "value": 1.0},
         {"period": "2025-01-08", "value": 0.8},
     ]},
    # end of W1 (01-12): A 30 B 14 C 25 D 0 E 11 -> 4/5 = 0.8 ; end of W2 (01-19): A 24 B 0 C 0 D 3 E 2 -> 3/5 = 0.6
    {"kpi": "stock_availability", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 0.8}, {"period": W2, "value": 0.6}]},
    # warehouse region: wh1 North (A, C, E), wh2 South (B, D)
    # W1 North A30 C25 E11 -> 3/3 = 1.0 ; South B14 D0 -> 1/2 = 0.5
    # W2 North A24 C0 E2 -> 2/3 = 0.666667 ; South B0 D3 -> 1/2 = 0.5
    {"kpi": "stock_availability", "grain": "week", "by": ["region"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "region": "North", "value": 1.0},
         {"period": W1, "region": "South", "value": 0.5},
         {"period": W2, "region": "North", "value": 0.666667},
         {"period": W2, "region": "South", "value": 0.5},
     ]},
    # W1: 101 (A30, B14) 2/2 = 1.0 ; 102 (C25) 1.0 ; 103 (D0) 0.0 ; 104 (E11) 1.0
    # W2: 101 (A24, B0) 1/2 = 0.5 ; 102 (C0) 0.0 ; 103 (D3) 1.0 ; 104 (E2) 1.0
    {"kpi": "stock_availability", "grain": "week", "by": ["product"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_id": 101, "value": 1.0},
         {"period": W1, "product_id": 102, "value": 1.0},
         {"period": W1, "product_id": 103, "value": 0.0},
         {"period": W1, "product_id": 104, "value": 1.0},
         {"period": W2, "product_id": 101, "value": 0.5},
         {"period": W2, "product_id": 102, "value": 0.0},
         {"period": W2, "product_id": 103, "value": 1.0},
         {"period": W2, "product_id": 104, "value": 1.0},
     ]},
    # product_turnover = units sold (POS + online) / mean over the period's days of
    # (end-of-day units summed over warehouses). Units on hand per product per day:
    #   101 = A+B: 20 32 27 25 18 44 44 (sum 210) | 37 33 33 30 28 28 24 (sum 213)
    #   102 = C:   10 10  0 25 25 25 25 (sum 120) | 18 18  0  0  0  0  0 (sum 36)
    #   103 = D:    6  6  4  4  4  4  0 (sum 28)  | 10 10 10 10  3  3  3 (sum 49)
    #   104 = E:   15 15 15 15 11 11 11 (sum 93)  | 11 20  2  2  2  2  2 (sum 41)
    # Units sold W1: 101 = POS 5 + O1 1 = 6 ; 102 = POS 3 + O2 2 = 5 ; 103 = 1 ; 104 = 4  (total 16)
    # Units sold W2: 101 = POS 4 + O4 1 = 5 ; 102 = 4 ; 103 = POS 2 + O3 1 = 3 ; 104 = POS 2 + O5 2 = 4 (total 16)
    # 01-13: units = P10 1 + P12 2 (101) + P11 3 (102) + P13 1 + O3 1 (103) = 8 ; on hand = 37 + 18 + 10 + 11 = 76 -> 8/76
    {"kpi": "product_turnover", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 0.105263}]},
    # W1 = 16 / ((210+120+28+93)/7 = 451/7) = 112/451 = 0.248337 ; W2 = 16 / ((213+36+49+41)/7 = 339/7) = 112/339 = 0.330383
    {"kpi": "product_turnover", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 0.248337}, {"period": W2, "value": 0.330383}]},
    # W1: 101 = 6/(210/7) = 0.2 ; 102 = 5/(120/7) = 0.291667 ; 103 = 1/(28/7) = 0.25 ; 104 = 4/(93/7) = 0.301075
    # W2: 101 = 5/(213/7) = 0.164319 ; 102 = 4/(36/7) = 0.777778 ; 103 = 3/(49/7) = 0.428571 ; 104 = 4/(41/7) = 0.682927
    {"kpi": "product_turnover", "grain": "week", "by": ["product"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_id": 101, "value": 0.2},
         {"period": W1, "product_id": 102, "value": 0.291667},
         {"period": W1, "product_id": 103, "value": 0.25},
         {"period": W1, "product_id": 104, "value": 0.301075},
         {"period": W2, "product_id": 101, "value": 0.164319},
         {"period": W2, "product_id": 102, "value": 0.777778},
         {"period": W2, "product_id": 103, "value": 0.428571},
         {"period": W2, "product_id": 104, "value": 0.682927},
     ]},
    # ratio of sums: W1 Backpack = (6+1) / ((210+28)/7) = 49/238 = 0.205882 ; W2 Backpack = (5+3) / ((213+49)/7) = 56/262 = 0.21374
    {"kpi": "product_turnover", "grain": "week", "by": ["product_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_type": "Backpack", "value": 0.205882},
         {"period": W1, "product_type": "Tote", "value": 0.291667},
         {"period": W1, "product_type": "Wallet", "value": 0.301075},
         {"period": W2, "product_type": "Backpack", "value": 0.21374},
         {"period": W2, "product_type": "Tote", "value": 0.777778},
         {"period": W2, "product_type": "Wallet", "value": 0.682927},
     ]},
    # =====================================================================
    # MARKETING
    # Sessions (day, device, browser, landing, duration s, bounced, converted, funnel steps reached):
    #   W1 s01a 01-06 Desktop Chrome  /                   25   -   -   1
    #      s01b 01-06 Desktop Chrome  /product/101        35   -   -   2   (31-min gap after s01a)
    #      s02  01-06 Mobile  Safari  /                    0   B   -   0   (single View)
    #      s03  01-06 Mobile  Safari  /                 1860   -   -   0   (exactly 30-min gap: not split)
    #      s04  01-07 Desktop Firefox /                  185   -   C   4
    #      s05  01-07 Tablet  Safari  /                   12   -   -   0   (View + Close 12 s later)
    #      s06  01-07 Mobile  Chrome  /product/101        60   -   C   1   (product -> payment -> confirmation)
    #      s07  01-08 Mobile  App     /                   40   -   -   1
    #      s08  01-08 Desktop Edge    /category/wallets    4   B   -   0   (View + Close 4 s later)
    #      s09  01-09 Desktop Chrome  /                    9   -   -   1
    #      s10  01-11 Tablet  Safari  /                  960   -   -   2   (ends 01-12 00:06)
    #   W2 s11  01-13 Desktop Chrome  /product/103       100   -   C   3   (Click buy, no confirmation)
    #      s12  01-13 Mobile  Chrome  /                    0   B   -   0
    #      s13  01-13 Mobile  Safari  /                   90   -   -   0
    #      s14  01-13 Desktop Firefox /cart               40   -   -   1   (cart before product)
    #      s15  01-14 Desktop Chrome  /                  180   -   C   4
    #      s16  01-15 Desktop Chrome  /                  130   -   -   1
    #      s17  01-15 Tablet  Safari  /category/backpacks  0   B   -   0
    #      s18  01-16 Mobile  Chrome  /product/101       120   -   C   4
    #      s19  01-18 Tablet  Safari  /                   95   -   -   2
    # =====================================================================
    # sessions 01-13 = s11 s12 s13 s14 = 4 (the null-session_id event is quarantined)
    {"kpi": "sessions", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 4}]},
    # s10 starts 01-11 23:50 and ends 01-12 00:06: it counts on 01-11 only; 01-12 has no session -> count 0
    {"kpi": "sessions", "grain": "day", "by": [], "from": "2025-01-11", "to": "2025-01-12",
     "reading": "empty_period",
     "rows": [{"period": "2025-01-11", "value": 1}, {"period": "2025-01-12", "value": 0}]},
    # W1 = 11 (s01 counts twice) ; W2 = 9
    {"kpi": "sessions", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 11}, {"period": W2, "value": 9}]},
    # W1 Desktop = s01a s01b s04 s08 s09 = 5 ; Mobile = s02 s03 s06 s07 = 4 ; Tablet = s05 s10 = 2
    # W2 Desktop = s11 s14 s15 s16 = 4 ; Mobile = s12 s13 s18 = 3 ; Tablet = s17 s19 = 2
    {"kpi": "sessions", "grain": "week", "by": ["device_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "device_type": "Desktop", "value": 5},
         {"period": W1, "device_type": "Mobile", "value": 4},
         {"period": W1, "device_type": "Tablet", "value": 2},
         {"period": W2, "device_type": "Desktop", "value": 4},
         {"period": W2, "device_type": "Mobile", "value": 3},
         {"period": W2, "device_type": "Tablet", "value": 2},
     ]},
    # W1 only: App = s07 ; Chrome = s01a s01b s06 s09 ; Edge = s08 ; Firefox = s04 ; Safari = s02 s03 s05 s10
    {"kpi": "sessions", "grain": "week", "by": ["browser"], "from": "2025-01-06", "to": "2025-01-12",
     "rows": [
         {"period": W1, "browser": "App", "value": 1},
         {"period": W1, "browser": "Chrome", "value": 4},
         {"period": W1, "browser": "Edge", "value": 1},
         {"period": W1, "browser": "Firefox", "value": 1},
         {"period": W1, "browser": "Safari", "value": 4},
     ]},
    # 01-13 Desktop = s11 s14 = 2 ; Mobile = s12 s13 = 2
    {"kpi": "sessions", "grain": "day", "by": ["device_type"], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [
         {"period": "2025-01-13", "device_type": "Desktop", "value": 2},
         {"period": "2025-01-13", "device_type": "Mobile", "value": 2},
     ]},
    # session_duration 01-13: s11 100, s12 0, s13 90, s14 40 -> mean 230/4 = 57.5 ; sorted 0 40 90 100 -> median (40+90)/2 = 65
    {"kpi": "session_duration", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 57.5, "median": 65.0}]},
    # 01-11: s10 = 01-12 00:06:00 - 01-11 23:50:00 = 960 ; 01-12: no session -> mean and median None
    {"kpi": "session_duration", "grain": "day", "by": [], "from": "2025-01-11", "to": "2025-01-12",
     "reading": "empty_period",
     "rows": [
         {"period": "2025-01-11", "value": 960.0, "median": 960.0},
         {"period": "2025-01-12", "value": None, "median": None},
     ]},
    # W1: 25+35+0+1860+185+12+60+40+4+9+960 = 3190 / 11 = 290 ; sorted 0 4 9 12 25 [35] 40 60 185 960 1860 -> median 35
    # W2: 100+0+90+40+180+130+0+120+95 = 755 / 9 = 83.888889 ; sorted 0 0 40 90 [95] 100 120 130 180 -> median 95
    {"kpi": "session_duration", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "value": 290.0, "median": 35.0},
         {"period": W2, "value": 83.888889, "median": 95.0},
     ]},
    # W1 Desktop 25 35 185 4 9 -> 258/5 = 51.6, median 25 ; Mobile 0 1860 60 40 -> 1960/4 = 490, median (40+60)/2 = 50 ;
    #    Tablet 12 960 -> 486, median 486
    # W2 Desktop 100 40 180 130 -> 450/4 = 112.5, median (100+130)/2 = 115 ; Mobile 0 90 120 -> 70, median 90 ;
    #    Tablet 0 95 -> 47.5, median 47.5
    {"kpi": "session_duration", "grain": "week", "by": ["device_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "device_type": "Desktop", "value": 51.6, "median": 25.0},
         {"period": W1, "device_type": "Mobile", "value": 490.0, "median": 50.0},
         {"period": W1, "device_type": "Tablet", "value": 486.0, "median": 486.0},
         {"period": W2, "device_type": "Desktop", "value": 112.5, "median": 115.0},
         {"period": W2, "device_type": "Mobile", "value": 70.0, "median": 90.0},
         {"period": W2, "device_type": "Tablet", "value": 47.5, "median": 47.5},
     ]},
    # bounce_rate 01-13: s12 bounced of 4 -> 0.25
    {"kpi": "bounce_rate", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 0.25}]},
    # W1: s02 (single View) + s08 (View, Close after 4 s) = 2 / 11 = 0.181818 (s05: View + Close after 12 s is NOT a bounce)
    # W2: s12 + s17 = 2 / 9 = 0.222222
    {"kpi": "bounce_rate", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 0.181818}, {"period": W2, "value": 0.222222}]},
    # W1 Desktop s08 1/5 = 0.2 ; Mobile s02 1/4 = 0.25 ; Tablet 0/2 = 0.0
    # W2 Desktop 0/4 = 0.0 ; Mobile s12 1/3 = 0.333333 ; Tablet s17 1/2 = 0.5
    {"kpi": "bounce_rate", "grain": "week", "by": ["device_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "device_type": "Desktop", "value": 0.2},
         {"period": W1, "device_type": "Mobile", "value": 0.25},
         {"period": W1, "device_type": "Tablet", "value": 0.0},
         {"period": W2, "device_type": "Desktop", "value": 0.0},
         {"period": W2, "device_type": "Mobile", "value": 0.333333},
         {"period": W2, "device_type": "Tablet", "value": 0.5},
     ]},
    # W1 "/" = s01a s02 s03 s04 s05 s07 s09 s10 -> s02 bounced: 1/8 = 0.125 ; "/category/wallets" = s08: 1/1 ;
    #    "/product/101" = s01b s06: 0/2
    # W2 "/" = s12 s13 s15 s16 s19 -> s12: 1/5 = 0.2 ; "/cart" = s14: 0 ; "/category/backpacks" = s17: 1/1 ;
    #    "/product/101" = s18: 0 ; "/product/103" = s11: 0   (s14's file lists its events out of time order)
    {"kpi": "bounce_rate", "grain": "week", "by": ["landing_page"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "landing_page": "/", "value": 0.125},
         {"period": W1, "landing_page": "/category/wallets", "value": 1.0},
         {"period": W1, "landing_page": "/product/101", "value": 0.0},
         {"period": W2, "landing_page": "/", "value": 0.2},
         {"period": W2, "landing_page": "/cart", "value": 0.0},
         {"period": W2, "landing_page": "/category/backpacks", "value": 1.0},
         {"period": W2, "landing_page": "/product/101", "value": 0.0},
         {"period": W2, "landing_page": "/product/103", "value": 0.0},
     ]},
    # daily_active_users 01-13 = users 2 (s11), 8 (s13), 4 (s14) = 3 ; the quarantined null-session event of user 5 does not count
    {"kpi": "daily_active_users", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 3}]},
    # per-event day: user 6 (s10) has events on 01-11 and on 01-12 -> 1 and 1
    {"kpi": "daily_active_users", "grain": "day", "by": [], "from": "2025-01-11", "to": "2025-01-12",
     "rows": [{"period": "2025-01-11", "value": 1}, {"period": "2025-01-12", "value": 1}]},
    # W1 = {1, 2, 3, 7, 4, 6} = 6 ; W2 = {2, 8, 4, 3, 1, 7, 6} = 7 (user 9's SmartTV event is quarantined)
    {"kpi": "daily_active_users", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 6}, {"period": W2, "value": 7}]},
    # per-event device: W1 Desktop {1 s01, 3 s04, 4 s08} = 3 ; Mobile {2 s03, 7 s06, 1 s07} = 3 ; Tablet {6} = 1
    #                   W2 Desktop {2, 4, 3, 1} = 4 ; Mobile {8, 7} = 2 ; Tablet {6} = 1   (user 1 counts on two devices in W1)
    {"kpi": "daily_active_users", "grain": "week", "by": ["device_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "device_type": "Desktop", "value": 3},
         {"period": W1, "device_type": "Mobile", "value": 3},
         {"period": W1, "device_type": "Tablet", "value": 1},
         {"period": W2, "device_type": "Desktop", "value": 4},
         {"period": W2, "device_type": "Mobile", "value": 2},
         {"period": W2, "device_type": "Tablet", "value": 1},
     ]},
    # new_product_ctr: 103 launched 2025-01-01 (new 01-01..01-30) ; 104 launched 2024-12-10 (new 12-10..01-08)
    # 01-07: click new_product:103 (s04) / home Views s04 s05 = 1/2 = 0.5
    # 01-08: click new_product:104 (s07, day 29: new) / home View s07 = 1/1 = 1.0
    # 01-09: click new_product:104 (s09, day 30: not new) -> 0 / home View s09 = 0/1 = 0.0
    {"kpi": "new_product_ctr", "grain": "day", "by": [], "from": "2025-01-07", "to": "2025-01-09",
     "rows": [
         {"period": "2025-01-07", "value": 0.5},
         {"period": "2025-01-08", "value": 1.0},
         {"period": "2025-01-09", "value": 0.0},
     ]},
    # W1: clicks s01a(103) s04(103) s07(104) = 3 ; home Views s01a s02 s03 s04 s05 s07 s09 s10 = 8 -> 0.375
    # W2: clicks s15(103) = 1 (its exact copy is a duplicate; s16's 104 click is outside the window) ;
    #     home Views s12 s13 s15 s16 s19 = 5 (the SmartTV View is quarantined) -> 0.2
    {"kpi": "new_product_ctr", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 0.375}, {"period": W2, "value": 0.2}]},
    # by product, W1 only: the denominator is every home View of the period (8)
    # 103 = 2/8 = 0.25 ; 104 = 1/8 = 0.125
    {"kpi": "new_product_ctr", "grain": "week", "by": ["product"], "from": "2025-01-06", "to": "2025-01-12",
     "rows": [
         {"period": W1, "product_id": 103, "value": 0.25},
         {"period": W1, "product_id": 104, "value": 0.125},
     ]},
    # conversion_rate 01-13: s11 (Click buy) of 4 = 0.25
    {"kpi": "conversion_rate", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 0.25}]},
    # W1: s04, s06 = 2/11 = 0.181818 ; W2: s11, s15, s18 = 3/9 = 0.333333
    {"kpi": "conversion_rate", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 0.181818}, {"period": W2, "value": 0.333333}]},
    # W1 Desktop s04 1/5 = 0.2 ; Mobile s06 1/4 = 0.25 ; Tablet 0/2 = 0.0
    # W2 Desktop s11 s15 2/4 = 0.5 ; Mobile s18 1/3 = 0.333333 ; Tablet 0/2 = 0.0
    {"kpi": "conversion_rate", "grain": "week", "by": ["device_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "device_type": "Desktop", "value": 0.2},
         {"period": W1, "device_type": "Mobile", "value": 0.25},
         {"period": W1, "device_type": "Tablet", "value": 0.0},
         {"period": W2, "device_type": "Desktop", "value": 0.5},
         {"period": W2, "device_type": "Mobile", "value": 0.333333},
         {"period": W2, "device_type": "Tablet", "value": 0.0},
     ]},
    # funnel 01-13: s11 reaches 3, s14 reaches 1 (its /cart View precedes the product page), s12 s13 reach 0
    # step1 2 ; step2 1 (1/2) ; step3 1 (1/1) ; step4 0 (0/1)
    {"kpi": "funnel", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [
         {"period": "2025-01-13", "step": 1, "step_name": "product", "value": 2, "sessions": 2, "conversion": None, "drop_off": None},
         {"period": "2025-01-13", "step": 2, "step_name": "cart", "value": 1, "sessions": 1, "conversion": 0.5, "drop_off": 0.5},
         {"period": "2025-01-13", "step": 3, "step_name": "payment", "value": 1, "sessions": 1, "conversion": 1.0, "drop_off": 0.0},
         {"period": "2025-01-13", "step": 4, "step_name": "confirmation", "value": 0, "sessions": 0, "conversion": 0.0, "drop_off": 1.0},
     ]},
    # W1 steps reached: s01a 1, s01b 2, s04 4, s06 1 (cart skipped: payment/confirmation do not count), s07 1, s09 1, s10 2
    #   step1 7 ; step2 3 (s01b s04 s10) -> 3/7 ; step3 1 (s04) -> 1/3 ; step4 1 -> 1/1
    # W2: s11 3, s14 1, s15 4, s16 1, s18 4, s19 2
    #   step1 6 ; step2 4 -> 4/6 ; step3 3 -> 3/4 ; step4 2 -> 2/3
    {"kpi": "funnel", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "step": 1, "step_name": "product", "value": 7, "sessions": 7, "conversion": None, "drop_off": None},
         {"period": W1, "step": 2, "step_name": "cart", "value": 3, "sessions": 3, "conversion": 0.428571, "drop_off": 0.571429},
         {"period": W1, "step": 3, "step_name": "payment", "value": 1, "sessions": 1, "conversion": 0.333333, "drop_off": 0.666667},
         {"period": W1, "step": 4, "step_name": "confirmation", "value": 1, "sessions": 1, "conversion": 1.0, "drop_off": 0.0},
         {"period": W2, "step": 1, "step_name": "product", "value": 6, "sessions": 6, "conversion": None, "drop_off": None},
         {"period": W2, "step": 2, "step_name": "cart", "value": 4, "sessions": 4, "conversion": 0.666667, "drop_off": 0.333333},
         {"period": W2, "step": 3, "step_name": "payment", "value": 3, "sessions": 3, "conversion": 0.75, "drop_off": 0.25},
         {"period": W2, "step": 4, "step_name": "confirmation", "value": 2, "sessions": 2, "conversion": 0.666667, "drop_off": 0.333333},
     ]},
    # by device: W1 Desktop s01a 1, s01b 2, s04 4, s08 0, s09 1 -> 4 2 1 1 ; Mobile s02 0, s03 0, s06 1, s07 1 -> 2 0 0 0
    #            (step3 conversion 0/0 -> None) ; Tablet s05 0, s10 2 -> 1 1 0 0 (step4 0/0 -> None)
    #            W2 Desktop s11 3, s14 1, s15 4, s16 1 -> 4 2 2 1 ; Mobile s12 0, s13 0, s18 4 -> 1 1 1 1 ;
    #            Tablet s17 0, s19 2 -> 1 1 0 0
    {"kpi": "funnel", "grain": "week", "by": ["device_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "device_type": "Desktop", "step": 1, "step_name": "product", "value": 4, "sessions": 4, "conversion": None, "drop_off": None},
         {"period": W1, "device_type": "Desktop", "step": 2, "step_name": "cart", "value": 2, "sessions": 2, "conversion": 0.5, "drop_off": 0.5},
         {"period": W1, "device_type": "Desktop", "step": 3, "step_name": "payment", "value": 1, "sessions": 1, "conversion": 0.5, "drop_off": 0.5},
         {"period": W1, "device_type": "Desktop", "step": 4, "step_name": "confirmation", "value": 1, "sessions": 1, "conversion": 1.0, "drop_off": 0.0},
         {"period": W1, "device_type": "Mobile", "step": 1, "step_name": "product", "value": 2, "sessions": 2, "conversion": None, "drop_off": None},
         {"period": W1, "device_type": "Mobile", "step": 2, "step_name": "cart", "value": 0, "sessions": 0, "conversion": 0.0, "drop_off": 1.0},
         {"period": W1, "device_type": "Mobile", "step": 3, "step_name": "payment", "value": 0, "sessions": 0, "conversion": None, "drop_off": None},
         {"period": W1, "device_type": "Mobile", "step": 4, "step_name": "confirmation", "value": 0, "sessions": 0, "conversion": None, "drop_off": None},
         {"period": W1, "device_type": "Tablet", "step": 1, "step_name": "product", "value": 1, "sessions": 1, "conversion": None, "drop_off": None},
         {"period": W1, "device_type": "Tablet", "step": 2, "step_name": "cart", "value": 1, "sessions": 1, "conversion": 1.0, "drop_off": 0.0},
         {"period": W1, "device_type": "Tablet", "step": 3, "step_name": "payment", "value": 0, "sessions": 0, "conversion": 0.0, "drop_off": 1.0},
         {"period": W1, "device_type": "Tablet", "step": 4, "step_name": "confirmation", "value": 0, "sessions": 0, "conversion": None, "drop_off": None},
         {"period": W2, "device_type": "Desktop", "step": 1, "step_name": "product", "value": 4, "sessions": 4, "conversion": None, "drop_off": None},
         {"period": W2, "device_type": "Desktop", "step": 2, "step_name": "cart", "value": 2, "sessions": 2, "conversion": 0.5, "drop_off": 0.5},
         {"period": W2, "device_type": "Desktop", "step": 3, "step_name": "payment", "value": 2, "sessions": 2, "conversion": 1.0, "drop_off": 0.0},
         {"period": W2, "device_type": "Desktop", "step": 4, "step_name": "confirmation", "value": 1, "sessions": 1, "conversion": 0.5, "drop_off": 0.5},
         {"period": W2, "device_type": "Mobile", "step": 1, "step_name": "product", "value": 1, "sessions": 1, "conversion": None, "drop_off": None},
         {"period": W2, "device_type": "Mobile", "step": 2, "step_name": "cart", "value": 1, "sessions": 1, "conversion": 1.0, "drop_off": 0.0},
         {"period": W2, "device_type": "Mobile", "step": 3, "step_name": "payment", "value": 1, "sessions": 1, "conversion": 1.0, "drop_off": 0.0},
         {"period": W2, "device_type": "Mobile", "step": 4, "step_name": "confirmation", "value": 1, "sessions": 1, "conversion": 1.0, "drop_off": 0.0},
         {"period": W2, "device_type": "Tablet", "step": 1, "step_name": "product", "value": 1, "sessions": 1, "conversion": None, "drop_off": None},
         {"period": W2, "device_type": "Tablet", "step": 2, "step_name": "cart", "value": 1, "sessions": 1, "conversion": 1.0, "drop_off": 0.0},
         {"period": W2, "device_type": "Tablet", "step": 3, "step_name": "payment", "value": 0, "sessions": 0, "conversion": 0.0, "drop_off": 1.0},
         {"period": W2, "device_type": "Tablet", "step": 4, "step_name": "confirmation", "value": 0, "sessions": 0, "conversion": None, "drop_off": None},
     ]},
    # loyalty_activity_rate 01-13: Loyalty {2 (c19)} ; active = CRM {6, 2} + POS {1, 2, 3} + online {2 (O3)} = {1,2,3,6} -> 1/4
    {"kpi": "loyalty_activity_rate", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 0.25}]},
    # W1: Loyalty {1 (c02, c12), 3 (c08)} = 2 ; active = CRM {1,2,3,4,6,8} + POS {1,2,3,4} + online {5 (O1), 1 (O2)} = 7 -> 2/7
    # W2: Loyalty {2 (c19), 6 (c23), 4 (c26)} = 3 ; active = CRM {1,2,3,4,6,7} + POS {1,2,3,4,6} + online {2,7,5} = 7 -> 3/7
    # (customer 5 is active only through online orders; the quarantined 'Praise' interaction of customer 5 and the
    #  customer-less Loyalty record do not count)
    {"kpi": "loyalty_activity_rate", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 0.285714}, {"period": W2, "value": 0.428571}]},
    # engagement_score = mean over customers with scored activity of min(100, views + 3 clicks + 10 purchases + 5 loyalty),
    # window = 30 days ending on the period's last day (covers all data before it here).
    # window to 01-12 (W1):
    #   c1: views 4 (s01) + 2 (s07) = 6, clicks 2 + 1 = 3, purchases P1 P6 O2 = 3, loyalty c02 c12 = 2 -> 6+9+30+10 = 55
    #   c2: views 2 (s03), purchases P3 -> 12 ;  c3: views 5, clicks 3 (s04), purchases P5, loyalty c08 -> 5+9+10+5 = 29
    #   c4: views 1 (s08), purchases P8 -> 11 ;  c5: O1 -> 10 ;  c6: views 3 (s10) -> 3 ;  c7: views 3 (s06) -> 3
    #   c8: only a Feedback interaction -> no scored activity, excluded
    #   mean = (55+12+29+11+10+3+3) / 7 = 123/7 = 17.571429
    # window to 01-19 (W2):
    #   c1: views 8, clicks 4 + 11 (s16 add_to_cart) = 15, purchases P1 P6 O2 P10 = 4, loyalty 2 -> 8+45+40+10 = 103 -> capped 100
    #   c2: views 5, clicks 2, purchases P3 P12 O3 = 3, loyalty 1 -> 5+6+30+5 = 46
    #   c3: views 10, clicks 5, purchases P5 P13 = 2, loyalty 1 -> 10+15+20+5 = 50
    #   c4: views 4, purchases P8 P15, loyalty c26 -> 4+20+5 = 29 ;  c5: O1 O5 -> 20
    #   c6: views 6, clicks 1, purchases P17, loyalty c23 -> 6+3+10+5 = 24 ;  c7: views 7, clicks 1, purchases O4 -> 20
    #   c8: views 2 (s13) -> 2
    #   mean = (100+46+50+29+20+24+20+2) / 8 = 291/8 = 36.375
    {"kpi": "engagement_score", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 17.571429}, {"period": W2, "value": 36.375}]},
    # window to 01-13: c1 6+9+40 (P1 P6 O2 P10) +10 = 65 ; c2 46 ; c3 5+9+20 (P5 P13) +5 = 39 ; c4 views 1+3 = 4, P8 -> 14 ;
    #   c5 10 ; c6 3 ; c7 3 ; c8 2 -> 182/8 = 22.75
    {"kpi": "engagement_score", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 22.75}]},
    # =====================================================================
    # OPERATIONS
    # COGS (quantity x cost price of the sale's day; 101 = 40 on 01-06..08, 44 from 01-09):
    #   W1 POS: P1 40, P2 25, P3 40, P4 24, P5 50, P6 12.5, P7 80, P8 44 (01-10), P9 8 = 323.5 ; online O1 40, O2 25 = 65 -> 388.5
    #   W2 POS: P10 44, P11 37.5, P12 88, P13 50, P14 16, P15 12.5, P16 44, P17 50 = 342 ; online O3 50, O4 44, O5 16 = 110 -> 452
    #   per product W1: 101 = 40+40+80+44+40 = 244 ; 102 = 25+12.5+25 = 62.5 ; 103 = 50 ; 104 = 24+8 = 32
    #   per product W2: 101 = 44+88+44+44 = 220 ; 102 = 37.5+12.5 = 50 ; 103 = 50+50+50 = 150 ; 104 = 16+16 = 32
    # Inventory at cost, summed over the week's days (units on hand table above x that day's cost):
    #   W1: 101 = (20+32+27) x 40 + (25+18+44+44) x 44 = 3160 + 5764 = 8924 ; 102 = 120 x 12.5 = 1500 ;
    #       103 = 28 x 50 = 1400 ; 104 = 93 x 8 = 744 ; total 12568 (average = total / 7)
    #   W2: 101 = 213 x 44 = 9372 ; 102 = 36 x 12.5 = 450 ; 103 = 49 x 50 = 2450 ; 104 = 41 x 8 = 328 ; total 12600
    # =====================================================================
    # inventory_turnover 01-13: COGS = POS 219.5 (44+37.5+88+50) + O3 50 = 269.5 ;
    #   inventory = 37x44 + 18x12.5 + 10x50 + 11x8 = 1628+225+500+88 = 2441 -> 269.5/2441 = 0.110406
    {"kpi": "inventory_turnover", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 0.110406}]},
    # W1 = 388.5 / (12568/7) = 2719.5/12568 = 0.216383 ; W2 = 452 / (12600/7) = 452/1800 = 0.251111
    {"kpi": "inventory_turnover", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 0.216383}, {"period": W2, "value": 0.251111}]},
    # W1: 101 = 244x7/8924 = 0.191394 ; 102 = 62.5x7/1500 = 0.291667 ; 103 = 50x7/1400 = 0.25 ; 104 = 32x7/744 = 0.301075
    # W2: 101 = 220x7/9372 = 0.164319 ; 102 = 50x7/450 = 0.777778 ; 103 = 150x7/2450 = 0.428571 ; 104 = 32x7/328 = 0.682927
    {"kpi": "inventory_turnover", "grain": "week", "by": ["product"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_id": 101, "value": 0.191394},
         {"period": W1, "product_id": 102, "value": 0.291667},
         {"period": W1, "product_id": 103, "value": 0.25},
         {"period": W1, "product_id": 104, "value": 0.301075},
         {"period": W2, "product_id": 101, "value": 0.164319},
         {"period": W2, "product_id": 102, "value": 0.777778},
         {"period": W2, "product_id": 103, "value": 0.428571},
         {"period": W2, "product_id": 104, "value": 0.682927},
     ]},
    # Backpack W1 = (244+50) x 7 / (8924+1400) = 2058/10324 = 0.199341 ; W2 = (220+150) x 7 / (9372+2450) = 2590/11822 = 0.219083
    {"kpi": "inventory_turnover", "grain": "week", "by": ["product_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_type": "Backpack", "value": 0.199341},
         {"period": W1, "product_type": "Tote", "value": 0.291667},
         {"period": W1, "product_type": "Wallet", "value": 0.301075},
         {"period": W2, "product_type": "Backpack", "value": 0.219083},
         {"period": W2, "product_type": "Tote", "value": 0.777778},
         {"period": W2, "product_type": "Wallet", "value": 0.682927},
     ]},
    # 01-13 by product: 101 = (44+88)/1628 = 0.081081 ; 102 = 37.5/225 = 0.166667 ; 103 = (50+50)/500 = 0.2 ;
    #   104 = 0 (no sale) / 88 = 0.0
    {"kpi": "inventory_turnover", "grain": "day", "by": ["product"], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [
         {"period": "2025-01-13", "product_id": 101, "value": 0.081081},
         {"period": "2025-01-13", "product_id": 102, "value": 0.166667},
         {"period": "2025-01-13", "product_id": 103, "value": 0.2},
         {"period": "2025-01-13", "product_id": 104, "value": 0.0},
     ]},
    # days_of_inventory 01-13 = 1 / (269.5/2441) = 2441/269.5 = 9.057514
    {"kpi": "days_of_inventory", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 9.057514}]},
    # W1 = 7 / (2719.5/12568) = 87976/2719.5 = 32.350064 ; W2 = 7 / (452/1800) = 12600/452 = 27.876106
    {"kpi": "days_of_inventory", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 32.350064}, {"period": W2, "value": 27.876106}]},
    # W1 Backpack = 7 x 10324/2058 = 35.115646 ; Tote = 7 x 1500/437.5 = 24 ; Wallet = 7 x 744/224 = 23.25
    # W2 Backpack = 7 x 11822/2590 = 31.951351 ; Tote = 7 x 450/350 = 9 ; Wallet = 7 x 328/224 = 10.25
    {"kpi": "days_of_inventory", "grain": "week", "by": ["product_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "product_type": "Backpack", "value": 35.115646},
         {"period": W1, "product_type": "Tote", "value": 24.0},
         {"period": W1, "product_type": "Wallet", "value": 23.25},
         {"period": W2, "product_type": "Backpack", "value": 31.951351},
         {"period": W2, "product_type": "Tote", "value": 9.0},
         {"period": W2, "product_type": "Wallet", "value": 10.25},
     ]},
    # 01-13 by product: 101 = 1628/132 = 12.333333 ; 102 = 225/37.5 = 6 ; 103 = 500/100 = 5 ; 104 turnover 0 -> None
    {"kpi": "days_of_inventory", "grain": "day", "by": ["product"], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [
         {"period": "2025-01-13", "product_id": 101, "value": 12.333333},
         {"period": "2025-01-13", "product_id": 102, "value": 6.0},
         {"period": "2025-01-13", "product_id": 103, "value": 5.0},
         {"period": "2025-01-13", "product_id": 104, "value": None},
     ]},
    # restock_frequency: restocks = C 0->25 (01-09), A 8->30 (01-11), B 10->14 (01-11), D 0->10 (01-13), E 11->20 (01-14).
    # Not restocks: first records of a pair; A 24->24 (01-18); A 26->24 (01-17) because the -3 record between them
    # is quarantined; the duplicate of D's 01-13 record.
    # 01-13 = D = 1
    {"kpi": "restock_frequency", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 1}]},
    # W1 = C, A, B = 3 ; W2 = D, E = 2
    {"kpi": "restock_frequency", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 3}, {"period": W2, "value": 2}]},
    # W1 wh1 = A, C = 2 ; wh2 = B = 1 ; W2 wh1 = E = 1 ; wh2 = D = 1
    {"kpi": "restock_frequency", "grain": "week", "by": ["warehouse"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "warehouse_id": 1, "value": 2},
         {"period": W1, "warehouse_id": 2, "value": 1},
         {"period": W2, "warehouse_id": 1, "value": 1},
         {"period": W2, "warehouse_id": 2, "value": 1},
     ]},
    # stockouts / low_stock at the end of each day:
    # 01-06 A20 C10 D6 E15 -> 0 / 0 ; 01-07 +B12 -> 0 / 0 ; 01-08 A15 B12 C0 D4(thr 4: low) E15 -> 1 (C) / 1 (D)
    {"kpi": "stockouts", "grain": "day", "by": [], "from": "2025-01-06", "to": "2025-01-08",
     "rows": [
         {"period": "2025-01-06", "value": 0, "low_stock": 0},
         {"period": "2025-01-07", "value": 0, "low_stock": 0},
         {"period": "2025-01-08", "value": 1, "low_stock": 1},
     ]},
    # end W1: A30/10 B14/5 C25/8 D0 E11/null -> stockouts 1 (D), low 0
    # end W2: A24/25 (latest record's threshold is 25: low) B0 C0 D3/4 (low) E2/null (never low) -> stockouts 2, low 2
    {"kpi": "stockouts", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "value": 1, "low_stock": 0},
         {"period": W2, "value": 2, "low_stock": 2},
     ]},
    # W1 wh1 (A30 C25 E11) -> 0/0 ; wh2 (B14 D0) -> 1/0 ; W2 wh1 (A24/25 C0 E2/null) -> 1/1 ; wh2 (B0 D3/4) -> 1/1
    {"kpi": "stockouts", "grain": "week", "by": ["warehouse"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "warehouse_id": 1, "value": 0, "low_stock": 0},
         {"period": W1, "warehouse_id": 2, "value": 1, "low_stock": 0},
         {"period": W2, "warehouse_id": 1, "value": 1, "low_stock": 1},
         {"period": W2, "warehouse_id": 2, "value": 1, "low_stock": 1},
     ]},
    # =====================================================================
    # SUPPORT
    # Interactions (id day type channel rating case status):
    #   W1 c01 06 Complaint Email  - K1 open      c02 06 Loyalty  App   -          c03 07 Complaint Phone - K1 resolved
    #      c04 07 Complaint Phone  - K2 open      c05 08 Complaint Phone 4 K2 res  c06 08 Complaint Email - K4 open
    #      c07 08 Complaint Email  - K1 open      c08 08 Loyalty  App   -          c09 09 Complaint Email 3 K4 resolved
    #      c10 09 Complaint Phone  - K7 open      c11 09 Feedback App   2 K1 (no status)
    #      c12 10 Loyalty  Email   -              c13 10 Complaint Email 5 K7 res  c14 10 Complaint App   - K3 open
    #      c15 11 Complaint Email  - K4 open      c16 11 Feedback App   5          c17 12 Feedback  Email - (unrated)
    #   W2 c18 13 Complaint App    - K5 open      c19 13 Loyalty  Phone -          c20 13 Complaint App   5 K5 resolved
    #      c21 14 Complaint Phone  4 K1 resolved  c22 15 Feedback Phone - K6 open  c23 15 Loyalty  App   -
    #      c24 16 Feedback Phone   1 K6 resolved  c25 17 Feedback Email 4          c26 18 Loyalty   App   -
    # =====================================================================
    # interaction_volume 01-13 = c18 c19 c20 = 3 (the customer-less c92 on 01-14 and 'Praise' c93 are quarantined)
    {"kpi": "interaction_volume", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 3}]},
    # W1 = c01..c17 = 17 (rating-9 c91 quarantined) ; W2 = c18..c26 = 9 (c21's exact copy is a duplicate)
    {"kpi": "interaction_volume", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 17}, {"period": W2, "value": 9}]},
    # W1 Complaint = c01 c03 c04 c05 c06 c07 c09 c10 c13 c14 c15 = 11 ; Feedback = c11 c16 c17 = 3 ; Loyalty = c02 c08 c12 = 3
    # W2 Complaint = c18 c20 c21 = 3 ; Feedback = c22 c24 c25 = 3 ; Loyalty = c19 c23 c26 = 3
    {"kpi": "interaction_volume", "grain": "week", "by": ["interaction_type"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "interaction_type": "Complaint", "value": 11},
         {"period": W1, "interaction_type": "Feedback", "value": 3},
         {"period": W1, "interaction_type": "Loyalty", "value": 3},
         {"period": W2, "interaction_type": "Complaint", "value": 3},
         {"period": W2, "interaction_type": "Feedback", "value": 3},
         {"period": W2, "interaction_type": "Loyalty", "value": 3},
     ]},
    # interaction's own channel: W1 App = c02 c08 c11 c14 c16 = 5 ; Email = c01 c06 c07 c09 c12 c13 c15 c17 = 8 ;
    #   Phone = c03 c04 c05 c10 = 4 ; W2 App = c18 c20 c23 c26 = 4 ; Email = c25 = 1 ; Phone = c19 c21 c22 c24 = 4
    {"kpi": "interaction_volume", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "App", "value": 5},
         {"period": W1, "channel": "Email", "value": 8},
         {"period": W1, "channel": "Phone", "value": 4},
         {"period": W2, "channel": "App", "value": 4},
         {"period": W2, "channel": "Email", "value": 1},
         {"period": W2, "channel": "Phone", "value": 4},
     ]},
    # feedback_score 01-13: rated c20 (5) -> 1/1 x 100 = 100, mean 5
    {"kpi": "feedback_score", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 100.0, "mean_rating": 5.0}]},
    # 01-12: only c17, unrated -> no rated interaction -> None (and mean_rating None)
    {"kpi": "feedback_score", "grain": "day", "by": [], "from": "2025-01-12", "to": "2025-01-12",
     "rows": [{"period": "2025-01-12", "value": None, "mean_rating": None}]},
    # W1 rated: c05 4, c09 3, c11 2, c13 5, c16 5 -> >=4: 3 of 5 = 60 ; mean 19/5 = 3.8
    # W2 rated: c20 5, c21 4, c24 1, c25 4 -> 3 of 4 = 75 ; mean 14/4 = 3.5
    {"kpi": "feedback_score", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "value": 60.0, "mean_rating": 3.8},
         {"period": W2, "value": 75.0, "mean_rating": 3.5},
     ]},
    # W1 App c11 2, c16 5 -> 50, 3.5 ; Email c09 3, c13 5 -> 50, 4 ; Phone c05 4 -> 100, 4
    # W2 App c20 5 -> 100, 5 ; Email c25 4 -> 100, 4 ; Phone c21 4, c24 1 -> 50, 2.5
    {"kpi": "feedback_score", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "App", "value": 50.0, "mean_rating": 3.5},
         {"period": W1, "channel": "Email", "value": 50.0, "mean_rating": 4.0},
         {"period": W1, "channel": "Phone", "value": 100.0, "mean_rating": 4.0},
         {"period": W2, "channel": "App", "value": 100.0, "mean_rating": 5.0},
         {"period": W2, "channel": "Email", "value": 100.0, "mean_rating": 4.0},
         {"period": W2, "channel": "Phone", "value": 50.0, "mean_rating": 2.5},
     ]},
    # Cases (channel = first interaction's channel; resolution = last 'resolved' not followed by 'open'):
    #   K1 Email  01-06 09:00 open, 01-07 resolved, 01-08 open, 01-14 12:00 resolved -> 195 h, resolved 01-14
    #   K2 Phone  01-07 14:00 open, 01-08 02:00 resolved -> 12 h
    #   K3 App    01-10 16:30 open, never resolved (open at the end)
    #   K4 Email  01-08 open, 01-09 resolved, 01-11 open -> re-opened and left open (never counted as resolved)
    #   K5 App    01-13 09:00 open, 15:00 resolved -> 6 h
    #   K6 Phone  01-15 10:00 open, 01-16 10:00 resolved -> 24 h
    #   K7 Phone  01-09 10:00 open, 01-10 16:00 resolved (by an Email interaction) -> 30 h
    # time_to_resolution 01-14: K1 195 -> median 195, p90 195 ; backlog end of 01-14: K3, K4 = 2
    {"kpi": "time_to_resolution", "grain": "day", "by": [], "from": "2025-01-14", "to": "2025-01-14",
     "rows": [{"period": "2025-01-14", "value": 195.0, "p90": 195.0, "backlog": 2}]},
    # W1 resolved: K2 12, K7 30 -> median 21 ; p90 = 12 + 0.9 x (30-12) = 28.2 ; backlog end 01-12: K1, K3, K4 = 3
    # W2 resolved: K5 6, K6 24, K1 195 -> median 24 ; p90 at rank 0.9 x 2 = 1.8: 24 + 0.8 x (195-24) = 160.8 ;
    #    backlog end 01-19: K3, K4 = 2
    {"kpi": "time_to_resolution", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "value": 21.0, "p90": 28.2, "backlog": 3},
         {"period": W2, "value": 24.0, "p90": 160.8, "backlog": 2},
     ]},
    # W2 by case channel: App K5 6 (backlog K3 = 1) ; Email K1 195 (backlog K4 = 1) ; Phone K6 24 (backlog 0)
    {"kpi": "time_to_resolution", "grain": "week", "by": ["channel"], "from": "2025-01-13", "to": "2025-01-19",
     "rows": [
         {"period": W2, "channel": "App", "value": 6.0, "p90": 6.0, "backlog": 1},
         {"period": W2, "channel": "Email", "value": 195.0, "p90": 195.0, "backlog": 1},
         {"period": W2, "channel": "Phone", "value": 24.0, "p90": 24.0, "backlog": 0},
     ]},
    # A day with no case finally resolved has no time_to_resolution (None) but still a backlog:
    # the backlog comes from case_backlog_daily, which has a row for every day. Open at each day's end:
    #   01-06  K1 opened 09:00                                                -> K1 = 1
    #   01-07  K1 resolved 10:00 (c03), re-opened on 01-08: not a resolution ;
    #          K2 opened 14:00                                                -> K2 = 1
    #   01-08  K2 resolved 02:00 (12 h) ; K4 opened 08:00 ; K1 re-opened 11:00 -> K1, K4 = 2
    #   01-09  K4 resolved 08:00 (c09), re-opened on 01-11: not a resolution ;
    #          K7 opened 10:00 ; c11 (K1) carries no status                   -> K1, K7 = 2
    #   01-10  K7 resolved 16:00 (30 h) ; K3 opened 16:30                     -> K1, K3 = 2
    #   01-11  K4 re-opened 10:00                                             -> K1, K3, K4 = 3
    #   01-12  no case interaction                                            -> K1, K3, K4 = 3
    {"kpi": "time_to_resolution", "grain": "day", "by": [], "from": "2025-01-06", "to": "2025-01-12",
     "rows": [
         {"period": "2025-01-06", "value": None, "p90": None, "backlog": 1},
         {"period": "2025-01-07", "value": None, "p90": None, "backlog": 1},
         {"period": "2025-01-08", "value": 12.0, "p90": 12.0, "backlog": 2},
         {"period": "2025-01-09", "value": None, "p90": None, "backlog": 2},
         {"period": "2025-01-10", "value": 30.0, "p90": 30.0, "backlog": 2},
         {"period": "2025-01-11", "value": None, "p90": None, "backlog": 3},
         {"period": "2025-01-12", "value": None, "p90": None, "backlog": 3},
     ]},
    # W1 by case channel: only Phone has resolutions (K2 12, K7 30 -> median 21, p90 28.2, as above).
    # Backlog end 01-12: App K3 = 1, Email K1, K4 = 2, Phone 0. App and Email keep their rows,
    # with no time_to_resolution (None).
    {"kpi": "time_to_resolution", "grain": "week", "by": ["channel"], "from": "2025-01-06", "to": "2025-01-12",
     "rows": [
         {"period": W1, "channel": "App", "value": None, "p90": None, "backlog": 1},
         {"period": W1, "channel": "Email", "value": None, "p90": None, "backlog": 2},
         {"period": W1, "channel": "Phone", "value": 21.0, "p90": 28.2, "backlog": 0},
     ]},
    # =====================================================================
    # FINANCE (store + online). Online orders (date product customer qty price tax):
    #   O1 01-07 101 c5 1 x 90 0.2 ; O2 01-09 102 c1 2 x 30 0.2 ; O3 01-13 103 c2 1 x 120 0.2 ;
    #   O4 01-16 101 c7 1 x 85 0.2 ; O5 01-16 104 c5 2 x 25 0.1
    #   online revenue W1 = 90 + 60 = 150 ; W2 = 120 + 85 + 50 = 255 ; 01-13 = 120
    # =====================================================================
    # revenue 01-13 = POS 480 + O3 120 = 600
    {"kpi": "revenue", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 600.0}]},
    # W1 = 760 + 150 = 910 ; W2 = 770 + 255 = 1025
    {"kpi": "revenue", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 910.0}, {"period": W2, "value": 1025.0}]},
    {"kpi": "revenue", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "online", "value": 150.0},
         {"period": W1, "channel": "store", "value": 760.0},
         {"period": W2, "channel": "online", "value": 255.0},
         {"period": W2, "channel": "store", "value": 770.0},
     ]},
    # January: online 150 + 255 = 405 ; store 760 + 770 = 1530
    {"kpi": "revenue", "grain": "month", "by": ["channel"], "from": "2025-01-01", "to": "2025-01-31",
     "rows": [
         {"period": "2025-01-01", "channel": "online", "value": 405.0},
         {"period": "2025-01-01", "channel": "store", "value": 1530.0},
     ]},
    # discounts 01-13 = P10 9 + P13 20 = 29 ; W1 = 36 ; W2 = 34 ; online orders carry no discount -> 0
    {"kpi": "discounts", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 29.0}]},
    {"kpi": "discounts", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 36.0}, {"period": W2, "value": 34.0}]},
    {"kpi": "discounts", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "online", "value": 0.0},
         {"period": W1, "channel": "store", "value": 36.0},
         {"period": W2, "channel": "online", "value": 0.0},
         {"period": W2, "channel": "store", "value": 34.0},
     ]},
    # net_revenue 01-13 = 600 - 29 = 571 ; W1 = 910 - 36 = 874 ; W2 = 1025 - 34 = 991
    {"kpi": "net_revenue", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 571.0}]},
    {"kpi": "net_revenue", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 874.0}, {"period": W2, "value": 991.0}]},
    {"kpi": "net_revenue", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "online", "value": 150.0},
         {"period": W1, "channel": "store", "value": 724.0},
         {"period": W2, "channel": "online", "value": 255.0},
         {"period": W2, "channel": "store", "value": 736.0},
     ]},
    # cogs 01-13 = POS 219.5 + O3 50 = 269.5 ; W1 = 323.5 + 65 = 388.5 ; W2 = 342 + 110 = 452 (see OPERATIONS)
    {"kpi": "cogs", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 269.5}]},
    {"kpi": "cogs", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 388.5}, {"period": W2, "value": 452.0}]},
    {"kpi": "cogs", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "online", "value": 65.0},
         {"period": W1, "channel": "store", "value": 323.5},
         {"period": W2, "channel": "online", "value": 110.0},
         {"period": W2, "channel": "store", "value": 342.0},
     ]},
    # January = 388.5 + 452 = 840.5 (costing the 5 units of 101 sold on 01-06..01-08 (P1 P3 P7 O1) at today's 44 would give 860.5)
    {"kpi": "cogs", "grain": "month", "by": [], "from": "2025-01-01", "to": "2025-01-31",
     "rows": [{"period": "2025-01-01", "value": 840.5}]},
    # gross_margin 01-13 = 571 - 269.5 = 301.5 ; pct 301.5/571 = 0.528021
    {"kpi": "gross_margin", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 301.5, "gross_margin_pct": 0.528021}]},
    # W1 = 874 - 388.5 = 485.5, 485.5/874 = 0.555492 ; W2 = 991 - 452 = 539, 539/991 = 0.543895
    {"kpi": "gross_margin", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "value": 485.5, "gross_margin_pct": 0.555492},
         {"period": W2, "value": 539.0, "gross_margin_pct": 0.543895},
     ]},
    # W1 online 150-65 = 85 (0.566667), store 724-323.5 = 400.5 (0.553177)
    # W2 online 255-110 = 145 (0.568627), store 736-342 = 394 (0.535326)
    {"kpi": "gross_margin", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "online", "value": 85.0, "gross_margin_pct": 0.566667},
         {"period": W1, "channel": "store", "value": 400.5, "gross_margin_pct": 0.553177},
         {"period": W2, "channel": "online", "value": 145.0, "gross_margin_pct": 0.568627},
         {"period": W2, "channel": "store", "value": 394.0, "gross_margin_pct": 0.535326},
     ]},
    # taxes 01-13 = O3 120 x 0.2 = 24 ; W1 = 90x0.2 + 60x0.2 = 30 ; W2 = 24 + 85x0.2 + 50x0.1 = 24 + 17 + 5 = 46
    {"kpi": "taxes", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 24.0}]},
    {"kpi": "taxes", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 30.0}, {"period": W2, "value": 46.0}]},
    # transaction_count 01-13 = POS 4 + O3 = 5 ; W1 = 9 + 2 = 11 ; W2 = 8 + 3 = 11
    {"kpi": "transaction_count", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 5}]},
    {"kpi": "transaction_count", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 11}, {"period": W2, "value": 11}]},
    {"kpi": "transaction_count", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "online", "value": 2},
         {"period": W1, "channel": "store", "value": 9},
         {"period": W2, "channel": "online", "value": 3},
         {"period": W2, "channel": "store", "value": 8},
     ]},
    # average_transaction 01-13 = 571/5 = 114.2 ; W1 = 874/11 = 79.454545 ; W2 = 991/11 = 90.090909
    {"kpi": "average_transaction", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 114.2}]},
    {"kpi": "average_transaction", "grain": "week", "by": [], "from": FROM, "to": TO,
     "rows": [{"period": W1, "value": 79.454545}, {"period": W2, "value": 90.090909}]},
    # W1 online 150/2 = 75, store 724/9 = 80.444444 ; W2 online 255/3 = 85, store 736/8 = 92
    {"kpi": "average_transaction", "grain": "week", "by": ["channel"], "from": FROM, "to": TO,
     "rows": [
         {"period": W1, "channel": "online", "value": 75.0},
         {"period": W1, "channel": "store", "value": 80.444444},
         {"period": W2, "channel": "online", "value": 85.0},
         {"period": W2, "channel": "store", "value": 92.0},
     ]},
]

# The re-opened case (README, "The re-opened variant"): the golden landing with crm_interactions
# replaced by reopened/crm_interactions. Two cases:
#   K8 Email  01-06 10:00 open (r01), 11:30 resolved (r02), 15:00 re-opened (r03) -> left open
#   K9 Phone  01-07 09:00 open (r04), 12:00 resolved (r05)                          -> 3 h, resolved 01-07
# Backlog (cases open at the day's end), one row per day and case channel (Email, Phone):
#   01-06  K8 re-opened at 15:00 -> Email 1, Phone 0 (K9 not yet opened) ; total 1
#   01-07  K8 still open, K9 resolved -> Email 1, Phone 0 ; total 1
# 01-06 has no case resolved (K8's resolution at 11:30 did not hold), so no time_to_resolution,
# but its backlog is 1.
REOPENED = [
    # 01-06: value None, backlog 1 ; 01-07: K9 3 -> median 3, p90 3 ; backlog 1
    {"kpi": "time_to_resolution", "grain": "day", "by": [], "from": "2025-01-06", "to": "2025-01-07",
     "rows": [
         {"period": "2025-01-06", "value": None, "p90": None, "backlog": 1},
         {"period": "2025-01-07", "value": 3.0, "p90": 3.0, "backlog": 1},
     ]},
    # by channel: Email has no resolution on either day (value None, backlog 1 each day) ;
    # Phone has none on 01-06 (backlog 0) and K9 3 h on 01-07 (backlog 0)
    {"kpi": "time_to_resolution", "grain": "day", "by": ["channel"], "from": "2025-01-06", "to": "2025-01-07",
     "rows": [
         {"period": "2025-01-06", "channel": "Email", "value": None, "p90": None, "backlog": 1},
         {"period": "2025-01-06", "channel": "Phone", "value": None, "p90": None, "backlog": 0},
         {"period": "2025-01-07", "channel": "Email", "value": None, "p90": None, "backlog": 1},
         {"period": "2025-01-07", "channel": "Phone", "value": 3.0, "p90": 3.0, "backlog": 0},
     ]},
    # W1: K9 3 -> median 3, p90 3 ; backlog end of the week's last day in the mart: K8 = 1
    {"kpi": "time_to_resolution", "grain": "week", "by": [], "from": "2025-01-06", "to": "2025-01-12",
     "rows": [{"period": W1, "value": 3.0, "p90": 3.0, "backlog": 1}]},
]
# fmt: on
