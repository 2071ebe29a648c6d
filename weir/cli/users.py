"""``weir user``: the web app's sign-in for the users of ``weir.yml``."""

from __future__ import annotations

import sys

import click

from weir.cli.app import Context, guarded
from weir.cli.output import console


@click.group()
def user() -> None:
    """Set the passwords the users of weir.yml sign in to the web app with.

    \b
    Examples:
      weir user set-password sam
      echo "$PASSWORD" | weir user set-password sam --password-stdin
    """


@user.command("set-password")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (for scripts)."
)
@click.pass_obj
@guarded
def set_password(obj: Context, name: str, password_stdin: bool) -> None:
    """Set the web sign-in password of NAME (a user of weir.yml); asks for it twice.

    Only an argon2 hash of it is kept, in the metadata database.

    \b
    Example:
      weir user set-password sam
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"password for {name}", hide_input=True, confirmation_prompt=True, err=True
        )
    obj.open().signin.set_password(name, password)
    console.print(f"{name} can sign in to the web app with this password")
