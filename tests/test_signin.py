"""Sign-in sessions live in the metadata database: every process of a project shares them.

Two opened projects stand for two server processes: a session opened by one is
valid in the other, and signing out in one ends it in both; on SQLite and on
PostgreSQL (migration 0014 on both). A process killed while it signs people in
leaves no session half made.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from conftest import NewDatabase, bytes_outside
from hypothesis import given, settings
from hypothesis import strategies as st

import weir
from weir.errors import AuthError, RateLimited
from weir.serve.web.auth import safe_next

PASSWORD = "shared by two processes"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def on_postgres(root: Path, url: str) -> Path:
    config = root / "weir.yml"
    config.write_text(config.read_text(encoding="utf-8") + f"\ncatalog_uri: {url}\n", "utf-8")
    return root


def shares_sessions(root: Path) -> None:
    with weir.Project(root) as one, weir.Project(root) as other:
        one.signin.hasher = other.signin.hasher = CHEAP
        one.signin.set_password("mia", PASSWORD)
        opened = other.signin.with_password("mia", PASSWORD, "10.1.1.1")
        assert one.signin.session(opened.session_id).principal.role == "marketing"
        assert one.signin.session(opened.session_id).csrf == opened.csrf
        one.signin.sign_out(opened.session_id)
        with pytest.raises(AuthError, match="ended"):
            other.signin.session(opened.session_id)
        kinds = [r.entry.kind for r in other.audit.records(limit=3)]
        assert kinds == ["signout", "signin", "password.set"]


def test_two_processes_share_sessions_on_sqlite(project_root: Path) -> None:
    shares_sessions(project_root)


def test_two_processes_share_sessions_on_postgresql(
    project_root: Path, new_database: NewDatabase
) -> None:
    shares_sessions(on_postgres(project_root, new_database()))


def test_only_a_hash_of_the_session_and_the_password_is_stored(project_root: Path) -> None:
    with weir.Project(project_root) as project:
        project.signin.hasher = CHEAP
        project.signin.set_password("sue", PASSWORD)
        opened = project.signin.with_password("sue", PASSWORD, "10.1.1.2")
    state = project_root / ".weir"
    database = bytes_outside(state / "catalog.db", state / "catalog.db-wal")
    assert opened.session_id.encode() not in database
    assert PASSWORD.encode() not in database
    assert b"$argon2id$" in database


def _sign_in_forever(root: str) -> None:
    with weir.Project(root) as project:
        project.signin.hasher = CHEAP
        while True:
            project.signin.with_password("oscar", PASSWORD, "10.1.1.3")


def test_a_process_killed_while_signing_in_leaves_every_session_whole(
    project_root: Path,
) -> None:
    with weir.Project(project_root) as project:
        project.signin.hasher = CHEAP
        project.signin.set_password("oscar", PASSWORD)
    context = multiprocessing.get_context("spawn")
    worker = context.Process(target=_sign_in_forever, args=(str(project_root),))
    worker.start()
    try:
        with weir.Project(project_root) as project:
            deadline = 200
            while deadline and len(project.audit.records("signin", "oscar", limit=3)) < 3:
                deadline -= 1
                worker.join(0.05)
    finally:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
    with weir.Project(project_root) as project:
        project.signin.hasher = CHEAP
        assert project.audit.verify().ok  # the chain is whole
        with project.store.begin() as db:
            sessions = db.execute(sa.text("SELECT count(*) FROM weir_sessions")).scalar()
        signins = len(project.audit.records("signin", "oscar", limit=10_000))
        # a session is recorded before its audit record: at most one without its record
        assert signins <= int(sessions or 0) <= signins + 1
        # and the project goes on signing people in
        again = project.signin.with_password("oscar", PASSWORD, "10.1.1.4")
        assert project.signin.session(again.session_id).principal.user == "oscar"


def test_one_address_is_held_after_refusals_for_many_users(project_root: Path) -> None:
    now = [3_000_000.0]
    with weir.Project(project_root) as project:
        signin = weir.governance.signin.SignIn(
            project.store, project.access, project.audit, clock=lambda: now[0]
        )
        signin.hasher = CHEAP
        signin.set_password("fay", PASSWORD)
        for i in range(weir.governance.signin.CLIENT_FAILURES):
            with pytest.raises(AuthError):
                signin.with_password(f"guess{i}", "password guess", "192.0.2.1")
        with pytest.raises(RateLimited, match=r"address 192\.0\.2\.1"):
            signin.with_password("fay", PASSWORD, "192.0.2.1")
        # another address is not held, and the held one is free once the window moved on
        assert signin.with_password("fay", PASSWORD, "192.0.2.2").principal.user == "fay"
        now[0] += weir.governance.signin.WINDOW + 1
        assert signin.with_password("fay", PASSWORD, "192.0.2.1").principal.user == "fay"
        held = project.audit.records("signin", allowed=False, limit=1)[0]
        assert held.entry.reason is not None and held.entry.reason.startswith("held:")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_a_sign_in_never_sends_a_browser_to_another_site(target: str) -> None:
    chosen = safe_next(target)
    parts = urlsplit(chosen.replace("\\", "/"))
    assert chosen.startswith("/") and not chosen.startswith("//")
    assert not parts.scheme and not parts.netloc
    assert all(ord(ch) >= 0x20 for ch in chosen)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "/\t/evil.example",
        "javascript:x",
    ],
)
def test_known_open_redirects_are_refused(target: str) -> None:
    assert safe_next(target) == "/"
