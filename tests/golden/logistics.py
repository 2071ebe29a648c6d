"""Golden logistics data (parcel hops, purchase orders) and the KPI answers worked out by hand.

It sits beside the golden landing (``tests/golden/landing``), whose inventory
gives the stockouts (as in Operations, ``fact_stock_daily``):
B=(101, wh2) on 01-19; C=(102, wh1) on 01-08 and 01-15..01-19; D=(103, wh2) on 01-12.

**Carrier feed** (``hop_events()``), all times UTC, 2025:

- Bottleneck pairs (hop 2 only; these parcels are not delivered in the data):
  X = (parcelnet, Midlands hub):   01-06: 20 hops arrive 08:00, depart 10:00 (dwell 2 h)
                                   01-13: 19 hops dwell 4 h, 1 hop dwell 6 h (arrive 08:00)
  Y = (swiftship, Midlands hub):   01-06: 20 hops dwell 2 h; 01-13: 20 hops dwell 2.5 h
  Z = (swiftship, North sort centre): 01-06: 20 hops dwell 1 h; 01-13: 19 hops dwell 10 h
- Delivered parcels (northfreight; hop 1 Fulfilment centre, hop 2 Doorstep):
  D1 promised 01-08: arrive 01-07 09:00, depart 12:00 (3 h) and a re-scan of the depart at
     12:30 (a repeated event: the earliest counts); Doorstep 01-08 10:00 -> on time
  D2 promised 01-08: arrive 01-07 09:00 (sent twice: a duplicate), depart 15:00 (6 h);
     Doorstep 01-09 11:00 -> late
  D3 promised 01-09: arrive 01-08 09:00, depart 10:00 (1 h); Doorstep 01-09 09:00 and a
     re-scan 01-10 09:00 (the earliest counts: delivered 01-09) -> on time
  D5 promised 01-09: its Doorstep arrival names carrier "speedyexpress": quarantined, so
     D5 is not delivered; its hop 1 (arrive 01-08 09:00, depart 11:00: 2 h) counts
- Ingest: (40 + 40 + 39) hops x 2 events = 238, plus 15 events of D1..D5 = 253 received;
  1 duplicate (D2's arrive sent twice), 1 quarantined (D5's doorstep); 251 accepted.

**Purchase orders** (``PO_FIRST`` then ``PO_FINAL``: the shop's table read twice,
incrementally by updated_at):

| po | supplier | product | wh | promised | ordered | dispatched | delivered |
|---|---|---|---|---|---|---|---|
| 1 | 101 | 102 | 1 | 2 d | 01-05 10:00 | 01-06 10:00 | 01-09 10:00 |
| 2 | 101 | 101 | 1 | 5 d | 01-06 08:00 | 01-07 08:00 | 01-09 20:00 |
| 3 | 102 | 103 | 2 | 3 d | 01-08 00:00 | 01-10 12:00 | 01-13 12:00 |
| 4 | 102 | 101 | 2 | 7 d | 01-13 06:00 | - | - |
| 5 | 101 | 104 | 1 | 2 d | 01-06 12:00 | quantity 0: quarantined | |
| 6 | 101 | 102 | 1 | 2 d | 01-13 00:00 | 01-14 00:00 | - |

The first read (the table as of 01-07 09:00) holds PO 1 (dispatched), PO 2
(dispatched) and PO 5: 3 received, 2 accepted, 1 quarantined; the cursor is
01-07 08:00. The second read (the final table) takes the rows updated after
01-07 07:00 (the 1 h lookback): PO 1, 2, 3, 4, 6 in their final state, 5
accepted, new keys (po_id, updated_at). The latest version of each counts.
Lead times: PO1 01-05 10:00 -> 01-09 10:00 = 4.0 d (dispatch 1.0 d); PO2
01-06 08:00 -> 01-09 20:00 = 3.5 d (dispatch 1.0 d); PO3 01-08 00:00 ->
01-13 12:00 = 5.5 d (dispatch 2.5 d). Due: PO1 01-07 10:00 (late), PO2 01-11
08:00 (on time), PO3 01-11 00:00 (late), PO4 01-20 06:00, PO6 01-15 00:00
(outstanding: late from then on).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

W1 = "2025-01-06"
W2 = "2025-01-13"


def _t(text: str) -> int:
    """Epoch seconds of ``MM-DD HH:MM`` in 2025 (UTC)."""
    return int(datetime.strptime(f"2025-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp())


def _hop(
    parcel: str, carrier: str, hop: int, place: str, kind: str, at: int, promised: str
) -> dict[str, Any]:
    return {
        "parcel_id": parcel,
        "order_id": f"W-{parcel}",
        "carrier": carrier,
        "hop_number": hop,
        "location": place,
        "event_type": kind,
        "timestamp": at,
        "promised_date": promised,
    }


def hop_events() -> list[dict[str, Any]]:
    """The carrier feed above, each event with its ``seq`` (the order it was posted in)."""
    events: list[dict[str, Any]] = []
    pairs = (
        # (name, carrier, location, day, dwell hours of each hop)
        ("X", "parcelnet", "Midlands hub", "01-06", [2.0] * 20),
        ("X", "parcelnet", "Midlands hub", "01-13", [4.0] * 19 + [6.0]),
        ("Y", "swiftship", "Midlands hub", "01-06", [2.0] * 20),
        ("Y", "swiftship", "Midlands hub", "01-13", [2.5] * 20),
        ("Z", "swiftship", "North sort centre", "01-06", [1.0] * 20),
        ("Z", "swiftship", "North sort centre", "01-13", [10.0] * 19),
    )
    for name, carrier, place, day, dwells in pairs:
        for i, dwell in enumerate(dwells, start=1):
            parcel = f"{name}{day.replace('-', '')}-{i:02d}"
            arrive = _t(f"{day} 08:00")
            promised = "2025-01-20"
            events.append(_hop(parcel, carrier, 2, place, "arrive", arrive, promised))
            events.append(
                _hop(parcel, carrier, 2, place, "depart", arrive + int(dwell * 3600), promised)
            )
    nf, fc, door = "northfreight", "Fulfilment centre", "Doorstep"
    d1, d2, d3, d5 = "2025-01-08", "2025-01-08", "2025-01-09", "2025-01-09"
    events += [
        _hop("D1", nf, 1, fc, "arrive", _t("01-07 09:00"), d1),
        _hop("D1", nf, 1, fc, "depart", _t("01-07 12:00"), d1),
        _hop("D1", nf, 1, fc, "depart", _t("01-07 12:30"), d1),  # re-scan
        _hop("D1", nf, 2, door, "arrive", _t("01-08 10:00"), d1),
        _hop("D2", nf, 1, fc, "arrive", _t("01-07 09:00"), d2),
        _hop("D2", nf, 1, fc, "arrive", _t("01-07 09:00"), d2),  # sent twice
        _hop("D2", nf, 1, fc, "depart", _t("01-07 15:00"), d2),
        _hop("D2", nf, 2, door, "arrive", _t("01-09 11:00"), d2),
        _hop("D3", nf, 1, fc, "arrive", _t("01-08 09:00"), d3),
        _hop("D3", nf, 1, fc, "depart", _t("01-08 10:00"), d3),
        _hop("D3", nf, 2, door, "arrive", _t("01-09 09:00"), d3),
        _hop("D3", nf, 2, door, "arrive", _t("01-10 09:00"), d3),  # re-scan
        _hop("D5", nf, 1, fc, "arrive", _t("01-08 09:00"), d5),
        _hop("D5", nf, 1, fc, "depart", _t("01-08 11:00"), d5),
        _hop("D5", "speedyexpress", 2, door, "arrive", _t("01-09 10:00"), d5),  # unknown carrier
    ]
    events.sort(key=lambda e: e["timestamp"])
    for seq, event in enumerate(events, start=1):
        event["seq"] = seq
    return events


def _po(
    po: int,
    supplier: int,
    product: int,
    warehouse: int,
    promised: int,
    quantity: int,
    ordered: str,
    dispatched: str | None,
    delivered: str | None,
) -> dict[str, Any]:
    times = [ordered, dispatched, delivered]
    stamps = [datetime.strptime(f"2025-{t}", "%Y-%m-%d %H:%M") if t else None for t in times]
    return {
        "po_id": po,
        "supplier_id": supplier,
        "product_id": product,
        "warehouse_id": warehouse,
        "batch_number": f"B25-{po:03d}",
        "quantity": quantity,
        "promised_lead_days": promised,
        "ordered_at": stamps[0],
        "dispatched_at": stamps[1],
        "delivered_at": stamps[2],
        "updated_at": max(s for s in stamps if s is not None),
    }


PO_FIRST = [
    _po(1, 101, 102, 1, 2, 50, "01-05 10:00", "01-06 10:00", None),
    _po(2, 101, 101, 1, 5, 30, "01-06 08:00", "01-07 08:00", None),
    _po(5, 101, 104, 1, 2, 0, "01-06 12:00", None, None),
]
PO_FINAL = [
    _po(1, 101, 102, 1, 2, 50, "01-05 10:00", "01-06 10:00", "01-09 10:00"),
    _po(2, 101, 101, 1, 5, 30, "01-06 08:00", "01-07 08:00", "01-09 20:00"),
    _po(3, 102, 103, 2, 3, 40, "01-08 00:00", "01-10 12:00", "01-13 12:00"),
    _po(4, 102, 101, 2, 7, 25, "01-13 06:00", None, None),
    _po(5, 101, 104, 1, 2, 0, "01-06 12:00", None, None),
    _po(6, 101, 102, 1, 2, 60, "01-13 00:00", "01-14 00:00", None),
]

# fmt: off
LOGISTICS: list[dict[str, Any]] = [
    # hop_dwell_hours, 01-06: X 20 x 2 h, Y 20 x 2 h, Z 20 x 1 h -> 60 hops, sorted 20 x 1 then 40 x 2:
    # median = mean of the 30th and 31st = (2 + 2) / 2 = 2.0; p90 at (60-1) x 0.9 = 53.1 -> 2.0
    {"kpi": "hop_dwell_hours", "grain": "day", "by": [], "from": "2025-01-06", "to": "2025-01-06",
     "rows": [{"period": "2025-01-06", "value": 2.0, "p90": 2.0, "hops": 60}]},
    # 01-06 by carrier: parcelnet 20 x 2 -> 2.0 / 2.0 / 20;
    # swiftship 20 x 1 + 20 x 2 -> median (1 + 2) / 2 = 1.5, p90 at 39 x 0.9 = 35.1 -> 2.0, 40 hops
    {"kpi": "hop_dwell_hours", "grain": "day", "by": ["carrier"], "from": "2025-01-06",
     "to": "2025-01-06",
     "rows": [
         {"period": "2025-01-06", "carrier": "parcelnet", "value": 2.0, "p90": 2.0, "hops": 20},
         {"period": "2025-01-06", "carrier": "swiftship", "value": 1.5, "p90": 2.0, "hops": 40},
     ]},
    # 01-07: D1 hop 1 = 12:00 - 09:00 = 3 h (its 12:30 re-scan does not count), D2 = 15:00 - 09:00 = 6 h
    # -> median (3 + 6) / 2 = 4.5, p90 at 1 x 0.9 -> 3 + 0.9 x (6 - 3) = 5.7, 2 hops
    {"kpi": "hop_dwell_hours", "grain": "day", "by": [], "from": "2025-01-07", "to": "2025-01-07",
     "rows": [{"period": "2025-01-07", "value": 4.5, "p90": 5.7, "hops": 2}]},
    # W1 at the Fulfilment centre: D1 3, D2 6, D3 1, D5 2 (its hop 1 was accepted) -> sorted 1 2 3 6:
    # median (2 + 3) / 2 = 2.5; p90 at 3 x 0.9 = 2.7 -> 3 + 0.7 x (6 - 3) = 5.1; 4 hops
    {"kpi": "hop_dwell_hours", "grain": "week", "by": ["location"], "from": W1, "to": "2025-01-12",
     "rows": [
         {"period": W1, "location": "Fulfilment centre", "value": 2.5, "p90": 5.1, "hops": 4},
         {"period": W1, "location": "Midlands hub", "value": 2.0, "p90": 2.0, "hops": 40},
         {"period": W1, "location": "North sort centre", "value": 1.0, "p90": 1.0, "hops": 20},
     ]},
    # by hop_number, W2: only hop 2 (X 19 x 4 + 6, Y 20 x 2.5, Z 19 x 10) = 59 hops, sorted
    # 20 x 2.5, 19 x 4, 6, 19 x 10: the median is the 30th = 4.0; p90 at 58 x 0.9 = 52.2 -> 10.0
    {"kpi": "hop_dwell_hours", "grain": "week", "by": ["hop_number"], "from": W2, "to": "2025-01-19",
     "rows": [{"period": W2, "hop_number": 2, "value": 4.0, "p90": 10.0, "hops": 59}]},
    # bottleneck_hops, 01-13 (baseline: the 28 days before, i.e. 01-06 for these pairs):
    #   X: 20 hops, p90 of 19 x 4 + 6 at 19 x 0.9 = 17.1 -> 4.0; baseline 20 x 2 -> 2.0;
    #      4.0 > 1.5 x 2.0 = 3.0 -> a bottleneck (ratio 2.0)
    #   Y: 20 hops, p90 2.5 <= 1.5 x 2.0 = 3.0 -> no
    #   Z: p90 10 > 1.5 x 1 but only 19 hops on 01-13 -> left out
    # -> 1, worst_location Midlands hub. 01-06: every pair has 0 hops before it -> 0.
    {"kpi": "bottleneck_hops", "grain": "day", "by": [], "from": "2025-01-13", "to": "2025-01-13",
     "rows": [{"period": "2025-01-13", "value": 1, "worst_location": "Midlands hub"}]},
    {"kpi": "bottleneck_hops", "grain": "week", "by": ["carrier"], "from": W1, "to": "2025-01-19",
     "rows": [
         {"period": W1, "carrier": "northfreight", "value": 0, "worst_location": None},
         {"period": W1, "carrier": "parcelnet", "value": 0, "worst_location": None},
         {"period": W1, "carrier": "swiftship", "value": 0, "worst_location": None},
         {"period": W2, "carrier": "parcelnet", "value": 1, "worst_location": "Midlands hub"},
         {"period": W2, "carrier": "swiftship", "value": 0, "worst_location": None},
     ]},
    # late_parcel_rate: delivered 01-08 D1 (promised 01-08: on time) -> 0 / 1 = 0.0;
    # 01-09 D2 (promised 01-08: late) and D3 (earliest Doorstep scan 01-09, promised 01-09: on time)
    # -> 1 / 2 = 0.5. D5's delivery was quarantined (unknown carrier): not delivered.
    {"kpi": "late_parcel_rate", "grain": "day", "by": [], "from": "2025-01-08", "to": "2025-01-09",
     "rows": [
         {"period": "2025-01-08", "value": 0.0, "late_parcels": 0},
         {"period": "2025-01-09", "value": 0.5, "late_parcels": 1},
     ]},
    # W1 by carrier: northfreight 1 late of 3 = 0.333333
    {"kpi": "late_parcel_rate", "grain": "week", "by": ["carrier"], "from": W1, "to": "2025-01-12",
     "rows": [{"period": W1, "carrier": "northfreight", "value": 0.333333, "late_parcels": 1}]},
    # lead_time_days, W1 (delivered 01-06..01-12): PO2 3.5, PO1 4.0 -> median (3.5 + 4.0) / 2 = 3.75,
    # p90 at 1 x 0.9 -> 3.5 + 0.9 x 0.5 = 3.95, dispatch_days median(1.0, 1.0) = 1.0;
    # W2: PO3 5.5 (dispatch 2.5). PO4 and PO6 are not delivered; PO5 was quarantined.
    {"kpi": "lead_time_days", "grain": "week", "by": [], "from": W1, "to": "2025-01-19",
     "rows": [
         {"period": W1, "value": 3.75, "p90": 3.95, "dispatch_days": 1.0},
         {"period": W2, "value": 5.5, "p90": 5.5, "dispatch_days": 2.5},
     ]},
    # by supplier and warehouse, over both weeks (grain month: 2025-01): 101/wh1 PO1 + PO2 -> 3.75;
    # 102/wh2 PO3 -> 5.5
    {"kpi": "lead_time_days", "grain": "month", "by": ["supplier", "warehouse"], "from": W1,
     "to": "2025-01-19",
     "rows": [
         {"period": "2025-01-01", "supplier_id": 101, "warehouse_id": 1, "value": 3.75},
         {"period": "2025-01-01", "supplier_id": 102, "warehouse_id": 2, "value": 5.5},
     ]},
    # late_delivery_rate: W1 PO1 (delivered 01-09 10:00 after due 01-07 10:00: late) and PO2 (due 01-11
    # 08:00: on time) -> 1 / 2 = 0.5; W2 PO3 (due 01-11 00:00, delivered 01-13 12:00: late) -> 1 / 1
    {"kpi": "late_delivery_rate", "grain": "week", "by": ["supplier"], "from": W1, "to": "2025-01-19",
     "rows": [
         {"period": W1, "supplier_id": 101, "value": 0.5, "late_orders": 1},
         {"period": W2, "supplier_id": 102, "value": 1.0, "late_orders": 1},
     ]},
    # stockouts_from_late_delivery: a stockout day whose end finds an order for the pair overdue:
    #   C (102, wh1) 01-08: PO1 due 01-07 10:00, delivered 01-09 10:00 > 01-09 00:00 -> 1
    #   D (103, wh2) 01-12: PO3 due 01-11 00:00, delivered 01-13 12:00 > 01-13 00:00 -> 1
    #   C 01-15..01-19: PO6 due 01-15 00:00, never delivered -> 5
    #   B (101, wh2) 01-19: PO4 due 01-20 06:00 is not overdue at 01-20 00:00 -> 0
    # W1: wh1 1, wh2 1; W2: wh1 5
    {"kpi": "stockouts_from_late_delivery", "grain": "week", "by": ["warehouse"], "from": W1,
     "to": "2025-01-19",
     "rows": [
         {"period": W1, "warehouse_id": 1, "value": 1},
         {"period": W1, "warehouse_id": 2, "value": 1},
         {"period": W2, "warehouse_id": 1, "value": 5},
     ]},
    {"kpi": "stockouts_from_late_delivery", "grain": "day", "by": [], "from": "2025-01-14",
     "to": "2025-01-15",
     "rows": [
         {"period": "2025-01-14", "value": 0},  # no stockout that day (empty: zero)
         {"period": "2025-01-15", "value": 1},
     ]},
]
# fmt: on
