"""Personal fields of a data subject's sources, sealed in every source layer (``encrypt_pii``).

With ``privacy: {encrypt_pii: true}`` every field a source's contract
classifies ``pii`` is written sealed under the key of the subject on its row
(``weir.metadata.pii``): in raw and quarantine (every field is text there,
and so is ``_raw``, the record as it arrived), and in staging for the text
fields. The subject is the one ``privacy.subjects`` names for the source
(the first kind that lists it); a row whose identifier is missing or blank
has no subject, and its fields are kept as they came. A column of the
source's ``key`` is not sealed (de-duplication compares it), and a source
without personal fields keeps ``_raw`` as it is.

Reading opens them: a lake table shown as a view (models, the gateway, ``weir
sql``) shows the clear value while the subject's key exists, and NULL once it
was destroyed. Masks are computed on the opened value, so a masked role sees
the same keyed hash as without sealing. Staging's non-text personal fields (an
age) keep their type and are not sealed; the erasure's rewrite removes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from weir.engine import Session, ident, lit
from weir.lake import LAYERS
from weir.metadata.pii import PiiCipher
from weir.project import ProjectFiles

SEAL_FUNCTION = "weir_seal"
OPEN_FUNCTION = "weir_open"
TEXT_ONLY = ("_raw",)  # kept in raw and quarantine: the record as it arrived


@dataclass(frozen=True)
class SealPlan:
    kind: str  # the subject kind (customer)
    subject: str  # the column carrying the subject's identifier
    columns: tuple[str, ...]  # the columns sealed


class SourceSealing:
    """The lake's ``Sealing`` for the source layers of a project's subjects."""

    def __init__(self, project: ProjectFiles, cipher: PiiCipher) -> None:
        self.project = project
        self.cipher = cipher
        self._plans: dict[tuple[str, str], SealPlan | None] = {}

    def plan(self, layer: str, name: str) -> SealPlan | None:
        """What is sealed in ``layer.name``: nothing for a model's table or a subject-less source."""
        key = (layer, name)
        if key not in self._plans:
            self._plans[key] = self._make_plan(layer, name)
        return self._plans[key]

    def _make_plan(self, layer: str, name: str) -> SealPlan | None:
        privacy = self.project.config.privacy
        if not privacy.encrypt_pii or layer not in LAYERS:
            return None
        for kind, subject in privacy.subjects.items():
            column = subject.sources.get(name)
            if column is None:
                continue
            source = self.project.source(name)
            text = layer != "staging"
            # a key column stays comparable: de-duplication matches it against staging
            kept = {column, *source.key}
            sealed = tuple(
                c.name
                for c in source.columns
                if c.classification == "pii" and c.name not in kept and (text or c.type == "string")
            )
            if not sealed:
                return None  # no personal field: the record as it arrived holds none either
            return SealPlan(kind, column, sealed + (TEXT_ONLY if text else ()))
        return None

    def seal(
        self,
        session: Session,
        layer: str,
        name: str,
        select: str,
        lineage: Mapping[str, Sequence[str]] | None = None,
    ) -> str:
        plan = self.plan(layer, name)
        if plan is None:
            return select
        present = {column for column, _ in session.columns(select)}
        columns = [c for c in plan.columns if c in present]
        if not columns or plan.subject not in present:
            return select
        session.add_function(SEAL_FUNCTION, self.seal_values, 3)
        subject = f"CAST({ident(plan.subject)} AS VARCHAR)"
        replaced = ", ".join(
            f"{SEAL_FUNCTION}({lit(plan.kind)}, {subject}, CAST({ident(c)} AS VARCHAR))"
            f" AS {ident(c)}"
            for c in columns
        )
        return f"SELECT * REPLACE ({replaced}) FROM ({select})"

    def opened(self, session: Session, layer: str, name: str) -> Mapping[str, str]:
        plan = self.plan(layer, name)
        if plan is None:
            return {}
        session.add_function(OPEN_FUNCTION, self.cipher.open, 1)
        return {c: f"{OPEN_FUNCTION}({ident(c)})" for c in plan.columns}

    def seal_values(
        self, kinds: pa.ChunkedArray, ids: pa.ChunkedArray, values: pa.ChunkedArray
    ) -> pa.Array:
        if len(values) == 0:
            return pa.array([], pa.string())
        return self.cipher.seal(str(kinds[0].as_py()), ids, values)
