"""A real S3-compatible server for tests: moto's server in its own process on 127.0.0.1.

``running_s3()`` starts it on a free port, makes a bucket, points the standard AWS
variables at it (``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``) for this process and the processes it starts, and stops it
at the end. Each test takes a prefix of its own in the one bucket (``S3.location``).
The client side is the real one (pyarrow's S3 file system, over HTTP).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BUCKET = "weir-lake"
# moto takes any credentials; these stand for the ones a store hands out, and tests look
# for them where they must never be (the lake, the catalog, the logs)
ACCESS_KEY = "AKIAWEIRTESTKEY00001"
SECRET_KEY = "weir-test-secret-0d8c1f3a9b"


@dataclass(frozen=True)
class S3:
    """A running server: its endpoint, its bucket, and the environment that reaches it."""

    endpoint: str
    bucket: str
    environ: dict[str, str]

    def location(self, name: str = "") -> str:
        """A fresh ``s3://`` prefix in the bucket (one per project, so tests share the server)."""
        return f"s3://{self.bucket}/{name or 'lake'}-{uuid.uuid4().hex[:8]}"

    def filesystem(self, make_buckets: bool = False):  # type: ignore[no-untyped-def]
        """pyarrow's S3 file system on the server (to look at what weir wrote)."""
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            endpoint_override=self.endpoint,
            region="us-east-1",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            allow_bucket_creation=make_buckets,
        )

    def objects(self, location: str) -> dict[str, bytes]:
        """Every object under an ``s3://`` prefix, by key, with its bytes."""
        import pyarrow.fs as pafs

        fs = self.filesystem()
        prefix = location.removeprefix("s3://")
        found = fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
        objects = {}
        for info in found:
            if info.type == pafs.FileType.File:
                with fs.open_input_stream(info.path) as stream:
                    objects[info.path] = bytes(stream.read())
        return objects


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_s3(log: Path | None = None) -> Iterator[S3]:
    """moto's S3 server on a free port of 127.0.0.1, with a bucket, while the block runs."""
    import moto.server  # noqa: F401  (the server must be installed: `make setup` installs it)

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=out,
        stderr=out,
    )
    environ = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start on port {port}") from None
                time.sleep(0.05)
        with pytest.MonkeyPatch.context() as env:  # the variables are put back afterwards
            for name, value in environ.items():
                env.setenv(name, value)
            s3 = S3(endpoint, BUCKET, environ)
            s3.filesystem(make_buckets=True).create_dir(BUCKET)
            yield s3
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if out is not subprocess.DEVNULL:
            out.close()
