"""Vectorised text for the generated files: ids, values and whole lines as Arrow strings.

Formatting one record at a time in Python would take minutes for a year of a
mid-size retailer; here each column is rendered once per batch with Arrow
kernels (or numpy byte arithmetic for fixed-width ids) and a line is an
element-wise join of its columns' tokens, so the cost is a few passes over
the bytes written.

A *token* is a value as it appears in one format: in CSV the field text
(quoted when needed, empty for null); in JSON a JSON literal (``null`` for
null); in XML the escaped element text (null: the element is left out).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.demo.generate.timeline import MAX_EPOCH_SECONDS

TextFormat = Literal["csv", "jsonl", "xml"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MASK64 = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


# -- fixed-width ids -------------------------------------------------------------------
def fixed_width(chars: np.ndarray) -> pa.Array:
    """One string per row of the ``(n, width)`` byte array ``chars``."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    if offsets[-1] >= 2**31:
        raise ValueError("too many bytes for one string array")
    data = np.ascontiguousarray(chars, dtype=np.uint8).tobytes()
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )


def digit_chars(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative ``values`` as an ``(n, width)`` byte array."""
    v = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((v[:, None] // powers[None, :]) % 10 + ord("0")).astype(np.uint8)


def hex_chars(values: np.ndarray, width: int) -> np.ndarray:
    """The last ``width`` (at most 16) hex digits of ``values`` as an ``(n, width)`` byte array."""
    octets = np.asarray(values, dtype=">u8").view(np.uint8).reshape(-1, 8)
    nibbles = np.empty((len(octets), 16), dtype=np.uint8)
    nibbles[:, 0::2] = octets >> 4
    nibbles[:, 1::2] = octets & 15
    return _HEX[nibbles[:, 16 - width :]]


def prefixed(prefix: str, *parts: np.ndarray | str) -> pa.Array:
    """Fixed-width strings: ``prefix`` then each part (a byte array or a literal)."""
    arrays = [p for p in parts if not isinstance(p, str)]
    if not arrays:
        raise ValueError("prefixed needs at least one array part")
    n = arrays[0].shape[0]
    columns = [_literal_chars(prefix, n)] if prefix else []
    for part in parts:
        columns.append(_literal_chars(part, n) if isinstance(part, str) else part)
    return fixed_width(np.concatenate(columns, axis=1))


def _literal_chars(text: str, n: int) -> np.ndarray:
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.broadcast_to(raw, (n, raw.size))


def scramble(values: np.ndarray, bits: int) -> np.ndarray:
    """A bijection of ``[0, 2**bits)`` that makes serial numbers look random.

    Multiplying by an odd constant and xor-shifting are both invertible modulo
    ``2**bits``, so distinct serials always give distinct ids.
    """
    mask = np.uint64((1 << bits) - 1)
    x = np.asarray(values, dtype=np.uint64) & mask
    with np.errstate(over="ignore"):
        x = (x * np.uint64(0x9E37_79B9_7F4A_7C15)) & mask
        x ^= x >> np.uint64(bits // 2)
        x = (x * np.uint64(0xBF58_476D_1CE4_E5B9)) & mask
        x ^= x >> np.uint64(bits // 3)
    return x & _MASK64


# -- values -----------------------------------------------------------------------------
def numbers(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Ints or floats (nulls where not ``valid``) as an Arrow array."""
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(values, mask=mask)


def money(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Amounts in cents as floats with at most two decimals."""
    return numbers(np.asarray(cents, dtype=np.int64) / 100.0, valid)


def epochs(ms: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Milliseconds since 1970 as epoch seconds with at most three decimals."""
    ms = np.asarray(ms, dtype=np.int64)
    if ms.size and (ms.max() > MAX_EPOCH_SECONDS * 1000 or ms.min() < 0):
        raise ValueError("epoch out of the range the generator writes")
    return numbers(ms / 1000.0, valid)


def strings(values: Sequence[str | None] | np.ndarray) -> pa.Array:
    # A list, not a numpy object array: for those pyarrow imports pandas (a quarter second).
    return pa.array(values.tolist() if isinstance(values, np.ndarray) else values, type=pa.string())


# -- tokens -------------------------------------------------------------------------------
def tokens(fmt: TextFormat, values: pa.Array) -> pa.Array:
    """``values`` as tokens of ``fmt`` (see the module docstring)."""
    is_text = pa.types.is_string(values.type)
    if is_text:
        text = values
    else:
        _check_plain(values)
        text = pc.cast(values, pa.string())
    if fmt == "csv":
        if is_text:
            text = _csv_quote(text)
        return pc.fill_null(text, "")
    if fmt == "jsonl":
        if is_text:
            text = json_quote(text)
        return pc.fill_null(text, "null")
    return xml_escape(text) if is_text else text


def value_token(fmt: TextFormat, value: object) -> str | None:
    """One Python value as a token of ``fmt``: how dirty values are written."""
    if value is None:
        return {"csv": "", "jsonl": "null", "xml": None}[fmt]
    if isinstance(value, bool):
        raise TypeError("the generator writes no bool values")
    if isinstance(value, str):
        if fmt == "jsonl":
            return json.dumps(value)
        if fmt == "xml":
            return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        needs_quotes = any(c in value for c in ',"\r\n')
        return '"' + value.replace('"', '""') + '"' if needs_quotes else value
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    raise TypeError(f"cannot write {type(value).__name__}")


def json_quote(text: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', escaped, '"', "")


def xml_escape(text: pa.Array) -> pa.Array:
    out = pc.replace_substring(text, "&", "&amp;")
    out = pc.replace_substring(out, "<", "&lt;")
    return pc.replace_substring(out, ">", "&gt;")


def _csv_quote(text: pa.Array) -> pa.Array:
    special = pc.match_substring_regex(text, '[",\r\n]')
    if not pc.any(special).as_py():
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(special, quoted, text)


def _check_plain(values: pa.Array) -> None:
    """Floats must render as plain decimals (Arrow uses exponents from 1e10)."""
    if pa.types.is_floating(values.type) and len(values) and values.null_count < len(values):
        largest = pc.max(pc.abs(values)).as_py()
        if largest >= 1e10:
            raise ValueError(f"{largest} would be written in exponent notation")


# -- lines ----------------------------------------------------------------------------------
def join(pieces: Sequence[Any]) -> pa.Array:
    """Element-wise concatenation of arrays and literal strings (adjacent literals merged)."""
    merged: list[Any] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return pc.binary_join_element_wise(*merged, "")


def csv_lines(columns: Sequence[pa.Array]) -> pa.Array:
    pieces: list[Any] = []
    for i, column in enumerate(columns):
        if i:
            pieces.append(",")
        pieces.append(column)
    pieces.append("\n")
    return join(pieces)


def json_lines(
    names: Sequence[str], columns: Sequence[pa.Array], present: Sequence[np.ndarray | None]
) -> pa.Array:
    """``{"name":token,...}`` lines; a field whose ``present`` is False is left out.

    Each field but the last carries its own trailing comma, so leaving one out
    never breaks the object; the last field must always be present.
    """
    if present[-1] is not None:
        raise ValueError("the last field of a JSON line cannot be left out")
    pieces: list[Any] = ["{"]
    last = len(names) - 1
    for i, (name, column, shown) in enumerate(zip(names, columns, present, strict=True)):
        key = json.dumps(name) + ":"
        tail = "}\n" if i == last else ","
        if shown is None:
            pieces += [key, column, tail]
        else:
            kept = pc.if_else(pa.array(shown), column, pa.scalar(None, pa.string()))
            field = pc.binary_join_element_wise(key, kept, tail, "", null_handling="emit_null")
            pieces.append(pc.fill_null(field, ""))
    return join(pieces)


def xml_lines(tag: str, names: Sequence[str], columns: Sequence[pa.Array]) -> pa.Array:
    """``<tag><name>text</name>...</tag>`` lines; a null token leaves its element out."""
    pieces: list[Any] = [f"  <{tag}>"]
    for name, column in zip(names, columns, strict=True):
        if column.null_count:
            element = pc.binary_join_element_wise(
                f"<{name}>", column, f"</{name}>", "", null_handling="emit_null"
            )
            pieces.append(pc.fill_null(element, ""))
        else:
            pieces += [f"<{name}>", column, f"</{name}>"]
    pieces.append(f"</{tag}>\n")
    return join(pieces)
