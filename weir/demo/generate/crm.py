"""CRM interactions: feedback, loyalty contacts and complaint cases over the whole period.

Cases are the reason this source is drawn for the period at once rather than
day by day: a complaint opens a case, follow-ups and a resolution come hours
or days later (some cases re-open, some are still open when the period ends),
and a satisfaction survey may follow. Free-text excerpts sometimes carry the
customer's e-mail address, a phone number or a card number, as real ones do;
those records are clean and are counted as remarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.demo.generate import render
from weir.demo.generate.cards import card_digits
from weir.demo.generate.dirt import code
from weir.demo.generate.records import NO_KIND, Batch, Tokens
from weir.demo.generate.timeline import DAY_MS, HOUR_MS, stream
from weir.demo.generate.world import World

CRM_COLUMNS = (
    "event_id",
    "customer_id",
    "interaction_type",
    "channel",
    "rating",
    "message_excerpt",
    "case_id",
    "case_status",
    "timestamp",
)
INTERACTION_TYPES = ("Feedback", "Loyalty", "Complaint")
CHANNELS = ("Email", "App", "Phone")
CASE_STATUSES = ("open", "resolved")
FEEDBACK, LOYALTY, COMPLAINT = range(3)
_HOURS = np.array(
    (
        0.1,
        0.05,
        0.05,
        0.05,
        0.05,
        0.1,
        0.3,
        0.6,
        1.0,
        1.3,
        1.4,
        1.3,
        1.2,
        1.2,
        1.2,
        1.1,
        1.0,
        1.0,
        0.9,
        0.9,
        0.8,
        0.6,
        0.4,
        0.2,
    )
)
_WEEKDAY = np.array((1.2, 1.05, 1.0, 1.0, 0.95, 0.85, 0.8))

# Excerpts: (text before, placeholder, text after); placeholders are filled per record.
_MESSAGES = {
    "praise": (
        ("Love my new ", "product", ", great quality"),
        ("Fast delivery and lovely packaging", "", ""),
        ("Staff at the ", "city", " store were really helpful"),
        ("The ", "product", " is exactly as pictured"),
    ),
    "gripe": (
        ("Zip on my ", "product", " broke after a week"),
        ("Colour not as shown on the website", "", ""),
        ("Long queue at the ", "city", " store"),
        ("Delivery took longer than promised", "", ""),
    ),
    "loyalty": (
        ("Redeemed ", "points", " points on my last purchase"),
        ("How do I link my loyalty card to the app?", "", ""),
        ("Points missing from my visit to ", "city", ""),
        ("Asked about the Gold tier benefits", "", ""),
    ),
    "open": (
        ("Order ", "order", " arrived damaged"),
        ("Charged twice for the same order", "", ""),
        ("Strap came loose on my ", "product", ""),
        ("Still waiting for my refund", "", ""),
    ),
    "update": (
        ("Any update on my case?", "", ""),
        ("Sent photos of the damage", "", ""),
        ("Replacement ", "product", " dispatched"),
        ("Agent called back, waiting for the warehouse", "", ""),
    ),
    "resolved": (
        ("Refund issued, case closed", "", ""),
        ("Replacement delivered, thanks", "", ""),
        ("Voucher sent as an apology", "", ""),
    ),
    "reopen": (("The problem came back", "", ""), ("Refund never arrived", "", "")),
}
_MOODS = tuple(_MESSAGES)


@dataclass(frozen=True)
class Interactions:
    """Every interaction of the period, in time order."""

    ms: np.ndarray
    customer: np.ndarray
    type: np.ndarray
    channel: np.ndarray  # -1: unknown
    rating: np.ndarray  # 0: none
    case: np.ndarray  # case number, -1: none
    status: np.ndarray  # index into CASE_STATUSES, -1: no change
    message: pa.Array
    remark: np.ndarray  # dirt kind code of personal data in the message, or -1
    day_start: np.ndarray  # first interaction of each day (and one past the end)

    def day(self, d: int) -> slice:
        return slice(int(self.day_start[d]), int(self.day_start[d + 1]))


def interactions(world: World, seed: int) -> Interactions:
    period = world.period
    parts: list[dict[str, np.ndarray]] = []
    next_case = 1
    for d in range(period.days):
        rng = stream(seed, "crm", d)
        level = world.volumes.crm * _WEEKDAY[period.weekday(d)] / _WEEKDAY.mean() * period.season(d)
        parts.append(_contacts(world, d, rng, FEEDBACK, rng.poisson(level * 0.42)))
        parts.append(_contacts(world, d, rng, LOYALTY, rng.poisson(level * 0.30)))
        cases = int(rng.poisson(level * 0.085))
        parts.append(_cases(world, d, rng, np.arange(next_case, next_case + cases)))
        next_case += cases
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = merged["ms"] < period.end_ms
    merged = {k: v[keep] for k, v in merged.items()}
    order = np.argsort(merged["ms"], kind="stable")
    merged = {k: v[order] for k, v in merged.items()}
    message, remark = _messages(world, stream(seed, "crm-text"), merged["mood"])
    bounds = period.epoch_ms(0) + DAY_MS * np.arange(period.days + 1)
    return Interactions(
        merged["ms"],
        merged["customer"],
        merged["type"],
        merged["channel"],
        merged["rating"],
        merged["case"],
        merged["status"],
        message,
        remark,
        np.searchsorted(merged["ms"], bounds, side="left"),
    )


def _daytime(rng: np.random.Generator, day_ms: int, k: int) -> np.ndarray:
    hours = rng.choice(24, size=k, p=_HOURS / _HOURS.sum())
    return day_ms + hours * HOUR_MS + rng.integers(0, HOUR_MS, size=k)


def _contacts(
    world: World, d: int, rng: np.random.Generator, kind: int, k: int
) -> dict[str, np.ndarray]:
    day_ms = world.period.epoch_ms(d)
    if kind == FEEDBACK:
        rating = rng.choice(np.arange(1, 6), size=k, p=(0.07, 0.08, 0.15, 0.30, 0.40))
        rating[rng.random(k) < 0.08] = 0
        channel = rng.choice(3, size=k, p=(0.4, 0.5, 0.1))
        pleased = (rating >= 4) | ((rating == 0) & (rng.random(k) < 0.5))
        mood = np.where(pleased, _MOODS.index("praise"), _MOODS.index("gripe"))
    else:
        rating = np.zeros(k, dtype=np.int64)
        channel = rng.choice(3, size=k, p=(0.3, 0.6, 0.1))
        mood = np.full(k, _MOODS.index("loyalty"))
    channel[rng.random(k) < 0.03] = -1
    return {
        "ms": _daytime(rng, day_ms, k),
        "customer": world.customers.sample(rng, k, day_ms),
        "type": np.full(k, kind),
        "channel": channel,
        "rating": rating,
        "case": np.full(k, -1),
        "status": np.full(k, -1),
        "mood": mood,
    }


def _cases(
    world: World, d: int, rng: np.random.Generator, numbers: np.ndarray
) -> dict[str, np.ndarray]:
    """Each case's interactions: opened, followed up, resolved (or not), maybe re-opened, rated."""
    k = len(numbers)
    day_ms = world.period.epoch_ms(d)
    opened = _daytime(rng, day_ms, k)
    customer = world.customers.sample(rng, k, day_ms)
    channel = rng.choice(3, size=k, p=(0.4, 0.2, 0.4))
    hours_to_resolve = np.maximum(rng.lognormal(np.log(20.0), 0.9, size=k), 0.5)
    resolved_at = opened + (hours_to_resolve * HOUR_MS).astype(np.int64)
    resolves = rng.random(k) > 0.08
    reopens = resolves & (rng.random(k) < 0.12)
    reopened_at = resolved_at + rng.integers(2 * HOUR_MS, 72 * HOUR_MS, size=k)
    resolves_again = reopens & (rng.random(k) < 0.85)
    resolved_again_at = reopened_at + (
        np.maximum(rng.lognormal(np.log(10.0), 0.8, size=k), 0.5) * HOUR_MS
    ).astype(np.int64)
    last_resolution = np.where(resolves_again, resolved_again_at, resolved_at)
    surveyed = resolves & (~reopens | resolves_again) & (rng.random(k) < 0.35)
    survey_at = last_resolution + rng.integers(HOUR_MS, 24 * HOUR_MS, size=k)
    updates = rng.choice(3, size=k, p=(0.5, 0.35, 0.15))

    rows: list[tuple[np.ndarray, np.ndarray, int, np.ndarray, int, str]] = []
    everyone = np.ones(k, dtype=bool)
    rows.append((everyone, opened, COMPLAINT, channel, 0, "open"))
    for u in range(2):
        at = opened + ((u + 1) / 3 * rng.uniform(0.3, 1.0, size=k) * (resolved_at - opened)).astype(
            np.int64
        )
        rows.append((updates > u, at + 1, COMPLAINT, rng.choice(3, size=k), 0, "update"))
    rows.append((resolves, resolved_at, COMPLAINT, channel, 1, "resolved"))
    rows.append((reopens, reopened_at, COMPLAINT, channel, 0, "reopen"))
    rows.append((resolves_again, resolved_again_at, COMPLAINT, channel, 1, "resolved"))
    rows.append((surveyed, survey_at, FEEDBACK, rng.choice(2, size=k), -1, "praise"))
    parts: dict[str, list[np.ndarray]] = {
        key: [] for key in ("ms", "customer", "type", "channel", "rating", "case", "status", "mood")
    }
    for mask, at, kind, chan, status, mood in rows:
        m = int(mask.sum())
        parts["ms"].append(at[mask])
        parts["customer"].append(customer[mask])
        parts["type"].append(np.full(m, kind))
        parts["channel"].append(chan[mask])
        if kind == FEEDBACK:
            rating = rng.choice(np.arange(1, 6), size=m, p=(0.12, 0.13, 0.2, 0.3, 0.25))
            parts["rating"].append(rating)
            parts["mood"].append(
                np.where(rating >= 4, _MOODS.index("praise"), _MOODS.index("gripe"))
            )
            parts["status"].append(np.full(m, -1))
        else:
            parts["rating"].append(np.zeros(m, dtype=np.int64))
            parts["mood"].append(np.full(m, _MOODS.index(mood)))
            # Follow-ups mostly leave the status alone; some restate that the case is open.
            still = np.where(rng.random(m) < 0.3, 0, -1) if mood == "update" else np.full(m, status)
            parts["status"].append(still)
        parts["case"].append(numbers[mask])
    return {key: np.concatenate(values).astype(np.int64) for key, values in parts.items()}


def _messages(
    world: World, rng: np.random.Generator, mood: np.ndarray
) -> tuple[pa.Array, np.ndarray]:
    """Excerpts for each interaction, some with personal data appended; and which kind."""
    n = len(mood)
    templates = [t for m in _MOODS for t in _MESSAGES[m]]
    counts = np.array([len(_MESSAGES[m]) for m in _MOODS])
    pick = (np.cumsum(counts) - counts)[mood] + (rng.random(n) * counts[mood]).astype(np.int64)
    before, slot_kind, after = (
        np.array([t[i] for t in templates], dtype=object)[pick] for i in range(3)
    )
    products = world.products
    product_names = np.array(products.names, dtype=object)[
        rng.integers(len(products.names), size=n)
    ]
    cities = np.array(world.stores.cities, dtype=object)[
        rng.integers(len(world.stores.cities), size=n)
    ]
    points = (rng.integers(2, 100, size=n) * 50).astype(str).astype(object)
    order_prefix = f"W{world.period.compact(0)}-"
    orders = np.array(
        [f"{order_prefix}{i:06d}" for i in rng.integers(1, 400, size=n).tolist()], dtype=object
    )
    filled = np.full(n, "", dtype=object)
    for name, values in (
        ("product", product_names),
        ("city", cities),
        ("points", points),
        ("order", orders),
    ):
        filled = np.where(slot_kind == name, values, filled)
    text = pc.binary_join_element_wise(
        render.strings(before), render.strings(filled), render.strings(after), ""
    )

    remark = np.full(n, NO_KIND, dtype=np.int8)
    draw = rng.random(n)
    if n >= 3:
        # Every run, however small, carries each kind of personal data at least once.
        draw[:3] = (0.0, 0.02, 0.03)
    email = draw < 0.015
    phone = (draw >= 0.015) & (draw < 0.025)
    card = (draw >= 0.025) & (draw < 0.032)
    customers = world.customers
    who = rng.integers(0, customers.n, size=n)
    extra = np.full(n, "", dtype=object)
    emails = customers.email.take(pa.array(who[email])).to_pylist()
    extra[email] = [f". Please reply to {e}" for e in emails]
    numbers = rng.integers(0, 1000, size=int(phone.sum()))
    extra[phone] = [f". Call me back on +44 7700 900{x:03d}" for x in numbers.tolist()]
    extra[card] = [f". I was charged twice on card {c}" for c in _card_texts(rng, int(card.sum()))]
    remark[email] = code("email_in_message")
    remark[phone] = code("phone_in_message")
    remark[card] = code("card_in_message")
    text = pc.binary_join_element_wise(text, render.strings(extra), "")
    silent = (rng.random(n) < 0.08) & (remark == NO_KIND)
    return pc.if_else(pa.array(silent), pa.scalar(None, pa.string()), text), remark


def _card_texts(rng: np.random.Generator, k: int) -> list[str]:
    """Card numbers as people type them: in one block, or in groups of four."""
    digits = ["".join(map(str, row)) for row in card_digits(rng, k).tolist()]
    style = rng.integers(0, 3, size=k)
    out = []
    for number, s in zip(digits, style.tolist(), strict=True):
        groups = [number[i : i + 4] for i in range(0, 16, 4)]
        out.append(number if s == 0 else (" " if s == 1 else "-").join(groups))
    return out


def crm_batch(world: World, d: int, every: Interactions) -> Batch:
    part = every.day(d)
    ms = every.ms[part]
    n = len(ms)
    serial = np.arange(part.start, part.stop, dtype=np.uint64) + np.uint64(1)
    case = every.case[part]
    channel = every.channel[part]
    status = every.status[part]
    rating = every.rating[part]
    columns = {
        "event_id": Tokens(
            render.prefixed('"c', render.hex_chars(render.scramble(serial, 48), 12), '"')
        ),
        "customer_id": render.numbers(world.customers.ids[every.customer[part]]),
        "interaction_type": render.strings([INTERACTION_TYPES[t] for t in every.type[part]]),
        "channel": render.strings([CHANNELS[c] if c >= 0 else None for c in channel]),
        "rating": render.numbers(rating, rating > 0),
        "message_excerpt": every.message.slice(part.start, n),
        "case_id": pc.if_else(
            pa.array(case >= 0),
            render.prefixed("CS-", render.digit_chars(np.maximum(case, 0), 7)),
            pa.scalar(None, pa.string()),
        ),
        "case_status": render.strings([CASE_STATUSES[c] if c >= 0 else None for c in status]),
        "timestamp": render.epochs(ms),
    }
    batch = Batch("jsonl", columns, d, kind=every.remark[part].copy(), context={"ms": ms})
    batch.rank = ms.astype(np.float64)
    return batch
