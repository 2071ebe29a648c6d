"""``weir serve``: the project's HTTP server."""

from __future__ import annotations

from pathlib import Path

import click

from weir.cli.app import Context, guarded
from weir.cli.output import console


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="The port to listen on.")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A PEM certificate: serve HTTPS (with --tls-key).",
)
@click.option(
    "--tls-key", type=click.Path(dir_okay=False, path_type=Path), help="The certificate's key."
)
@click.pass_obj
@guarded
def serve(ctx: Context, host: str, port: int, tls_cert: Path | None, tls_key: Path | None) -> None:
    """Serve the project over HTTP: the API, the event collector, health and metrics.

    \b
    Examples:
      weir serve
      weir serve --host 0.0.0.0 --port 8443 --tls-cert cert.pem --tls-key key.pem
    Then open http://127.0.0.1:8080/api/v1/docs
    """
    from weir.serve.server import serve as run_server

    project = ctx.open()
    scheme = "https" if tls_cert else "http"
    console.print(f"serving {project.root} at {scheme}://{host}:{port} (Ctrl-C stops)")
    run_server(project, host, port, tls_cert, tls_key)
