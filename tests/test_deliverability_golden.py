"""The deliverability KPIs on a hand-made dataset, against values worked out by hand.

The dataset (written by the fixture below; the week is Mon 2025-03-03 .. Sun 2025-03-09):

E-mails (table emails in a SQLite mailer database; plan = the client's plan that day):

| e-mail | day   | client (plan)     | sending domain     | recipient        | provider | events                       | outcome                |
|--------|-------|-------------------|--------------------|------------------|----------|------------------------------|------------------------|
| E1     | 03-03 | Acme (Starter)    | mail.acme.example  | ann@gmail.com    | gmail    | delivered, opened, clicked   | delivered opened clicked |
| E2     | 03-03 | Acme (Starter)    | mail.acme.example  | bob@outlook.com  | outlook  | bounced hard                 | bounced (hard)         |
| E3     | 03-03 | Birch (Scale)     | news.birch.example | old@yahoo.com    | yahoo    | bounced soft                 | bounced; to_suppressed |
| E4     | 03-03 | Birch (Scale)     | news.birch.example | cat@icloud.com   | apple    | delivered, opened            | delivered opened       |
| E5     | 03-04 | Acme (Starter)    | mail.acme.example  | dan@hotmail.com  | outlook  | delivered, spam              | delivered marked_spam  |
| E6     | 03-04 | Acme (Starter)    | mail.acme.example  | eve@gmail.com    | gmail    | delivered, complained        | delivered complained   |
| E7     | 03-04 | Birch (Scale)     | news.birch.example | fay@web.de       | gmx      | delivered, clicked (no open) | delivered opened clicked |
| E8     | 03-05 | Acme (Growth)     | mail.acme.example  | gus@yahoo.com    | yahoo    | delivered, then bounced soft | bounced (a bounce wins) |
| E9     | 03-05 | Birch (Scale)     | news.birch.example | hal@corp.example | other    | delivered, opened            | delivered opened       |
| E10    | 03-05 | Acme (Growth)     | mail.acme.example  | ivy@aol.com      | yahoo    | its one event is quarantined | sent only              |

Dirt: E11 (recipient ``jo at gmail.com``) is quarantined, E4 is stored twice (a duplicate);
E10's event has the type ``deferred`` (quarantined), an ``opened`` event with a
bounce_type breaks the rule (quarantined), E1's delivered event is stored twice.

Suppressions: (Birch, old@yahoo.com, since 2025-02-01), so E3 was sent to a suppressed
address; (Acme, eve@gmail.com, since 2025-03-04 12:00), after E6 was sent (10:00), so E6
was not; a row with the reason ``manual`` is quarantined.

Clients: the workbook of 03-03 has Acme on Starter, the one of 03-05 on Growth (so E1,
E2, E5, E6 are Starter, E8, E10 Growth); Birch is on Scale in both; a Total row is held.

CRM: mail.acme.example started warming on 2025-03-03 (warming day 1 on 03-03, 2 on
03-04, 3 on 03-05); news.birch.example on 2024-06-01 (day 276 on 03-03: not warming);
a record without its client is held.

Per day (sent, delivered, bounced, hard, opened, clicked, complained, spam, suppressed):
03-03: 4 (E1-E4), 2 (E1 E4), 2 (E2 E3), 1 (E2), 2 (E1 E4), 1 (E1), 0, 0, 1 (E3)
03-04: 3 (E5-E7), 3, 0, 0, 1 (E7), 1 (E7), 1 (E6), 1 (E5), 0
03-05: 3 (E8-E10), 1 (E9), 1 (E8), 0, 1 (E9), 0, 0, 0, 0
week:  10, 6, 3, 1, 4, 2, 1, 1, 1
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

import weir
from weir.demo.deliverability import (
    CRM_TOKEN,
    ENV_CRM_TOKEN,
    ENV_CRM_URL,
    ENV_DATABASE_URL,
    ENV_SUPPRESSIONS_URL,
    serve_crm,
)
from weir.demo.deliverability.crm_api import DOMAINS_FILE

WEEK, D3, D4, D5 = "2025-03-03", "2025-03-03", "2025-03-04", "2025-03-05"

EMAILS = [  # message_id, client_id, sending_domain, recipient, sent_at
    ("E1", 1, "mail.acme.example", "ann@gmail.com", "2025-03-03 10:00:00"),
    ("E2", 1, "mail.acme.example", "bob@outlook.com", "2025-03-03 11:00:00"),
    ("E3", 2, "news.birch.example", "old@yahoo.com", "2025-03-03 12:00:00"),
    ("E4", 2, "news.birch.example", "cat@icloud.com", "2025-03-03 13:00:00"),
    ("E4", 2, "news.birch.example", "cat@icloud.com", "2025-03-03 13:00:00"),  # stored twice
    ("E11", 1, "mail.acme.example", "jo at gmail.com", "2025-03-03 14:00:00"),  # not an address
    ("E5", 1, "mail.acme.example", "dan@hotmail.com", "2025-03-04 09:00:00"),
    ("E6", 1, "mail.acme.example", "eve@gmail.com", "2025-03-04 10:00:00"),
    ("E7", 2, "news.birch.example", "fay@web.de", "2025-03-04 11:00:00"),
    ("E8", 1, "mail.acme.example", "gus@yahoo.com", "2025-03-05 09:00:00"),
    ("E9", 2, "news.birch.example", "hal@corp.example", "2025-03-05 10:00:00"),
    ("E10", 1, "mail.acme.example", "ivy@aol.com", "2025-03-05 11:00:00"),
]
EVENTS = [  # event_id, message_id, event_type, bounce_type, occurred_at
    ("v01", "E1", "delivered", None, "2025-03-03 10:00:05"),
    ("v02", "E1", "opened", None, "2025-03-03 12:00:00"),
    ("v03", "E1", "clicked", None, "2025-03-03 12:01:00"),
    ("v04", "E2", "bounced", "hard", "2025-03-03 11:00:03"),
    ("v05", "E3", "bounced", "soft", "2025-03-03 12:00:09"),
    ("v06", "E4", "delivered", None, "2025-03-03 13:00:02"),
    ("v07", "E4", "opened", None, "2025-03-03 18:00:00"),
    ("v01", "E1", "delivered", None, "2025-03-03 10:00:05"),  # the webhook retried
    ("v20", "E11", "delivered", None, "2025-03-03 14:00:04"),  # of a held e-mail: kept
    ("v08", "E5", "delivered", None, "2025-03-04 09:00:01"),
    ("v09", "E5", "spam", None, "2025-03-04 20:00:00"),
    ("v10", "E6", "delivered", None, "2025-03-04 10:00:02"),
    ("v11", "E6", "complained", None, "2025-03-05 08:00:00"),
    ("v12", "E7", "delivered", None, "2025-03-04 11:00:02"),
    ("v13", "E7", "clicked", None, "2025-03-04 15:00:00"),
    ("v14", "E8", "delivered", None, "2025-03-05 09:00:02"),
    ("v15", "E8", "bounced", "soft", "2025-03-05 09:30:00"),
    ("v16", "E9", "delivered", None, "2025-03-05 10:00:02"),
    ("v17", "E9", "opened", None, "2025-03-05 11:00:00"),
    ("v18", "E10", "deferred", None, "2025-03-05 11:00:05"),  # a type the contract lacks
    ("v19", "E9", "opened", "hard", "2025-03-05 11:05:00"),  # breaks bounce_type's rule
]
SUPPRESSIONS = [
    ("old@yahoo.com", 2, "hard_bounce", "2025-02-01 10:00:00"),
    ("eve@gmail.com", 1, "complaint", "2025-03-04 12:00:00"),
    ("zed@gmail.com", 1, "manual", "2025-02-10 10:00:00"),  # not a reason the contract knows
]
CRM = [
    {
        "domain": "mail.acme.example",
        "client_id": 1,
        "warmup_started_on": "2025-03-03",
        "warmup_plan": "standard",
        "dedicated_ip": False,
        "tech_contact": "it@acme.example",
        "updated_at": "2025-03-01T09:00:00Z",
    },
    {
        "domain": "mail.acme.example",
        "client_id": 1,
        "warmup_started_on": "2025-03-03",
        "warmup_plan": "accelerated",
        "dedicated_ip": False,
        "tech_contact": "it@acme.example",
        "updated_at": "2025-03-04T10:00:00Z",
    },
    {
        "domain": "news.birch.example",
        "client_id": 2,
        "warmup_started_on": "2024-06-01",
        "warmup_plan": "standard",
        "dedicated_ip": True,
        "tech_contact": "pm@birch.example",
        "updated_at": "2024-05-30T09:00:00Z",
    },
    {
        "domain": "mail.lead.example",
        "client_id": None,
        "warmup_started_on": None,
        "warmup_plan": "standard",
        "dedicated_ip": False,
        "tech_contact": None,
        "updated_at": "2025-03-02T09:00:00Z",
    },
]
HEADER = [
    "client_id",
    "client_name",
    "plan",
    "monthly_quota",
    "industry",
    "account_manager",
    "billing_contact",
    "signed_on",
]
CLIENTS = {
    "2025-03-03": [
        [1, "Acme", "Starter", 20000, "retail", "Lena", "b@acme.example", date(2024, 1, 5)],
        [2, "Birch", "Scale", 800000, "finance", "Omar", "b@birch.example", date(2023, 4, 1)],
    ],
    "2025-03-05": [
        [1, "Acme", "Growth", 200000, "retail", "Lena", "b@acme.example", date(2024, 1, 5)],
        [2, "Birch", "Scale", 800000, "finance", "Omar", "b@birch.example", date(2023, 4, 1)],
        [None, "Total", None, 1000000, None, None, None, None],  # a total line: held
    ],
}


def _write(root: Path) -> tuple[Path, Path]:
    landing = root / "landing"
    mailer, suppressions = landing / "mailer.db", landing / "suppressions.db"
    landing.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(mailer) as conn:
        conn.execute(
            "CREATE TABLE emails (id INTEGER PRIMARY KEY, message_id TEXT, client_id INTEGER, "
            "sending_domain TEXT, recipient TEXT, campaign TEXT, sent_at TIMESTAMP)"
        )
        conn.executemany(
            "INSERT INTO emails VALUES (?, ?, ?, ?, ?, 'newsletter', ?)",
            [(n, *row) for n, row in enumerate(EMAILS, 1)],
        )
        conn.execute(
            "CREATE TABLE delivery_events (id INTEGER PRIMARY KEY, event_id TEXT, "
            "message_id TEXT, event_type TEXT, bounce_type TEXT, occurred_at TIMESTAMP)"
        )
        conn.executemany(
            "INSERT INTO delivery_events VALUES (?, ?, ?, ?, ?, ?)",
            [(n, *row) for n, row in enumerate(EVENTS, 1)],
        )
    conn.close()
    with sqlite3.connect(suppressions) as conn:
        conn.execute(
            "CREATE TABLE suppressions (address TEXT, client_id INTEGER, reason TEXT, "
            "suppressed_at TIMESTAMP)"
        )
        conn.executemany("INSERT INTO suppressions VALUES (?, ?, ?, ?)", SUPPRESSIONS)
    conn.close()
    (landing / DOMAINS_FILE).parent.mkdir(parents=True)
    (landing / DOMAINS_FILE).write_text(json.dumps(CRM), encoding="utf-8")
    (landing / "clients").mkdir()
    for day, rows in CLIENTS.items():
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "Clients"
        for row in [HEADER, *rows]:
            sheet.append(row)
        book.save(landing / "clients" / f"clients_{day}.xlsx")
    return mailer, suppressions


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[weir.Project]:
    root = weir.init_project(tmp_path_factory.mktemp("golden") / "mailer", "deliverability")
    mailer, suppressions = _write(root)
    with serve_crm(root / "landing") as crm, pytest.MonkeyPatch.context() as env:
        env.setenv(ENV_DATABASE_URL, f"sqlite:///{mailer}")
        env.setenv(ENV_SUPPRESSIONS_URL, f"sqlite:///{suppressions}")
        env.setenv(ENV_CRM_URL, crm.url)
        env.setenv(ENV_CRM_TOKEN, CRM_TOKEN)
        project = weir.Project(root)
        batches = {b.source: b.counts for b in project.sources.ingest()}
        # received = accepted + quarantined + duplicates, counted above
        assert {
            k: (c.received, c.accepted, c.quarantined, c.duplicates) for k, c in batches.items()
        } == {
            "emails_sent": (12, 10, 1, 1),  # E1-E11 and E4 again; E11 held
            "delivery_events": (21, 18, 2, 1),  # v18 and v19 held, v01 again
            "suppressions": (3, 2, 1, 0),  # the 'manual' row held
            "crm_domains": (4, 3, 1, 0),  # the lead without a client held
            "clients": (5, 4, 1, 0),  # 2 + 2 clients, the Total row held
        }
        _, result = project.run(ingest=False)
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
        yield project


def _answer(
    project: weir.Project, kpi: str, grain: str, by: list[str], start: str, end: str
) -> list[dict[str, Any]]:
    rows = project.kpis.answer(
        kpi, grain=grain, by=by, start=date.fromisoformat(start), end=date.fromisoformat(end)
    ).to_pylist()
    return [
        {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items() if k != "period"}
        | {"period": row["period"].isoformat()}
        for row in rows
    ]


def _pick(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[k] for k in keys) for row in rows]


# fmt: off
def test_emails_sent(golden: weir.Project) -> None:
    # 4 + 3 + 3 by day; Acme E1 E2 E5 E6 E8 E10 = 6, Birch E3 E4 E7 E9 = 4
    assert _pick(_answer(golden, "emails_sent", "day", [], D3, D5), "period", "value") == [
        (D3, 4), (D4, 3), (D5, 3)]
    assert _pick(_answer(golden, "emails_sent", "week", ["client_name"], D3, D5), "client_name", "value") == [
        ("Acme", 6), ("Birch", 4)]


def test_delivery_funnel(golden: weir.Project) -> None:
    # sent 10 -> delivered 6 (6/10 = 0.6) -> opened 4 (4/6 = 0.666667) -> clicked 2 (2/4 = 0.5);
    # drop_off = 1 - conversion
    rows = _answer(golden, "delivery_funnel", "week", [], D3, D5)
    assert _pick(rows, "step", "step_name", "value", "conversion", "drop_off") == [
        (1, "sent", 10, None, None),
        (2, "delivered", 6, 0.6, 0.4),
        (3, "opened", 4, 0.666667, 0.333333),
        (4, "clicked", 2, 0.5, 0.5),
    ]


def test_delivery_rate_by_plan(golden: weir.Project) -> None:
    # Growth: E8 E10, none delivered: 0/2 = 0.0; Scale: E3 E4 E7 E9, E4 E7 E9 delivered: 3/4;
    # Starter: E1 E2 E5 E6, E1 E5 E6 delivered: 3/4. All: 6/10.
    assert _pick(_answer(golden, "delivery_rate", "week", ["plan"], D3, D5), "plan", "value", "sent", "delivered") == [
        ("Growth", 0.0, 2, 0), ("Scale", 0.75, 4, 3), ("Starter", 0.75, 4, 3)]
    assert _pick(_answer(golden, "delivery_rate", "week", [], D3, D5), "value") == [(0.6,)]


def test_bounce_rate_by_provider(golden: weir.Project) -> None:
    # apple E4: 0/1; gmail E1 E6: 0/2; gmx E7: 0/1; other E9: 0/1;
    # outlook E2 E5: E2 bounced hard: 1/2 = 0.5, hard 0.5; yahoo E3 E8 E10: E3 E8 soft: 2/3
    rows = _answer(golden, "bounce_rate", "week", ["provider"], D3, D5)
    assert _pick(rows, "provider", "value", "sent", "bounced", "hard_bounce_rate") == [
        ("apple", 0.0, 1, 0, 0.0), ("gmail", 0.0, 2, 0, 0.0), ("gmx", 0.0, 1, 0, 0.0),
        ("other", 0.0, 1, 0, 0.0), ("outlook", 0.5, 2, 1, 0.5), ("yahoo", 0.666667, 3, 2, 0.0)]
    # all: 3 bounced (E2 E3 E8) / 10 sent = 0.3; hard: E2 / 10 = 0.1
    assert _pick(_answer(golden, "bounce_rate", "week", [], D3, D5), "value", "hard_bounce_rate") == [(0.3, 0.1)]


def test_bounce_rate_by_client_and_day(golden: weir.Project) -> None:
    # Acme 03-03 E1 E2: 1/2; 03-04 E5 E6: 0/2; 03-05 E8 E10: 1/2. Birch 03-03 E3 E4: 1/2; 03-04 E7: 0/1;
    # 03-05 E9: 0/1
    rows = _answer(golden, "bounce_rate", "day", ["client_name"], D3, D5)
    assert _pick(rows, "period", "client_name", "value") == [
        (D3, "Acme", 0.5), (D3, "Birch", 0.5), (D4, "Acme", 0.0), (D4, "Birch", 0.0),
        (D5, "Acme", 0.5), (D5, "Birch", 0.0)]


def test_open_and_click_rates(golden: weir.Project) -> None:
    # opened E1 E4 E7 (a click without an open) E9 = 4 of 6 delivered; clicked E1 E7 = 2 of 6
    assert _pick(_answer(golden, "open_rate", "week", [], D3, D5), "value") == [(0.666667,)]
    assert _pick(_answer(golden, "click_rate", "week", [], D3, D5), "value") == [(0.333333,)]


def test_complaint_and_spam_rates(golden: weir.Project) -> None:
    # complained: E6, of Acme's delivered E1 E5 E6: 1/3; Birch 0/3 (E4 E7 E9); all 1/6
    rows = _answer(golden, "complaint_rate", "week", ["client_name"], D3, D5)
    assert _pick(rows, "client_name", "value", "complained") == [("Acme", 0.333333, 1), ("Birch", 0.0, 0)]
    # marked as spam: E5 (outlook: delivered E5 only, E2 bounced): 1/1; gmail E1 E6: 0/2;
    # yahoo: E3 E8 bounced, E10 not delivered: 0/0, no rate (None)
    rows = _answer(golden, "spam_rate", "week", ["provider"], D3, D5)
    assert _pick(rows, "provider", "value") == [
        ("apple", 0.0), ("gmail", 0.0), ("gmx", 0.0), ("other", 0.0), ("outlook", 1.0), ("yahoo", None)]
    assert _pick(_answer(golden, "spam_rate", "week", [], D3, D5), "value", "marked_spam") == [(0.166667, 1)]


def test_domain_warming(golden: weir.Project) -> None:
    # mail.acme.example, warming since 03-03: 03-03 E1 E2 (day 1, E1 delivered, E2 bounced: 0.5, 0.5),
    # 03-04 E5 E6 (day 2, both delivered: 1.0, 0.0), 03-05 E8 E10 (day 3, none delivered, E8
    # bounced: 0.0, 0.5); news.birch.example is on its day 276 and not counted
    rows = _answer(golden, "domain_warming", "day", ["sending_domain"], D3, D5)
    assert _pick(rows, "period", "sending_domain", "value", "warming_day", "delivery_rate", "bounce_rate") == [
        (D3, "mail.acme.example", 2, 1, 0.5, 0.5),
        (D4, "mail.acme.example", 2, 2, 1.0, 0.0),
        (D5, "mail.acme.example", 2, 3, 0.0, 0.5),
    ]


def test_suppressed_send_rate(golden: weir.Project) -> None:
    # E3 went to old@yahoo.com, suppressed for Birch since 02-01: 1/10; E6 went to eve@gmail.com
    # two hours before it was suppressed: not counted. Birch 1/4, Acme 0/6
    assert _pick(_answer(golden, "suppressed_send_rate", "week", [], D3, D5), "value") == [(0.1,)]
    rows = _answer(golden, "suppressed_send_rate", "week", ["client_name"], D3, D5)
    assert _pick(rows, "client_name", "value", "to_suppressed") == [("Acme", 0.0, 0), ("Birch", 0.25, 1)]


def test_every_kpi_of_the_example_is_tested(golden: weir.Project) -> None:
    tested = {"emails_sent", "delivery_funnel", "delivery_rate", "bounce_rate", "open_rate",
              "click_rate", "complaint_rate", "spam_rate", "domain_warming", "suppressed_send_rate"}
    assert {k.name for k in golden.kpis.definitions()} == tested
# fmt: on
