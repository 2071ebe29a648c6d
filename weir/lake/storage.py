"""Where the lake's files live: a local folder, or a prefix of an S3-compatible bucket.

Every use of a lake file's location goes through a ``Storage``: writing a
batch's files (the engine writes them through ``engine_filesystem``), removing
a rolled-back batch's folder, listing and removing the files no snapshot needs,
reading them in a query. Both kinds are a ``pyarrow.fs`` file system under the
same methods; what differs is how a location is spelled (a path, or
``s3://bucket/key``), how the engine reaches the files (its own local file
system, or the bucket's file system registered with it) and what pyiceberg is
told (its FileIO properties).

An object store's endpoint, region and credentials come from the environment
or the standard AWS configuration (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``~/.aws/credentials``), never from the project's files: nothing here writes
a secret into the catalog, the lake or a log.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weir.errors import WeirError

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from weir.engine import Session

SCHEMES = ("s3://",)  # the object stores a lake can live on


class StorageError(WeirError):
    """The lake's storage is misconfigured or cannot be reached."""

    code = "lake_storage"
    status = 500


@dataclass(frozen=True)
class Stored:
    """One file of the lake as the storage lists it."""

    location: str  # as the catalog and the engine spell it
    size: int
    modified: float  # seconds since the epoch


class Storage:
    """A lake's files on a ``pyarrow.fs`` file system, under ``root`` (the Iceberg warehouse)."""

    root: str
    local = True  # on this machine's disk: encrypted at rest by weir, read by other processes

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        raise NotImplementedError

    def check(self) -> None:
        """Fail early, with what to do, when the storage cannot be used."""

    # -- how locations are spelled ------------------------------------------------------
    def location(self, location: str) -> str:
        """A location as the catalog, the engine and this storage spell it."""
        return location

    def path(self, location: str) -> str:
        """A location as the ``pyarrow.fs`` file system names it."""
        raise NotImplementedError

    def join(self, location: str, *parts: str) -> str:
        """``location`` / ``parts``: a folder or file under it."""
        return "/".join([self.location(location).rstrip("/"), *parts])

    def same(self, location: str) -> str:
        """A key under which two spellings of one file compare equal (for sets of files)."""
        return self.location(location)

    # -- files -----------------------------------------------------------------------------
    def files(self, folder: str) -> list[Stored]:
        """Every file under ``folder`` (none when it does not exist)."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.path(folder), recursive=True, allow_not_found=True)
        found = self.filesystem.get_file_info(selector)
        prefix = self.location(folder).rstrip("/")
        base = self.path(folder).rstrip("/")
        return sorted(
            (
                Stored(
                    prefix + info.path[len(base) :],
                    int(info.size or 0),
                    info.mtime.timestamp() if info.mtime is not None else 0.0,
                )
                for info in found
                if info.type == pafs.FileType.File
            ),
            key=lambda stored: stored.location,
        )

    def remove(self, location: str) -> None:
        self.filesystem.delete_file(self.path(location))

    def remove_tree(self, folder: str) -> None:
        """Remove ``folder`` and all under it; nothing when it does not exist."""
        import pyarrow.fs as pafs

        path = self.path(folder)
        if self.filesystem.get_file_info(path).type != pafs.FileType.NotFound:
            self.filesystem.delete_dir(path)

    def prune(self, folder: str) -> None:
        """Remove the empty folders under ``folder`` (where folders exist)."""

    def exists(self, location: str) -> bool:
        import pyarrow.fs as pafs

        return bool(self.filesystem.get_file_info(self.path(location)).type == pafs.FileType.File)

    def size(self, location: str) -> int:
        return int(self.filesystem.get_file_info(self.path(location)).size or 0)

    def open(self, location: str) -> Any:
        """A file to read (seekable; a context manager): a Parquet reader takes it as it is."""
        return self.filesystem.open_input_file(self.path(location))

    def move(self, source: str, target: str) -> None:
        self.filesystem.move(self.path(source), self.path(target))

    def copy_from(self, source: Storage, location: str, target: str) -> None:
        """Copy one file of another storage (or this one) to ``target`` here."""
        self._make_parent(target)
        with (
            source.filesystem.open_input_stream(source.path(location)) as read,
            self.filesystem.open_output_stream(self.path(target)) as out,
        ):
            shutil.copyfileobj(read, out, 8 << 20)

    def _make_parent(self, location: str) -> None:
        """Make the folder a new file goes in (an object store has none to make)."""

    def read_bytes(self, location: str) -> bytes:
        with self.filesystem.open_input_stream(self.path(location)) as stream:
            return bytes(stream.read())

    def write_bytes(self, location: str, data: bytes, atomic: bool = False) -> None:
        """Write a whole file; ``atomic``: a reader finds it whole or not at all."""
        with self.filesystem.open_output_stream(self.path(location)) as stream:
            stream.write(data)  # an object store's PUT is whole or nothing of itself

    def sync(self, location: str) -> None:
        """Make a written file (or folder entry) durable before going on."""

    def write(
        self, session: Session, select: str, folder: str, partition_by: str | None = None
    ) -> list[str]:
        """Write the rows of ``select`` as Parquet files under ``folder``; their locations."""
        return session.write_files(select, folder, partition_by)

    # -- the engine and the table format -----------------------------------------------------
    def engine_filesystem(self) -> Any | None:
        """The fsspec file system the engine reads and writes the lake through (None: its own)."""
        return None

    def allowed(self) -> list[str]:
        """The folders a locked read session may read: the lake and nothing else."""
        return [self.root.rstrip("/") + "/"]

    def catalog_properties(self) -> dict[str, str]:
        """pyiceberg's catalog properties: the warehouse and how to reach it (no secret)."""
        return {"warehouse": self.root}

    def describe(self) -> str:
        return self.root


class LocalStorage(Storage):
    """The lake in a folder of this machine."""

    def __init__(self, folder: Path, make: bool = True) -> None:
        if make:
            folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        # a plain path: pyiceberg takes a file:// URI's path as it is, %-escapes and all
        self.root = str(folder)

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem()

    def location(self, location: str) -> str:
        return local_path(location)

    def path(self, location: str) -> str:
        return local_path(location)

    def same(self, location: str) -> str:
        return os.path.realpath(local_path(location))

    def _make_parent(self, location: str) -> None:
        Path(local_path(location)).parent.mkdir(parents=True, exist_ok=True)

    def read_bytes(self, location: str) -> bytes:
        return Path(local_path(location)).read_bytes()

    def write_bytes(self, location: str, data: bytes, atomic: bool = False) -> None:
        path = Path(local_path(location))
        path.parent.mkdir(parents=True, exist_ok=True)
        if not atomic:
            path.write_bytes(data)
            return
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(data)
        self.sync(str(temporary))
        temporary.rename(path)

    def sync(self, location: str) -> None:
        fd = os.open(local_path(location), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def prune(self, folder: str) -> None:
        root = Path(local_path(folder))
        if not root.is_dir():
            return
        for sub in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
            if not any(sub.iterdir()):
                sub.rmdir()


class ObjectStorage(Storage):
    """The lake under ``s3://bucket/prefix`` of an S3-compatible store."""

    local = False

    def __init__(
        self, uri: str, environ: Mapping[str, str] | None = None, staging: Path | None = None
    ) -> None:
        self.root = check_location(uri).rstrip("/")
        self.staging = staging  # where files are written before they are uploaded
        env = os.environ if environ is None else environ
        self.endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        # a region always: without one pyiceberg would ask AWS where the bucket is
        self.region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.bucket = self.root[len("s3://") :].split("/", 1)[0]

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        import pyarrow.fs as pafs

        # credentials: the AWS SDK's own chain (environment, ~/.aws/credentials, roles)
        return pafs.S3FileSystem(
            endpoint_override=self.endpoint,
            region=self.region,
            allow_bucket_creation=False,
            allow_bucket_deletion=False,
        )

    def path(self, location: str) -> str:
        if not location.startswith("s3://"):
            raise StorageError(
                f"{location} is not in the lake's bucket ({self.root})",
                "the lake's files are all under its s3:// location",
            )
        return location[len("s3://") :]

    def write(
        self, session: Session, select: str, folder: str, partition_by: str | None = None
    ) -> list[str]:
        """The engine writes the files on local disk, then each is uploaded as one object.

        Measured on an S3 server: half the time of the engine writing through the
        bucket's file system, which makes a marker object per folder and goes
        through Python for every write. A batch cut short leaves files under its
        own folder only, which the rollback removes.
        """
        if self.staging is not None:
            self.staging.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="weir-upload-", dir=self.staging) as staged:
            written = session.write_files(select, Path(staged), partition_by)
            uploaded = []
            for path in written:
                target = self.join(folder, *Path(path).relative_to(staged).parts)
                with (
                    open(path, "rb") as source,
                    self.filesystem.open_output_stream(self.path(target)) as out,
                ):
                    shutil.copyfileobj(source, out, 8 << 20)
                uploaded.append(target)
        return sorted(uploaded)

    def engine_filesystem(self) -> Any:
        return _engine_filesystem(self.filesystem)

    def catalog_properties(self) -> dict[str, str]:
        properties = {
            "warehouse": self.root,
            "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
            "s3.region": self.region,
        }
        if self.endpoint:
            properties["s3.endpoint"] = self.endpoint
        return properties

    def check(self) -> None:
        """Fail early, with what to do, when the bucket cannot be reached."""
        import pyarrow.fs as pafs

        try:
            info = self.filesystem.get_file_info(self.bucket)
        except OSError as exc:
            raise StorageError(
                f"cannot reach the lake's bucket {self.bucket}"
                f" ({'endpoint ' + self.endpoint if self.endpoint else 'AWS'}): {exc}",
                "check AWS_ENDPOINT_URL, AWS_REGION and the credentials"
                " (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials)",
            ) from None
        if info.type == pafs.FileType.NotFound:
            raise StorageError(
                f"the lake's bucket {self.bucket} does not exist"
                f"{' at ' + self.endpoint if self.endpoint else ''}",
                "create it first (weir never creates or deletes buckets)",
            )


def _engine_filesystem(filesystem: pafs.FileSystem) -> Any:
    """The bucket as an fsspec file system for DuckDB, which hands it every s3:// path.

    A query asks for each data file's size and time before reading it: two HEAD
    requests a file a query, more than the reads of a small file. A data file never
    changes once written (an Iceberg table only adds and drops whole files), so
    what the store said of one is kept.

    DuckDB's threads share an open file and read it as ``seek`` then ``read``: two
    calls another thread's ``seek`` can come between (a footer read from the wrong
    place). Each file opened to read keeps its position per thread and reads with
    a positional read, so a thread always gets the bytes it asked for.
    """
    import pyarrow.fs as pafs
    from fsspec.implementations.arrow import ArrowFSWrapper

    known: dict[str, pafs.FileInfo] = {}
    lock = threading.Lock()

    def described(path: str) -> pafs.FileInfo:
        with lock:
            info = known.get(path)
        if info is None:
            [info] = filesystem.get_file_info([path])
            if info.type == pafs.FileType.File and path.endswith(".parquet"):
                with lock:
                    if len(known) > 100_000:
                        known.clear()
                    known[path] = info
        return info

    class LakeFiles(ArrowFSWrapper):  # type: ignore[misc]
        protocol = ("s3",)

        def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
            return dict(self._make_entry(described(self._strip_protocol(path))))

        def modified(self, path: str) -> Any:
            return described(self._strip_protocol(path)).mtime

        def _open(
            self,
            path: str,
            mode: str = "rb",
            block_size: int | None = None,
            seekable: bool = True,
            **kwargs: Any,
        ) -> Any:
            stripped = self._strip_protocol(path)
            if mode == "rb":
                info = described(stripped)
                if info.type == pafs.FileType.File:
                    return _SharedReads(self.fs.open_input_file(stripped), int(info.size or 0))
            with lock:  # written again: what was known of it is not
                known.pop(stripped, None)
            return super()._open(path, mode, block_size, seekable, **kwargs)

    return LakeFiles(filesystem)


class _SharedReads:
    """A file open to read that threads share: each has its own position, reads are positional."""

    def __init__(self, native: Any, size: int) -> None:
        self._native = native  # a pyarrow random-access file (read_at is thread-safe)
        self.size = size
        self._where = threading.local()
        self.closed = False

    def tell(self) -> int:
        return int(getattr(self._where, "position", 0))

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.tell(), 2: self.size}[whence]
        self._where.position = base + offset
        return int(self._where.position)

    def read(self, length: int = -1) -> bytes:
        position = self.tell()
        wanted = self.size - position if length is None or length < 0 else length
        data = bytes(self._native.read_at(max(0, min(wanted, self.size - position)), position))
        self._where.position = position + len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._native.close()

    def __enter__(self) -> _SharedReads:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def check_location(location: str) -> str:
    """``location`` when it names a bucket weir can use; a precise error otherwise."""
    scheme = location.split("://", 1)[0] + "://" if "://" in location else ""
    if scheme not in SCHEMES:
        raise StorageError(
            f"lake location {location} uses {scheme or 'no'} scheme",
            "write s3://bucket/prefix for an S3-compatible store, or a folder path",
        )
    bucket = location[len(scheme) :].split("/", 1)[0]
    if not bucket:
        raise StorageError(
            f"lake location {location} names no bucket", "write it as s3://bucket/prefix"
        )
    return location


def storage_for(
    location: str | Path,
    environ: Mapping[str, str] | None = None,
    staging: Path | None = None,
    make: bool = True,
) -> Storage:
    """The storage of a location: ``s3://bucket/prefix`` or a local folder (made unless ``make``
    is False). ``staging``: a local folder for the files on their way to an object store.
    """
    text = str(location)
    if "://" in text and not text.startswith("file:"):
        return ObjectStorage(text, environ, staging)
    return LocalStorage(Path(local_path(text)), make)


def local_path(location: str) -> str:
    """The local path of a lake location: a plain path as it is, a ``file:`` URI decoded.

    The catalog holds plain paths; tables made before held ``file://`` URIs, whose
    path is %-escaped (a comma is ``%2C``, a space ``%20``, ``é`` ``%C3%A9``).
    """
    if not location.startswith("file:"):
        return location
    return url2pathname(urlsplit(location).path)
