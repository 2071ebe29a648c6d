"""A lake on object storage: the same project, its tables on a real S3-compatible server.

moto's S3 server runs in its own process on 127.0.0.1 (``s3`` fixture, see
s3_server.py); weir reaches it over HTTP with the standard AWS variables, as it
would any S3-compatible store. Each project takes its own prefix of the bucket.

The shop of the small tests has POS files for ten days, 2025-01-01 to
2025-01-10, with ``d`` sales on day ``d`` (55 in all) at noon UTC, and one bad
line on day 2 (quarantined), as in test_lifecycle.py.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import (
    NewDatabase,
    bytes_outside,
    drop_sections,
    killed_at_random,
    land,
    pos_csv,
    pos_line,
)
from golden.check import ONE_PER_KPI, assert_answer
from s3_server import ACCESS_KEY, SECRET_KEY

import weir
from weir.cli.main import cli
from weir.engine import EngineError
from weir.errors import ProjectError
from weir.lake import LakeViews, Maintenance, ObjectStorage
from weir.lifecycle import verify_archive

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"
NOW = datetime(2025, 1, 11, tzinfo=UTC)
GONE = {f"T{d:02d}-{i}" for d in range(1, 6) for i in range(d)}  # 1 + 2 + 3 + 4 + 5 = 15
KEPT = {f"T{d:02d}-{i}" for d in range(6, 11) for i in range(d)}  # 6 + 7 + 8 + 9 + 10 = 40


def _noon(day: int) -> int:
    return int(datetime(2025, 1, day, 12, tzinfo=UTC).timestamp())


def _land_days(root: Path, days: range) -> None:
    for d in days:
        lines = [pos_line(f"T{d:02d}-{i}", timestamp=_noon(d)) for i in range(d)]
        if d == 2:
            lines.append(pos_line("BAD-2", quantity="abc", timestamp=_noon(d)))
        land(root, "pos", f"pos_2025-01-{d:02d}_store001.csv", pos_csv(*lines))


def _on_s3(root: Path, s3: Any, extra: str = "") -> str:
    """Put the project's lake on a fresh prefix of the bucket; its location."""
    location = str(s3.location(root.name))
    with (root / "weir.yml").open("a", encoding="utf-8") as config:
        config.write(f"lake: {location}\n{extra}")
    return location


def _shop(tmp_path: Path, s3: Any, days: range = range(1, 11), extra: str = "") -> tuple[Path, str]:
    """The shop with its lake on the S3 server; its folder and its lake's location."""
    root = weir.init_project(tmp_path / "shop")
    drop_sections(root, "schedules", "alerts")
    _land_days(root, days)
    return root, _on_s3(root, s3, extra)


def _ids(project: weir.Project, table: str, **pin: Any) -> set[str]:
    rows = project.sql(f"SELECT transaction_id FROM {table}", **pin).to_pylist()
    return {r["transaction_id"] for r in rows}


def _count(project: weir.Project, table: str) -> int:
    return int(project.sql(f"SELECT count(*) AS n FROM {table}").to_pylist()[0]["n"])


def _ids_in_objects(objects: dict[str, bytes], folder: str) -> set[str]:
    """The transaction ids in the Parquet objects under ``folder`` (a key prefix)."""
    import io

    ids: set[str] = set()
    for key, data in objects.items():
        if key.startswith(folder) and key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data), columns=["transaction_id"])
            ids |= set(table.column(0).to_pylist())
    return ids


# -- the example project on S3 --------------------------------------------------------------
@pytest.fixture(scope="module")
def golden_s3(tmp_path_factory: pytest.TempPathFactory, s3: Any) -> tuple[weir.Project, str]:
    """The golden dataset, ingested and built with its lake on the S3 server."""
    root = weir.init_project(tmp_path_factory.mktemp("golden_s3") / "shop")
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    location = _on_s3(root, s3)
    project = weir.Project(root)
    _, result = project.run()
    assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    return project, location


@pytest.mark.parametrize("entry", ONE_PER_KPI, ids=[e["kpi"] for e in ONE_PER_KPI])
def test_the_golden_kpis_on_s3_are_the_hand_worked_ones(
    golden_s3: tuple[weir.Project, str], entry: dict[str, Any]
) -> None:
    assert_answer(golden_s3[0], entry)  # the values test_golden.py checks on a local lake


def test_every_table_is_in_the_bucket_and_none_on_disk(
    golden_s3: tuple[weir.Project, str], s3: Any
) -> None:
    project, location = golden_s3
    prefix = location.removeprefix("s3://")
    objects = s3.objects(location)
    for layer, name in project.lake.tables():
        table = project.lake.table(layer, name)
        assert table.location().startswith(location), table.location()
        assert f"{prefix}/{layer}/{name}/metadata/" in {k.rsplit("/", 1)[0] + "/" for k in objects}
    assert not (project.root / ".weir" / "lake").exists()
    # the credentials come from the environment: neither the bucket, the state folder (the
    # catalog, the audit log, the logs) nor weir.yml holds them
    state = b"".join(p.read_bytes() for p in (project.root / ".weir").rglob("*") if p.is_file())
    stored = b"".join(objects.values())
    config = (project.root / "weir.yml").read_bytes()
    for secret in (SECRET_KEY.encode(), ACCESS_KEY.encode()):
        assert secret not in state and secret not in stored and secret not in config


def test_the_gateway_answers_each_role_its_own_way_from_s3(
    golden_s3: tuple[weir.Project, str], s3: Any
) -> None:
    project, _ = golden_s3
    queries = project.access.queries()
    policy = project.access.policy()
    sql = "SELECT region, sum(gross_sales) AS gross FROM marts.sales_daily GROUP BY ALL ORDER BY 1"
    everyone = queries.query(sql, policy.principal("sam")).table.to_pylist()
    north = queries.query(sql, policy.principal("nina")).table.to_pylist()
    assert len(everyone) > 1 and north == [r for r in everyone if r["region"] == "North"]
    # beneath the gateway, the locked session reads the lake's prefix and nothing else
    views = LakeViews(project.lake)
    session, _ = views.session(["marts.sales_daily"])
    try:
        lake = project.lake
        inside = lake.data_files("marts", "sales_daily", lake.snapshot_for("marts", "sales_daily"))
        assert session.arrow(f"SELECT count(*) FROM read_parquet('{inside[0]}')").num_rows == 1
        for outside in (f"s3://{s3.bucket}/other/x.parquet", "/etc/hostname"):
            with pytest.raises(EngineError, match="disabled by configuration"):
                session.arrow(f"SELECT * FROM read_parquet('{outside}')")
        with pytest.raises(EngineError):
            session.execute("SET enable_external_access = true")
    finally:
        session.close()
        views.close()


# -- the shop: ingest, time travel, maintenance ----------------------------------------------
def test_time_travel_compaction_and_retention_on_s3(tmp_path: Path, s3: Any) -> None:
    archive = s3.location("archive")
    retention = (
        f"retention:\n  archive_dir: {archive}\n"
        "  sources:\n    pos:\n      staging: {keep: 5d, then: archive, age: event}\n"
    )
    root, location = _shop(tmp_path, s3, days=range(1, 6), extra=retention)
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        time.sleep(0.02)
        between = datetime.now(UTC)
        time.sleep(0.02)
        _land_days(root, range(6, 11))
        project.sources.ingest(["pos"])
        assert _ids(project, "staging.pos") == GONE | KEPT
        assert _ids(project, "staging.pos", as_of=between) == GONE  # read as it was
        assert _count(project, "quarantine.pos") == 1

        # raw holds one file a batch: the two become one, with the same rows
        lake = project.lake
        assert len(lake.data_files("raw", "pos", lake.snapshot_for("raw", "pos"))) == 2
        with lake.writing():
            assert lake.compact("raw", "pos", min_files=1) == ["raw.pos Record[]"]
        assert len(lake.data_files("raw", "pos", lake.snapshot_for("raw", "pos"))) == 1
        assert _count(project, "raw.pos") == 56

        [done] = project.lifecycle.run(now=NOW)
        assert (done.kind, done.rows, done.note) == ("archive", 15, "done")
        assert _ids(project, "staging.pos") == KEPT
    # the files that held the gone rows are deleted from the bucket: what is left holds the rest
    prefix = location.removeprefix("s3://")
    assert _ids_in_objects(s3.objects(location), f"{prefix}/staging/pos/data/") == KEPT
    # the rows gone are in the archive, on the store, verified against its manifest
    assert done.archive is not None and done.archive.startswith(f"{archive}/staging/pos/")
    assert verify_archive(done.archive, 15).rows == 15
    stored = s3.objects(done.archive)
    manifest = json.loads(stored[f"{done.archive.removeprefix('s3://')}/manifest.json"])
    assert manifest["table"] == "staging.pos" and manifest["rows"] == 15
    assert _ids_in_objects(stored, done.archive.removeprefix("s3://")) == GONE


def test_erasing_rows_leaves_no_copy_in_the_bucket(tmp_path: Path, s3: Any) -> None:
    root, location = _shop(tmp_path, s3, days=range(1, 4))
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        maintenance = Maintenance(project.lake)
        with project.lake.writing():
            rewritten = maintenance.rewrite("raw", "pos", "transaction_id = 'T03-1'")
            maintenance.expire("raw", "pos", all_but_current=True)
            removed = maintenance.remove_unreferenced("raw", "pos", also=rewritten.replaced)
        assert rewritten.rows == 1 and removed
        assert "T03-1" not in _ids(project, "raw.pos")
    objects = s3.objects(location)
    prefix = location.removeprefix("s3://")
    assert all(
        not k.startswith(r) for k in objects for r in [p.removeprefix("s3://") for p in removed]
    )
    raw = b"".join(v for k, v in objects.items() if k.startswith(f"{prefix}/raw/pos/"))
    assert b"T03-1" not in raw  # in no data file, and in no manifest's column bounds


SCRIPT = """
import sys, weir
weir.Project(sys.argv[1]).sources.ingest(["pos"])
"""


def test_a_sigkill_mid_ingest_leaves_a_lake_that_recovers(tmp_path: Path, s3: Any) -> None:
    root = weir.init_project(tmp_path / "shop")
    drop_sections(root, "schedules", "alerts")
    for d in range(1, 11):
        lines = [pos_line(f"T{d:02d}-{i}", timestamp=_noon(d)) for i in range(300)]
        land(root, "pos", f"pos_2025-01-{d:02d}_store001.csv", pos_csv(*lines))
    location = _on_s3(root, s3)
    prefix = location.removeprefix("s3://")
    rng = random.Random(20261207)
    for _ in range(3):
        killed_at_random(SCRIPT, root, rng, 1.0, 4.0)  # the child reaches the server too
        with weir.Project(root) as project:
            project.sources.recover()
            batches = project.ledger.batches("pos")
            committed = [b for b in batches if b.status == "committed"]
            tables = set(project.lake.tables())
            raw = _count(project, "raw.pos") if ("raw", "pos") in tables else 0
        # a batch rolled back leaves none of its files (whole or cut short) in the bucket
        keys = set(s3.objects(location))
        for aborted in (b.batch_id for b in batches if b.status == "aborted"):
            assert not [k for k in keys if f"/data/{aborted}/" in k], aborted
        assert raw == sum(b.counts.received for b in committed)
        if committed:
            break
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        assert _count(project, "raw.pos") == 3000
        assert _count(project, "staging.pos") == 3000
    assert any(k.startswith(f"{prefix}/staging/pos/") for k in s3.objects(location))


def test_a_lake_location_that_cannot_be_used_is_refused_with_what_to_do(
    tmp_path: Path, s3: Any
) -> None:
    root = weir.init_project(tmp_path / "shop")
    config = (root / "weir.yml").read_text()
    for lake, expected in (
        ("gs://bucket/lake", "s3://bucket/prefix"),
        ("s3://KEY:SECRET@bucket/lake", "credentials never go in weir.yml"),
    ):
        (root / "weir.yml").write_text(config + f"lake: {lake}\n")
        with pytest.raises(ProjectError, match=expected):
            weir.Project(root)
    (root / "weir.yml").write_text(config + "lake: s3://no-such-bucket/lake\n")
    with pytest.raises(weir.errors.WeirError, match="does not exist"):
        weir.Project(root)
    (root / "weir.yml").write_text(
        config + f"lake: {s3.location()}\nencryption:\n  at_rest: true\n"
    )
    with pytest.raises(ProjectError, match="not available for a lake on object storage"):
        weir.Project(root)
    (root / "weir.yml").write_text(config + f"retention:\n  archive_dir: {s3.location()}\n")
    with pytest.raises(ProjectError, match="needs the lake on the same store"):
        weir.Project(root)


# -- weir migrate ----------------------------------------------------------------------------
def test_migrate_moves_an_embedded_project_to_postgresql_and_s3(
    tmp_path: Path, s3: Any, new_database: NewDatabase
) -> None:
    root = weir.init_project(tmp_path / "shop")
    drop_sections(root, "schedules", "alerts")
    _land_days(root, range(1, 6))  # 1 + 2 + 3 + 4 + 5 = 15 sales, one bad line on day 2
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        project.sql("SELECT 1")  # the audit log gains a record
    state = root / ".weir"
    before = {p: p.read_bytes() for p in state.rglob("*") if p.is_file() and "lake" in p.parts}
    catalog = bytes_outside(state / "catalog.db")
    url = new_database()
    location = s3.location("moved")
    moved = root / "weir.new.yml"
    config = (root / "weir.yml").read_text(encoding="utf-8")
    moved.write_text(config + f"catalog_uri: {url}\nlake: {location}\n", encoding="utf-8")

    shown = CliRunner().invoke(
        cli, ["--project", str(root), "migrate", "--to", str(moved), "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.output)
    assert result["ok"] and result["lake"] == location
    tables = {t["table"]: t for t in result["tables"]}
    assert tables["raw.pos"]["rows"] == tables["raw.pos"]["copied_rows"] == 16
    assert tables["staging.pos"]["copied_rows"] == 15
    assert tables["quarantine.pos"]["copied_rows"] == 1
    assert result["metadata"]["weir_batches"] == {"rows": 1, "copied_rows": 1}
    # the source is untouched: its lake files and its catalog as they were
    assert {p: p.read_bytes() for p in before} == before
    assert bytes_outside(state / "catalog.db") == catalog

    # switched over, the project answers as before, from PostgreSQL and the bucket
    moved.replace(root / "weir.yml")
    with weir.Project(root) as project:
        assert project.lake.storage.describe() == location
        assert _ids(project, "staging.pos") == GONE
        assert _count(project, "quarantine.pos") == 1
        [batch] = project.ledger.batches("pos")
        assert batch.status == "committed" and batch.counts.accepted == 15
        assert project.audit.verify().ok
        _land_days(root, range(6, 8))  # and goes on: new batches land in the new lake
        project.sources.ingest(["pos"])
        assert _ids(project, "staging.pos") == GONE | {
            f"T{d:02d}-{i}" for d in range(6, 8) for i in range(d)
        }
    again = CliRunner().invoke(
        cli, ["--project", str(root), "migrate", "--to", str(root / "weir.yml")]
    )
    assert again.exit_code != 0 and "new place" in again.output


def test_threads_sharing_an_open_lake_file_each_read_the_bytes_they_asked_for(s3: Any) -> None:
    """DuckDB's threads share a file and read it as seek, then read: each keeps its place."""
    import threading

    storage = ObjectStorage(s3.location("shared"))
    data = bytes(range(256)) * 4096  # 1 MiB, every offset's bytes known
    location = storage.join(storage.root, "part-0.parquet")
    storage.write_bytes(location, data)
    handle = storage.engine_filesystem().open(location, "rb")
    wrong: list[int] = []

    def read_at(offset: int) -> None:
        for _ in range(300):
            handle.seek(offset)
            if handle.read(4096) != data[offset : offset + 4096]:
                wrong.append(offset)

    threads = [threading.Thread(target=read_at, args=(o,)) for o in (0, 4099, 70_001, 1 << 19)]
    # threads switch as often as they can: with a plain fsspec file, some reads come from
    # another thread's position
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        handle.close()
    assert wrong == []


def test_an_erasure_on_s3_is_verified_by_searching_the_bucket_too(tmp_path: Path, s3: Any) -> None:
    """A person erased from a lake on S3: the certificate's scan walks the bucket's objects
    (decoding Parquet and Avro) as well as the state folder, and finds none of their values."""
    from test_subjects import KEPT, PERSONAL, build_and_erase

    from weir.governance.proof import scan

    location = s3.location("erased")
    sources = ("customers", "pos", "crm_interactions", "web_traffic")
    done = build_and_erase(tmp_path / "shop", sources=sources, lake=location)
    try:
        certificate = done.certificate
        assert certificate["verified"], certificate["verification"]
        assert certificate["verification"]["lake"] == location
        assert certificate["rows"] > 0 and certificate["files_removed"] > 0
        state = done.project.files.state_dir
        # the same scan finds a customer who was not erased, in the bucket's objects
        kept = scan(state, {"email": KEPT[0]}, also=[location])
        assert any(hit.file.startswith(f"{location}/") for hit in kept.hits), kept
        gone = scan(state, {f"v{i}": value for i, value in enumerate(PERSONAL)}, also=[location])
        assert gone.hits == () and gone.files > len(list(state.rglob("*")))
    finally:
        done.project.close()
