"""The parts of an erasure on their own: the scan, the log purge, the registry's hashes and pseudonyms.

Small and fast: a Parquet file and an Avro container written here, a real
write-ahead log in ``tmp_path``, the registry on a real SQLite database.
"""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import bytes_outside
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.governance.proof import scan
from weir.metadata import MetadataStore
from weir.metadata.erasures import ErasureRegistry, normal
from weir.metadata.store import sqlite_url
from weir.streams.lane import ACCEPTED, encode
from weir.streams.purge import purge_log, segments
from weir.streams.wal import WriteAheadLog

EMAIL = "Zora.Quill@Example.org"


def _long(value: int) -> bytes:
    """An Avro long (zig-zag varint)."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _avro(payload: bytes, codec: str) -> bytes:
    """An Avro container with one block holding ``payload`` (written with ``codec``)."""
    sync = bytes(range(16))
    meta = {b"avro.schema": b'"bytes"', b"avro.codec": codec.encode()}
    header = b"Obj\x01" + _long(len(meta))
    for key, value in meta.items():
        header += _long(len(key)) + key + _long(len(value)) + value
    header += _long(0) + sync
    block = zlib.compress(payload)[2:-4] if codec == "deflate" else payload  # raw deflate
    return header + _long(1) + _long(len(block)) + block + sync


def test_the_scan_decodes_parquet_and_avro_and_names_no_value(tmp_path: Path) -> None:
    table = pa.table({"who": ["someone else", EMAIL.upper()], "n": [1, 2]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    (tmp_path / "data.parquet").write_bytes(buffer.getvalue())
    (tmp_path / "manifest.avro").write_bytes(_avro(b"bound:" + EMAIL[:16].encode(), "deflate"))
    (tmp_path / "other.avro").write_bytes(_avro(b"nothing here", "deflate"))
    (tmp_path / "catalog.db").write_bytes(b"\x00free page\x00" + EMAIL.lower().encode())
    result = scan(tmp_path, {"customers.email": EMAIL, "customers.phone": "+1 555 0199"})
    found = {(hit.file, hit.found_in, hit.value) for hit in result.hits}
    assert ("catalog.db", "bytes", "customers.email") in found
    assert ("manifest.avro", "avro", "customers.email") in found  # a truncated bound
    assert any(f == "data.parquet" for f, _, _ in found)
    assert not any(f == "other.avro" for f, _, _ in found)
    assert EMAIL.lower() not in json.dumps(result.as_dict()).lower()
    assert not result.clean and result.files == 4
    # a codec it cannot decode is said to be searched as bytes only
    (tmp_path / "manifest.avro").write_bytes(_avro(b"x", "snappy"))
    assert scan(tmp_path, {"e": EMAIL}).undecoded == ("manifest.avro",)


def test_the_log_purge_deletes_flushed_segments_and_leaves_the_unflushed(tmp_path: Path) -> None:
    folder = tmp_path / "wal" / "crm_interactions"
    wal = WriteAheadLog(folder, fsync=False)
    mine = json.dumps({"event_id": "a", "customer_id": 4, "message": "hi"})
    other = json.dumps({"event_id": "b", "customer_id": 5})

    def record(text: str) -> bytes:
        return encode(ACCEPTED, 0.0, 0.0, "k", (), text)

    wal.append([record(mine), record(other)])
    wal.seal()
    flushed = wal.end
    wal.append([record(mine)])  # not in the lake yet
    assert len(segments(folder)) == 2

    def matches(payload: bytes) -> bool:
        return b'"customer_id": 4' in payload

    purged = purge_log(folder, "crm_interactions", flushed, matches)
    assert (purged.matching, purged.pending, len(purged.deleted)) == (2, 1, 1)
    assert [base for base, _, _ in segments(folder)] == [flushed]  # a prefix went: no gap
    wal.close()
    # reopened, the log goes on from where it was
    again = WriteAheadLog(folder, fsync=False)
    assert again.end > flushed and again.start == flushed
    # all flushed now, the collector stopped: the last segment is replaced by an empty one
    end = again.end
    again.close()
    purged = purge_log(folder, "crm_interactions", end, matches)
    assert purged.pending == 0 and len(purged.deleted) == 1
    assert [(base, stop) for base, stop, _ in segments(folder)] == [(end, end)]
    WriteAheadLog(folder, fsync=False).close()  # it opens again


def _registry(tmp_path: Path) -> ErasureRegistry:
    return ErasureRegistry(MetadataStore(sqlite_url(tmp_path / "m.db")), lambda: b"k" * 32)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=2**62), st.sampled_from(["customer", "member"]))
def test_a_pseudonym_is_stable_negative_and_fits_32_bits(value: int, kind: str) -> None:
    registry = ErasureRegistry(cast(MetadataStore, None), lambda: b"k" * 32)  # no database
    pseudonym = registry.pseudonym(kind, value, integer=True)
    assert isinstance(pseudonym, int) and -(2**31) <= pseudonym < 0
    assert pseudonym == registry.pseudonym(kind, f" {value} ", integer=True)  # as text, too
    assert registry.digest(kind, value) == registry.digest(kind, str(value))
    assert str(registry.pseudonym(kind, value, integer=False)).startswith("erased_")


def test_the_registry_suppresses_only_erased_identifiers(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    assert registry.suppressed_in("customer", ["4", "5"]) == set()
    erasure = registry.begin("customer", 4, "request", "ada")
    assert registry.begin("customer", "4", "twice", "ada").erasure_id == erasure.erasure_id
    assert registry.suppressed_in("customer", ["4", " 4 ", "5", None, ""]) == {"4", " 4 "}
    assert registry.suppressed_in("member", ["4"]) == set()  # another kind of subject
    registry.step_done(erasure.erasure_id, "collect", {"tables": []})
    registry.finish(erasure.erasure_id, {"verified": True})
    [done] = registry.list()
    assert done.state == "done" and done.steps == {"collect": {"tables": []}}
    # the registry holds hashes, never the identifier
    raw = bytes_outside(*sorted(tmp_path.glob("m.db*")))  # with its -wal file
    assert registry.digest("customer", 4).encode() in raw
    assert normal(" 0042 ") == "42" and normal("ab") == "ab"
