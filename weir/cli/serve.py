"""``weir serve``: the project's HTTP server."""

from __future__ import annotations

from pathlib import Path

import click

from weir.cli.app import Context, F, guarded
from weir.cli.output import console


def tls_options(command: F) -> F:
    """``--tls-cert`` and ``--tls-key``: serve HTTPS (``weir serve``, ``weir collect``)."""
    command = click.option(
        "--tls-key", type=click.Path(dir_okay=False, path_type=Path), help="The certificate's key."
    )(command)
    return click.option(
        "--tls-cert",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A PEM certificate: serve HTTPS (with --tls-key).",
    )(command)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="The port to listen on.")
@tls_options
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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8081, show_default=True, type=int, help="The port to listen on.")
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Collector processes sharing the port, each with logs of its own.",
)
@click.option(
    "--first",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of the first process (another host sharing the project folder starts after).",
)
@tls_options
@click.pass_obj
@guarded
def collect(
    ctx: Context,
    host: str,
    port: int,
    processes: int,
    first: int,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Serve the event collector alone, in one or more processes behind one port.

    Each process keeps its own write-ahead logs and flushes them into the lake;
    one that dies is started again and flushes what it had acknowledged.
    `weir serve` may run beside it (its collector is another one). See docs/workers.md.

    \b
    Examples:
      weir collect --processes 4
      weir collect --processes 4 --first 5     # a second host, same project folder
      weir collect --host 0.0.0.0 --port 8443 --tls-cert cert.pem --tls-key key.pem
    Then post to http://127.0.0.1:8081/collect/v1/SOURCE
    """
    from weir.serve.collect import collect as run_collectors

    project = ctx.open()
    scheme = "https" if tls_cert else "http"
    console.print(
        f"collecting events for {project.root} at {scheme}://{host}:{port} in {processes}"
        f" process{'es' if processes > 1 else ''} (Ctrl-C stops)"
    )
    run_collectors(
        project,
        host,
        port,
        processes,
        tls_cert,
        tls_key,
        say=lambda line: console.print(line),
        first=first,
    )
