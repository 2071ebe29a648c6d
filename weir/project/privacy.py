"""``privacy:`` in ``weir.yml``: who a data subject is, and where each source names them.

A subject kind (``customer``) has one identifier (``key``), the column that
carries it in each source that holds data about them (``sources``; a web
source may call it ``user_id``), and the columns a person can be looked up by
(``lookup``: ``email: customers.email``). Which model columns carry the
identifier or personal data is not listed here: it comes from the models'
column lineage.

The names are checked against the sources once they are loaded
(``check_subjects``), with the file, the field and the closest valid name.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from weir.errors import ProjectError
from weir.project.base import FieldProblem, Name, Strict

if TYPE_CHECKING:
    from weir.project.config import ColumnConfig, SourceConfig

IDENTIFIER_TYPES = ("int", "string")


class SubjectConfig(Strict):
    """One kind of data subject (a customer): their identifier in every source that holds them."""

    description: str = ""
    key: Name = Field(description="the subject's identifier, e.g. customer_id")
    sources: dict[Name, Name] = Field(
        min_length=1, description="source -> the column holding the subject's identifier there"
    )
    lookup: dict[Name, str] = Field(
        default={},
        description="how a person is found: name -> source.column (email: customers.email)",
    )

    @model_validator(mode="after")
    def _lookups_are_dotted(self) -> SubjectConfig:
        for name, target in self.lookup.items():
            source, _, column = target.partition(".")
            if not source or not column or "." in column:
                raise FieldProblem(
                    "lookup",
                    f"lookup '{name}' names '{target}', which is not source.column",
                    "write it as source.column, e.g. customers.email",
                )
            if source not in self.sources:
                raise FieldProblem(
                    "lookup",
                    f"lookup '{name}' reads source '{source}', which is not one of this "
                    "subject's sources",
                    f"add {source} under sources, or use one of: {', '.join(self.sources)}",
                )
        return self

    def lookup_column(self, name: str) -> tuple[str, str]:
        source, _, column = self.lookup[name].partition(".")
        return source, column


class PrivacyConfig(Strict):
    """``privacy:``: the data subjects weir can find, export and erase."""

    subjects: dict[Name, SubjectConfig] = Field(
        default={}, description="kinds of data subjects, by name (customer)"
    )
    encrypt_pii: bool = Field(
        default=False,
        description="store each subject's personal fields encrypted under a key of their own, "
        "so destroying the key at erasure makes every copy unreadable (crypto-shredding)",
    )

    @model_validator(mode="after")
    def _encrypting_needs_subjects(self) -> PrivacyConfig:
        if self.encrypt_pii and not self.subjects:
            raise FieldProblem(
                "encrypt_pii",
                "encrypt_pii seals personal data under a key per subject, and no subject is "
                "defined",
                "define who a subject is under privacy.subjects (key, sources), "
                "or set encrypt_pii: false",
            )
        return self


def check_subjects(privacy: PrivacyConfig, sources: Mapping[str, SourceConfig], shown: str) -> None:
    """Every source and column a subject names exists, and identifiers share one type."""
    for kind, subject in privacy.subjects.items():
        where = f"{shown}: privacy.subjects.{kind}"
        types: dict[str, str] = {}
        for source_name, column in subject.sources.items():
            source = _source(sources, source_name, f"{where}.sources")
            _column(source, column, f"{where}.sources.{source_name}")
            types[source_name] = source.column(column).type
        distinct = sorted(set(types.values()))
        if len(distinct) > 1 or distinct[0] not in IDENTIFIER_TYPES:
            listed = ", ".join(f"{s}.{subject.sources[s]} is {t}" for s, t in types.items())
            raise ProjectError(
                f"{where}.sources: the identifier columns must all be int or all be string ({listed})",
                "name the column that holds the same identifier in each source",
            )
        for name in subject.lookup:
            source_name, column = subject.lookup_column(name)
            found = _column(sources[source_name], column, f"{where}.lookup.{name}")
            if found.type != "string":
                raise ProjectError(
                    f"{where}.lookup.{name}: {source_name}.{column} is {found.type}, not string",
                    "look people up by a text column (an e-mail, a phone number)",
                )


def _source(sources: Mapping[str, SourceConfig], name: str, where: str) -> SourceConfig:
    if name in sources:
        return sources[name]
    close = difflib.get_close_matches(name, list(sources), n=1)
    raise ProjectError(
        f"{where}: no source named '{name}'",
        f"did you mean {close[0]}?" if close else f"use one of: {', '.join(sorted(sources))}",
    )


def _column(source: SourceConfig, column: str, where: str) -> ColumnConfig:
    if column in source.column_names:
        return source.column(column)
    close = difflib.get_close_matches(column, source.column_names, n=1)
    raise ProjectError(
        f"{where}: source {source.name} has no column '{column}'",
        f"did you mean {close[0]}?" if close else f"use one of: {', '.join(source.column_names)}",
    )
