"""Commands over the key store: what it holds, and rotating its master key."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit


@click.group()
def keystore() -> None:
    """The project's key store: its keys, sealed under a master key kept outside the project.

    The master key comes from WEIR_MASTER_KEY (64 hex characters or base64 of
    32 bytes), WEIR_MASTER_KEY_FILE (a file outside the project), or else
    ~/.config/weir/master.key, made on a new project's first command.

    \b
    Examples:
      weir keystore list
      weir keystore rotate-master --new-key-file ~/secrets/weir-2027.key
    """


@keystore.command("list")
@click.option("--kind", help="Only keys of this kind: mask, card, audit or subject.")
@format_option
@click.pass_obj
@guarded
def keystore_list(obj: Context, kind: str | None, fmt: OutputFormat) -> None:
    """List the keys by name, kind and creation time (never a value), and the master key id.

    \b
    Example:
      weir keystore list --kind audit --format json
    """
    info = obj.open().keyring.info(kind)
    rows = [
        {
            "name": key.name,
            "kind": key.kind,
            "created": datetime.fromtimestamp(key.created_at).isoformat(timespec="seconds"),
            "meta": ", ".join(f"{k}={v}" for k, v in sorted(key.meta.items())),
        }
        for key in info.keys
    ]
    rotated = (
        datetime.fromtimestamp(info.rotated_at).isoformat(timespec="seconds")
        if info.rotated_at
        else "never rotated"
    )
    emit(rows, fmt, title=f"Key store (master key {info.master_key_id}, {rotated})")


@keystore.command("rotate-master")
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The new master key's file, outside the project; a new random key is written there "
    "if it does not exist. Without it: WEIR_NEW_MASTER_KEY or WEIR_NEW_MASTER_KEY_FILE.",
)
@click.pass_obj
@guarded
def keystore_rotate_master(obj: Context, new_key_file: Path | None) -> None:
    """Re-seal every key under a new master key, in one transaction (audited).

    The keys themselves do not change: masks, card tokens and the audit log read
    the same. Afterwards the project opens with the new key only: set
    WEIR_MASTER_KEY_FILE to the new file (keep the old one until you have).

    \b
    Example:
      weir keystore rotate-master --new-key-file ~/secrets/weir-2027.key
      export WEIR_MASTER_KEY_FILE=~/secrets/weir-2027.key
    """
    rotation = obj.open().keyring.rotate_master(new_key_file)
    console.print(
        f"re-sealed {rotation.keys} keys: master key {rotation.old_key_id} → "
        f"{rotation.new_key_id}; open the project with the new key from now on",
        highlight=False,
    )
