"""Read a batch's files into one table of text values, losing no record.

Every reader returns the same shape: one string column per contract field,
plus ``_raw`` (the record as it arrived, when it could not be split into
fields), ``_problem`` (why the reader could not take it, or null),
``_source_file`` and ``_offset`` (line number for line formats, position for
the others). A malformed line, an unknown field or a file whose header does
not match the contract becomes a record with a ``_problem`` — never a crash,
never a silent drop. Values stay text here; the contract casts them.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from weir.project.config import SourceConfig

META_COLUMNS = ("_raw", "_problem", "_source_file", "_offset")


def read_files(con: duckdb.DuckDBPyConnection, source: SourceConfig, files: Sequence[Path]) -> pa.Table:
    """All records of ``files`` (read in the given order) as one text table."""
    readers = {
        "csv": _read_csv,
        "jsonl": _read_jsonl,
        "json": _read_json_array,
        "xml": _read_xml,
        "parquet": _read_parquet,
    }
    if not files:
        return empty_records(source)
    parts = readers[source.format](con, source, list(files))
    order = {str(path): i for i, path in enumerate(files)}
    tables = [conform(source, part) for part in parts if part.num_rows]
    if not tables:
        return empty_records(source)
    combined = pa.concat_tables(tables)
    if len(tables) > 1:
        file_rank = pa.array([order.get(f, len(order)) for f in combined["_source_file"].to_pylist()])
        combined = combined.append_column("_rank", file_rank).sort_by(
            [("_rank", "ascending"), ("_offset", "ascending")]
        ).drop_columns(["_rank"])
    return combined


def records_schema(source: SourceConfig) -> pa.Schema:
    fields = [pa.field(name, pa.string()) for name in source.column_names]
    fields += [
        pa.field("_raw", pa.string()),
        pa.field("_problem", pa.string()),
        pa.field("_source_file", pa.string()),
        pa.field("_offset", pa.int64()),
    ]
    return pa.schema(fields)


def empty_records(source: SourceConfig) -> pa.Table:
    return records_schema(source).empty_table()


def conform(source: SourceConfig, table: pa.Table) -> pa.Table:
    """Give ``table`` exactly the records schema: missing columns null, all text."""
    schema = records_schema(source)
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table[field.name]
            if column.type != field.type:
                column = pc.cast(column, field.type)
            columns.append(column)
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


# -- CSV ----------------------------------------------------------------------------
def _read_csv(con: duckdb.DuckDBPyConnection, source: SourceConfig, files: list[Path]) -> list[pa.Table]:
    expected = source.column_names
    by_header: dict[tuple[str, ...], list[Path]] = {}
    parts: list[pa.Table] = []
    for path in files:
        header = _csv_header(path, source)
        if header is None:
            parts.append(_undecodable(path, source.csv.encoding))
            continue
        by_header.setdefault(header, []).append(path)
    for header, group in by_header.items():
        if not header:
            continue  # an empty file holds no records
        problem = _header_problem(list(header), expected)
        parts.extend(_scan_csv(con, source, group, list(header), problem))
    return parts


def _csv_header(path: Path, source: SourceConfig) -> tuple[str, ...] | None:
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        text = first.decode("utf-8-sig" if source.csv.encoding == "utf-8" else source.csv.encoding)
    except UnicodeDecodeError:
        return None
    if not text.strip():
        return ()
    row = next(csv.reader(io.StringIO(text), delimiter=source.csv.delimiter, quotechar=source.csv.quote))
    return tuple(name.strip() for name in row)


def _header_problem(header: list[str], expected: list[str]) -> str | None:
    unknown = [h for h in header if h not in expected]
    missing = [e for e in expected if e not in header]
    if not unknown and not missing and len(header) == len(set(header)):
        return None
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, missing, n=1)
        hint = f" (renamed from '{close[0]}'?)" if close else ""
        parts.append(f"unknown column '{name}'{hint}")
    parts += [f"missing column '{name}'" for name in missing]
    if len(header) != len(set(header)):
        parts.append("a column appears twice")
    return (
        "file header does not match the contract: "
        + ", ".join(parts)
        + "; fix the export or the contract, then `weir quarantine replay`"
    )


def _scan_csv(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    files: list[Path],
    header: list[str],
    problem: str | None,
) -> list[pa.Table]:
    columns = {name: "VARCHAR" for name in header}
    names = [str(p) for p in files]
    options = source.csv
    relation = con.sql(
        "SELECT * FROM read_csv(?, columns = ?, header = true, auto_detect = false, "
        "delim = ?, quote = ?, escape = ?, encoding = ?, strict_mode = true, "
        "store_rejects = true, rejects_scan = 'weir_reject_scans', rejects_table = 'weir_rejects', "
        "filename = '_source_file', parallel = true)",
        params=[names, columns, options.delimiter, options.quote, options.quote,
                options.encoding.replace("-", "_") if options.encoding != "utf-8" else "utf-8"],
    )
    table = relation.to_arrow_table()
    rejects = con.sql(
        # DuckDB may report several errors for one line: the line is one record, keep the first
        "SELECT DISTINCT ON (s.file_path, e.line) s.file_path AS _source_file, e.line::BIGINT AS _offset, "
        "e.csv_line AS _raw, lower(e.error_type::VARCHAR) AS kind, e.error_message AS message "
        "FROM weir_rejects e JOIN weir_reject_scans s USING (scan_id, file_id) "
        "ORDER BY s.file_path, e.line, e.column_idx"
    ).to_arrow_table()
    con.execute("DROP TABLE IF EXISTS weir_rejects; DROP TABLE IF EXISTS weir_reject_scans")
    table = _with_line_numbers(table, rejects)
    if problem is not None:
        raw = _rows_as_json(table, header)
        table = table.append_column("_raw", raw).append_column(
            "_problem", pa.array([problem] * table.num_rows, pa.string())
        )
    reject_part = pa.table(
        {
            "_source_file": rejects["_source_file"],
            "_offset": rejects["_offset"],
            "_raw": rejects["_raw"],
            "_problem": pc.binary_join_element_wise(
                "malformed CSV line (", rejects["kind"], "): ", rejects["message"], ""
            ),
        }
    )
    return [table, reject_part]


def _with_line_numbers(table: pa.Table, rejects: pa.Table) -> pa.Table:
    """Give each parsed record its line number, stepping over the rejected lines."""
    n = table.num_rows
    offsets = np.empty(n, dtype=np.int64)
    files = table["_source_file"].to_numpy(zero_copy_only=False)
    reject_files = rejects["_source_file"].to_numpy(zero_copy_only=False)
    reject_lines = rejects["_offset"].to_numpy(zero_copy_only=False)
    if n:
        starts = np.flatnonzero(np.r_[True, files[1:] != files[:-1]])
        ends = np.r_[starts[1:], n]
        for start, end in zip(starts, ends, strict=True):
            count = end - start
            skipped = np.sort(reject_lines[reject_files == files[start]])
            lines = np.arange(2, count + len(skipped) + 2, dtype=np.int64)
            if len(skipped):
                lines = np.setdiff1d(lines, skipped, assume_unique=True)
            offsets[start:end] = lines[:count]
    return table.append_column("_offset", pa.array(offsets))


def _rows_as_json(table: pa.Table, header: list[str]) -> pa.Array:
    columns = [table[name].to_pylist() for name in header]
    return pa.array(
        [json.dumps(dict(zip(header, values, strict=True))) for values in zip(*columns, strict=True)],
        pa.string(),
    )


def _undecodable(path: Path, encoding: str) -> pa.Table:
    """A file that is not in its declared encoding: every line kept, each quarantined."""
    lines = path.read_bytes().splitlines()
    body = [line.decode(encoding, errors="replace") for line in lines[1:] if line.strip()]
    problem = (
        f"file is not valid {encoding}: re-export it as {encoding} "
        "or set csv: {encoding: ...} in the source"
    )
    return pa.table(
        {
            "_raw": pa.array(body, pa.string()),
            "_problem": pa.array([problem] * len(body), pa.string()),
            "_source_file": pa.array([str(path)] * len(body), pa.string()),
            "_offset": pa.array(range(2, len(body) + 2), pa.int64()),
        }
    )


# -- JSON lines -------------------------------------------------------------------------
def _read_jsonl(con: duckdb.DuckDBPyConnection, source: SourceConfig, files: list[Path]) -> list[pa.Table]:
    readable = [str(path) for path in files if _is_utf8(path)]
    parts = [_undecodable_jsonl(con, source, path) for path in files if str(path) not in readable]
    if readable:
        parts.append(_json_objects(con, source, _jsonl_lines_sql(), [readable]))
    return parts


def _jsonl_lines_sql() -> str:
    return (
        "SELECT filename AS _source_file, line_number AS _offset, rtrim(line, chr(13)) AS _raw "
        "FROM (SELECT filename, unnest(lines) AS line, generate_subscripts(lines, 1) AS line_number "
        "      FROM (SELECT filename, string_split(content, chr(10)) AS lines FROM read_text(?))) "
        "WHERE trim(line) <> ''"
    )


def _json_objects(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, lines_sql: str, params: list[object]
) -> pa.Table:
    """Split JSON texts in ``_raw`` into contract fields, vectorised in DuckDB."""
    names = source.column_names
    paths = [f'$."{name}"' for name in names]
    known = "[" + ", ".join(f"'{name}'" for name in names) + "]"
    fields = ", ".join(f"CASE WHEN ok THEN v[{i + 1}] END AS \"{name}\"" for i, name in enumerate(names))
    sql = f"""
        WITH lines AS ({lines_sql}),
        parsed AS (
            SELECT *, json_valid(_raw) AND json_type(_raw) = 'OBJECT' AS ok FROM lines
        ),
        split AS (
            SELECT *,
                CASE WHEN ok THEN json_extract_string(_raw, ?) END AS v,
                CASE WHEN ok THEN list_filter(json_keys(_raw), lambda k: NOT list_contains({known}, k)) END AS unknown
            FROM parsed
        )
        SELECT {fields},
            CASE WHEN ok AND len(unknown) = 0 THEN NULL ELSE _raw END AS _raw,
            CASE
                WHEN NOT ok AND json_valid(_raw) THEN 'not a JSON object: each record must be {{...}}'
                WHEN NOT ok THEN 'malformed JSON: the line does not parse'
                WHEN len(unknown) > 0 THEN 'unknown field' || CASE WHEN len(unknown) > 1 THEN 's ' ELSE ' ' END
                    || array_to_string(list_transform(unknown, lambda k: '''' || k || ''''), ', ')
                    || ': add it to the contract or drop it from the export'
            END AS _problem,
            _source_file, _offset
        FROM split
    """
    return con.sql(sql, params=[*params, paths]).to_arrow_table()


def _is_utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _undecodable_jsonl(con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path) -> pa.Table:
    """A JSON-lines file with bytes that are not UTF-8: good lines parsed, bad ones flagged."""
    numbered = [(i + 1, line) for i, line in enumerate(path.read_bytes().splitlines()) if line.strip()]
    texts, broken = [], []
    for _, line in numbered:
        try:
            texts.append(line.decode("utf-8"))
            broken.append(False)
        except UnicodeDecodeError:
            texts.append(line.decode("utf-8", errors="replace"))
            broken.append(True)
    lines = pa.table(
        {
            "_source_file": [str(path)] * len(texts),
            "_offset": pa.array([i for i, _ in numbered], pa.int64()),
            "_raw": pa.array(texts, pa.string()),
        }
    )
    con.register("weir_lines", lines)
    try:
        table = _json_objects(con, source, "SELECT * FROM weir_lines", [])
    finally:
        con.unregister("weir_lines")
    problem = pa.array(
        ["line is not valid UTF-8: re-export the file as UTF-8" if b else None for b in broken], pa.string()
    )
    merged = pc.coalesce(problem, table["_problem"])
    raw = pc.if_else(pa.array(broken), lines["_raw"], table["_raw"])
    table = table.set_column(table.schema.get_field_index("_problem"), "_problem", merged)
    return table.set_column(table.schema.get_field_index("_raw"), "_raw", raw)


# -- JSON arrays -------------------------------------------------------------------------
def _read_json_array(con: duckdb.DuckDBPyConnection, source: SourceConfig, files: list[Path]) -> list[pa.Table]:
    texts, offsets, names = [], [], []
    parts = []
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            parts.append(_whole_file_problem(path, f"malformed JSON file: {exc}; fix the export"))
            continue
        if not isinstance(document, list):
            parts.append(_whole_file_problem(path, "expected a JSON array of records at the top level"))
            continue
        for index, element in enumerate(document):
            texts.append(json.dumps(element))
            offsets.append(index)
            names.append(str(path))
    if texts:
        elements = pa.table({"_source_file": names, "_offset": pa.array(offsets, pa.int64()), "_raw": texts})
        con.register("weir_json_elements", elements)
        try:
            parts.append(_json_objects(con, source, "SELECT * FROM weir_json_elements", []))
        finally:
            con.unregister("weir_json_elements")
    return parts


def _whole_file_problem(path: Path, problem: str) -> pa.Table:
    raw = path.read_bytes().decode("utf-8", errors="replace")
    return pa.table(
        {
            "_raw": pa.array([raw], pa.string()),
            "_problem": pa.array([problem], pa.string()),
            "_source_file": pa.array([str(path)], pa.string()),
            "_offset": pa.array([0], pa.int64()),
        }
    )


# -- XML ---------------------------------------------------------------------------------
def _read_xml(con: duckdb.DuckDBPyConnection, source: SourceConfig, files: list[Path]) -> list[pa.Table]:
    from lxml import etree  # an optional dependency: only XML sources need it

    assert source.xml is not None
    tag = source.xml.record_tag
    parts = []
    for path in files:
        records: list[dict[str, str | None]] = []
        try:
            for _, element in etree.iterparse(str(path), events=("end",), tag=tag, huge_tree=True):
                records.append(_xml_record(element))
                element.clear(keep_tail=True)
        except etree.XMLSyntaxError as exc:
            parts.append(_whole_file_problem(path, f"malformed XML: {exc}; fix the export"))
            continue
        if records:
            texts = [json.dumps(r) for r in records]
            elements = pa.table(
                {
                    "_source_file": [str(path)] * len(texts),
                    "_offset": pa.array(range(len(texts)), pa.int64()),
                    "_raw": texts,
                }
            )
            con.register("weir_xml_elements", elements)
            try:
                parts.append(_json_objects(con, source, "SELECT * FROM weir_xml_elements", []))
            finally:
                con.unregister("weir_xml_elements")
    return parts


def _xml_record(element: object) -> dict[str, str | None]:
    record: dict[str, str | None] = {}
    for child in element:  # type: ignore[attr-defined]
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        text = child.text.strip() if child.text is not None else ""
        record[child.tag] = text or None
    for key, value in element.attrib.items():  # type: ignore[attr-defined]
        record.setdefault(key, value)
    return record


# -- Parquet -----------------------------------------------------------------------------
def _read_parquet(con: duckdb.DuckDBPyConnection, source: SourceConfig, files: list[Path]) -> list[pa.Table]:
    del con
    expected = source.column_names
    parts = []
    for path in files:
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            parts.append(_whole_file_problem(path, f"unreadable Parquet file: {exc}"))
            continue
        unknown = [name for name in table.column_names if name not in expected]
        columns = {}
        for name in table.column_names:
            column = table[name]
            columns[name] = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        text = pa.table(columns) if columns else pa.table({})
        n = table.num_rows
        if unknown:
            problem = (
                "unknown field" + ("s " if len(unknown) > 1 else " ")
                + ", ".join(f"'{u}'" for u in unknown)
                + ": add it to the contract or drop it from the export"
            )
            text = text.append_column("_raw", _rows_as_json(text, text.column_names))
            text = text.append_column("_problem", pa.array([problem] * n, pa.string()))
        text = text.append_column("_source_file", pa.array([str(path)] * n, pa.string()))
        text = text.append_column("_offset", pa.array(range(n), pa.int64()))
        parts.append(text.drop_columns([u for u in unknown if u in text.column_names]))
    return parts
