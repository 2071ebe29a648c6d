"""The literals of audited SQL, kept apart from its text so that they can be erased.

An audited query's text is stored as a template: each literal (a string, a
number, a comment) is replaced by a placeholder ``{N}`` (``{N#}`` for a
comment), and braces of the text itself are doubled. The literals are stored
as rows of their own, keyed by the record's ``seq`` and their index ``N``, so
that erasing a person's data removes a literal row and leaves the record, and
the chain that signs it, intact. Re-assembling puts each literal back exactly
as it was written; one that was erased reads ``'<erased>'``.

Literals are found with SQLGlot's tokenizer, so a query that does not parse
(a refused one is recorded too) is still split; text the tokenizer cannot read
at all (an unterminated quote) is kept whole as one literal.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlglot import TokenType
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

ERASED = "'<erased>'"
ERASED_COMMENT = "/* <erased> */"
_LITERAL_TOKENS = frozenset(
    {
        TokenType.STRING,
        TokenType.NUMBER,
        TokenType.BYTE_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.RAW_STRING,
        TokenType.UNICODE_STRING,
    }
)
_SCAN = 5000  # literal rows read at a time by find_matching
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\d+)(#?)\}")


@dataclass(frozen=True)
class SplitSql:
    """A query's text as a template and its literals, in order (index = position)."""

    template: str
    literals: tuple[str, ...]

    def assemble(self) -> str:
        return assemble(self.template, dict(enumerate(self.literals)))


def split_sql(sql: str) -> SplitSql:
    """``sql`` as a template with a placeholder for each literal and comment, and those literals."""
    try:
        tokens = Dialect.get_or_raise("duckdb").tokenize(sql)
    except SqlglotError:
        return SplitSql("{0}", (sql,)) if sql else SplitSql("", ())
    pieces: list[str] = []
    literals: list[str] = []
    done = 0
    for token in tokens:
        start, end = token.start, token.end + 1
        if start < done or end > len(sql):  # spans the text does not hold: keep it whole
            return SplitSql("{0}", (sql,))
        _gap(sql[done:start], pieces, literals)
        if token.token_type in _LITERAL_TOKENS:
            pieces.append(f"{{{len(literals)}}}")
            literals.append(sql[start:end])
        else:
            pieces.append(escape(sql[start:end]))
        done = end
    _gap(sql[done:], pieces, literals)
    split = SplitSql("".join(pieces), tuple(literals))
    if split.assemble() != sql:  # never store a template that does not give the text back
        return SplitSql("{0}", (sql,))
    return split


def assemble(template: str, literals: Mapping[int, str]) -> str:
    """The text of ``template`` with its literals; one missing (erased) reads ``'<erased>'``."""

    def put(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        value = literals.get(int(match.group(1)))
        if value is not None:
            return value
        return ERASED_COMMENT if match.group(2) else ERASED

    return _PLACEHOLDER.sub(put, template)


def placeholders(template: str) -> int:
    """How many literals ``template`` holds."""
    return sum(1 for m in _PLACEHOLDER.finditer(template) if m.group(1) is not None)


def matches(literal: str, values: Collection[str]) -> bool:
    """Whether a literal holds any of ``values``, compared case-insensitively.

    A value is looked for as written and with its quotes doubled (``O'Brien`` is
    ``'O''Brien'`` in SQL); it may be part of the literal (``'%jane@x.com%'``).
    """
    text = literal.casefold()
    for value in values:
        folded = value.casefold()
        if folded and (folded in text or folded.replace("'", "''") in text):
            return True
    return False


def find_matching(db: Connection, values: Collection[str], after: int) -> list[tuple[int, int]]:
    """(seq, index) of the stored literals, of records after ``after``, that hold one of ``values``.

    Compared in Python (``casefold``), as SQLite's ``lower`` folds ASCII only.
    """
    found: list[tuple[int, int]] = []
    if not any(values):
        return found
    seq, index = after + 1, -1
    while True:
        rows = db.execute(
            sa.text(
                "SELECT seq, idx, value FROM weir_audit_literals"
                " WHERE seq > :seq OR (seq = :seq AND idx > :idx) ORDER BY seq, idx LIMIT :n"
            ),
            {"seq": seq, "idx": index, "n": _SCAN},
        ).all()
        found += [(int(r[0]), int(r[1])) for r in rows if matches(str(r[2]), values)]
        if len(rows) < _SCAN:
            return found
        seq, index = int(rows[-1][0]), int(rows[-1][1])


def _gap(text: str, pieces: list[str], literals: list[str]) -> None:
    """Text between tokens: whitespace stays in the template, a comment becomes a literal."""
    if not text.strip():
        pieces.append(text)
        return
    lead = len(text) - len(text.lstrip())
    trail = len(text.rstrip())
    pieces.append(text[:lead])
    pieces.append(f"{{{len(literals)}#}}")
    literals.append(text[lead:trail])
    pieces.append(text[trail:])


def escape(text: str) -> str:
    """Text kept in a template as it is (its braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")
