"""API tokens: shown once, stored as a hash, refused once revoked or expired or when the user loses the role."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import weir
from weir.cli.main import cli
from weir.errors import AccessDenied, AuthError, NotFoundError, QueryError
from weir.governance.policy import Policy, Principal
from weir.governance.tokens import Tokens, parse_duration
from weir.metadata.audit import AuditLog
from weir.project import load_project

ROLES = """
roles:
  analyst:
    grants: [marts]
  admin:
    grants: ["*"]
    admin: true
users:
  ana:
    roles: [analyst]
  root:
    roles: [admin, analyst]
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = weir.init_project(tmp_path / "shop", example=None)
    with (folder / "weir.yml").open("a", encoding="utf-8") as config:
        config.write(ROLES)
    return folder


def tokens_of(root: Path) -> Tokens:
    project = weir.Project(root)
    audit = AuditLog(project.store, project.files.state_dir / "audit.head")
    return Tokens(project.store, Policy(load_project(root)), audit)


def test_a_token_authenticates_as_its_user_and_role(root: Path) -> None:
    tokens = tokens_of(root)
    record, secret = tokens.create("root", "analyst", note="dashboards")
    assert secret.startswith(f"weir_{record.token_id}_")
    assert tokens.authenticate(secret) == Principal("root", "analyst")
    assert tokens.authenticate(f"  {secret} ") == Principal("root", "analyst")
    default, secret = tokens.create("root")
    assert default.role == "admin" and tokens.authenticate(secret).role == "admin"
    assert [t.state() for t in tokens.list()] == ["active", "active"]
    assert tokens.list()[0].note == "dashboards"


def test_only_a_hash_of_the_secret_is_stored(root: Path) -> None:
    _, secret = tokens_of(root).create("ana", "analyst")
    database = root / ".weir" / "catalog.db"
    with sqlite3.connect(database) as con:
        rows = con.execute("SELECT * FROM weir_tokens").fetchall()
    assert secret not in json.dumps(rows)
    assert secret.split("_", 2)[2] not in json.dumps(rows)
    assert secret.encode() not in database.read_bytes()


@pytest.mark.parametrize(
    "bearer",
    [None, "", "nonsense", "weir_000000000000_" + "x" * 43, "Bearer weir_abc"],
)
def test_unknown_tokens_are_refused_with_a_fix(root: Path, bearer: str | None) -> None:
    tokens_of(root).create("ana", "analyst")
    with pytest.raises(AuthError) as refused:
        tokens_of(root).authenticate(bearer)
    assert refused.value.fix and "weir token create" in refused.value.fix


def test_a_right_id_with_a_wrong_secret_is_refused(root: Path) -> None:
    record, secret = tokens_of(root).create("ana", "analyst")
    forged = f"weir_{record.token_id}_{'A' * len(secret.split('_', 2)[2])}"
    with pytest.raises(AuthError, match="not valid"):
        tokens_of(root).authenticate(forged)


def test_revoked_and_expired_tokens_are_refused(root: Path) -> None:
    tokens = tokens_of(root)
    first, by_id = tokens.create("ana", "analyst")
    _, by_token = tokens.create("ana", "analyst")
    expired, old = tokens.create("ana", "analyst", expires=timedelta(seconds=-1))
    assert tokens.revoke(first.token_id).state() == "revoked"
    assert tokens.revoke(by_token).state() == "revoked"
    assert tokens.revoke(first.token_id).revoked_at is not None  # twice: no change, no error
    for bearer, state in ((by_id, "revoked"), (by_token, "revoked"), (old, "expired")):
        with pytest.raises(AuthError, match=state):
            tokens.authenticate(bearer)
    assert tokens.get(expired.token_id).state() == "expired"
    with pytest.raises(NotFoundError):
        tokens.revoke("ffffffffffff")


def test_tokens_are_for_users_and_roles_of_weir_yml(root: Path) -> None:
    tokens = tokens_of(root)
    with pytest.raises(AuthError, match="unknown user"):
        tokens.create("mallory", "analyst")
    with pytest.raises(AccessDenied, match="does not hold role"):
        tokens.create("ana", "admin")


def test_a_user_removed_from_weir_yml_loses_their_tokens(root: Path) -> None:
    _, secret = tokens_of(root).create("ana", "analyst")
    config = root / "weir.yml"
    config.write_text(config.read_text().replace("  ana:\n    roles: [analyst]\n", ""))
    with pytest.raises(AuthError, match="unknown user"):
        tokens_of(root).authenticate(secret)


def test_creating_and_revoking_are_audited(root: Path) -> None:
    tokens = tokens_of(root)
    record, secret = tokens.create("ana", "analyst", expires="30d")
    tokens.revoke(record.token_id)
    audit = tokens.audit
    assert audit is not None
    created = audit.records(kind="token.create")[0]
    revoked = audit.records(kind="token.revoke")[0]
    assert record.token_id in created.entry.action and "ana as analyst" in created.entry.action
    assert record.token_id in revoked.entry.action
    assert secret not in json.dumps([created.as_row(), revoked.as_row()])
    assert audit.verify().ok


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2))],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "0d", "3 years"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(QueryError, match="30d"):
        parse_duration(text)


def test_the_token_commands(root: Path) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--project", str(root), *args])
        return result.exit_code, result.stdout, result.stderr

    code, out, err = run("token", "create", "--user", "ana", "--role", "analyst", "--expires", "7d")
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("weir_") and "shown only this once" in err
    token_id = secret.split("_")[1]
    code, out, _ = run("token", "list", "--format", "json")
    listed = json.loads(out)
    assert [(t["id"], t["user"], t["role"], t["state"]) for t in listed] == [
        (token_id, "ana", "analyst", "active")
    ]
    assert secret not in out
    code, out, _ = run("token", "revoke", token_id)
    assert code == 0 and "revoked" in out
    code, _, err = run("token", "create", "--user", "ana", "--role", "admin")
    assert code == 1 and "does not hold role 'admin'" in err
    code, _, err = run("token", "create", "--user", "ana", "--expires", "soon")
    assert code == 1 and "not a duration" in err
