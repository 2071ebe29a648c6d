"""Encryption at rest of the lake's data files: Parquet modular encryption, one data key.

When a project turns ``encryption: {at_rest: true}`` on, every Parquet file
weir writes is encrypted with Parquet's own modular encryption (AES-GCM,
``AES_GCM_V1``), uniformly: one key encrypts the footer and every column, so
no byte of a value, a statistic or the schema is left in the clear. The key is
the project's ``at_rest`` data key (the key store holds it sealed under the
master key); this module only uses it.

Who does what, and why (DuckDB 2.0 and pyarrow as pinned):

- pyarrow writes the files. DuckDB can read encrypted Parquet but writes it
  only with its OpenSSL-backed crypto, which comes with the ``httpfs``
  extension (weir loads no extension); its built-in fallback refuses to
  write, since its nonces would not be secure.
- DuckDB reads them (``PRAGMA add_parquet_key`` + ``encryption_config``), but
  fails the AES tag of any data page after the first of a column chunk, and of
  a scan a filter was pushed into. So each column chunk is written as one
  data page, and an encrypted scan is a subquery the optimizer does not push
  filters through (``OFFSET 0``): a query reads every row group of the files
  it names.
- pyiceberg cannot read an encrypted footer, so the lake reads each new
  file's footer itself (``footer``) to give Iceberg its row count and
  statistics.

Every file has its own random nonces (a fresh 12-byte nonce per page), so one
key over many files is safe far beyond any lake's size (2**32 pages).
"""

from __future__ import annotations

import base64
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if (
    TYPE_CHECKING
):  # pyarrow is imported when a file is read or written: opening a project needs none
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

KEY_NAME = "weir_at_rest"  # the name the engine's sessions know the key by
ROW_GROUP_ROWS = 122_880
# one data page per column chunk (and a dictionary that never falls back to plain pages):
# DuckDB fails the AES tag of every data page of an encrypted chunk after its first
ONE_PAGE: dict[str, int] = {
    "data_page_size": 1 << 40,
    "max_rows_per_page": ROW_GROUP_ROWS,
    "dictionary_pagesize_limit": 1 << 40,
}


def supported() -> bool:
    """Whether this pyarrow can write what DuckDB reads: a direct key, one page per chunk."""
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

    return hasattr(pe, "create_encryption_properties") and (
        "max_rows_per_page" in inspect.signature(pq.ParquetWriter.__init__).parameters
    )


_NO_DAY = "NULL"


@dataclass(frozen=True)
class DataKey:
    """The key that encrypts the lake's data files (32 bytes, AES-256)."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise ValueError("an at-rest data key is 32 bytes")

    @property
    def text(self) -> str:
        """The key in base64, as DuckDB's ``add_parquet_key`` takes it."""
        return base64.b64encode(self.secret).decode("ascii")

    def encryption(self) -> pe.FileEncryptionProperties:
        import pyarrow.parquet.encryption as pe

        return pe.create_encryption_properties(self.secret)

    def decryption(self) -> pe.FileDecryptionProperties:
        import pyarrow.parquet.encryption as pe

        return pe.create_decryption_properties(self.secret)

    def footer(self, path: str | Path | pa.NativeFile) -> pq.FileMetaData:
        """The footer (row count, row groups, statistics) of an encrypted file (or open file)."""
        import pyarrow.parquet as pq

        source = str(path) if isinstance(path, Path) else path
        return pq.read_metadata(source, decryption_properties=self.decryption())

    def read(self, path: str | Path) -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(str(path), decryption_properties=self.decryption())

    def seal(self, data: bytes, purpose: bytes) -> bytes:
        """``data`` encrypted (AES-256-GCM, a random nonce first), bound to ``purpose``."""
        nonce = os.urandom(12)
        return nonce + AESGCM(self.secret).encrypt(nonce, data, purpose)

    def unseal(self, sealed: bytes, purpose: bytes) -> bytes:
        """What ``seal`` sealed for ``purpose``; ``InvalidTag`` if it was altered."""
        return AESGCM(self.secret).decrypt(sealed[:12], sealed[12:], purpose)


def num_rows(path: str | Path | pa.NativeFile, key: DataKey | None) -> int:
    """The rows of a Parquet file weir wrote (by path, or opened), encrypted or not."""
    if key is None:
        import pyarrow.parquet as pq

        source = str(path) if isinstance(path, Path) else path
        return int(pq.ParquetFile(source).metadata.num_rows)
    return int(key.footer(path).num_rows)


def write_encrypted(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    folder: Path,
    key: DataKey,
    day_column: str | None = None,
) -> list[str]:
    """Write ``batches`` as encrypted Parquet files in ``folder``; their paths.

    Without ``day_column``: one file, ``part-0.parquet``. With it: one file per
    value of that column, in ``_day=VALUE/part-0.parquet`` folders (the
    layout DuckDB's partitioned ``COPY`` makes), the column itself left out.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    kept = schema if day_column is None else schema.remove(schema.get_field_index(day_column))
    writers: dict[str, pq.ParquetWriter] = {}

    def writer(day: str | None) -> pq.ParquetWriter:
        name = "" if day is None else day
        if name not in writers:
            target = folder if day is None else folder / f"_day={day}"
            target.mkdir(parents=True, exist_ok=True)
            writers[name] = pq.ParquetWriter(
                str(target / "part-0.parquet"),
                kept,
                compression="zstd",
                encryption_properties=key.encryption(),
                **ONE_PAGE,
            )
        return writers[name]

    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if day_column is None:
                writer(None).write_batch(batch, row_group_size=ROW_GROUP_ROWS)
                continue
            days = batch.column(day_column)
            rows = batch.drop_columns([day_column])
            for day in pc.unique(days).to_pylist():
                mask = pc.is_null(days) if day is None else pc.equal(days, pa.scalar(day))
                part = rows.filter(mask)
                writer(_NO_DAY if day is None else str(day)).write_batch(
                    part, row_group_size=ROW_GROUP_ROWS
                )
        if day_column is None and not writers:
            writer(None)  # an empty result is one empty file, as DuckDB writes it
    finally:
        for open_writer in writers.values():
            open_writer.close()
    return sorted(str(p) for p in folder.rglob("*.parquet"))
