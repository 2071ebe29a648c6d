"""API tokens: a secret that stands for one user acting in one role.

A token reads ``weir_<id>_<secret>``. Only the sha256 of the whole token is
stored, so the metadata database never holds a usable credential; the token is
shown once, when it is created. Checking one looks it up by its id and compares
hashes in constant time, then asks the policy whether the user still holds the
role (a user removed from ``weir.yml`` loses access with every token they had).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from weir.errors import AuthError, NotFoundError, QueryError
from weir.governance.audit import AuditEntry, AuditLog
from weir.governance.operations import operator
from weir.governance.policy import Policy, Principal
from weir.metadata import MetadataStore

TokenState = Literal["active", "expired", "revoked"]
PREFIX = "weir_"
_SHAPE = re.compile(r"^weir_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,})$")
_DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>[smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NEW_TOKEN = "create one with `weir token create --user NAME --role ROLE`"


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    user: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    note: str | None

    def state(self, now: datetime | None = None) -> TokenState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "user": self.user,
            "role": self.role,
            "state": self.state(),
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "expires_at": self.expires_at.isoformat(timespec="seconds") if self.expires_at else "",
            "revoked_at": self.revoked_at.isoformat(timespec="seconds") if self.revoked_at else "",
            "note": self.note or "",
        }


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` → a timedelta."""
    match = _DURATION.match(text)
    if match is None or int(match["n"]) == 0:
        raise QueryError(
            f"'{text}' is not a duration", "write a number and a unit: 30d, 12h, 2w, 90m"
        )
    return timedelta(**{_UNITS[match["unit"]]: int(match["n"])})


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Tokens:
    """Creates, lists, revokes and checks the project's API tokens."""

    def __init__(self, store: MetadataStore, policy: Policy, audit: AuditLog | None = None) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit

    def create(
        self,
        user: str,
        role: str | None = None,
        expires: timedelta | str | None = None,
        note: str | None = None,
        by: str | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new token for ``user`` acting as ``role`` (default: the user's first role).

        ``expires`` is a lifetime (``timedelta`` or text such as ``30d``); the secret
        is returned here only. ``by`` is who created it (default: this process's user).
        """
        if isinstance(expires, str):
            expires = parse_duration(expires)
        principal = self.policy.principal(user, role)
        token_id = secrets.token_hex(6)
        secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        now = time.time()
        expires_at = now + expires.total_seconds() if expires is not None else None
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_tokens (token_id, user_name, role, secret_hash, created_at,"
                    " expires_at, revoked_at, note) VALUES (:id, :user, :role, :hash, :now,"
                    " :expires, NULL, :note)"
                ),
                {
                    "id": token_id,
                    "user": principal.user,
                    "role": principal.role,
                    "hash": _digest(secret),
                    "now": now,
                    "expires": expires_at,
                    "note": note,
                },
            )
        record = self.get(token_id)
        if self.audit is not None:
            expiry = (
                record.expires_at.isoformat(timespec="seconds") if record.expires_at else "never"
            )
            self.audit.append(
                AuditEntry(
                    "token.create",
                    f"token {token_id} for {principal.user} as {principal.role}, expires {expiry}",
                    user=by or operator(),
                    detail={
                        "token": token_id,
                        "for_user": principal.user,
                        "for_role": principal.role,
                    },
                )
            )
        return record, secret

    def get(self, token_id: str) -> TokenRecord:
        with self.store.begin() as db:
            row = db.execute(
                sa.text(
                    "SELECT token_id, user_name, role, created_at, expires_at, revoked_at, note"
                    " FROM weir_tokens WHERE token_id = :id"
                ),
                {"id": token_id},
            ).first()
        if row is None:
            raise NotFoundError(
                f"no token {token_id}",
                "list them with `weir token list`",
                kind="token",
                name=token_id,
            )
        return _token(row)

    def list(self) -> list[TokenRecord]:
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    "SELECT token_id, user_name, role, created_at, expires_at, revoked_at, note"
                    " FROM weir_tokens ORDER BY created_at, token_id"
                )
            ).all()
        return [_token(row) for row in rows]

    def revoke(self, id_or_token: str, by: str | None = None) -> TokenRecord:
        """Revoke a token by its id or the whole token; revoking twice changes nothing."""
        match = _SHAPE.match(id_or_token.strip())
        token_id = match["id"] if match else id_or_token.strip()
        record = self.get(token_id)
        if record.revoked_at is not None:
            return record
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_tokens SET revoked_at = :now"
                    " WHERE token_id = :id AND revoked_at IS NULL"
                ),
                {"now": time.time(), "id": token_id},
            )
        if self.audit is not None:
            self.audit.append(
                AuditEntry(
                    "token.revoke",
                    f"token {token_id} of {record.user} as {record.role}",
                    user=by or operator(),
                    detail={"token": token_id, "for_user": record.user, "for_role": record.role},
                )
            )
        return self.get(token_id)

    def authenticate(self, bearer: str | None) -> Principal:
        """The principal a bearer token stands for; AuthError when it stands for nothing."""
        if not bearer:
            raise AuthError("no token: send `Authorization: Bearer <token>`", _NEW_TOKEN)
        match = _SHAPE.match(bearer.strip())
        with self.store.begin() as db:
            row = (
                db.execute(
                    sa.text(
                        "SELECT token_id, user_name, role, created_at, expires_at, revoked_at,"
                        " note, secret_hash FROM weir_tokens WHERE token_id = :id"
                    ),
                    {"id": match["id"]},
                ).first()
                if match
                else None
            )
        # compare even when nothing was found, so timing says nothing about which ids exist
        stored = str(row[7]) if row is not None else _digest("weir_absent")
        if not hmac.compare_digest(stored, _digest(bearer.strip())) or row is None:
            raise AuthError("the token is not valid", _NEW_TOKEN)
        record = _token(row)
        state = record.state()
        if state != "active":
            raise AuthError(
                f"token {record.token_id} is {state}", f"ask an admin for a new one: {_NEW_TOKEN}"
            )
        return self.policy.principal(record.user, record.role)


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _token(row: Any) -> TokenRecord:
    created = _moment(row[3])
    assert created is not None
    return TokenRecord(
        token_id=str(row[0]),
        user=str(row[1]),
        role=str(row[2]),
        created_at=created,
        expires_at=_moment(row[4]),
        revoked_at=_moment(row[5]),
        note=row[6],
    )
