"""Signing in to the web app: passwords, server-side sessions, rate limits, all audited.

A person signs in as a user of ``weir.yml`` with the password set by
``weir user set-password NAME`` (kept as an argon2id hash, never in clear), or
with an API token (``weir token create``). Either opens a session: a random id
given to the browser once (as a cookie) and kept in the metadata database only
as its SHA-256, so every process of the project shares the sessions and a
stolen database holds nothing to sign in with. A session acts as one user in
one role, lasts ``LIFETIME`` at most and ends after ``IDLE`` without use, when
its user signs out, when the user no longer holds the role in ``weir.yml``, and
when the token it was opened with is revoked or expires.

Refused sign-ins are counted per user name and per client address over
``WINDOW``; past ``USER_FAILURES`` (or ``CLIENT_FAILURES``) further attempts are
refused without checking the password until the window has moved on. Every
attempt, allowed or refused, and every sign-out is a record of the audit log.

``csrf_token(session_id)`` is the token a session's forms and requests carry
(an HMAC of the session id): nothing to store, and useless without the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from weir.errors import AuthError, ProjectError, RateLimited, WeirError
from weir.governance.access import Access
from weir.governance.credentials import Credentials
from weir.governance.policy import Principal
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator

LIFETIME = 12 * 3600  # seconds a session lasts at most
IDLE = 2 * 3600  # seconds without a request that end a session
WINDOW = 15 * 60  # seconds over which refused sign-ins are counted
USER_FAILURES = 5  # refused sign-ins of one user name within WINDOW before it is held
CLIENT_FAILURES = 20  # refused sign-ins from one address within WINDOW before it is held
MIN_PASSWORD = 10  # characters
MAX_PASSWORD = 1024
_SEEN_EVERY = 60  # seconds between updates of a session's last use
_REFUSED = "the user name or the password is not right"
Method = Literal["password", "token"]


@dataclass(frozen=True)
class WebSession:
    """A signed-in session: who, as which role, since and until when."""

    principal: Principal
    method: Method
    created_at: float
    expires_at: float
    session_id: str = ""  # the secret: only on the session just opened, or the one presented

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id)


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: an HMAC of its id, checked on every state-changing request."""
    return hmac.new(session_id.encode("utf-8"), b"weir-csrf", hashlib.sha256).hexdigest()


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SignIn:
    """Passwords and sessions of the project's users, in the metadata database."""

    def __init__(
        self,
        store: MetadataStore,
        access: Access,
        audit: AuditLog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.access = access
        self.audit = audit
        self.clock = clock
        # argon2id with the library's defaults (RFC 9106's second recommendation: 64 MiB)
        self.hasher = PasswordHasher()
        self._absent: str | None = None  # a hash checked for unknown users, made when needed

    # -- passwords ---------------------------------------------------------------------------
    def set_password(self, user: str, password: str, by: str | None = None) -> None:
        """Set (or replace) ``user``'s password; their open sessions stay open."""
        self.access.policy().principal(user)  # an unknown user fails here, naming weir.yml
        if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
            raise ProjectError(
                f"the password for {user} has {len(password)} characters",
                f"choose one of {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            )
        if not password.strip():
            raise ProjectError(f"the password for {user} is only spaces", "choose another")
        hashed = self.hasher.hash(password)
        now = self.clock()
        with (
            self.audit.recording("password.set", f"password set for {user}", by or operator()),
            self.store.begin() as db,
        ):
            db.execute(sa.text("DELETE FROM weir_passwords WHERE user_name = :u"), {"u": user})
            db.execute(
                sa.text("INSERT INTO weir_passwords VALUES (:u, :h, :t)"),
                {"u": user, "h": hashed, "t": now},
            )

    def has_password(self, user: str) -> bool:
        return self._hash_of(user) is not None

    # -- signing in ----------------------------------------------------------------------------
    def with_password(self, user: str, password: str, client: str) -> WebSession:
        """Open a session for ``user`` (in their first role) if ``password`` is theirs."""
        user = user.strip()[:63]
        client = client[:64]
        self._not_held(user, client, "password")
        principal: Principal | None = None
        stored = self._hash_of(user)
        try:
            # a user without a password costs the same check: timing tells no names apart
            self.hasher.verify(stored or self._absent_hash(), password[:MAX_PASSWORD])
            if stored is not None:
                principal = self.access.policy().principal(user)
        except (VerificationError, InvalidHashError, WeirError):
            principal = None
        if principal is None:
            self._refuse(user, client, "password", _REFUSED)
            raise AuthError(_REFUSED, "check both, or ask an admin: `weir user set-password NAME`")
        if stored is not None and self.hasher.check_needs_rehash(stored):
            self._store_rehash(user, password)
        return self._open(principal, "password", client)

    def with_token(self, token: str, client: str) -> WebSession:
        """Open a session acting as the user and role of an API token; it ends with the token."""
        client = client[:64]
        credentials = Credentials(self.store, "token")
        token = token.strip()
        claimed = token.split("_")[1][:63] if token.count("_") >= 2 else "token"
        self._not_held(claimed, client, "token")
        try:
            credential = credentials.verify(token)
            principal = self.access.policy().principal(*credential.grant)
        except WeirError as exc:
            self._refuse(claimed, client, "token", exc.what)
            raise AuthError(
                "the token is not valid", "paste a whole token from `weir token create`"
            ) from None
        return self._open(principal, "token", client, credential.id)

    def session(self, session_id: str | None) -> WebSession:
        """The open session ``session_id`` names; AuthError when it names none still open."""
        if not session_id:
            raise AuthError("not signed in", "sign in at /signin")
        now = self.clock()
        with self.store.begin() as db:
            row = db.execute(
                sa.text(
                    "SELECT user_name, role, token_id, created_at, seen_at, expires_at, ended_at"
                    " FROM weir_sessions WHERE session_hash = :h"
                ),
                {"h": _digest(session_id)},
            ).first()
        if row is None or row.ended_at is not None:
            raise AuthError("the session has ended", "sign in again")
        if row.expires_at <= now or row.seen_at + IDLE <= now:
            raise AuthError("the session has expired", "sign in again")
        try:
            principal = self.access.policy().principal(row.user_name, row.role)
            if row.token_id is not None:
                state = Credentials(self.store, "token").get(row.token_id).state(now)
                if state != "active":
                    raise AuthError(f"the token of this session is {state}", "sign in again")
        except WeirError:
            self._end(session_id, now)
            raise AuthError("the session no longer holds its role", "sign in again") from None
        if now - row.seen_at >= _SEEN_EVERY:
            with self.store.begin() as db:
                db.execute(
                    sa.text("UPDATE weir_sessions SET seen_at = :t WHERE session_hash = :h"),
                    {"t": now, "h": _digest(session_id)},
                )
        method: Method = "token" if row.token_id is not None else "password"
        return WebSession(principal, method, row.created_at, row.expires_at, session_id)

    def sign_out(self, session_id: str) -> None:
        """End the session (signing out twice, or of an ended session, changes nothing)."""
        try:
            found = self.session(session_id)
        except AuthError:
            return
        self._end(session_id, self.clock())
        self.audit.append(
            AuditEntry("signout", "sign out", found.principal.user, found.principal.role, rows=None)
        )

    # -- the parts ------------------------------------------------------------------------------
    def _open(
        self, principal: Principal, method: Method, client: str, token_id: str | None = None
    ) -> WebSession:
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "DELETE FROM weir_sessions WHERE expires_at < :old OR ended_at < :old"
                ),  # kept a day after they end, for people who look
                {"old": now - 86400},
            )
            db.execute(
                sa.text("DELETE FROM weir_signin_failures WHERE user_name = :u"),
                {"u": principal.user},
            )
            db.execute(
                sa.text(
                    "INSERT INTO weir_sessions (session_hash, user_name, role, token_id, client,"
                    " created_at, seen_at, expires_at) VALUES (:h, :u, :r, :k, :c, :t, :t, :e)"
                ),
                {
                    "h": _digest(session_id),
                    "u": principal.user,
                    "r": principal.role,
                    "k": token_id,
                    "c": client,
                    "t": now,
                    "e": now + LIFETIME,
                },
            )
        self.audit.append(
            AuditEntry(
                "signin",
                f"sign in with {method} from {client}",
                principal.user,
                principal.role,
                detail={"method": method, "client": client, "token": token_id},
            )
        )
        return WebSession(principal, method, now, now + LIFETIME, session_id)

    def _not_held(self, user: str, client: str, method: Method) -> None:
        """Refuse (RateLimited) while the user name or the address has too many refusals."""
        now = self.clock()
        with self.store.begin() as db:
            by_user = db.execute(
                sa.text(
                    "SELECT count(*), min(at) FROM weir_signin_failures"
                    " WHERE user_name = :u AND at > :since"
                ),
                {"u": user, "since": now - WINDOW},
            ).one()
            by_client = db.execute(
                sa.text(
                    "SELECT count(*), min(at) FROM weir_signin_failures"
                    " WHERE client = :c AND at > :since"
                ),
                {"c": client, "since": now - WINDOW},
            ).one()
        for (count, first), limit, who in (
            (by_user, USER_FAILURES, f"user {user}"),
            (by_client, CLIENT_FAILURES, f"address {client}"),
        ):
            if count >= limit:
                wait = max(1, int(first + WINDOW - now) + 1)
                reason = f"{count} refused sign-ins of {who} in {WINDOW // 60} minutes"
                self.audit.append(_not_signed_in(user, client, method, f"held: {reason}"))
                raise RateLimited(
                    f"too many refused sign-ins ({reason})",
                    f"wait {wait // 60 + 1} minutes, or ask an admin to set a new password",
                    retry_after=wait,
                )

    def _refuse(self, user: str, client: str, method: Method, reason: str) -> None:
        now = self.clock()
        with self.store.begin() as db:
            db.execute(
                sa.text("DELETE FROM weir_signin_failures WHERE at < :old"), {"old": now - WINDOW}
            )
            db.execute(
                sa.text("INSERT INTO weir_signin_failures VALUES (:t, :u, :c)"),
                {"t": now, "u": user, "c": client},
            )
        self.audit.append(_not_signed_in(user, client, method, f"refused: {reason}"))

    def _end(self, session_id: str, now: float) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_sessions SET ended_at = :t"
                    " WHERE session_hash = :h AND ended_at IS NULL"
                ),
                {"t": now, "h": _digest(session_id)},
            )

    def _absent_hash(self) -> str:
        if self._absent is None:
            self._absent = self.hasher.hash(secrets.token_urlsafe(16))
        return self._absent

    def _hash_of(self, user: str) -> str | None:
        with self.store.begin() as db:
            found = db.execute(
                sa.text("SELECT hash FROM weir_passwords WHERE user_name = :u"), {"u": user}
            ).scalar()
        return None if found is None else str(found)

    def _store_rehash(self, user: str, password: str) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text("UPDATE weir_passwords SET hash = :h WHERE user_name = :u"),
                {"h": self.hasher.hash(password), "u": user},
            )


def _not_signed_in(user: str, client: str, method: Method, reason: str) -> AuditEntry:
    """The audit record of a sign-in refused or held back."""
    return AuditEntry(
        "signin",
        f"sign in with {method} from {client}",
        user or None,
        allowed=False,
        reason=reason,
        detail={"method": method, "client": client},
    )
