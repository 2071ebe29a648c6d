"""The PostgreSQL catalog over TLS: ``sslmode`` in ``catalog_uri`` reaches every connection.

A PostgreSQL server of the test's own (``initdb`` in ``tmp_path``, as the
``postgres`` user when the test runs as root) is started with TLS on and a
certificate signed by a test authority. A project opened over
``sslmode=verify-full`` ingests a file; the server's ``pg_stat_ssl`` shows
every connection of weir's encrypted. A server certificate the authority did
not sign, and ``sslmode=require`` against a server without TLS, stop at open
with a ``ProjectError`` carrying libpq's reason.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import POSTGRES, NewDatabase, land, pos_csv, pos_line, require_server

import weir
from weir.errors import ProjectError

try:
    import psycopg
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
except ImportError as exc:
    require_server("psycopg", f"the PostgreSQL tests need the postgres extra (psycopg 3): {exc}")


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        require_server("PostgreSQL", f"no `{name}` to start a TLS server of the test's own")
    return found


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv[-1]} failed: {done.stdout}{done.stderr}"


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@dataclass
class TlsServer:
    port: int
    ca: Path
    other_ca: Path

    def url(self, database: str, query: str) -> str:
        return f"postgresql+psycopg://postgres@localhost:{self.port}/{database}?{query}"


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
    # a folder of its own in the system's temporary folder, which the server's user can reach
    # (pytest's folders are its owner's only)
    folder = Path(tempfile.mkdtemp(prefix="weir-pgtls-"))
    data = folder / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    ca_key, server_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weir test authority")])
    ca = _certificate("weir test authority", ca_key, ca_name, ca_key, ca=True)
    other = _certificate("another authority", other_key, ca.subject, other_key, ca=True)
    server = _certificate("localhost", server_key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    ca_file = _pem(folder / "ca.pem", ca.public_bytes(pem))
    other_file = _pem(folder / "other-ca.pem", other.public_bytes(pem))
    certificate = _pem(folder / "server.pem", server.public_bytes(pem))
    secret = _pem(
        folder / "server.key",
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    secret.chmod(0o600)
    if as_postgres:
        for path in (folder, certificate, secret):
            shutil.chown(path, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _run([*as_postgres, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"])
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c ssl=on"
        f" -c ssl_cert_file={certificate} -c ssl_key_file={secret}"
    )
    _run(
        [
            *as_postgres,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "start",
        ]
    )
    try:
        yield TlsServer(port, ca_file, other_file)
    finally:
        subprocess.run(
            [*as_postgres, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


def test_every_catalog_connection_is_encrypted_under_verify_full(
    tls_server: TlsServer, tmp_path: Path
) -> None:
    admin_url = f"postgresql://postgres@127.0.0.1:{tls_server.port}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE shop")
    root = weir.init_project(tmp_path / "shop")
    url = tls_server.url("shop", f"sslmode=verify-full&sslrootcert={tls_server.ca}")
    with (root / "weir.yml").open("a", encoding="utf-8") as config:
        config.write(f"\ncatalog_uri: {url}\n")
    land(root, "pos", "pos_2025-01-06_store001.csv", pos_csv(pos_line("T1"), pos_line("T2")))
    with weir.Project(root) as project:
        [result] = project.sources.ingest(["pos"])
        assert result.counts.accepted == 2
        with psycopg.connect(admin_url, autocommit=True) as admin:
            connections = admin.execute(
                "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
                " WHERE a.datname = 'shop'"
            ).fetchall()
    assert connections, "weir keeps its pooled connections open"
    assert all(ssl for ssl, _ in connections), connections
    assert {version for _, version in connections} <= {"TLSv1.2", "TLSv1.3"}
    wrong = tls_server.url("shop", f"sslmode=verify-full&sslrootcert={tls_server.other_ca}")
    (root / "weir.yml").write_text(
        (root / "weir.yml").read_text(encoding="utf-8").replace(url, wrong), encoding="utf-8"
    )
    with pytest.raises(ProjectError, match="certificate verify failed"):
        weir.Project(root)


def test_sslmode_require_stops_at_a_server_without_tls(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as probe:
        if probe.execute("SHOW ssl").fetchone() != ("off",):
            pytest.skip("the test server speaks TLS")
    root = weir.init_project(tmp_path / "shop", example=None)
    with (root / "weir.yml").open("a", encoding="utf-8") as config:
        config.write(f"\ncatalog_uri: {new_database()}?sslmode=require\n")
    with pytest.raises(ProjectError, match="server does not support SSL, but SSL was required"):
        weir.Project(root)
