"""Read a batch's files into one DuckDB table of text values, losing no record.

Every reader fills the same table (``records_columns``): one text column per
contract field, ``<field>_last4`` for card columns, ``_raw`` (the record as it
arrived when it could not be split into fields), ``_problem`` (why the reader
could not take it, or null), ``_source_file`` and ``_offset`` (line number for
line formats, position for the others). A malformed line, an unknown field or
a file whose header does not match the contract becomes a record with a
``_problem`` — never a crash, never a silent drop. Values stay text; the
contract casts them.

Card numbers are tokenised as the rows are inserted (``protect``), so no
table, file or log ever holds them in clear.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from weir.engine import Session, ident, lit
from weir.errors import WeirError
from weir.ingest.records import JSON_BLANK, csv_records
from weir.ingest.sheets import read_sheets
from weir.project.config import SourceConfig

Protect = Callable[[str], str]
TABLE = "weir_incoming"


def records_columns(source: SourceConfig) -> list[tuple[str, str]]:
    columns = [(name, "VARCHAR") for name in source.column_names]
    columns += [(f"{c.name}_last4", "VARCHAR") for c in source.columns if c.classification == "pci"]
    columns += [
        ("_raw", "VARCHAR"),
        ("_problem", "VARCHAR"),
        ("_source_file", "VARCHAR"),
        ("_offset", "BIGINT"),
    ]
    return columns


def load_files(
    con: Session,
    source: SourceConfig,
    files: Sequence[Path],
    protect: Protect = lambda select: select,
) -> str:
    """Fill a fresh ``weir_incoming`` table with every record of ``files``; returns its name."""
    columns = ", ".join(f"{ident(name)} {kind}" for name, kind in records_columns(source))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} ({columns})")
    readers = {
        "csv": _load_csv,
        "jsonl": _load_jsonl,
        "json": _load_json_array,
        "xml": _load_xml,
        "parquet": _load_parquet,
        "xlsx": _load_sheets,
        "ods": _load_sheets,
        "rest": _load_jsonl,  # a REST source's pages are landed as JSON lines
    }
    if files:
        readers[source.format](con, source, list(files), protect)
    return TABLE


def load_events(
    con: Session,
    source: SourceConfig,
    events: pa.Table,
    protect: Protect = lambda select: select,
) -> str:
    """Fill a fresh ``weir_incoming`` table from stream events; returns its name.

    ``events`` holds one JSON text per event in ``_raw``, where it came from in
    ``_source_file`` (``collector``, ``kafka:topic/partition`` …) and its position
    there in ``_offset``. They are split and checked exactly like JSON lines.
    """
    columns = ", ".join(f"{ident(name)} {kind}" for name, kind in records_columns(source))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} ({columns})")
    con.register("weir_events", events)
    try:
        lines = "SELECT _source_file, _offset, _raw FROM weir_events"
        _insert_json(con, source, lines, [], protect)
    finally:
        con.unregister("weir_events")
    return TABLE


def read_files(con: Session, source: SourceConfig, files: Sequence[Path]) -> pa.Table:
    """The records of ``files`` as an Arrow table (unprotected): for inspection and tests."""
    load_files(con, source, files)
    return con.arrow(f"SELECT * FROM {TABLE} ORDER BY rowid")


def _insert(con: Session, select: str, params: list[object] | None = None) -> None:
    con.execute(f"INSERT INTO {TABLE} BY NAME {select}", params or [])


# -- CSV ----------------------------------------------------------------------------
def _load_csv(con: Session, source: SourceConfig, files: list[Path], protect: Protect) -> None:
    expected = source.column_names
    groups: dict[tuple[str, ...], list[Path]] = {}
    for path in files:
        header = _csv_header(path, source)
        if header is None:
            insert_lines(con, _undecodable(path, source))
        elif header:  # an empty file holds no records
            groups.setdefault(header, []).append(path)
    for header, group in groups.items():
        _scan_csv(
            con, source, group, list(header), _header_problem(list(header), expected), protect
        )


def _csv_header(path: Path, source: SourceConfig) -> tuple[str, ...] | None:
    encoding = source.csv.encoding
    try:
        if encoding == "utf-16":
            # a UTF-16 newline is two bytes (and a 0x0A byte may be half of another character):
            # only the text reader finds the first line
            with path.open(encoding=encoding, newline="") as reader:
                text = reader.readline()
        else:
            with path.open("rb") as handle:
                text = handle.readline().decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeError:
        return None
    if not text.strip():
        return ()
    row = next(
        csv.reader(io.StringIO(text), delimiter=source.csv.delimiter, quotechar=source.csv.quote)
    )
    return tuple(name.strip() for name in row)


def _header_problem(
    header: list[str], expected: list[str], cells: dict[str, str] | None = None
) -> str | None:
    unknown = [h for h in header if h not in expected]
    missing = [e for e in expected if e not in header]
    if not unknown and not missing and len(header) == len(set(header)):
        return None
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, missing, n=1)
        hint = f" (renamed from '{close[0]}'?)" if close else ""
        where = f" in cell {cells[name]}" if cells and name in cells else ""
        parts.append(f"unknown column '{name}'{where}{hint}")
    parts += [f"missing column '{name}'" for name in missing]
    if len(header) != len(set(header)):
        parts.append("a column appears twice")
    return (
        "file header does not match the contract: "
        + ", ".join(parts)
        + "; fix the export, or the contract and then `weir quarantine replay`"
    )


def _scan_csv(
    con: Session,
    source: SourceConfig,
    files: list[Path],
    header: list[str],
    problem: str | None,
    protect: Protect,
) -> None:
    options = source.csv
    scan = (
        "read_csv(?, columns = ?, header = true, auto_detect = false, delim = ?, quote = ?, escape = ?, "
        "encoding = ?, strict_mode = true, store_rejects = true, rejects_scan = 'weir_reject_scans', "
        "rejects_table = 'weir_rejects', filename = '_source_file')"
    )
    params: list[object] = [
        [str(p) for p in files],
        {name: "VARCHAR" for name in header},
        options.delimiter,
        options.quote,
        options.quote,
        options.encoding,
    ]
    if problem is None:
        _insert(con, protect(f"SELECT * FROM {scan}"), params)
    else:
        # the fields do not map onto the contract: each record is kept whole as JSON text (so a
        # replay after the contract changes can map it again), with the fields that do map filled
        as_json = (
            "to_json(struct_pack("
            + ", ".join(f"{ident(h)} := {ident(h)}" for h in header)
            + "))::VARCHAR"
        )
        lines = f"SELECT {as_json} AS _raw, _source_file, NULL::BIGINT AS _offset FROM {scan}"
        _insert_json(con, source, lines, params, protect, problem)
    _insert(
        con,
        # DuckDB may report several errors for one line: the line is one record, keep the first
        "SELECT DISTINCT ON (s.file_path, e.line) s.file_path AS _source_file, e.line::BIGINT AS _offset, "
        "trim(e.csv_line, chr(10) || chr(13)) AS _raw, 'malformed CSV line (' || lower(e.error_type::VARCHAR) || '): ' "
        "|| e.error_message AS _problem "
        "FROM weir_rejects e JOIN weir_reject_scans s USING (scan_id, file_id) "
        "ORDER BY s.file_path, e.line, e.column_idx",
    )
    con.execute("DROP TABLE IF EXISTS weir_rejects; DROP TABLE IF EXISTS weir_reject_scans")
    _number_csv_lines(con)


def _number_csv_lines(con: Session) -> None:
    """Give parsed records their line number, stepping over the rejected lines of their file.

    Records of a file sit in consecutive rows in file order; the k-th parsed
    record is on line k + 1 (after the header) plus the number of rejected
    lines before it. A rejected line at position i (1-based among the file's
    rejects) on line L has L - i - 1 parsed records before it. Consecutive
    rejected lines share that count, so a run of them is one gap, as wide as
    its last: a parsed record after the run steps over all of it.
    """
    con.execute(
        f"""UPDATE {TABLE} SET _offset = numbered.line FROM (
            WITH parsed AS (
                SELECT rowid AS rid, _source_file,
                       rowid - min(rowid) OVER (PARTITION BY _source_file) + 1 AS k
                FROM {TABLE} WHERE _offset IS NULL),
            rejected AS (
                SELECT _source_file, _offset - row_number() OVER (PARTITION BY _source_file ORDER BY _offset) - 1 AS before,
                       row_number() OVER (PARTITION BY _source_file ORDER BY _offset) AS skipped
                FROM {TABLE} WHERE _problem LIKE 'malformed CSV line%'),
            gaps AS (
                SELECT _source_file, before, max(skipped) AS skipped FROM rejected GROUP BY ALL)
            SELECT parsed.rid, parsed.k + 1 + coalesce(gaps.skipped, 0) AS line
            FROM parsed ASOF LEFT JOIN gaps ON parsed._source_file = gaps._source_file AND parsed.k > gaps.before
        ) AS numbered WHERE {TABLE}.rowid = numbered.rid"""
    )


def _undecodable(path: Path, source: SourceConfig) -> pa.Table:
    """A file that is not in its declared encoding: every record kept, each quarantined."""
    encoding = source.csv.encoding
    records = csv_records(path, source)
    problem = f"file is not valid {encoding}: re-export it as {encoding} or set csv: {{encoding: ...}} in the source"
    return pa.table(
        {
            "_raw": pa.array([r.text for r in records], pa.string()),
            "_problem": pa.array([problem] * len(records), pa.string()),
            "_source_file": pa.array([str(path)] * len(records), pa.string()),
            "_offset": pa.array([r.line for r in records], pa.int64()),
        }
    )


def insert_lines(con: Session, table: pa.Table) -> None:
    """Add rows to the table, by column name (e.g. ``_raw``, ``_problem``, ``_source_file``
    and ``_offset``; a database extract's records give the contract's fields)."""
    con.register("weir_lines", table)
    try:
        _insert(con, "SELECT * FROM weir_lines")
    finally:
        con.unregister("weir_lines")


# -- JSON (lines, arrays, and XML records turned into JSON) ---------------------------------
def _load_jsonl(con: Session, source: SourceConfig, files: list[Path], protect: Protect) -> None:
    readable = [str(path) for path in files if _is_utf8(path)]
    if readable:
        lines = (
            "SELECT filename AS _source_file, line_number AS _offset, rtrim(line, chr(13)) AS _raw "
            "FROM (SELECT filename, unnest(lines) AS line, generate_subscripts(lines, 1) AS line_number "
            "      FROM (SELECT filename, string_split(content, chr(10)) AS lines FROM read_text(?))) "
            "WHERE trim(line, ' ' || chr(9) || chr(13)) <> ''"
        )
        _insert_json(con, source, lines, [readable], protect)
    for path in files:
        if str(path) not in readable:
            _load_undecodable_jsonl(con, source, path, protect)


def _insert_json(
    con: Session,
    source: SourceConfig,
    lines_sql: str,
    params: list[object],
    protect: Protect,
    problem: str | None = None,
) -> None:
    split, split_params = json_split_sql(source, lines_sql, problem=problem)
    _insert(con, protect(split), [*params, *split_params])


# Problems a replay can lift by mapping the record's JSON text onto the current contract.
REMAPPABLE = ("unknown field", "file header does not match")


def json_split_sql(
    source: SourceConfig,
    lines_sql: str,
    carry: Sequence[str] = (),
    problem: str | None = None,
    whole_header: str = "false",
) -> tuple[str, list[object]]:
    """SQL splitting JSON texts (``_raw`` of ``lines_sql``) into the contract's fields.

    A text that is not a JSON object, or that holds a field the contract does
    not know, keeps its ``_raw`` and gets a ``_problem``. ``problem`` replaces
    the latter for records whose whole file was refused (a header mismatch);
    ``whole_header`` is a SQL condition marking records that came from such a
    file, which must also have every field of the contract. ``carry`` names
    further columns of ``lines_sql`` to pass through.
    """
    names = source.column_names
    known = "[" + ", ".join(lit(name) for name in names) + "]"
    fields = ", ".join(
        f"CASE WHEN ok THEN v[{i + 1}] END AS {ident(name)}" for i, name in enumerate(names)
    )
    passed = "".join(f", {ident(name)}" for name in carry)
    quoted = "lambda k: chr(39) || k || chr(39)"
    found = (
        "CASE"
        " WHEN NOT ok AND json_valid(_raw) THEN 'not a JSON object: each record must be {...}'"
        " WHEN NOT ok THEN 'malformed JSON: the line does not parse'"
        f" WHEN ({whole_header}) AND (len(unknown) > 0 OR len(missing) > 0) THEN"
        "  'file header does not match the contract: '"
        f"  || array_to_string(list_concat(list_transform(unknown, lambda k: 'unknown column ' || chr(39) || k || chr(39)),"
        f"     list_transform(missing, lambda k: 'missing column ' || chr(39) || k || chr(39))), ', ')"
        "  || '; fix the export, or the contract and then `weir quarantine replay`'"
        " WHEN len(unknown) > 0 THEN 'unknown field' || CASE WHEN len(unknown) > 1 THEN 's ' ELSE ' ' END"
        f"  || array_to_string(list_transform(unknown, {quoted}), ', ')"
        "  || ': add it to the contract or drop it from the export'"
        " END"
    )
    problem_sql = (
        f"coalesce(CASE WHEN NOT ok THEN {found} END, {lit(problem)})" if problem else found
    )
    split = f"""
        WITH lines AS ({lines_sql}),
        -- CASE, not AND: DuckDB evaluates both sides of AND, and json_type fails on bad JSON
        parsed AS (
            SELECT *, CASE WHEN json_valid(_raw) THEN json_type(_raw) = 'OBJECT' ELSE false END AS ok
            FROM lines),
        split AS (
            SELECT *,
                CASE WHEN ok THEN json_extract_string(_raw, ?) END AS v,
                CASE WHEN ok THEN list_filter(json_keys(_raw), lambda k: NOT list_contains({known}, k)) END AS unknown,
                CASE WHEN ok THEN list_filter({known}, lambda k: NOT list_contains(json_keys(_raw), k)) END AS missing
            FROM parsed),
        judged AS (SELECT *, {problem_sql} AS _found FROM split)
        SELECT {fields}, CASE WHEN _found IS NULL THEN NULL ELSE _raw END AS _raw, _found AS _problem,
            _source_file, _offset{passed}
        FROM judged"""
    return split, [[f'$."{name}"' for name in names]]


def _is_utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _load_undecodable_jsonl(
    con: Session, source: SourceConfig, path: Path, protect: Protect
) -> None:
    """A JSON-lines file with bytes that are not UTF-8: good lines parsed, bad ones flagged."""
    numbered = [
        (i + 1, line.removesuffix(b"\r"))
        for i, line in enumerate(path.read_bytes().split(b"\n"))
        if line.strip(JSON_BLANK)
    ]
    good, bad = [], []
    for number, line in numbered:
        try:
            good.append((number, line.decode("utf-8")))
        except UnicodeDecodeError:
            bad.append((number, line.decode("utf-8", errors="replace")))
    _register_json(con, source, path, good, protect)
    insert_lines(
        con,
        pa.table(
            {
                "_raw": pa.array([text for _, text in bad], pa.string()),
                "_problem": pa.array(
                    ["line is not valid UTF-8: re-export the file as UTF-8"] * len(bad), pa.string()
                ),
                "_source_file": pa.array([str(path)] * len(bad), pa.string()),
                "_offset": pa.array([n for n, _ in bad], pa.int64()),
            }
        ),
    )


def _register_json(
    con: Session,
    source: SourceConfig,
    path: Path,
    texts: list[tuple[int, str]],
    protect: Protect,
) -> None:
    if not texts:
        return
    table = pa.table(
        {
            "_source_file": [str(path)] * len(texts),
            "_offset": pa.array([n for n, _ in texts], pa.int64()),
            "_raw": pa.array([t for _, t in texts], pa.string()),
        }
    )
    con.register("weir_json_texts", table)
    try:
        _insert_json(con, source, "SELECT * FROM weir_json_texts", [], protect)
    finally:
        con.unregister("weir_json_texts")


def _load_json_array(
    con: Session, source: SourceConfig, files: list[Path], protect: Protect
) -> None:
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            insert_lines(
                con, _whole_file_problem(path, f"malformed JSON file: {exc}; fix the export")
            )
            continue
        if not isinstance(document, list):
            insert_lines(
                con, _whole_file_problem(path, "expected a JSON array of records at the top level")
            )
            continue
        _register_json(
            con, source, path, [(i, json.dumps(e)) for i, e in enumerate(document)], protect
        )


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


def _load_xml(con: Session, source: SourceConfig, files: list[Path], protect: Protect) -> None:
    from lxml import etree  # an optional dependency: only XML sources need it

    assert source.xml is not None
    for path in files:
        records: list[tuple[int, str]] = []
        try:
            for _, element in etree.iterparse(
                str(path), events=("end",), tag=source.xml.record_tag, huge_tree=True
            ):
                records.append((len(records), json.dumps(_xml_record(element))))
                element.clear(keep_tail=True)
        except etree.XMLSyntaxError as exc:
            insert_lines(con, _whole_file_problem(path, f"malformed XML: {exc}; fix the export"))
            continue
        _register_json(con, source, path, records, protect)


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


# -- Spreadsheets ----------------------------------------------------------------------
def _load_sheets(con: Session, source: SourceConfig, files: list[Path], protect: Protect) -> None:
    for path in files:
        try:
            sheets = list(read_sheets(path, source))
        except WeirError as exc:
            insert_lines(con, _whole_workbook_problem(path, f"{exc.what}: {exc.fix}"))
            continue
        for sheet in sheets:
            cells = dict(zip(sheet.header, sheet.cells, strict=True))
            problem = _header_problem(sheet.header, source.column_names, cells)
            texts = pa.table(
                {
                    "_source_file": [f"{path}#{sheet.name}"] * len(sheet.rows),
                    "_offset": pa.array([n for n, _ in sheet.rows], pa.int64()),
                    "_raw": pa.array(
                        [
                            json.dumps(dict(zip(sheet.header, v, strict=True)))
                            for _, v in sheet.rows
                        ],
                        pa.string(),
                    ),
                }
            )
            con.register("weir_sheet_rows", texts)
            try:
                _insert_json(con, source, "SELECT * FROM weir_sheet_rows", [], protect, problem)
            finally:
                con.unregister("weir_sheet_rows")


def _whole_workbook_problem(path: Path, problem: str) -> pa.Table:
    """A workbook that cannot be read (or lacks a sheet): one record naming it, nothing lost."""
    return pa.table(
        {
            "_raw": pa.array([json.dumps({"file": path.name})], pa.string()),
            "_problem": pa.array([problem], pa.string()),
            "_source_file": pa.array([str(path)], pa.string()),
            "_offset": pa.array([0], pa.int64()),
        }
    )


# -- Parquet -----------------------------------------------------------------------------
def _load_parquet(con: Session, source: SourceConfig, files: list[Path], protect: Protect) -> None:
    expected = source.column_names
    for path in files:
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            insert_lines(con, _whole_file_problem(path, f"unreadable Parquet file: {exc}"))
            continue
        n = table.num_rows
        text = pa.table(
            {
                name: table[name]
                if pa.types.is_string(table[name].type)
                else pc.cast(table[name], pa.string())
                for name in table.column_names
            }
        )
        unknown = [name for name in table.column_names if name not in expected]
        if unknown:
            problem = (
                "unknown field"
                + ("s " if len(unknown) > 1 else " ")
                + ", ".join(f"'{u}'" for u in unknown)
                + ": add it to the contract or drop it from the export"
            )
            raw = pa.array([json.dumps(row) for row in text.to_pylist()], pa.string())
            text = text.drop_columns(unknown).append_column("_raw", raw)
            text = text.append_column("_problem", pa.array([problem] * n, pa.string()))
        text = text.append_column("_source_file", pa.array([str(path)] * n, pa.string()))
        text = text.append_column("_offset", pa.array(range(n), pa.int64()))
        con.register("weir_parquet_rows", text)
        try:
            select = "SELECT * FROM weir_parquet_rows"
            _insert(con, protect(select) if _has_pci_columns(source, text) else select)
        finally:
            con.unregister("weir_parquet_rows")


def _has_pci_columns(source: SourceConfig, table: pa.Table) -> bool:
    return all(c.name in table.column_names for c in source.columns if c.classification == "pci")
