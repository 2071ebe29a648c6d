"""Credentials: a secret shown once, stored as a hash, listed, revoked, and checked.

Two kinds share this one store. An API token (``weir_<id>_<secret>``) stands for
a user in a role and may expire; a write key (``wk_<id>_<secret>``) lets a
tracker post events to some sources. Each kind keeps its own table in the
metadata database (``weir_tokens``, ``weir_write_keys``). Only the SHA-256 of
the whole secret is stored: secrets are random and long, so a plain hash is
safe. Checking one looks it up by the id it carries and compares hashes in
constant time, whether or not the id exists.

``Tokens`` and ``WriteKeys`` are the typed front doors: what a credential grants
(a user and a role, or sources) and who may hold one is theirs to say.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import sqlalchemy as sa

from weir.errors import AuthError, NotFoundError
from weir.metadata import MetadataStore

CredentialKind = Literal["token", "write_key"]
CredentialState = Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class _Kind:
    """How one kind of credential is written and stored."""

    noun: str  # as people say it
    prefix: str
    id_bytes: int
    secret_bytes: int
    table: str
    id_column: str
    hash_column: str
    grant_columns: tuple[str, ...]
    encode: Callable[[tuple[str, ...]], tuple[Any, ...]]  # the grant as its column values
    decode: Callable[[Sequence[Any]], tuple[str, ...]]
    expires: bool  # whether the table keeps an expiry
    no_note: str | None  # what is stored for no note
    missing: tuple[str, str]  # the AuthError (what, fix) when none is sent
    invalid_fix: str  # the fix for one that is not valid, revoked or expired
    list_command: str


def _sources(values: Sequence[Any]) -> tuple[str, ...]:
    return tuple(json.loads(values[0]))


KINDS: dict[CredentialKind, _Kind] = {
    "token": _Kind(
        noun="token",
        prefix="weir_",
        id_bytes=6,
        secret_bytes=32,
        table="weir_tokens",
        id_column="token_id",
        hash_column="secret_hash",
        grant_columns=("user_name", "role"),
        encode=lambda grant: grant,
        decode=lambda values: (str(values[0]), str(values[1])),
        expires=True,
        no_note=None,
        missing=(
            "no token: send `Authorization: Bearer <token>`",
            "create one with `weir token create --user NAME --role ROLE`",
        ),
        invalid_fix="create one with `weir token create --user NAME --role ROLE`",
        list_command="weir token list",
    ),
    "write_key": _Kind(
        noun="write key",
        prefix="wk_",
        id_bytes=4,
        secret_bytes=24,
        table="weir_write_keys",
        id_column="key_id",
        hash_column="key_hash",
        grant_columns=("sources",),
        encode=lambda grant: (json.dumps(list(grant)),),
        decode=_sources,
        expires=False,
        no_note="",
        missing=(
            "no write key",
            "send it as `Authorization: Bearer <key>` (or as the basic-auth user name)",
        ),
        invalid_fix="create one with `weir keys create`",
        list_command="weir keys list",
    ),
}


@dataclass(frozen=True)
class Credential:
    """A credential as stored and listed: never its secret."""

    kind: CredentialKind
    id: str
    grant: tuple[str, ...]  # a token's (user, role); a write key's sources
    note: str | None
    created_at: float  # seconds since the epoch
    expires_at: float | None
    revoked_at: float | None

    def state(self, now: float | None = None) -> CredentialState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (time.time() if now is None else now):
            return "expired"
        return "active"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Credentials:
    """One kind of credential in the metadata database: create, get, list, revoke, verify."""

    def __init__(self, store: MetadataStore, kind: CredentialKind) -> None:
        self.store = store
        self.kind = kind
        self._spec = KINDS[kind]
        spec = self._spec
        self._shape = re.compile(
            rf"^{re.escape(spec.prefix)}(?P<id>[0-9a-f]{{{2 * spec.id_bytes}}})_[A-Za-z0-9_-]{{20,}}$"
        )
        expires = "expires_at" if spec.expires else "NULL"
        self._columns = (
            f"{spec.id_column}, {', '.join(spec.grant_columns)}, note, created_at, {expires},"
            f" revoked_at, {spec.hash_column}"
        )

    def create(
        self, grant: tuple[str, ...], note: str | None = None, expires: timedelta | None = None
    ) -> tuple[Credential, str]:
        """A new credential granting ``grant``, and its secret: returned here only."""
        spec = self._spec
        if expires is not None and not spec.expires:
            raise ValueError(f"a {spec.noun} does not expire")
        credential_id = secrets.token_hex(spec.id_bytes)
        secret = f"{spec.prefix}{credential_id}_{secrets.token_urlsafe(spec.secret_bytes)}"
        now = time.time()
        expires_at = now + expires.total_seconds() if expires is not None else None
        note = spec.no_note if note is None else note
        values: dict[str, Any] = {
            spec.id_column: credential_id,
            spec.hash_column: digest(secret),
            "note": note,
            "created_at": now,
            **dict(zip(spec.grant_columns, spec.encode(grant), strict=True)),
        }
        if spec.expires:
            values["expires_at"] = expires_at
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    f"INSERT INTO {spec.table} ({', '.join(values)})"
                    f" VALUES ({', '.join(f':{name}' for name in values)})"
                ),
                values,
            )
        credential = Credential(self.kind, credential_id, grant, note, now, expires_at, None)
        return credential, secret

    def get(self, credential_id: str) -> Credential:
        row = self._row(credential_id)
        if row is None:
            raise NotFoundError(
                f"no {self._spec.noun} {credential_id}",
                f"list them with `{self._spec.list_command}`",
            )
        return self._credential(row)

    def list(self) -> list[Credential]:
        spec = self._spec
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    f"SELECT {self._columns} FROM {spec.table}"
                    f" ORDER BY created_at, {spec.id_column}"
                )
            ).all()
        return [self._credential(row) for row in rows]

    def revoke(self, id_or_secret: str) -> tuple[Credential, bool]:
        """Revoke by id or by the whole secret: the credential, and whether it was active."""
        text = id_or_secret.strip()
        match = self._shape.match(text)
        credential_id = match["id"] if match else text
        if text.startswith(self._spec.prefix) and not match:
            credential_id = text.removeprefix(self._spec.prefix).split("_", 1)[0]
        self.get(credential_id)  # NotFoundError when there is none
        spec = self._spec
        with self.store.begin() as db:
            done = db.execute(
                sa.text(
                    f"UPDATE {spec.table} SET revoked_at = :now"
                    f" WHERE {spec.id_column} = :id AND revoked_at IS NULL"
                ),
                {"now": time.time(), "id": credential_id},
            )
        return self.get(credential_id), done.rowcount > 0

    def verify(self, secret: str | None) -> Credential:
        """The active credential ``secret`` is; AuthError when it is missing or stands for none."""
        spec = self._spec
        if not secret or not secret.strip():
            raise AuthError(*spec.missing)
        secret = secret.strip()
        match = self._shape.match(secret)
        row = self._row(match["id"]) if match else None
        # compare even when nothing was found, so timing says nothing about which ids exist
        stored = str(row[-1]) if row is not None else digest(f"{spec.prefix}absent")
        if not hmac.compare_digest(stored, digest(secret)) or row is None:
            raise AuthError(f"the {spec.noun} is not valid", spec.invalid_fix)
        credential = self._credential(row)
        state = credential.state()
        if state != "active":
            raise AuthError(
                f"{spec.noun} {credential.id} is {state}",
                f"ask an admin for a new one: {spec.invalid_fix}",
            )
        return credential

    def _row(self, credential_id: str) -> Any:
        spec = self._spec
        with self.store.begin() as db:
            return db.execute(
                sa.text(f"SELECT {self._columns} FROM {spec.table} WHERE {spec.id_column} = :id"),
                {"id": credential_id},
            ).first()

    def _credential(self, row: Any) -> Credential:
        grants = len(self._spec.grant_columns)
        return Credential(
            kind=self.kind,
            id=str(row[0]),
            grant=self._spec.decode(row[1 : 1 + grants]),
            note=row[1 + grants],
            created_at=float(row[2 + grants]),
            expires_at=None if row[3 + grants] is None else float(row[3 + grants]),
            revoked_at=None if row[4 + grants] is None else float(row[4 + grants]),
        )
