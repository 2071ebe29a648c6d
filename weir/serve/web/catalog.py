"""The catalog (``/catalog``): every dataset the signed-in user's role may read, and its lineage.

The list and each dataset's page make the same calls as ``/api/v1/datasets``
and ``/api/v1/lineage`` (``project.catalog``) as the signed-in user: a dataset
outside the role is not found, and the lineage graph leaves out (and bridges)
what the role cannot read. A dataset's page shows its columns with their
types, classification (and what the latest scan for personal data
flagged in it) and descriptions, its owner, freshness, row count and
newest snapshots, and the lineage of the dataset or of one of its columns,
drawn as an SVG whose boxes link up- and downstream.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from weir.serve.web.auth import project_of, require_user
from weir.serve.web.lineage_svg import draw
from weir.serve.web.shell import WebUser, page

User = Annotated[WebUser, Depends(require_user)]
MAX_DATASETS = 1000


def dataset_href(name: str) -> str:
    """The catalog page of a dataset, or of a column's lineage (``layer.table.column``)."""
    parts = name.split(".")
    path = f"/catalog/{quote('.'.join(parts[:2]))}"
    return f"{path}?column={quote('.'.join(parts[2:]))}#lineage" if len(parts) > 2 else path


def router() -> APIRouter:
    routes = APIRouter(prefix="/catalog", include_in_schema=False)

    @routes.get("")
    def datasets(
        request: Request,
        user: User,
        q: Annotated[str, Query(max_length=200, description="words to look for")] = "",
        layer: Annotated[str, Query(max_length=40)] = "",
    ) -> Response:
        project = project_of(request)
        found = project.catalog.datasets(user.principal, 0, MAX_DATASETS).items
        layers = sorted({d.layer for d in found})
        words = q.lower().split()
        shown = [
            d
            for d in found
            if (not layer or d.layer == layer)
            and all(w in f"{d.name} {d.owner} {d.description}".lower() for w in words)
        ]
        return page(
            request,
            user,
            "panel/catalog.html",
            "Catalog",
            datasets=shown,
            total=len(found),
            q=q,
            layer=layer,
            layers=layers,
            href=dataset_href,
        )

    @routes.get("/{name}")
    def dataset(
        request: Request,
        user: User,
        name: Annotated[str, Path(max_length=300)],
        column: Annotated[str, Query(max_length=200)] = "",
    ) -> Response:
        project = project_of(request)
        found = project.catalog.dataset(user.principal, name)
        focus = f"{name}.{column}" if column else name
        graph = project.catalog.lineage_graph(user.principal, focus)
        return page(
            request,
            user,
            "panel/dataset.html",
            name,
            dataset=found,
            column=column,
            snapshots=project.catalog.snapshots(user.principal, name),
            graph=graph,
            drawing=draw(graph, dataset_href),
            href=dataset_href,
        )

    return routes
