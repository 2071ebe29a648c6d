"""The seam through which personal data is sealed as it is written and opened as it is read.

The lake knows nothing of subjects or keys: a project that seals personal data
gives its lake a ``Sealing`` (``Lake.sealing``), and the lake calls it at its
one write point (``Lake.write_parquet``) and its one read point (a table shown
as a view, ``LakeViews``; ``opened_scan`` for code that reads a snapshot's files
itself). Copies of files (compaction, rewrites, archives) move the sealed bytes
as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from weir.engine import Session, ident

if TYPE_CHECKING:
    from weir.lake.catalog import Lake


class Sealing(Protocol):
    def seal(
        self,
        session: Session,
        layer: str,
        name: str,
        select: str,
        lineage: Mapping[str, Sequence[str]] | None = None,
    ) -> str:
        """``select`` with the table's personal columns sealed (as it is when nothing is);
        ``lineage``: a model's column → the columns it is computed from."""
        ...

    def opened(self, session: Session, layer: str, name: str) -> Mapping[str, str]:
        """Column → SQL opening it, for the table's sealed columns (ready to run in ``session``)."""
        ...


def opened_scan(lake: Lake, session: Session, layer: str, name: str, files: Sequence[str]) -> str:
    """SQL reading a snapshot's data files of ``layer.name`` with its personal columns opened."""
    scan = lake.engine.scan(files)
    if lake.sealing is None:
        return scan
    computed = lake.sealing.opened(session, layer, name)
    if not computed:
        return scan
    replaced = ", ".join(f"{sql} AS {ident(column)}" for column, sql in computed.items())
    return f"(SELECT * REPLACE ({replaced}) FROM {scan})"
