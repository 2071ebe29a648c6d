"""Running a project's server: the application and its services under Uvicorn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import uvicorn

from weir.serve.app import Service, create_app
from weir.serve.tls import check_tls
from weir.workspace import Project


def project_services(project: Project) -> list[Service]:
    """The background services ``weir serve`` runs for ``project`` (per ``weir.yml``)."""
    services: list[Service] = [*project.streams.consumers()]  # weir.yml consumers: (Kafka, MQTT)
    return services


def serve(
    project: Project,
    host: str = "127.0.0.1",
    port: int = 8080,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    extra: Sequence[Service] = (),
) -> None:
    """Serve ``project`` until interrupted (HTTPS when a certificate and key are given).

    ``extra`` are services to run besides the project's own (the demo's live traffic).
    """
    check_tls(tls_cert, tls_key)
    app = create_app(project, [*project_services(project), *extra])
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level="warning",
        access_log=False,
    )
