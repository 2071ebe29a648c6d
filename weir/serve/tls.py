"""HTTPS for weir's servers (``weir serve``, ``weir collect``): a certificate and its key."""

from __future__ import annotations

from pathlib import Path

from weir.errors import WeirError


def check_tls(tls_cert: Path | None, tls_key: Path | None) -> None:
    """Raise a WeirError unless both or neither are given, and each one given is a file.

    Checked before the server starts, so a wrong path is named rather than
    surfacing as an SSL error from inside Uvicorn.
    """
    if (tls_cert is None) != (tls_key is None):
        raise WeirError(
            "HTTPS needs both a certificate and its key",
            "pass --tls-cert and --tls-key together, or neither for HTTP",
        )
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise WeirError(f"no file at {path}", "check the --tls-cert/--tls-key paths")
