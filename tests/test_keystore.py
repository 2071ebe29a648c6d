"""The key store: keys sealed under a master key kept outside the project, and rotating it."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import MASTERCARD, VISA, NewDatabase, bytes_outside, land, pos_csv, pos_line

import weir
from weir.cli.main import cli
from weir.ingest import PaymentTokenizer
from weir.metadata import MetadataStore
from weir.metadata.keys import KeyStore
from weir.metadata.master import MasterKey, MasterKeyError, find_master_key, parse_master_key
from weir.metadata.store import sqlite_url

A = bytes(range(32))
B = bytes(range(100, 132))


def env(key: bytes, home: Path) -> dict[str, str]:
    """An environment giving ``key`` as WEIR_MASTER_KEY (hex), with a home of its own."""
    return {"WEIR_MASTER_KEY": key.hex(), "HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg")}


def open_store(folder: Path, environ: dict[str, str]) -> KeyStore:
    """The key store of a database in ``folder``, for a project in ``folder / "project"``."""
    store = MetadataStore(sqlite_url(folder / "catalog.db"))
    return KeyStore(store, (folder / "project",), environ)


def dump(database: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as con:
        return [
            *con.execute("SELECT * FROM weir_master"),
            *con.execute("SELECT * FROM weir_keys ORDER BY name"),
        ]


def test_keys_round_trip_sealed_and_never_in_clear(tmp_path: Path) -> None:
    keys = open_store(tmp_path, env(A, tmp_path))
    mask = keys.key("mask", "mask")
    assert len(mask) == 32 and keys.key("mask", "mask") == mask
    subject = keys.subject_key("customer-7")
    assert subject is not None and len(subject) == 32
    again = open_store(tmp_path, env(A, tmp_path))  # another process, the same store
    assert again.key("mask", "mask") == mask and again.subject_key("customer-7") == subject
    info = again.info()
    assert [(k.name, k.kind) for k in info.keys] == [
        ("mask", "mask"),
        ("subject:customer-7", "subject"),
    ]
    assert info.master_key_id == MasterKey(A, "test").key_id and info.rotated_at is None
    data = bytes_outside(tmp_path / "catalog.db", tmp_path / "catalog.db-wal")
    for secret in (mask, subject, A):
        assert secret not in data and secret.hex().encode() not in data
    assert not (tmp_path / "cfg").exists()  # a key from the environment: no default file


def test_a_destroyed_subject_key_is_gone_from_the_database_file(tmp_path: Path) -> None:
    keys = open_store(tmp_path, env(A, tmp_path))
    keys.subject_key("ann")
    keys.subject_key("bob")
    with sqlite3.connect(tmp_path / "catalog.db") as con:
        sealed = con.execute("SELECT sealed FROM weir_keys WHERE name = 'subject:ann'").fetchone()[
            0
        ]
    assert keys.destroy_subject_key("ann") and not keys.destroy_subject_key("ann")
    assert keys.subject_key("ann", create=False) is None
    assert open_store(tmp_path, env(A, tmp_path)).subject_key("ann", create=False) is None
    assert keys.subject_key("bob", create=False) is not None
    keys.subject_key("cy")
    assert keys.destroy_subject_keys(["bob", "cy", "nobody"]) == 2
    assert [k.name for k in keys.info("subject").keys] == []
    for name in ("catalog.db", "catalog.db-wal"):
        path = tmp_path / name
        if path.exists():
            assert sealed.encode() not in path.read_bytes(), name


@pytest.mark.parametrize(
    "written",
    [A.hex(), A.hex().upper() + "\n", base64.b64encode(A).decode() + "\n",
     base64.urlsafe_b64encode(A).decode()],
)  # fmt: skip
def test_master_key_forms(written: str) -> None:
    assert parse_master_key(written.encode(), "test") == A


def test_a_raw_key_file_and_the_bad_ones(tmp_path: Path) -> None:
    raw = tmp_path / "outside" / "raw.key"
    raw.parent.mkdir()
    raw.write_bytes(A)
    given = find_master_key({"WEIR_MASTER_KEY_FILE": str(raw)}, (tmp_path / "p",), False)
    assert given is not None and given.secret == A and str(raw) in given.source
    for bad in ("short", "zz" * 32, base64.b64encode(b"x" * 31).decode()):
        with pytest.raises(MasterKeyError, match="does not hold a master key") as caught:
            parse_master_key(bad.encode(), "WEIR_MASTER_KEY")
        assert "openssl rand -base64 32" in str(caught.value) and bad not in str(caught.value)
    with pytest.raises(MasterKeyError, match="both WEIR_MASTER_KEY and WEIR_MASTER_KEY_FILE"):
        find_master_key({"WEIR_MASTER_KEY": A.hex(), "WEIR_MASTER_KEY_FILE": str(raw)}, (), False)
    with pytest.raises(MasterKeyError, match="does not exist"):
        find_master_key({"WEIR_MASTER_KEY_FILE": str(tmp_path / "none.key")}, (), False)


def test_a_master_key_file_inside_the_project_is_refused(tmp_path: Path) -> None:
    inside = tmp_path / "secrets" / "master.key"
    inside.parent.mkdir()
    inside.write_text(A.hex())
    keys = KeyStore(
        MetadataStore(sqlite_url(tmp_path / "catalog.db")),
        (tmp_path,),
        {"WEIR_MASTER_KEY_FILE": str(inside)},
    )
    with pytest.raises(MasterKeyError, match="is inside the project folder") as caught:
        keys.key("mask", "mask")
    assert "move it" in str(caught.value)
    assert not keys.exists()  # refused before anything was written


def test_a_new_project_makes_the_default_key_file_outside_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    environ = {"HOME": str(home)}  # no XDG_CONFIG_HOME: ~/.config
    keys = open_store(tmp_path, environ)
    value = keys.key("mask", "mask")
    default = home / ".config" / "weir" / "master.key"
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert stat.S_IMODE(default.parent.stat().st_mode) == 0o700
    assert open_store(tmp_path, environ).key("mask", "mask") == value


def test_a_missing_or_wrong_master_key_stops_and_writes_nothing(tmp_path: Path) -> None:
    open_store(tmp_path, env(A, tmp_path)).key("mask", "mask")
    before = dump(tmp_path / "catalog.db")
    home = tmp_path / "elsewhere"
    with pytest.raises(MasterKeyError) as missing:
        open_store(tmp_path, {"HOME": str(home)}).key("card", "card")
    assert "no master key was given" in missing.value.what
    assert "WEIR_MASTER_KEY" in str(missing.value.fix) and "Recovery" in str(missing.value.fix)
    assert not home.exists()  # the store exists: no default key is made for it
    with pytest.raises(MasterKeyError) as wrong:
        open_store(tmp_path, env(B, tmp_path)).key("card", "card")
    a_id, b_id = MasterKey(A, "").key_id, MasterKey(B, "").key_id
    assert f"(id {b_id}) is not the one" in wrong.value.what and a_id in wrong.value.what
    assert dump(tmp_path / "catalog.db") == before


def test_an_altered_store_is_named(tmp_path: Path) -> None:
    keys = open_store(tmp_path, env(A, tmp_path))
    keys.key("mask", "mask")
    keys.key("card", "card")
    database = tmp_path / "catalog.db"
    with sqlite3.connect(database) as con:  # swap two sealed keys: each under the other's name
        rows = dict(con.execute("SELECT name, sealed FROM weir_keys"))
        con.execute("UPDATE weir_keys SET sealed = ? WHERE name = 'mask'", (rows["card"],))
    with pytest.raises(MasterKeyError, match="key mask does not open under master key"):
        open_store(tmp_path, env(A, tmp_path)).key("mask", "mask")
    with sqlite3.connect(database) as con:  # a check value sealed under another key, same id
        _nonce, sealed = con.execute("SELECT nonce, sealed FROM weir_master").fetchone()
        con.execute("UPDATE weir_master SET sealed = ?", (sealed[:-4] + "AAA=",))
    with pytest.raises(MasterKeyError, match="AES-GCM tag failure"):
        open_store(tmp_path, env(A, tmp_path)).key("card", "card")


CREATOR = """
import sys
from pathlib import Path
from weir.metadata import MetadataStore
from weir.metadata.keys import KeyStore
from weir.metadata.store import sqlite_url
keys = KeyStore(MetadataStore(sys.argv[1]), (Path(sys.argv[2]),))
print(keys.key("mask", "mask").hex(), keys.subject_key("c1").hex())
"""


def creating_at_once(url: str, folder: Path, processes: int = 3) -> set[bytes]:
    """What ``processes`` processes, making the same keys in one new store at once, each got."""
    environ = {**os.environ, "WEIR_MASTER_KEY": A.hex()}
    environ.pop("WEIR_MASTER_KEY_FILE", None)
    MetadataStore(url).dispose()  # the schema, no store yet
    started = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, url, str(folder / "project")],
            stdout=subprocess.PIPE,
            env=environ,
        )
        for _ in range(processes)
    ]
    outputs = {p.communicate(timeout=60)[0] for p in started}
    assert [p.returncode for p in started] == [0] * processes
    return outputs


def test_processes_creating_the_same_keys_at_once_get_one_value(tmp_path: Path) -> None:
    outputs = creating_at_once(sqlite_url(tmp_path / "catalog.db"), tmp_path)
    assert len(outputs) == 1, outputs
    assert len(open_store(tmp_path, env(A, tmp_path)).info().keys) == 2


def test_on_postgresql_keys_are_made_once_rotated_and_destroyed(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    url = new_database()
    outputs = creating_at_once(url, tmp_path, processes=2)
    assert len(outputs) == 1, outputs

    def store(key: bytes) -> KeyStore:
        return KeyStore(MetadataStore(url), (tmp_path / "project",), env(key, tmp_path))

    mask, subject = (bytes.fromhex(v.decode()) for v in outputs.pop().split())
    rotation = store(A).rotate_master(MasterKey(B, "the new key"))
    assert rotation.keys == 2
    with pytest.raises(MasterKeyError, match="is not the one"):
        store(A).key("mask", "mask")
    keys = store(B)
    assert keys.key("mask", "mask") == mask and keys.subject_key("c1", create=False) == subject
    assert keys.destroy_subject_key("c1") and keys.subject_key("c1", create=False) is None


# -- clear key files of a project made before the key store ------------------------------------
def test_clear_key_files_are_adopted_with_the_same_values(tmp_path: Path) -> None:
    """A project whose keys were clear files: its masks and card tokens do not change."""
    root = weir.init_project(tmp_path / "shop")
    mask, card = hashlib.sha256(b"old mask").digest(), hashlib.sha256(b"old card").digest()
    folder = root / ".weir" / "keys"
    folder.mkdir(parents=True)
    (folder / "mask.key").write_bytes(mask)
    (folder / "pci.key").write_bytes(card)
    land(
        root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(pos_line("t1", card_number=VISA), pos_line("t2", card_number=MASTERCARD)),
    )
    with weir.Project(root) as project:
        assert not folder.exists()  # adopted on opening, the clear files removed
        assert project.keys.key("mask", "mask") == mask
        assert project.keys.key("card", "card") == card
        project.sources.ingest(["pos"])
        tokens = project.sql("SELECT card_number FROM staging.pos ORDER BY transaction_id")
    expected = PaymentTokenizer(card)
    with duckdb.connect() as con:  # the tokens the old clear key gives, made apart from the project
        made = [
            con.execute(f"SELECT {expected.token_of(repr(c))}").fetchall()[0][0]
            for c in (VISA, MASTERCARD)
        ]
    assert tokens.column("card_number").to_pylist() == made
    data = bytes_outside(root / ".weir" / "catalog.db", root / ".weir" / "catalog.db-wal")
    assert mask not in data and card not in data


def test_an_adoption_cut_short_before_the_file_was_removed_finishes(tmp_path: Path) -> None:
    """Killed between sealing a clear key into the store and removing its file: both hold it."""
    root = weir.init_project(tmp_path / "shop", example=None)
    with weir.Project(root) as project:
        mask = project.keys.key("mask", "mask")
    (root / ".weir" / "keys").mkdir()
    (root / ".weir" / "keys" / "mask.key").write_bytes(mask)
    with weir.Project(root) as project:
        assert project.keys.key("mask", "mask") == mask
    assert not (root / ".weir" / "keys").exists()


def test_a_clear_file_that_differs_from_the_store_is_refused(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    with weir.Project(root) as project:
        project.keys.key("mask", "mask")
    (root / ".weir" / "keys").mkdir()
    (root / ".weir" / "keys" / "mask.key").write_bytes(b"\x01" * 32)
    with pytest.raises(MasterKeyError, match="holds another mask key than the project's key store"):
        weir.Project(root)
    assert (root / ".weir" / "keys" / "mask.key").exists()  # kept: nothing is lost


# -- rotating the master key -----------------------------------------------------------------------
def test_rotate_master_reseals_every_key_and_is_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = weir.init_project(tmp_path / "shop", example=None)
    with weir.Project(root) as project:
        values = {k: project.keys.key(k, kind) for k, kind in (("mask", "mask"), ("card", "card"))}
        project.audit.record_definition()
    new_file = tmp_path / "keys" / "new.key"
    runner = CliRunner()
    rotated = runner.invoke(
        cli, ["--project", str(root), "keystore", "rotate-master", "--new-key-file", str(new_file)]
    )
    assert rotated.exit_code == 0, rotated.output
    assert "re-sealed 3 keys" in rotated.output
    assert stat.S_IMODE(new_file.stat().st_mode) == 0o600
    refused = runner.invoke(cli, ["--project", str(root), "keystore", "list"])
    assert (
        refused.exit_code == 1
        and "is not the one this project's key store is sealed under" in refused.stderr
    )
    monkeypatch.setenv("WEIR_MASTER_KEY_FILE", str(new_file))
    with weir.Project(root) as project:
        assert {k: project.keys.key(k, k) for k in values} == values  # type: ignore[arg-type]
        [record] = project.audit.records(kind="keys.rotate")
        assert record.entry.rows == 3 and project.audit.verify().ok
    listed = runner.invoke(cli, ["--project", str(root), "keystore", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert '"name": "audit"' in listed.stdout and values["mask"].hex() not in listed.stdout
    again = runner.invoke(
        cli, ["--project", str(root), "keystore", "rotate-master", "--new-key-file", str(new_file)]
    )
    assert again.exit_code == 1 and "is the one the store is sealed under" in again.stderr
    inside = runner.invoke(
        cli,
        ["--project", str(root), "keystore", "rotate-master", "--new-key-file", str(root / "k")],
    )
    assert inside.exit_code == 1 and "inside the project folder" in inside.stderr
    assert not (root / "k").exists()


ROTATOR = """
import sys
from pathlib import Path
from weir.metadata import MetadataStore
from weir.metadata.keys import KeyStore
from weir.metadata.master import MasterKey
from weir.metadata.store import sqlite_url
folder = Path(sys.argv[1])
keys = KeyStore(MetadataStore(sqlite_url(folder / "catalog.db")), (folder,))
keys.master()
print("ready", flush=True)
keys.rotate_master(MasterKey(bytes.fromhex(sys.argv[2]), "the new key"))
print("done", flush=True)
"""


def test_a_rotation_killed_at_any_moment_leaves_the_store_under_one_of_the_two_keys(
    tmp_path: Path,
) -> None:
    keys = open_store(tmp_path, env(A, tmp_path))
    values = {f"c{i}": keys.subject_key(f"c{i}") for i in range(150)}
    current, rng, outcomes = A, random.Random(20261207), set()
    for attempt in range(4):
        new = hashlib.sha256(b"key %d" % attempt).digest()
        environ = {**os.environ, "WEIR_MASTER_KEY": current.hex()}
        environ.pop("WEIR_MASTER_KEY_FILE", None)
        process = subprocess.Popen(
            [sys.executable, "-c", ROTATOR, str(tmp_path), new.hex()],
            stdout=subprocess.PIPE,
            env=environ,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.04))  # somewhere inside the rotation (about 20 ms), or after
        process.kill()
        process.wait(timeout=30)
        opened = []
        for candidate in (current, new):
            try:
                reopened = open_store(tmp_path, env(candidate, tmp_path))
                assert {s: reopened.subject_key(s, create=False) for s in values} == values
                opened.append(candidate)
            except MasterKeyError:
                pass
        assert len(opened) == 1, f"attempt {attempt}: opened with {len(opened)} keys"
        outcomes.add(opened[0] == new)
        current = opened[0]
    assert outcomes  # which of the two varies with the moment; each run checks the one it got
