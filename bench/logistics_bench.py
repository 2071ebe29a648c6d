"""The logistics sources' ingest against their floors.

    .venv/bin/python bench/logistics_bench.py [--days 30] [--scale 1.0] [--po-rows 200000]

- ``parcel_hops`` (REST, cursor pages of 1000 events) from the local carrier API:
  pages/s of a whole ``weir ingest`` (fetch, land, contract, commit) and of its
  fetch alone, beside the server's own ceiling: a bare httpx client walking
  the same pages and doing nothing with them.
- ``purchase_orders`` (database, first incremental read) from PostgreSQL
  (``WEIR_TEST_POSTGRES``, default 127.0.0.1:5432/test): rows/s of
  ``weir ingest`` beside a plain ``COPY (SELECT ...) TO STDOUT`` of the same
  columns, the fastest way out of the server.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
import psycopg
import sqlalchemy as sa

import weir
from weir.demo.carrier import ADDRESS_VARIABLE, CarrierApi, feed_path, read_feed
from weir.demo.generate import generate
from weir.demo.generate.logistics import (
    DB_FILE,
    DB_FOLDER,
    PURCHASE_ORDERS,
    SHOP_DB_VARIABLE,
    write_purchase_orders,
)
from weir.ingest.rest import RestClient

POSTGRES = os.environ.get("WEIR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PAGE = 1000


def bare_pages(api: CarrierApi) -> tuple[int, float]:
    """Every page as a client that does nothing with them gets it: pages, seconds."""
    pages, cursor = 0, None
    started = time.perf_counter()
    with httpx.Client() as client:
        while True:
            params = {"limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
            answer = client.get(api.url, params=params).json()
            pages += 1
            cursor = answer["next_cursor"]
            if not cursor:
                return pages, time.perf_counter() - started


def rest_bench(work: Path, days: int, scale: float) -> None:
    root = weir.init_project(work / "rest")
    generate(root / "landing", days=days, scale=scale, seed=7, end=date(2026, 6, 30))
    api = CarrierApi(read_feed(feed_path(root / "landing"))).start()
    os.environ[ADDRESS_VARIABLE] = api.address
    try:
        pages, bare = bare_pages(api)
        with weir.Project(root) as project:
            source = project.files.source("parcel_hops")
            started = time.perf_counter()
            fetched = RestClient(source).extract(None)
            fetch = time.perf_counter() - started
            started = time.perf_counter()
            [result] = project.sources.ingest(["parcel_hops"])
            whole = time.perf_counter() - started
        events = len(api.events)
        print(f"parcel_hops: {events} events, {pages} pages of {PAGE}")
        print(
            f"  bare client (server ceiling) {pages / bare:8.1f} pages/s  {events / bare:10.0f} events/s"
        )
        print(f"  weir fetch only              {fetched.pages / fetch:8.1f} pages/s")
        print(
            f"  weir ingest (fetch..commit)  {pages / whole:8.1f} pages/s  "
            f"{result.counts.received / whole:10.0f} events/s"
        )
    finally:
        api.stop()
        os.environ.pop(ADDRESS_VARIABLE, None)


def database_bench(work: Path, rows_wanted: int) -> None:
    landing = work / "po"
    generate(landing, days=30, scale=1.0, seed=7, end=date(2026, 6, 30))
    sqlite = sa.create_engine(f"sqlite:///{landing / DB_FOLDER / DB_FILE}")
    with sqlite.connect() as con:
        base = [dict(r._mapping) for r in con.execute(sa.select(PURCHASE_ORDERS))]
    sqlite.dispose()
    base = [r for r in base if isinstance(r["quantity"], int)]
    rows = []
    while len(rows) < rows_wanted:
        for r in base:
            rows.append({**r, "po_id": len(rows) + 1})
    rows = rows[:rows_wanted]
    name = f"weir_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(POSTGRES, autocommit=True)
    admin.execute(f"CREATE DATABASE {name}")
    url = sa.make_url(POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1)).set(
        database=name
    )
    try:
        engine = sa.create_engine(url)
        write_purchase_orders(engine, rows)
        engine.dispose()
        columns = ", ".join(c.name for c in PURCHASE_ORDERS.columns)
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain) as con, con.cursor() as cur:
            started = time.perf_counter()
            size = 0
            with cur.copy(f"COPY (SELECT {columns} FROM purchase_orders) TO STDOUT") as copy:
                for block in copy:
                    size += len(block)
            floor = time.perf_counter() - started
        root = weir.init_project(work / "db")
        os.environ[SHOP_DB_VARIABLE] = url.render_as_string(hide_password=False)
        with weir.Project(root) as project:
            started = time.perf_counter()
            [result] = project.sources.ingest(["purchase_orders"])
            whole = time.perf_counter() - started
        print(f"purchase_orders: {len(rows)} rows on PostgreSQL")
        print(
            f"  COPY (SELECT ...) TO STDOUT  {len(rows) / floor:10.0f} rows/s ({size / 1e6:.1f} MB)"
        )
        print(f"  weir ingest (read..commit)   {result.counts.received / whole:10.0f} rows/s")
    finally:
        os.environ.pop(SHOP_DB_VARIABLE, None)
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--po-rows", type=int, default=200_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="weir-logistics-bench-"))
    try:
        rest_bench(work, args.days, args.scale)
        database_bench(work, args.po_rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
