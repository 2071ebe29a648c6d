"""The master key: 32 bytes kept outside the project, which seals the project's key store.

Where it comes from, in order: ``WEIR_MASTER_KEY`` (the key itself, 64 hex
characters or base64), ``WEIR_MASTER_KEY_FILE`` (a file outside the project
folder), else the user's own ``$XDG_CONFIG_HOME/weir/master.key`` (by default
``~/.config/weir/master.key``), created readable by its owner only and only for
a project that has no key store yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from weir.errors import ProjectError

MASTER_KEY = "WEIR_MASTER_KEY"
MASTER_KEY_FILE = "WEIR_MASTER_KEY_FILE"
NEW_MASTER_KEY = "WEIR_NEW_MASTER_KEY"  # the key a rotation moves to
NEW_MASTER_KEY_FILE = "WEIR_NEW_MASTER_KEY_FILE"
KEY_BYTES = 32
MAKE_KEY = "openssl rand -base64 32"


class MasterKeyError(ProjectError):
    """The master key is missing, malformed, in the wrong place or not the one the store needs."""

    code = "master_key"


@dataclass(frozen=True)
class MasterKey:
    """A master key and where it came from (said in messages; the key never is)."""

    secret: bytes = field(repr=False)
    source: str

    @property
    def key_id(self) -> str:
        """A name for the key that reveals nothing of it: a keyed digest, 16 hex characters."""
        return hmac.new(self.secret, b"weir master key id", hashlib.sha256).hexdigest()[:16]


# -- the master key -----------------------------------------------------------------------------
def parse_master_key(data: bytes, where: str) -> bytes:
    """32 bytes from hex, base64 or the raw bytes; a clear error naming ``where`` otherwise."""
    text = data.strip()
    try:
        if len(text) == 2 * KEY_BYTES:
            return bytes.fromhex(text.decode("ascii"))
        if text and len(data) != KEY_BYTES:
            decoded = base64.b64decode(text.replace(b"-", b"+").replace(b"_", b"/"), validate=True)
            if len(decoded) == KEY_BYTES:
                return decoded
        elif len(data) == KEY_BYTES:
            return data
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise MasterKeyError(
        f"{where} does not hold a master key",
        "a master key is 32 random bytes written as 64 hex characters or in base64 "
        f"(44 characters): make one with `{MAKE_KEY}`",
    )


def default_key_file(environ: Mapping[str, str]) -> Path:
    """The user's own master key file, used when no variable names one."""
    config = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(config).expanduser() / "weir" / "master.key"


def outside(path: Path, variable: str, project: Sequence[Path]) -> Path:
    """``path`` resolved, or a clear error if it lies inside one of the project's folders."""
    resolved = path.expanduser().resolve()
    for folder in project:
        if resolved.is_relative_to(folder.resolve()):
            raise MasterKeyError(
                f"the master key file {path} ({variable}) is inside the project folder {folder}",
                "keep it outside the project, where a copy, backup or commit of the project "
                "does not take it along: move it and set the variable to its new path",
            )
    return resolved


def read_key_file(path: Path, variable: str, project: Sequence[Path]) -> MasterKey:
    """The master key in ``path``, which must exist and lie outside the project's folders."""
    path = path.expanduser()
    resolved = outside(path, variable, project)
    try:
        data = resolved.read_bytes()
    except FileNotFoundError:
        raise MasterKeyError(
            f"the master key file {path} ({variable}) does not exist",
            f"set {variable} to the file holding the project's master key, "
            f"or make a new one with `{MAKE_KEY} > {path}` for a new project",
        ) from None
    except OSError as exc:
        raise MasterKeyError(
            f"cannot read the master key file {path} ({variable}): {exc.strerror}",
            "make it readable by the user weir runs as (and by nobody else: chmod 600)",
        ) from exc
    return MasterKey(parse_master_key(data, f"the master key file {path}"), f"the file {path}")


def create_key_file(path: Path) -> MasterKey:
    """A new random master key written to ``path`` (readable by its owner only); one there stays."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use that one
        return read_key_file(path, "the key file", ())
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return read_key_file(path, "the key file", ())


def find_master_key(
    environ: Mapping[str, str], project: Sequence[Path], create_default: bool
) -> MasterKey | None:
    """The master key the environment gives; the default file, made if ``create_default``."""
    value, path = environ.get(MASTER_KEY), environ.get(MASTER_KEY_FILE)
    if value and path:
        raise MasterKeyError(
            f"both {MASTER_KEY} and {MASTER_KEY_FILE} are set", "unset one of them"
        )
    if value:
        return MasterKey(parse_master_key(value.encode("utf-8"), MASTER_KEY), MASTER_KEY)
    if path:
        return read_key_file(Path(path), MASTER_KEY_FILE, project)
    default = default_key_file(environ)
    if default.exists():
        return read_key_file(default, "the default master key file", project)
    if not create_default:
        return None
    outside(default, "the default master key file", project)
    return create_key_file(default)


def new_master_key(
    path: Path | None, environ: Mapping[str, str], project: Sequence[Path]
) -> MasterKey:
    """The key a rotation moves to: ``path`` (a new random key written there if it is missing),
    else ``WEIR_NEW_MASTER_KEY`` or ``WEIR_NEW_MASTER_KEY_FILE``."""
    if path is not None:
        outside(path, "--new-key-file", project)
        if path.expanduser().exists():
            return read_key_file(path, "--new-key-file", project)
        return create_key_file(path)
    value, named = environ.get(NEW_MASTER_KEY), environ.get(NEW_MASTER_KEY_FILE)
    if value and not named:
        return MasterKey(parse_master_key(value.encode("utf-8"), NEW_MASTER_KEY), NEW_MASTER_KEY)
    if named and not value:
        return read_key_file(Path(named), NEW_MASTER_KEY_FILE, project)
    raise MasterKeyError(
        "no new master key was given"
        if not value
        else f"both {NEW_MASTER_KEY} and {NEW_MASTER_KEY_FILE} are set",
        f"name a file outside the project with --new-key-file (a new key is written there if "
        f"it does not exist), or set one of {NEW_MASTER_KEY}, {NEW_MASTER_KEY_FILE}",
    )


# -- the store ----------------------------------------------------------------------------------
