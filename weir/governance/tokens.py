"""API tokens: a secret that stands for one user acting in one role.

A token reads ``weir_<id>_<secret>``; it is a credential of kind ``token``
(``weir.governance.credentials``): shown once, stored as a hash, listed,
revoked, and it may expire. Checking one also asks the policy whether the user
still holds the role (a user removed from ``weir.yml`` loses access with every
token they had). Creating and revoking are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from weir.governance.credentials import Credential, Credentials, CredentialState
from weir.governance.policy import Policy, Principal
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator
from weir.project.durations import parse_duration

TokenState = CredentialState


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


class Tokens:
    """Creates, lists, revokes and checks the project's API tokens."""

    def __init__(self, store: MetadataStore, policy: Policy, audit: AuditLog | None = None) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit
        self.credentials = Credentials(store, "token")

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
        credential, secret = self.credentials.create(
            (principal.user, principal.role), note, expires
        )
        record = _token(credential)
        if self.audit is not None:
            expiry = (
                record.expires_at.isoformat(timespec="seconds") if record.expires_at else "never"
            )
            self.audit.append(
                AuditEntry(
                    "token.create",
                    f"token {record.token_id} for {principal.user} as {principal.role},"
                    f" expires {expiry}",
                    user=by or operator(),
                    detail={
                        "token": record.token_id,
                        "for_user": principal.user,
                        "for_role": principal.role,
                    },
                )
            )
        return record, secret

    def get(self, token_id: str) -> TokenRecord:
        return _token(self.credentials.get(token_id))

    def list(self) -> list[TokenRecord]:
        return [_token(credential) for credential in self.credentials.list()]

    def revoke(self, id_or_token: str, by: str | None = None) -> TokenRecord:
        """Revoke a token by its id or the whole token; revoking twice changes nothing."""
        credential, revoked = self.credentials.revoke(id_or_token)
        record = _token(credential)
        if revoked and self.audit is not None:
            self.audit.append(
                AuditEntry(
                    "token.revoke",
                    f"token {record.token_id} of {record.user} as {record.role}",
                    user=by or operator(),
                    detail={
                        "token": record.token_id,
                        "for_user": record.user,
                        "for_role": record.role,
                    },
                )
            )
        return record

    def authenticate(self, bearer: str | None) -> Principal:
        """The principal a bearer token stands for; AuthError when it stands for nothing."""
        user, role = self.credentials.verify(bearer).grant
        return self.policy.principal(user, role)


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _token(credential: Credential) -> TokenRecord:
    user, role = credential.grant
    return TokenRecord(
        token_id=credential.id,
        user=user,
        role=role,
        created_at=datetime.fromtimestamp(credential.created_at, UTC),
        expires_at=_moment(credential.expires_at),
        revoked_at=_moment(credential.revoked_at),
        note=credential.note,
    )
