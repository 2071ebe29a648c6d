"""One credential store, two kinds: API tokens and write keys, each in its own table."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from weir.errors import AuthError, NotFoundError
from weir.governance.credentials import CredentialKind, Credentials
from weir.governance.keys import WriteKeys
from weir.metadata import MetadataStore

GRANTS: dict[CredentialKind, tuple[str, ...]] = {
    "token": ("ana", "analyst"),
    "write_key": ("crm_interactions", "web_traffic"),
}
TABLES = {"token": "weir_tokens", "write_key": "weir_write_keys"}
PREFIXES = {"token": "weir_", "write_key": "wk_"}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "catalog.db"


@pytest.fixture
def store(database: Path) -> MetadataStore:
    return MetadataStore(f"sqlite:///{database}")


@pytest.mark.parametrize("kind", ["token", "write_key"])
def test_a_credential_is_shown_once_stored_as_a_hash_listed_and_revoked(
    store: MetadataStore, database: Path, kind: CredentialKind
) -> None:
    credentials = Credentials(store, kind)
    created, secret = credentials.create(GRANTS[kind], note="for the test")
    assert secret.startswith(f"{PREFIXES[kind]}{created.id}_")
    assert credentials.verify(secret) == created
    assert credentials.verify(f" {secret}\n").grant == GRANTS[kind]
    with sqlite3.connect(database) as con:
        stored = con.execute(f"SELECT * FROM {TABLES[kind]}").fetchall()
    assert secret not in json.dumps(stored) and secret.encode() not in database.read_bytes()
    assert hashlib.sha256(secret.encode()).hexdigest() in json.dumps(stored)
    assert [c.id for c in credentials.list()] == [created.id]

    revoked, changed = credentials.revoke(secret)  # by the whole secret
    assert changed and revoked.state() == "revoked"
    assert credentials.revoke(created.id) == (revoked, False)  # twice: nothing changes
    with pytest.raises(AuthError, match="is revoked"):
        credentials.verify(secret)
    with pytest.raises(NotFoundError):
        credentials.revoke("ffffffff")


@pytest.mark.parametrize("kind", ["token", "write_key"])
def test_what_is_not_a_live_credential_is_refused_with_a_fix(
    store: MetadataStore, kind: CredentialKind
) -> None:
    credentials = Credentials(store, kind)
    created, secret = credentials.create(GRANTS[kind])
    other_kind: CredentialKind = "write_key" if kind == "token" else "token"
    _, other = Credentials(store, other_kind).create(GRANTS[other_kind])
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for bearer in (None, "", "nonsense", forged, other, secret.replace(created.id, "0" * 8, 1)):
        with pytest.raises(AuthError) as refused:
            credentials.verify(bearer)
        assert refused.value.fix and ("create" in refused.value.fix or "send" in refused.value.fix)


def test_a_token_expires_and_a_write_key_does_not(store: MetadataStore) -> None:
    tokens = Credentials(store, "token")
    soon, secret = tokens.create(GRANTS["token"], expires=timedelta(seconds=60))
    assert soon.expires_at is not None and soon.state(now=soon.expires_at) == "expired"
    assert tokens.verify(secret).state() == "active"
    _, old = tokens.create(GRANTS["token"], expires=timedelta(seconds=-1))
    with pytest.raises(AuthError, match="is expired"):
        tokens.verify(old)
    with pytest.raises(ValueError, match="does not expire"):
        Credentials(store, "write_key").create(GRANTS["write_key"], expires=timedelta(days=1))


def test_a_write_key_stored_before_the_shared_store_still_works(store: MetadataStore) -> None:
    """A row as the collector's own key store wrote it: same table, same hash of the key."""
    key = "wk_0a1b2c3d_" + "k" * 32
    with store.begin() as db:
        db.execute(
            sa.text(
                "INSERT INTO weir_write_keys (key_id, key_hash, sources, note, created_at)"
                " VALUES ('0a1b2c3d', :h, :s, '', :t)"
            ),
            {
                "h": hashlib.sha256(key.encode()).hexdigest(),
                "s": json.dumps(["web_traffic"]),
                "t": time.time(),
            },
        )
    keys = WriteKeys(store, cache_seconds=0)
    assert keys.verify(key) == frozenset({"web_traffic"})
    [listed] = keys.list_keys()
    assert (listed.key_id, listed.sources, listed.note, listed.active) == (
        "0a1b2c3d",
        ("web_traffic",),
        "",
        True,
    )
    assert not keys.revoke(key).active
    with pytest.raises(AuthError, match="revoked"):
        keys.verify(key)


def test_a_write_key_answer_is_remembered_until_revoked_here(store: MetadataStore) -> None:
    keys, elsewhere = WriteKeys(store, cache_seconds=60), WriteKeys(store, cache_seconds=60)
    created = keys.create(["web_traffic"], "site")
    assert keys.verify(created.key) == elsewhere.verify(created.key) == {"web_traffic"}
    keys.revoke(created.info.key_id)
    with pytest.raises(AuthError, match="revoked"):
        keys.verify(created.key)  # revoked here: at once
    assert elsewhere.verify(created.key) == {
        "web_traffic"
    }  # another process: within the cache time
    with pytest.raises(AuthError, match="not valid"):
        keys.verify(created.key + "x")
