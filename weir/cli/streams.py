"""Commands over live events: the collector's write keys."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit, errors


@click.group()
def keys() -> None:
    """Create, list and revoke the write keys trackers post events with.

    \b
    Examples:
      weir keys create --source web_traffic --note "shop website"
      weir keys list
      weir keys revoke 3f9a2c1b
    Then post events with the key:
      curl -H "Authorization: Bearer wk_..." -d '{"session_id": "s1", ...}' \\
           http://127.0.0.1:8080/collect/v1/web_traffic
    """


@keys.command("create")
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    help="A source the key may post to (repeat for more).",
)
@click.option("--note", default="", help="What the key is for (shown by `weir keys list`).")
@click.pass_obj
@guarded
def keys_create(obj: Context, sources: tuple[str, ...], note: str) -> None:
    """Create a write key for the given sources and print it, once.

    Only a hash of the key is stored: copy it now.

    \b
    Example:
      weir keys create --source web_traffic --source crm_interactions --note "shop website"
    """
    project = obj.open()
    created = project.write_keys().create(list(sources), note, allowed=project.collector().sources)
    sys.stdout.write(created.key + "\n")
    errors.print(
        f"write key {created.info.key_id} for {', '.join(created.info.sources)}: "
        "it is shown only this once",
        highlight=False,
    )


@keys.command("list")
@format_option
@click.pass_obj
@guarded
def keys_list(obj: Context, fmt: OutputFormat) -> None:
    """List every write key: its id, sources, note and whether it is revoked.

    \b
    Example:
      weir keys list --format json
    """
    rows = [
        {
            "key_id": k.key_id,
            "sources": ", ".join(k.sources),
            "note": k.note,
            "created": datetime.fromtimestamp(k.created_at).isoformat(timespec="seconds"),
            "status": "active" if k.active else "revoked",
        }
        for k in obj.open().write_keys().list_keys()
    ]
    emit(rows, fmt, title="Write keys")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_obj
@guarded
def keys_revoke(obj: Context, key_id: str) -> None:
    """Revoke the write key KEY_ID (its id, or the whole key): posts with it are refused.

    A running server stops accepting it within a few seconds.

    \b
    Example:
      weir keys revoke 3f9a2c1b
    """
    revoked = obj.open().write_keys().revoke(key_id)
    console.print(f"write key {revoked.key_id} ({', '.join(revoked.sources)}) is revoked")
