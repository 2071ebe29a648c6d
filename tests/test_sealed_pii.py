"""Personal data sealed per data subject (``privacy: {encrypt_pii: true}``): crypto-shredding.

The golden retailer is ingested with sealing on, in two steps (the second
customers extract later, so the customers' tables have an old snapshot).
What is on disk is ciphertext; an admin (``pii: true``) reads the clear
values; a masked role reads the keyed hash worked out here from the clear
value and the project's masking key, exactly as without sealing, and joins on
it; every KPI answers its hand-worked value. Destroying one customer's key
makes their values NULL in the old snapshot too, while the others read as
before; an erasure destroys the key first and says so in its certificate.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import crm_event, edit_source, encrypt_pii, jsonl, land
from golden.check import ONE_PER_KPI, assert_answer
from hypothesis import given, settings
from hypothesis import strategies as st

import weir
from weir.governance.masks import mask_key
from weir.metadata.pii import PREFIX, PiiCipher

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"
LATER = "customers_2025-01-13.csv"  # the second extract, ingested after the first snapshot
ERASED = 4
# customer 4's personal values: in the golden files, never in clear in the lake's files
PERSONAL = [
    "dev.patel@example.net",
    "+44 7700 900104",
    "7 Albion Street, Leeds, LS2 8JS",
    "40 Headrow, Leeds, LS1 6PU",
]
CLEAR_EMAILS = {
    1: "amira.okafor@example.net",
    2: "ben.hartley@example.net",
    3: "chloe.nakamura@example.net",
    4: "dev.patel@example.net",
}
# one question of each KPI, asked of the sealed project, against the hand-worked values


def sealed_project(root: Path, sources: list[str]) -> Path:
    """The example project with sealing on, a masked reviewer role, and ``sources`` landed."""
    weir.init_project(root)
    path = root / "weir.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["privacy"]["encrypt_pii"] = True
    config["roles"]["reviewer"] = {
        "description": "Reads customers' records with personal data hashed",
        "grants": ["staging.customers", "raw.customers", "staging.crm_interactions"],
    }
    config["users"]["rev"] = {"description": "A reviewer", "roles": ["reviewer"]}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for source in sources:
        shutil.copytree(GOLDEN / source, root / "landing" / source)
    return root


@dataclass
class Sealed:
    project: weir.Project
    first_snapshot_at: datetime


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sealed]:
    root = sealed_project(
        tmp_path_factory.mktemp("sealed") / "shop", [p.name for p in GOLDEN.iterdir()]
    )
    (root / "landing" / "customers" / LATER).unlink()
    project = weir.Project(root)
    project.sources.ingest()
    first = datetime.now().astimezone()
    shutil.copy(GOLDEN / "customers" / LATER, root / "landing" / "customers" / LATER)
    project.sources.ingest(["customers"])
    _, result = project.run(ingest=False)
    assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    yield Sealed(project, first)
    project.close()


def parquet_text(root: Path, layers: tuple[str, ...]) -> dict[str, bytes]:
    """Each Parquet file of ``layers`` (raw bytes and decoded rows), lower-cased."""
    found = {}
    for layer in layers:
        for path in sorted((root / "lake" / layer).rglob("*.parquet")):
            decoded = json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
            found[str(path)] = (path.read_bytes() + decoded).lower()
    return found


def rows(project: weir.Project, sql: str, user: str = "ada", **pin: Any) -> list[dict[str, Any]]:
    return project.access.query(sql, user, **pin).table.to_pylist()


def test_no_personal_value_is_in_clear_in_any_file_of_any_layer(sealed: Sealed) -> None:
    layers = ("raw", "quarantine", "staging", "warehouse", "marts")
    files = parquet_text(sealed.project.files.state_dir, layers)
    assert {Path(f).relative_to(sealed.project.lake.warehouse).parts[0] for f in files} == set(
        layers
    )
    leaks = [(f, v) for f, data in files.items() for v in PERSONAL if v.lower().encode() in data]
    assert leaks == []
    # the customers' own files hold one sealed token per personal field of every row
    staging = pq.read_table(
        next(
            p
            for p in (sealed.project.files.state_dir / "lake" / "staging").rglob("*.parquet")
            if "customers" in p.parts and "customer_demographics" not in p.parts
        )
    )
    for column in ("first_name", "last_name", "email", "phone", "address"):
        assert all(v.startswith(PREFIX) for v in staging.column(column).to_pylist())
    assert staging.column("country").to_pylist()[0] == "GB"  # not personal: kept as it is
    # a model's personal columns (by lineage) are sealed as the model is written
    dim = pq.read_table(
        next((sealed.project.lake.warehouse / "warehouse").glob("dim_customer/data/*/*.parquet"))
    )
    assert all(v.startswith(PREFIX) for v in dim.column("email").to_pylist())


def test_a_model_table_reads_clear_for_a_pii_role_and_hashed_for_a_masked_one(
    sealed: Sealed,
) -> None:
    sql = "SELECT DISTINCT customer_id, email FROM warehouse.dim_customer WHERE customer_id <= 4"
    clear = rows(sealed.project, sql)
    assert {r["customer_id"]: r["email"] for r in clear} == CLEAR_EMAILS
    key = mask_key(sealed.project.keys).hex()
    hashed = rows(sealed.project, sql, user="ana")  # the analyst: warehouse, pii hashed
    assert {r["customer_id"]: r["email"] for r in hashed} == {
        i: "pii_" + hashlib.sha256((key + e).encode()).hexdigest()[:16]
        for i, e in CLEAR_EMAILS.items()
    }


def test_a_pii_role_reads_the_clear_values(sealed: Sealed) -> None:
    got = rows(
        sealed.project,
        "SELECT DISTINCT customer_id, email FROM staging.customers WHERE customer_id <= 4 ORDER BY 1",
    )
    assert {r["customer_id"]: r["email"] for r in got} == CLEAR_EMAILS
    raw = rows(sealed.project, "SELECT email FROM raw.customers WHERE trim(customer_id) = '4'")
    assert raw == [{"email": "dev.patel@example.net"}] * 2  # every field is text in raw


def test_a_masked_role_reads_the_same_keyed_hash_as_without_sealing(sealed: Sealed) -> None:
    key = mask_key(sealed.project.keys).hex()

    def masked(value: str) -> str:  # masks.py: 'pii_' || left(sha256(key || value), 16)
        return "pii_" + hashlib.sha256((key + value).encode()).hexdigest()[:16]

    got = rows(
        sealed.project,
        "SELECT DISTINCT customer_id, email FROM staging.customers WHERE customer_id <= 4 ORDER BY 1",
        user="rev",
    )
    assert {r["customer_id"]: r["email"] for r in got} == {
        i: masked(e) for i, e in CLEAR_EMAILS.items()
    }
    # the keyed hash joins: raw's text email and staging's email are the same hash
    joined = rows(
        sealed.project,
        "SELECT count(DISTINCT s.customer_id) AS n FROM staging.customers s"
        " JOIN raw.customers r ON r.email = s.email",
        user="rev",
    )
    assert joined == rows(
        sealed.project, "SELECT count(DISTINCT customer_id) AS n FROM staging.customers"
    )


@pytest.mark.parametrize("entry", ONE_PER_KPI, ids=[e["kpi"] for e in ONE_PER_KPI])
def test_every_kpi_answers_its_hand_worked_value(sealed: Sealed, entry: dict[str, Any]) -> None:
    assert_answer(sealed.project, entry)


def test_a_destroyed_key_makes_the_subject_unreadable_in_an_old_snapshot(sealed: Sealed) -> None:
    project = sealed.project
    query = (
        "SELECT customer_id, email, phone FROM staging.customers WHERE customer_id <= 4 ORDER BY 1"
    )
    before = rows(project, query, as_of=sealed.first_snapshot_at)
    assert [r["customer_id"] for r in before] == [1, 2, 3, 4]  # the first extract only
    assert project.cipher.destroy("customer", ERASED)
    old = rows(project, query, as_of=sealed.first_snapshot_at)
    assert [r for r in old if r["customer_id"] == ERASED] == [
        {"customer_id": ERASED, "email": None, "phone": None}
    ]
    assert [r for r in old if r["customer_id"] != ERASED] == before[:3]
    now = rows(project, query)
    assert {r["email"] for r in now if r["customer_id"] == ERASED} == {None}
    assert {r["email"] for r in now if r["customer_id"] == 1} == {CLEAR_EMAILS[1]}
    # the masked role: a null stays null, the others keep their hash
    masked = rows(project, query, user="rev")
    assert {r["email"] for r in masked if r["customer_id"] == ERASED} == {None}
    assert all(r["email"].startswith("pii_") for r in masked if r["customer_id"] != ERASED)


def test_an_erasure_destroys_the_key_first_then_purges(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = sealed_project(
        tmp_path_factory.mktemp("erase") / "shop", ["customers", "crm_interactions"]
    )
    with weir.Project(root) as project:
        project.sources.ingest(["customers", "crm_interactions"])
        subject = project.subjects.resolve(email=CLEAR_EMAILS[ERASED])  # found through sealing
        assert subject.id == str(ERASED)
        assert project.cipher.has_key("customer", ERASED)
        exported = project.subjects.export(subject)
        emails = {r["email"] for r in exported["tables"]["staging.customers"]}
        assert emails == {CLEAR_EMAILS[ERASED]}
        certificate = project.subjects.erase(subject, "GDPR art. 17 request").as_dict()
        assert certificate["key_destroyed"] and certificate["verified"]
        assert certificate["rows"] > 0
        assert not project.cipher.has_key("customer", ERASED)
        assert project.cipher.has_key("customer", 1)
        got = rows(project, "SELECT DISTINCT customer_id, email FROM staging.customers")
        assert {r["customer_id"]: r["email"] for r in got if 1 <= r["customer_id"] <= 4} == {
            i: e for i, e in CLEAR_EMAILS.items() if i != ERASED
        }
        assert {r["email"] for r in got if r["customer_id"] < 0} == {None}  # pseudonymised
        # no token of theirs is left in any file either: the purge removed the ciphertext
        ref = project.cipher.ref("customer", ERASED).encode()
        files = parquet_text(project.files.state_dir, ("raw", "quarantine", "staging"))
        assert [f for f, data in files.items() if ref in data] == []


@pytest.fixture(scope="module")
def cipher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PiiCipher]:
    root = tmp_path_factory.mktemp("cipher") / "shop"
    weir.init_project(root)
    with weir.Project(root) as project:
        yield project.cipher


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["1", "2", " 3 ", None]), st.one_of(st.none(), st.text())),
        max_size=20,
    )
)
def test_sealing_round_trips_and_never_shows_the_value(
    cipher: PiiCipher, pairs: list[tuple[str | None, str | None]]
) -> None:
    ids = pa.array([i for i, _ in pairs], pa.string())
    values = pa.array([v for _, v in pairs], pa.string())
    sealed = cipher.seal("customer", ids, values).to_pylist()
    for (subject, value), token in zip(pairs, sealed, strict=True):
        if value is None or subject is None or value.startswith(PREFIX):
            assert token == value  # no subject, nothing to seal: kept as it came
        else:
            assert token.startswith(PREFIX + cipher.ref("customer", subject))
            assert len(value) < 4 or value not in token.removeprefix(PREFIX)
    assert cipher.open(pa.array(sealed, pa.string())).to_pylist() == [v for _, v in pairs]
    # sealing twice changes nothing (a token is never sealed again)
    assert cipher.seal("customer", ids, pa.array(sealed, pa.string())).to_pylist() == sealed


def test_a_token_moved_to_another_subject_or_altered_opens_as_null(cipher: PiiCipher) -> None:
    token = cipher.seal("customer", pa.array(["11"]), pa.array(["a@example.net"]))[0].as_py()
    other = cipher.ref("customer", 12)
    cipher.seal("customer", pa.array(["12"]), pa.array(["x"]))  # 12 has a key
    moved = PREFIX + other + token[len(PREFIX) + len(other) :]
    head, body = token.rsplit(".", 1)
    sealed = bytearray(base64.urlsafe_b64decode(body))
    sealed[-1] ^= 1  # one bit of the tag; editing the text could touch only padding bits
    altered = head + "." + base64.urlsafe_b64encode(bytes(sealed)).decode()
    opened = cipher.open(pa.array([token, moved, altered, "plain"])).to_pylist()
    assert opened == ["a@example.net", None, None, "plain"]


def test_a_quarantined_sealed_record_is_replayed_in_clear(project_root: Path) -> None:
    """Quarantine keeps the record as it arrived, sealed; a replay opens it to check it again."""
    encrypt_pii(project_root)
    message = "My parcel from order 88 never arrived"
    land(
        project_root,
        "crm_interactions",
        "crm_2025-01-01T10.jsonl",
        jsonl(crm_event("e1", rating=9, message_excerpt=message), crm_event("e2")),
    )
    with weir.Project(project_root) as project:
        result = project.sources.ingest(["crm_interactions"])[0]
        assert (result.counts.accepted, result.counts.quarantined) == (1, 1)
    held = parquet_text(project_root / ".weir", ("raw", "quarantine"))
    assert held and not [f for f, data in held.items() if b"never arrived" in data]
    edit_source(project_root, "crm_interactions", "min: 1, max: 5,", "min: 1, max: 10,")
    with weir.Project(project_root) as project:
        replayed = project.sources.replay("crm_interactions")
        assert replayed.counts.accepted == 1
        got = rows(
            project, "SELECT message_excerpt FROM staging.crm_interactions WHERE event_id = 'e1'"
        )
        assert got == [{"message_excerpt": message}]


def test_subject_keys_are_made_and_read_in_bulk_and_their_version_moves(
    cipher: PiiCipher,
) -> None:
    keys = cipher.keys
    made = keys.subject_keys(["bulk-a", "bulk-b"], create=True)
    assert sorted(made) == ["bulk-a", "bulk-b"] and len(set(made.values())) == 2
    assert keys.subject_keys(["bulk-a", "bulk-b", "bulk-c"], create=False) == made
    assert keys.subject_key("bulk-a", create=False) == made["bulk-a"]  # one key, either way
    before = keys.subject_keys_version()
    assert keys.destroy_subject_key("bulk-a")
    after = keys.subject_keys_version()
    assert after != before and after[0] == before[0] - 1
    assert keys.subject_keys(["bulk-a"], create=False) == {}
