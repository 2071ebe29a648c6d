"""Shared fixtures: a real project folder in ``tmp_path`` and small hand-written landing files.

Every test runs the real engines (DuckDB, pyiceberg on a SQLite catalog) on files a
person can read in the test itself; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

# The CLI's tables are as wide as COLUMNS when piped; tests read them, so every run
# sees the same width (pytest-xdist's workers would otherwise say 80).
os.environ["COLUMNS"] = "160"

import weir
from weir.ingest import BatchResult, Counts

# 2025-01-01 12:00:00 UTC: comfortably in the past, so `not_future` checks pass.
T0 = 1735732800

POS_HEADER = "transaction_id,store_id,product_id,quantity,revenue,discount_applied,timestamp,customer_id,card_number"

# Luhn-valid test card numbers (the card networks' published test numbers).
VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"


@pytest.fixture(scope="session", autouse=True)
def master_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One master key for the whole run, in a temporary folder: no test writes into ~/.config.

    Set in the environment, so the processes tests start (``weir`` commands, the
    collector's flush process) use it too.
    """
    path = tmp_path_factory.mktemp("master") / "master.key"
    path.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    path.chmod(0o600)
    saved = {name: os.environ.pop(name, None) for name in ("WEIR_MASTER_KEY",)}
    os.environ["WEIR_MASTER_KEY_FILE"] = str(path)
    yield path
    os.environ.pop("WEIR_MASTER_KEY_FILE", None)
    os.environ.update({name: value for name, value in saved.items() if value is not None})


def bytes_outside(*paths: Path) -> bytes:
    """The bytes of files, read by another process (those of them that exist).

    Reading a SQLite database's files in the process that has it open would drop
    that process's locks on them (POSIX drops a process's locks on a file when it
    closes any descriptor of it), and a writer elsewhere could then reset the
    write-ahead log's index under the open connections.
    """
    present = [str(path) for path in paths if path.exists()]
    if not present:
        return b""
    return subprocess.run(["cat", *present], capture_output=True, check=True).stdout


def killed_at_random(script: str, root: Path, rng: random.Random, low: float, high: float) -> None:
    """Run ``python -c script root`` and SIGKILL it between ``low`` and ``high`` seconds in
    (if it is still running then)."""
    child = subprocess.Popen([sys.executable, "-c", script, str(root)], stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(low, high))
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait()


def under_ci() -> bool:
    """Whether this run is CI's (``.ci/run`` runs with ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_server(name: str, why: str) -> NoReturn:
    """Stop a test that needs ``name`` (a server or its driver), which is missing.

    Under CI that is a failure, so a test that never ran cannot pass as skipped; on a
    developer's machine without the server it is a skip that says why.
    """
    if under_ci():
        pytest.fail(f"{name} is needed and missing under CI: {why}", pytrace=False)
    pytest.skip(f"{name} is missing: {why}", allow_module_level=True)


def drop_sections(root: Path, *names: str) -> None:
    """Remove top-level sections of the project's weir.yml (e.g. the example's alerts and
    schedules, which name KPIs and models a test replaced)."""
    config = root / "weir.yml"
    kept: list[str] = []
    dropping = False
    for line in config.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            dropping = line.split(":", 1)[0] in names
        if not dropping:
            kept.append(line)
    config.write_text("\n".join(kept) + "\n", encoding="utf-8")


def without_example_models(root: Path) -> None:
    """Remove the example's models, and the schedules that name them: the test writes its own."""
    shutil.rmtree(root / "models", ignore_errors=True)
    drop_sections(root, "schedules")


POSTGRES = os.environ.get("WEIR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
NewDatabase = Callable[[], str]


@pytest.fixture(scope="module")
def new_database() -> Iterator[NewDatabase]:
    """Creates empty databases on the PostgreSQL server (``WEIR_TEST_POSTGRES``) and gives
    their SQLAlchemy URLs; drops them all at the end. Without a server: fails under CI."""
    try:
        import psycopg
        import sqlalchemy as sa
    except ImportError as exc:
        require_server(
            "psycopg", f"the PostgreSQL tests need the postgres extra (psycopg 3): {exc}"
        )
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        why = " ".join(str(exc).split())
        require_server("PostgreSQL", f"no server at {POSTGRES} ({why}); set WEIR_TEST_POSTGRES")
    created: list[str] = []
    base = sa.make_url(POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1))

    def create() -> str:
        name = f"weir_t_{secrets.token_hex(5)}"
        admin.execute(f"CREATE DATABASE {name}")
        created.append(name)
        return base.set(database=name).render_as_string(hide_password=False)

    try:
        yield create
    finally:
        for name in created:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


MARIADB = os.environ.get("WEIR_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(scope="module")
def new_mariadb() -> Iterator[NewDatabase]:
    """Creates empty databases on the MariaDB (or MySQL) server (``WEIR_TEST_MARIADB``) and
    gives their SQLAlchemy URLs; drops them all at the end. Without a server: fails under CI."""
    try:
        import pymysql
        import sqlalchemy as sa
    except ImportError as exc:
        require_server("pymysql", f"the MariaDB tests need the databases extra (PyMySQL): {exc}")
    base = sa.make_url(MARIADB)
    try:
        admin = pymysql.connect(
            host=base.host,
            port=base.port or 3306,
            user=base.username,
            password=base.password or "",
            autocommit=True,
            connect_timeout=5,
        )
    except pymysql.err.OperationalError as exc:
        require_server("MariaDB", f"no server at {MARIADB} ({exc}); set WEIR_TEST_MARIADB")
    created: list[str] = []

    def create() -> str:
        name = f"weir_t_{secrets.token_hex(5)}"
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        created.append(name)
        return base.set(database=name).render_as_string(hide_password=False)

    try:
        yield create
    finally:
        with admin.cursor() as cursor:
            for name in created:
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def spaced(card: str) -> str:
    """A card number as people write it: groups of four digits."""
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4))


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    """A fresh copy of the example retail project, with nothing ingested."""
    return weir.init_project(tmp_path / "shop")


def encrypt_pii(root: Path) -> Path:
    """Turn on the sealing of personal data per subject, which the example leaves off."""
    config = root / "weir.yml"
    text = config.read_text(encoding="utf-8")
    assert "  encrypt_pii: false\n" in text
    config.write_text(text.replace("  encrypt_pii: false\n", "  encrypt_pii: true\n"), "utf-8")
    return root


@pytest.fixture
def project(project_root: Path) -> Iterator[weir.Project]:
    with weir.Project(project_root) as opened:
        yield opened


def land(root: Path, source: str, name: str, content: str | bytes) -> Path:
    """Write one landing file ``<root>/landing/<source>/<name>``."""
    path = root / "landing" / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def pos_line(
    transaction_id: str,
    *,
    store_id: object = 1,
    product_id: object = 10,
    quantity: object = 1,
    revenue: object = "9.99",
    discount_applied: object = "",
    timestamp: object = T0,
    customer_id: object = "",
    card_number: object = "",
) -> str:
    values = [
        transaction_id,
        store_id,
        product_id,
        quantity,
        revenue,
        discount_applied,
        timestamp,
        customer_id,
        card_number,
    ]
    return ",".join(str(v) for v in values)


def pos_csv(*lines: str, header: str = POS_HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def jsonl(*records: dict[str, Any] | str) -> str:
    """JSON lines; a string is written as it is (to make malformed lines)."""
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


def web_event(event_id: str | None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "session_id": "s1",
        "page": "/",
        "device_type": "Desktop",
        "browser": "Chrome",
        "event_type": "View",
        "timestamp": T0,
    }
    if event_id is not None:
        record["event_id"] = event_id
    record.update(fields)
    return record


def crm_event(event_id: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": event_id,
        "customer_id": 7,
        "interaction_type": "Feedback",
        "channel": "Email",
        "rating": 4,
        "timestamp": T0,
    }
    record.update(fields)
    return record


def ingest_one(project: weir.Project, source: str) -> BatchResult:
    """Ingest one source and check the batch's books balance."""
    [result] = project.sources.ingest([source])
    assert_reconciles(result.counts)
    return result


def assert_reconciles(counts: Counts) -> None:
    assert counts.received == counts.accepted + counts.quarantined + counts.duplicates, counts


def assert_counts(
    result: BatchResult, received: int, accepted: int, quarantined: int, duplicates: int
) -> None:
    assert_reconciles(result.counts)
    got = (
        result.counts.received,
        result.counts.accepted,
        result.counts.quarantined,
        result.counts.duplicates,
    )
    assert got == (received, accepted, quarantined, duplicates)


def rows(project: weir.Project, query: str, **pin: Any) -> list[dict[str, Any]]:
    return project.sql(query, **pin).to_pylist()


def scalar(project: weir.Project, query: str, **pin: Any) -> Any:
    [row] = project.sql(query, **pin).to_pylist()
    [value] = row.values()
    return value


def edit_source(root: Path, source: str, old: str, new: str) -> None:
    """Change one exact piece of text in ``sources/<source>.yml``."""
    path = root / "sources" / f"{source}.yml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not exactly once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def files_under(folder: Path) -> Sequence[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3-compatible server (moto's, in its own process) with a bucket, for the whole run;
    the AWS variables point at it (see s3_server.py)."""
    from s3_server import running_s3

    with running_s3(tmp_path_factory.mktemp("s3") / "server.log") as server:
        yield server
