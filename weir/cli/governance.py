"""Commands over access: API tokens and the audit log."""

from __future__ import annotations

import sys

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit, errors


@click.group()
def token() -> None:
    """Create, list and revoke the API's bearer tokens.

    \b
    Examples:
      weir token create --user sam --role sales --expires 30d
      weir token list
      weir token revoke 3f9a2c1b7d04
    """


@token.command("create")
@click.option("--user", required=True, help="The user (from weir.yml) the token acts for.")
@click.option("--role", help="The role it acts as (default: the user's first role).")
@click.option("--expires", help="Lifetime: 30d, 12h, 2w … (default: until revoked).")
@click.option("--note", help="What the token is for (shown by `weir token list`).")
@click.pass_obj
@guarded
def token_create(
    obj: Context, user: str, role: str | None, expires: str | None, note: str | None
) -> None:
    """Create a token for USER acting as ROLE and print it, once.

    Only a hash of the token is stored: copy it now.

    \b
    Example:
      weir token create --user sam --role sales --expires 30d --note "sales dashboard"
    """
    record, secret = obj.open().access.tokens().create(user, role, expires, note)
    sys.stdout.write(secret + "\n")
    expiry = record.expires_at.isoformat(timespec="minutes") if record.expires_at else "never"
    errors.print(
        f"token {record.token_id} for {record.user} as {record.role}, expires {expiry}: "
        "it is shown only this once",
        highlight=False,
    )


@token.command("list")
@format_option
@click.pass_obj
@guarded
def token_list(obj: Context, fmt: OutputFormat) -> None:
    """List every token: its id, user, role and whether it is active, expired or revoked.

    \b
    Example:
      weir token list --format json
    """
    emit([t.as_row() for t in obj.open().access.tokens().list()], fmt, title="Tokens")


@token.command("revoke")
@click.argument("token_id")
@click.pass_obj
@guarded
def token_revoke(obj: Context, token_id: str) -> None:
    """Revoke the token TOKEN_ID (its id, or the whole token): the API refuses it from now on.

    \b
    Example:
      weir token revoke 3f9a2c1b7d04
    """
    record = obj.open().access.tokens().revoke(token_id)
    console.print(f"token {record.token_id} of {record.user} ({record.role}) is revoked")


@click.group()
def audit() -> None:
    """Read and check the tamper-evident audit log.

    \b
    Examples:
      weir audit verify
      weir audit list --kind query --user ana --limit 20
    """


@audit.command("verify")
@click.pass_obj
@guarded
def audit_verify(obj: Context) -> None:
    """Check the hash chain of every record; exit 1 naming the first one altered or removed.

    \b
    Example:
      weir audit verify
    """
    result = obj.open().audit.verify()
    if not result.ok:
        errors.print(f"[bold red]error:[/] {result}", highlight=False, soft_wrap=True)
        sys.exit(1)
    console.print(str(result), highlight=False)


@audit.command("list")
@click.option("--kind", help="Only this kind: query, kpi, token.create, run, config.change …")
@click.option("--user", help="Only this user's records.")
@click.option("--denied", is_flag=True, help="Only what was refused.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@format_option
@click.pass_obj
@guarded
def audit_list(
    obj: Context, kind: str | None, user: str | None, denied: bool, limit: int, fmt: OutputFormat
) -> None:
    """The newest audit records first.

    \b
    Examples:
      weir audit list
      weir audit list --kind query --denied --format json
    """
    records = obj.open().audit.records(kind, user, False if denied else None, limit=limit)
    rows = []
    for record in records:
        row = record.as_row()
        row.pop("detail")
        row.pop("prev_hash")
        row["hash"] = row["hash"][:12]
        rows.append(row)
    emit(rows, fmt, title="Audit log (newest first)")
