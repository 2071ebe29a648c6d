"""Every format's reader keeps every record: a bad line becomes a quarantined record, never a crash.

Each test ingests a small hand-written file through ``Project.ingest`` and checks the
exact counts (``received = accepted + quarantined + duplicates``), what reached staging
and what quarantine holds, with its reasons and the raw text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import (
    POS_HEADER,
    T0,
    assert_counts,
    ingest_one,
    jsonl,
    land,
    pos_csv,
    pos_line,
    rows,
)

import weir
from weir.engine import DuckDBEngine
from weir.ingest.readers import read_files

MALFORMED_FEW = "malformed CSV line (missing columns): Expected Number of Columns: 9 Found: 3"
MALFORMED_MANY = "malformed CSV line (too many columns): Expected Number of Columns: 9 Found: 10"


def quarantined(project: weir.Project, source: str) -> list[dict]:
    return rows(project, f"SELECT * FROM quarantine.{source} ORDER BY _source_file, _offset")


# -- CSV --------------------------------------------------------------------------------
def test_csv_quoted_commas_and_malformed_lines(project_root: Path, project: weir.Project) -> None:
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line('"t1, gift"', revenue='"1234.50"'),
            "t2,1,10",  # too few fields
            pos_line("t3") + ",surplus",  # too many fields
            pos_line("t4"),
        ),
    )
    result = ingest_one(project, "pos")
    assert_counts(result, received=4, accepted=2, quarantined=2, duplicates=0)
    assert rows(project, "SELECT transaction_id, revenue FROM staging.pos ORDER BY 1") == [
        {"transaction_id": "t1, gift", "revenue": 1234.5},
        {"transaction_id": "t4", "revenue": 9.99},
    ]
    held = quarantined(project, "pos")
    assert [(r["_offset"], r["_raw"], r["_reasons"]) for r in held] == [
        (3, "t2,1,10", [MALFORMED_FEW]),
        (4, pos_line("t3") + ",surplus", [MALFORMED_MANY]),
    ]
    assert all(
        r["transaction_id"] is None for r in held
    )  # a line that does not split has no fields
    assert all(r["_source_file"] == "landing/pos/pos_2025-01-01_store001.csv" for r in held)


def test_csv_line_numbers_of_accepted_records_step_over_rejected_lines(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line("a"),
            "broken",
            pos_line("b"),
            "x,y",
            pos_line("c"),
        ),
    )
    assert_counts(ingest_one(project, "pos"), received=5, accepted=3, quarantined=2, duplicates=0)
    assert rows(
        project, "SELECT transaction_id, _offset FROM raw.pos WHERE _status = 'accepted' ORDER BY 2"
    ) == [
        {"transaction_id": "a", "_offset": 2},
        {"transaction_id": "b", "_offset": 4},
        {"transaction_id": "c", "_offset": 6},
    ]


def test_csv_renamed_column_quarantines_every_record_of_the_file(
    project_root: Path, project: weir.Project
) -> None:
    land(project_root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("ok1")))
    renamed = POS_HEADER.replace(",quantity,", ",quantity_sold,")
    land(
        project_root,
        "pos",
        "pos_2025-01-02_store001.csv",
        pos_csv(
            pos_line("r1"),
            pos_line("r2"),
            pos_line("r3"),
            header=renamed,
        ),
    )
    result = ingest_one(project, "pos")
    assert_counts(result, received=4, accepted=1, quarantined=3, duplicates=0)
    held = quarantined(project, "pos")
    # each record kept whole, as it arrived, under the file's own column names
    assert [json.loads(r["_raw"]) for r in held] == [
        dict(zip(renamed.split(","), pos_line(t).split(","), strict=True))
        | {"discount_applied": None, "customer_id": None, "card_number": None}
        for t in ("r1", "r2", "r3")
    ]
    assert [r["_offset"] for r in held] == [2, 3, 4]
    for record in held:
        [reason] = record["_reasons"]
        assert reason.startswith("file header does not match the contract: ")
        assert "unknown column 'quantity_sold' (renamed from 'quantity'?)" in reason
        assert "missing column 'quantity'" in reason


def test_csv_latin1_line_in_a_utf8_file_is_quarantined_alone(
    project_root: Path, project: weir.Project
) -> None:
    content = pos_csv(pos_line("t1"), pos_line("caf\xe9-2"), pos_line("t3"))
    land(project_root, "pos", "pos_2025-01-01_store001.csv", content.encode("latin-1"))
    result = ingest_one(project, "pos")
    assert_counts(result, received=3, accepted=2, quarantined=1, duplicates=0)
    [held] = quarantined(project, "pos")
    assert held["_offset"] == 3
    [reason] = held["_reasons"]
    assert reason.startswith("malformed CSV line (invalid encoding)")
    assert "not utf-8 encoded" in reason
    # the line is kept, as much of it as is text
    assert held["_raw"].startswith("caf") and held["_raw"].endswith(f",{T0},,")


def test_csv_latin1_header_quarantines_the_file_line_by_line(
    project_root: Path, project: weir.Project
) -> None:
    header = POS_HEADER.replace("store_id", "magas\xedn")  # a latin-1 byte in the header itself
    content = pos_csv(pos_line("t1"), pos_line("t2"), header=header)
    land(project_root, "pos", "pos_2025-01-01_store001.csv", content.encode("latin-1"))
    result = ingest_one(project, "pos")
    assert_counts(result, received=2, accepted=0, quarantined=2, duplicates=0)
    held = quarantined(project, "pos")
    assert [r["_raw"] for r in held] == [pos_line("t1"), pos_line("t2")]
    for record in held:
        assert record["_reasons"] == [
            "file is not valid utf-8: re-export it as utf-8 or set csv: {encoding: ...} in the source"
        ]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_csv_in_its_declared_encoding(project_root: Path, encoding: str) -> None:
    (project_root / "sources" / "stores.yml").write_text(
        (project_root / "sources" / "stores.yml").read_text(encoding="utf-8")
        + f"csv: {{encoding: {encoding}}}\n",
        encoding="utf-8",
    )
    with weir.Project(project_root) as project:
        land(
            project_root,
            "stores",
            "stores_2025-01-01.csv",
            (
                "store_id,name,city,region,country,opened_on\n"
                "1,Café Store,München,South,DE,2020-05-01\n"
                "2,Ünterwegs,Köln,West,DE,2021-06-01\n"
            ).encode(encoding),
        )
        assert_counts(
            ingest_one(project, "stores"), received=2, accepted=2, quarantined=0, duplicates=0
        )
        assert rows(project, "SELECT name, city FROM staging.stores ORDER BY store_id") == [
            {"name": "Café Store", "city": "München"},
            {"name": "Ünterwegs", "city": "Köln"},
        ]


def test_empty_csv_file_holds_no_records(project_root: Path, project: weir.Project) -> None:
    land(project_root, "pos", "pos_2025-01-01_store001.csv", "")
    land(project_root, "pos", "pos_2025-01-02_store001.csv", POS_HEADER + "\n")
    result = ingest_one(project, "pos")
    assert result.files == 2
    assert_counts(result, received=0, accepted=0, quarantined=0, duplicates=0)


# -- JSON lines ----------------------------------------------------------------------------
def inventory(inventory_id: int, **fields: object) -> dict:
    record: dict = {
        "inventory_id": inventory_id,
        "product_id": 3,
        "warehouse_id": 1,
        "stock_level": 12,
        "restock_threshold": 5,
        "last_updated": T0,
    }
    record.update(fields)
    return record


def test_jsonl_malformed_non_object_unknown_field_and_empty_lines(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "inventory",
        "inventory_2025-01-01T10.jsonl",
        jsonl(
            inventory(1),
            '{"inventory_id": 2, "product_id": 3,',  # line 2: cut short
            "",  # line 3: empty, not a record
            "[1, 2, 3]",  # line 4: valid JSON, not an object
            inventory(5, bin="A-7"),  # line 5: a field the contract does not know
            "   ",  # line 6: blank, not a record
            inventory(7, stock_level="12"),  # line 7: numbers as strings are fine
        ),
    )
    result = ingest_one(project, "inventory")
    assert_counts(result, received=5, accepted=2, quarantined=3, duplicates=0)
    assert rows(
        project,
        "SELECT inventory_id, stock_level, _offset FROM raw.inventory "
        "WHERE _status = 'accepted' ORDER BY 1",
    ) == [
        {"inventory_id": "1", "stock_level": "12", "_offset": 1},
        {"inventory_id": "7", "stock_level": "12", "_offset": 7},
    ]
    held = quarantined(project, "inventory")
    assert [(r["_offset"], r["_reasons"]) for r in held] == [
        (2, ["malformed JSON: the line does not parse"]),
        (4, ["not a JSON object: each record must be {...}"]),
        (5, ["unknown field 'bin': add it to the contract or drop it from the export"]),
    ]
    assert held[0]["_raw"] == '{"inventory_id": 2, "product_id": 3,'
    assert held[1]["_raw"] == "[1, 2, 3]"
    assert json.loads(held[2]["_raw"])["bin"] == "A-7"
    assert held[2]["inventory_id"] == "5"  # the known fields are still split out


def test_jsonl_several_unknown_fields_are_all_named(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "inventory",
        "inventory_2025-01-01T10.jsonl",
        jsonl(inventory(1, bin="A", aisle=4)),
    )
    assert_counts(
        ingest_one(project, "inventory"), received=1, accepted=0, quarantined=1, duplicates=0
    )
    [held] = quarantined(project, "inventory")
    assert held["_reasons"] == [
        "unknown fields 'bin', 'aisle': add it to the contract or drop it from the export"
    ]


def test_jsonl_line_that_is_not_utf8(project_root: Path, project: weir.Project) -> None:
    good = json.dumps(inventory(1)).encode()
    bad = json.dumps(inventory(2, note="x")).replace('"x"', '"caf\xe9"').encode("latin-1")
    land(project_root, "inventory", "inventory_2025-01-01T10.jsonl", good + b"\n" + bad + b"\n")
    assert_counts(
        ingest_one(project, "inventory"), received=2, accepted=1, quarantined=1, duplicates=0
    )
    [held] = quarantined(project, "inventory")
    assert held["_offset"] == 2
    assert held["_reasons"] == ["line is not valid UTF-8: re-export the file as UTF-8"]


def test_jsonl_crlf_line_endings(project_root: Path, project: weir.Project) -> None:
    body = jsonl(inventory(1), inventory(2)).replace("\n", "\r\n")
    land(project_root, "inventory", "inventory_2025-01-01T10.jsonl", body)
    assert_counts(
        ingest_one(project, "inventory"), received=2, accepted=2, quarantined=0, duplicates=0
    )


# -- JSON arrays ----------------------------------------------------------------------------
def test_json_array_file(project_root: Path, project: weir.Project) -> None:
    land(
        project_root,
        "warehouses",
        "warehouses_2025-01-01.json",
        json.dumps(
            [
                {"warehouse_id": 1, "name": "Leeds", "region": "North"},
                {"warehouse_id": 2, "name": "Bristol", "region": "Atlantis"},
                "not an object",
                {"warehouse_id": 3, "name": "Derby", "region": "Central", "manager": "Ann"},
            ]
        ),
    )
    result = ingest_one(project, "warehouses")
    assert_counts(result, received=4, accepted=1, quarantined=3, duplicates=0)
    assert rows(
        project, "SELECT warehouse_id, name, _extract_date::VARCHAR AS d FROM staging.warehouses"
    ) == [{"warehouse_id": 1, "name": "Leeds", "d": "2025-01-01"}]
    held = quarantined(project, "warehouses")
    assert [(r["_offset"], r["_reasons"]) for r in held] == [
        (1, ["region: 'Atlantis' is not one of North, South, East, West, Central"]),
        (2, ["not a JSON object: each record must be {...}"]),
        (3, ["unknown field 'manager': add it to the contract or drop it from the export"]),
    ]


def test_json_file_that_is_not_an_array_is_one_quarantined_record(
    project_root: Path, project: weir.Project
) -> None:
    document = {"warehouses": [{"warehouse_id": 1, "name": "Leeds", "region": "North"}]}
    land(project_root, "warehouses", "warehouses_2025-01-01.json", json.dumps(document))
    land(project_root, "warehouses", "warehouses_2025-01-02.json", '[{"warehouse_id": 1,')
    result = ingest_one(project, "warehouses")
    assert_counts(result, received=2, accepted=0, quarantined=2, duplicates=0)
    first, second = quarantined(project, "warehouses")
    assert first["_reasons"] == ["expected a JSON array of records at the top level"]
    assert json.loads(first["_raw"]) == document  # the whole file is kept
    [reason] = second["_reasons"]
    assert reason.startswith("malformed JSON file: ") and reason.endswith("; fix the export")
    assert second["_raw"] == '[{"warehouse_id": 1,'


# -- XML --------------------------------------------------------------------------------------
ORDER = (
    "<order><order_id>{id}</order_id><order_date>2025-01-01</order_date><product_id>4</product_id>"
    "<customer_id>9</customer_id><quantity>{qty}</quantity><retail_price>19.90</retail_price>"
    "<tax_rate>0.2</tax_rate></order>"
)


def test_xml_records(project_root: Path, project: weir.Project) -> None:
    orders = "".join(
        [
            ORDER.format(id="o1", qty=2),
            ORDER.format(id="o2", qty=0),  # below the minimum
            ORDER.format(id="o3", qty=1).replace(
                "<order>", '<order channel="app">'
            ),  # unknown attribute
            "<!-- a comment between orders -->",
            ORDER.format(id="o4", qty=1).replace("<tax_rate>0.2</tax_rate>", ""),  # missing element
        ]
    )
    land(
        project_root,
        "orders",
        "orders_2025-01-01.xml",
        f'<?xml version="1.0" encoding="UTF-8"?>\n<orders>{orders}</orders>\n',
    )
    result = ingest_one(project, "orders")
    assert_counts(result, received=4, accepted=1, quarantined=3, duplicates=0)
    assert rows(
        project,
        "SELECT order_id, order_date::VARCHAR AS d, quantity, retail_price, tax_rate "
        "FROM staging.orders",
    ) == [
        {"order_id": "o1", "d": "2025-01-01", "quantity": 2, "retail_price": 19.9, "tax_rate": 0.2}
    ]
    held = quarantined(project, "orders")
    assert [(r["order_id"], r["_reasons"]) for r in held] == [
        ("o2", ["quantity: 0 is below the minimum 1"]),
        ("o3", ["unknown field 'channel': add it to the contract or drop it from the export"]),
        ("o4", ["tax_rate: missing (required)"]),
    ]


def test_malformed_xml_file_is_kept_whole(project_root: Path, project: weir.Project) -> None:
    land(
        project_root,
        "orders",
        "orders_2025-01-01.xml",
        f"<orders>{ORDER.format(id='o1', qty=1)}</orders>",
    )
    broken = f"<orders>{ORDER.format(id='o2', qty=1)}<order><order_id>o3</order_id></orders>"
    land(project_root, "orders", "orders_2025-01-02.xml", broken)
    result = ingest_one(project, "orders")
    assert_counts(result, received=2, accepted=1, quarantined=1, duplicates=0)
    [held] = quarantined(project, "orders")
    [reason] = held["_reasons"]
    assert reason.startswith("malformed XML: ") and reason.endswith("; fix the export")
    assert held["_raw"] == broken
    assert held["_source_file"] == "landing/orders/orders_2025-01-02.xml"


# -- Parquet ------------------------------------------------------------------------------------
def test_parquet_with_typed_columns(project_root: Path, project: weir.Project) -> None:
    path = land(
        project_root, "customer_demographics", "customer_demographics_2025-01-01.parquet", b""
    )
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 2, 3], pa.int64()),
                "age": pa.array([34, None, 7], pa.int32()),
                "gender": ["female", "male", "undisclosed"],
                "marital_status": ["single", None, "single"],
                "parental_status": ["parent", "not_parent", "undisclosed"],
            }
        ),
        path,
    )
    result = ingest_one(project, "customer_demographics")
    assert_counts(result, received=3, accepted=2, quarantined=1, duplicates=0)
    assert rows(
        project, "SELECT customer_id, age, gender FROM staging.customer_demographics ORDER BY 1"
    ) == [
        {"customer_id": 1, "age": 34, "gender": "female"},
        {"customer_id": 2, "age": None, "gender": "male"},
    ]
    [held] = quarantined(project, "customer_demographics")
    # age is pii: the reason does not echo it
    assert held["_reasons"] == ["age: (value withheld) is below the minimum 16"]


def test_parquet_with_an_extra_column(project_root: Path, project: weir.Project) -> None:
    path = land(
        project_root, "customer_demographics", "customer_demographics_2025-01-01.parquet", b""
    )
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 2], pa.int64()),
                "age": pa.array([30, 40], pa.int64()),
                "gender": ["female", "male"],
                "marital_status": ["single", "married"],
                "parental_status": ["parent", "parent"],
                "income_band": ["B", "C"],
            }
        ),
        path,
    )
    result = ingest_one(project, "customer_demographics")
    assert_counts(result, received=2, accepted=0, quarantined=2, duplicates=0)
    held = quarantined(project, "customer_demographics")
    assert [r["customer_id"] for r in held] == ["1", "2"]
    for record in held:
        assert record["_reasons"] == [
            "unknown field 'income_band': add it to the contract or drop it from the export"
        ]
    assert json.loads(held[0]["_raw"])["income_band"] == "B"


def test_unreadable_parquet_file(project_root: Path, project: weir.Project) -> None:
    land(
        project_root,
        "customer_demographics",
        "customer_demographics_2025-01-01.parquet",
        b"not parquet",
    )
    assert_counts(
        ingest_one(project, "customer_demographics"),
        received=1,
        accepted=0,
        quarantined=1,
        duplicates=0,
    )
    [held] = quarantined(project, "customer_demographics")
    assert held["_reasons"][0].startswith("unreadable Parquet file: ")


# -- read_files directly ----------------------------------------------------------------------
def test_read_files_keeps_file_order_and_gives_one_text_table(project_root: Path) -> None:
    source = weir.Project(project_root).files.source("inventory")
    first = land(project_root, "inventory", "b.jsonl", jsonl(inventory(1), "oops"))
    second = land(project_root, "inventory", "a.jsonl", jsonl(inventory(2, stock_level=-1)))
    with DuckDBEngine().writer() as con:
        table = read_files(con, source, [first, second])
    assert table.column_names == [
        *source.column_names,
        "_raw",
        "_problem",
        "_source_file",
        "_offset",
    ]
    assert all(pa.types.is_string(table.schema.field(name).type) for name in source.column_names)
    assert [
        (Path(r["_source_file"]).name, r["_offset"], r["inventory_id"], r["_problem"])
        for r in table.to_pylist()
    ] == [
        ("b.jsonl", 1, "1", None),
        ("b.jsonl", 2, None, "malformed JSON: the line does not parse"),
        ("a.jsonl", 1, "2", None),
    ]
    assert table.column("stock_level").to_pylist() == ["12", None, "-1"]  # text; the contract casts
