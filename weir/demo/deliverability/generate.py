"""The deliverability example's generator: an e-mail delivery company's systems, dirt included.

What it writes, for the days ``start .. end`` (``end`` defaults to yesterday, UTC):

- the OLTP database (``database_url``: PostgreSQL, e.g.
  ``postgresql+psycopg://127.0.0.1:5432/test``; none: a SQLite file
  ``<out>/mailer/mailer.db``): ``emails`` (one row per e-mail sent) and
  ``delivery_events`` (the receiving side's answers: delivered, bounced, opened,
  clicked, complained, spam), each with an increasing ``id``. Both tables are
  dropped and written again;
- ``<out>/suppressions/suppressions.db``: the suppression list, a SQLite table of
  addresses that bounced hard or complained, per client;
- ``<out>/crm_api/domains.json``: the CRM's sending domains, which ``crm_api``
  serves as a REST API;
- ``<out>/clients/clients_YYYY-MM-DD.xlsx``: the clients and their plans, one
  workbook a day (a client changes plan in the period);
- ``<out>/manifest.json``: per source, what ingestion must receive, accept,
  quarantine and count as duplicates.

Dirt (1-2 % of the records): recipients that are not addresses, e-mails without
a client, e-mails and webhook events stored twice, event types the contract does
not know, events without a time, malformed suppressed addresses, a CRM record
without its client, and "Total" rows and pasted duplicate rows in the spreadsheets.
Same seed and dates, same data.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from weir.demo.deliverability.crm_api import DEFAULT_TOKEN, DOMAINS_FILE
from weir.demo.generate.errors import GenerateError
from weir.demo.generate.manifest import Manifest, SourceCounts

ENV_DATABASE_URL = "DELIVERABILITY_DATABASE_URL"
ENV_SUPPRESSIONS_URL = "DELIVERABILITY_SUPPRESSIONS_URL"
ENV_CRM_URL = "DELIVERABILITY_CRM_URL"
ENV_CRM_TOKEN = "DELIVERABILITY_CRM_TOKEN"
CRM_TOKEN = DEFAULT_TOKEN
SOURCES = ("emails_sent", "delivery_events", "suppressions", "crm_domains", "clients")
FOLDERS = ("mailer", "suppressions", "crm_api", "clients")

# id, name, industry, plan, monthly quota, account manager, list quality (1 = clean)
CLIENTS: tuple[tuple[int, str, str, str, int, str, float], ...] = (
    (1, "Northwind Outfitters", "retail", "Growth", 200_000, "Lena Ortiz", 1.0),
    (2, "Bluebird Bank", "finance", "Enterprise", 2_000_000, "Omar Haddad", 0.6),
    (3, "Cobalt Games", "gaming", "Scale", 800_000, "Lena Ortiz", 1.2),
    (4, "Daisy Florists", "retail", "Starter", 20_000, "Priya Nair", 2.5),
    (5, "Ember Health", "healthcare", "Scale", 800_000, "Omar Haddad", 0.8),
    (6, "Fjord Travel", "travel", "Growth", 200_000, "Priya Nair", 1.0),
    (7, "Granite SaaS", "software", "Starter", 20_000, "Lena Ortiz", 0.9),
    (8, "Harbor News", "media", "Enterprise", 2_000_000, "Omar Haddad", 1.1),
)
QUOTAS = {"Starter": 20_000, "Growth": 200_000, "Scale": 800_000, "Enterprise": 2_000_000}
# (client, domain, base daily volume, warming: None (established) or the period day it starts)
DOMAINS: tuple[tuple[int, str, int, float | None], ...] = (
    (1, "mail.northwind.example", 60, None),
    (2, "notify.bluebird.example", 80, None),
    (2, "statements.bluebird.example", 30, None),
    (3, "mail.cobaltgames.example", 50, None),
    (3, "news.cobaltgames.example", 70, 0.0),  # starts warming on the first day
    (4, "mail.daisyflorists.example", 20, None),
    (5, "care.emberhealth.example", 40, None),
    (6, "mail.fjordtravel.example", 40, None),
    (6, "offers.fjordtravel.example", 60, 0.34),  # starts a third into the period
    (7, "app.granite.example", 25, None),
    (8, "daily.harbornews.example", 90, None),
)
# recipient domains and their share of the recipients
RECIPIENT_DOMAINS = (
    ("gmail.com", 0.34),
    ("outlook.com", 0.12),
    ("hotmail.com", 0.08),
    ("live.com", 0.02),
    ("yahoo.com", 0.12),
    ("aol.com", 0.03),
    ("icloud.com", 0.08),
    ("gmx.de", 0.05),
    ("web.de", 0.04),
    ("corp-mail.example", 0.12),
)
BOUNCE_FACTOR = {"yahoo.com": 1.6, "aol.com": 1.8, "outlook.com": 1.2, "hotmail.com": 1.2}
OPEN_RATE = {"icloud.com": 0.45}  # Apple's mail privacy protection opens every message
FIRST = ("ana", "ben", "chloe", "dev", "eva", "finn", "gia", "hugo", "ines", "jon", "kai", "lia")
LAST = ("smith", "khan", "garcia", "muller", "rossi", "dubois", "silva", "tanaka", "novak")
CAMPAIGNS = ("newsletter", "welcome", "receipt", "promotion", "reminder")


@dataclass(frozen=True)
class Generated:
    """A generator run: its manifest and the environment the example's sources read.

    ``environment`` holds ``DELIVERABILITY_DATABASE_URL`` and
    ``DELIVERABILITY_SUPPRESSIONS_URL``; the CRM's URL is known once its server runs.
    """

    manifest: Manifest
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class _Counts:
    received: int = 0
    quarantined: int = 0
    duplicates: int = 0
    files: int = 1
    dirty: dict[str, int] = field(default_factory=dict)

    def dirt(self, kind: str, outcome: str) -> None:
        self.received += 1
        self.dirty[kind] = self.dirty.get(kind, 0) + 1
        if outcome == "quarantined":
            self.quarantined += 1
        else:
            self.duplicates += 1

    def counts(self) -> SourceCounts:
        accepted = self.received - self.quarantined - self.duplicates
        return SourceCounts(
            self.files, self.received, accepted, self.quarantined, self.duplicates, self.dirty
        )


def default_end(now: datetime | None = None) -> date:
    return ((now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=1)).date()


def generate(
    out: Path,
    *,
    database_url: str | None = None,
    days: int = 14,
    end: date | None = None,
    seed: int = 7,
    scale: float = 1.0,
) -> Generated:
    """Write the example's data (see the module's docstring) and return its manifest."""
    if days < 1 or days > 366:
        raise GenerateError(
            f"--days {days} is out of range", "generate 1 to 366 days of the delivery company"
        )
    if not 0.01 <= scale <= 20:
        raise GenerateError(f"--scale {scale} is out of range", "use a scale from 0.01 to 20")
    end = end or default_end()
    start = end - timedelta(days=days - 1)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for folder in FOLDERS:
        shutil.rmtree(out / folder, ignore_errors=True)
    rng = random.Random(seed)
    url = _database_url(database_url, out)
    world = _World(rng, start, days, scale)
    emails, events, counts_emails, counts_events = world.mail()
    _load_database(url, emails, events)
    suppressions_db = out / "suppressions" / "suppressions.db"
    counts_suppressions = _write_suppressions(suppressions_db, world)
    counts_crm = _write_crm(out, world)
    counts_clients = _write_clients(out / "clients", world)
    manifest = Manifest(
        seed=seed,
        days=days,
        scale=scale,
        start=start.isoformat(),
        sources={
            "emails_sent": counts_emails.counts(),
            "delivery_events": counts_events.counts(),
            "suppressions": counts_suppressions.counts(),
            "crm_domains": counts_crm.counts(),
            "clients": counts_clients.counts(),
        },
    )
    manifest.write(out)
    return Generated(
        manifest,
        {ENV_DATABASE_URL: url, ENV_SUPPRESSIONS_URL: f"sqlite:///{suppressions_db}"},
    )


def _database_url(given: str | None, out: Path) -> str:
    if not given:
        folder = out / "mailer"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'mailer.db'}"
    if given.startswith("postgresql://") or given.startswith("postgres://"):
        return "postgresql+psycopg://" + given.split("://", 1)[1]  # the driver weir installs
    return given


class _World:
    """The clients, their domains and recipients, and what happened to each e-mail."""

    def __init__(self, rng: random.Random, start: date, days: int, scale: float) -> None:
        self.rng, self.start, self.days, self.scale = rng, start, days, scale
        self.end_moment = datetime.combine(start + timedelta(days=days), datetime.min.time())
        self.plan_changes = {4: days // 2, 7: (2 * days) // 3}  # client -> day it moves up
        self.warming: dict[str, date] = {}
        for _, domain, _, starts in DOMAINS:
            if starts is None:
                self.warming[domain] = start - timedelta(days=200 + rng.randrange(400))
            else:
                self.warming[domain] = start + timedelta(days=int(starts * days))
        self.pool: dict[int, list[str]] = {}
        self.suppressed: dict[tuple[int, str], tuple[str, datetime]] = {}
        for client, *_ in CLIENTS:
            addresses = sorted(
                {self._address() for _ in range(max(20, int(300 * scale * (1 + client % 3))))}
            )
            self.pool[client] = addresses
            for address in rng.sample(addresses, max(1, len(addresses) // 30)):
                moment = datetime.combine(start, datetime.min.time()) - timedelta(
                    hours=rng.randrange(24, 24 * 300)
                )
                self.suppressed[(client, address)] = (
                    rng.choice(["hard_bounce", "complaint"]),
                    moment,
                )

    def _address(self) -> str:
        names = [d for d, _ in RECIPIENT_DOMAINS]
        weights = [w for _, w in RECIPIENT_DOMAINS]
        domain = self.rng.choices(names, weights)[0]
        return (
            f"{self.rng.choice(FIRST)}.{self.rng.choice(LAST)}{self.rng.randrange(1000)}@{domain}"
        )

    def plan(self, client: int, day_index: int) -> str:
        base = next(c[3] for c in CLIENTS if c[0] == client)
        moves = self.plan_changes.get(client)
        return "Growth" if moves is not None and moves > 0 and day_index >= moves else base

    def mail(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], _Counts, _Counts]:
        """The e-mails and their events, as stored (dirt included), and their expected counts."""
        rng = self.rng
        emails: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        quality = {c[0]: c[6] for c in CLIENTS}
        number = 0
        for index in range(self.days):
            day = self.start + timedelta(days=index)
            midnight = datetime.combine(day, datetime.min.time())
            for client, domain, base, _ in DOMAINS:
                age = (day - self.warming[domain]).days + 1  # warming day 1 is its first
                if age < 1:
                    continue
                ramp = min(1.0, 0.08 * 1.45 ** (age - 1))
                volume = max(1, round(base * self.scale * ramp * rng.uniform(0.8, 1.2)))
                for _ in range(volume):
                    number += 1
                    recipient = rng.choice(self.pool[client])
                    # the others clean their lists against the suppressions (a few draws: a
                    # list that is mostly suppressed still sends to some of them)
                    for _ in range(20 if client != 4 else 0):
                        if (client, recipient) not in self.suppressed:
                            break
                        recipient = rng.choice(self.pool[client])
                    sent = midnight + timedelta(seconds=rng.randrange(6 * 3600, 22 * 3600))
                    message = f"{number:08x}.{day:%Y%m%d}@{domain}"
                    emails.append(
                        {
                            "message_id": message,
                            "client_id": client,
                            "sending_domain": domain,
                            "recipient": recipient,
                            "campaign": rng.choice(CAMPAIGNS),
                            "sent_at": sent,
                        }
                    )
                    events.extend(
                        self._fate(message, client, recipient, sent, age, quality[client])
                    )
        emails.sort(key=lambda e: (e["sent_at"], e["message_id"]))
        events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
        stored_emails, email_counts = self._dirty_emails(emails)
        stored_events, event_counts = self._dirty_events(events)
        return stored_emails, stored_events, email_counts, event_counts

    def _fate(
        self, message: str, client: int, recipient: str, sent: datetime, age: int, quality: float
    ) -> list[dict[str, Any]]:
        rng = self.rng
        domain = recipient.rsplit("@", 1)[1]
        warming = 2.0 if age <= 7 else 1.5 if age <= 14 else 1.0
        happened: list[tuple[str, datetime, str | None]] = []
        if (client, recipient) in self.suppressed:
            bounce = 0.9
        else:
            bounce = min(0.5, 0.02 * quality * BOUNCE_FACTOR.get(domain, 1.0) * warming)
        if rng.random() < bounce:
            kind = "hard" if rng.random() < 0.6 else "soft"
            at = sent + timedelta(seconds=rng.randrange(1, 120))
            happened.append(("bounced", at, kind))
            if kind == "hard" and (client, recipient) not in self.suppressed:
                self.suppressed[(client, recipient)] = ("hard_bounce", at)
        else:
            delivered = sent + timedelta(seconds=rng.randrange(1, 30))
            happened.append(("delivered", delivered, None))
            opened = delivered + timedelta(seconds=int(rng.expovariate(1 / 10800)) + 1)
            if rng.random() < OPEN_RATE.get(domain, 0.25):
                happened.append(("opened", opened, None))
                if rng.random() < 0.15:
                    happened.append(
                        ("clicked", opened + timedelta(seconds=rng.randrange(5, 600)), None)
                    )
            if rng.random() < 0.003 * quality * warming:
                at = delivered + timedelta(seconds=rng.randrange(600, 36000))
                happened.append(("spam", at, None))
                self.suppressed.setdefault((client, recipient), ("complaint", at))
            elif rng.random() < 0.001 * quality:
                at = delivered + timedelta(seconds=rng.randrange(3600, 86400))
                happened.append(("complained", at, None))
                self.suppressed.setdefault((client, recipient), ("complaint", at))
        return [
            {
                "event_id": f"ev-{message.split('.', 1)[0]}-{kind}",
                "message_id": message,
                "event_type": kind,
                "bounce_type": bounce_type,
                "occurred_at": at,
            }
            for kind, at, bounce_type in happened
            if at < self.end_moment  # what happens after the period has not happened yet
        ]

    def _dirty_emails(self, clean: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], _Counts]:
        rng, counts, rows = self.rng, _Counts(), []
        for email in clean:
            draw = rng.random()
            if draw < 0.007:  # a recipient typed without its @
                email = {**email, "recipient": email["recipient"].replace("@", " at ")}
                counts.dirt("recipient_not_an_address", "quarantined")
            elif draw < 0.011:
                email = {**email, "client_id": None}
                counts.dirt("missing_client", "quarantined")
            else:
                counts.received += 1
            rows.append(email)
            if 0.011 <= draw < 0.016:  # the mailer stored the send twice
                rows.append(dict(email))
                counts.dirt("duplicate_send", "duplicate")
        for number, row in enumerate(rows, 1):
            row["id"] = number
        return rows, counts

    def _dirty_events(self, clean: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], _Counts]:
        rng, counts, rows = self.rng, _Counts(), []
        retried: list[dict[str, Any]] = []
        for event in clean:
            draw = rng.random()
            if draw < 0.006:  # a type the provider added and the contract does not know yet
                event = {**event, "event_type": "deferred", "bounce_type": None}
                counts.dirt("unknown_event_type", "quarantined")
            elif draw < 0.01:
                event = {**event, "occurred_at": None}
                counts.dirt("missing_time", "quarantined")
            else:
                counts.received += 1
            rows.append(event)
            if 0.01 <= draw < 0.015:  # the webhook was retried: the same event stored again
                retried.append(dict(event))
                counts.dirt("webhook_retried", "duplicate")
            while retried and rng.random() < 0.3:
                rows.append(retried.pop(0))
        rows.extend(retried)
        for number, row in enumerate(rows, 1):
            row["id"] = number
        return rows, counts


def _load_database(url: str, emails: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    import sqlalchemy as sa

    meta = sa.MetaData()
    tables = (
        sa.Table(
            "emails",
            meta,
            sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("message_id", sa.String(200), nullable=False),
            sa.Column("client_id", sa.Integer),
            sa.Column("sending_domain", sa.String(200), nullable=False),
            sa.Column("recipient", sa.String(320), nullable=False),
            sa.Column("campaign", sa.String(50)),
            sa.Column("sent_at", sa.DateTime, nullable=False),
        ),
        sa.Table(
            "delivery_events",
            meta,
            sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("event_id", sa.String(100), nullable=False),
            sa.Column("message_id", sa.String(200), nullable=False),
            sa.Column("event_type", sa.String(30), nullable=False),
            sa.Column("bounce_type", sa.String(10)),
            sa.Column("occurred_at", sa.DateTime),
        ),
    )
    try:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            meta.drop_all(conn)
            meta.create_all(conn)
            for table, rows in zip(tables, (emails, events), strict=True):
                for chunk in range(0, len(rows), 5000):
                    conn.execute(table.insert(), rows[chunk : chunk + 5000])
        engine.dispose()
    except ImportError as exc:
        raise GenerateError(
            f"cannot load the mailer's database: {exc}",
            "install the database drivers: pip install 'weir[databases]'",
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        why = " ".join(str(exc).split()).split(" (Background on this error")[0][:300]
        raise GenerateError(
            f"cannot load the mailer's database at {shown}: {why}",
            "check the URL (e.g. postgresql+psycopg://127.0.0.1:5432/test) and that the "
            "server runs and lets this user create tables",
        ) from None


def _write_suppressions(path: Path, world: _World) -> _Counts:
    import sqlite3

    rng, counts = world.rng, _Counts()
    rows: list[tuple[str, int, str, str]] = []
    clean: list[int] = []
    for (client, address), (reason, moment) in sorted(world.suppressed.items()):
        if moment >= world.end_moment:
            continue
        if rng.random() < 0.012:  # an address pasted in by hand, without its @
            address = address.replace("@", "(at)")
            counts.dirt("address_malformed", "quarantined")
        else:
            clean.append(len(rows))
            counts.received += 1
        rows.append((address, client, reason, moment.strftime("%Y-%m-%d %H:%M:%S")))
    if clean:  # the same address suppressed twice by a manual import
        rows.append(rows[clean[len(clean) // 2]])
        counts.dirt("imported_twice", "duplicate")
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE suppressions (address TEXT NOT NULL, client_id INTEGER NOT NULL, "
            "reason TEXT NOT NULL, suppressed_at TIMESTAMP NOT NULL)"
        )
        conn.executemany("INSERT INTO suppressions VALUES (?, ?, ?, ?)", rows)
    conn.close()
    return counts


def _write_crm(out: Path, world: _World) -> _Counts:
    counts, records = _Counts(), []
    for client, domain, _, starts in DOMAINS:
        began = world.warming[domain]
        slug = domain.split(".")[1]
        record = {
            "domain": domain,
            "client_id": client,
            "warmup_started_on": began.isoformat(),
            "warmup_plan": "standard",
            "dedicated_ip": starts is None and client in (2, 8),
            "tech_contact": f"postmaster@{slug}.example",
            "updated_at": f"{began - timedelta(days=2)}T09:00:00Z",
        }
        records.append(record)
        counts.received += 1
        if starts is not None and world.days >= 4:  # the warm-up plan changed a few days in
            changed = began + timedelta(days=3)
            records.append(
                {**record, "warmup_plan": "accelerated", "updated_at": f"{changed}T15:30:00Z"}
            )
            counts.received += 1
    # a domain a sales rep entered for a lead that is no client yet
    lead = world.start + timedelta(days=world.days // 2)
    records.append(
        {
            "domain": "mail.prospect.example",
            "client_id": None,
            "warmup_started_on": None,
            "warmup_plan": "standard",
            "dedicated_ip": False,
            "tech_contact": "it@prospect.example",
            "updated_at": f"{lead}T11:00:00Z",
        }
    )
    counts.dirt("missing_client", "quarantined")
    path = out / DOMAINS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    return counts


def _write_clients(folder: Path, world: _World) -> _Counts:
    from openpyxl import Workbook

    folder.mkdir(parents=True, exist_ok=True)
    counts = _Counts(files=world.days)
    header = [
        "client_id",
        "client_name",
        "plan",
        "monthly_quota",
        "industry",
        "account_manager",
        "billing_contact",
        "signed_on",
    ]
    for index in range(world.days):
        day = world.start + timedelta(days=index)
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "Clients"
        sheet.append(header)
        rows = []
        for client, name, industry, _, _, manager, _ in CLIENTS:
            plan = world.plan(client, index)
            slug = name.split()[0].lower()
            signed = date(2021, 1, 1) + timedelta(days=97 * client)
            rows.append(
                [
                    client,
                    name,
                    plan,
                    QUOTAS[plan],
                    industry,
                    manager,
                    f"billing@{slug}.example",
                    signed,
                ]
            )
        for row in rows:
            sheet.append(row)
            counts.received += 1
        if index % 7 == 3:  # someone added a total line under the table
            sheet.append(
                [
                    None,
                    "Total",
                    None,
                    sum(QUOTAS[world.plan(c[0], index)] for c in CLIENTS),
                    None,
                    None,
                    None,
                    None,
                ]
            )
            counts.dirt("total_row", "quarantined")
        if index == world.days // 3 and world.days >= 3:  # a row pasted twice
            sheet.append(rows[2])
            counts.dirt("row_pasted_twice", "duplicate")
        book.save(folder / f"clients_{day.isoformat()}.xlsx")
    return counts
