"""Commands over data subjects: find, export and erase one person (``privacy:`` in weir.yml)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from weir.cli.app import Context, guarded
from weir.cli.output import OutputFormat, console, emit, errors

_FORMATS = click.Choice(["table", "json"])


@click.group()
def subject() -> None:
    """Find, export and erase one person's data everywhere weir holds it.

    \b
    Examples:
      weir subject find 42
      weir subject find --email ann@example.com
      weir subject export 42 --output subject-42.json
      weir subject erase 42 --reason "GDPR art. 17 request, ticket 1234"
    """


def _who(
    obj: Context, subject_id: str | None, email: str | None, phone: str | None, kind: str | None
) -> Any:
    project = obj.open()
    return project, project.subjects.resolve(subject_id, email=email, phone=phone, kind=kind)


_id = click.argument("subject_id", required=False, metavar="ID")
_email = click.option("--email", help="Find them by their e-mail (declared under lookup:).")
_phone = click.option("--phone", help="Find them by their phone number (declared under lookup:).")
_kind = click.option("--kind", help="The kind of subject, when weir.yml declares several.")
_fmt = click.option(
    "--format", "fmt", type=_FORMATS, default="table", show_default=True, help="How to print it."
)


@subject.command("find")
@_id
@_email
@_phone
@_kind
@_fmt
@click.pass_obj
@guarded
def find(
    obj: Context,
    subject_id: str | None,
    email: str | None,
    phone: str | None,
    kind: str | None,
    fmt: OutputFormat,
) -> None:
    """List every place a person's data lives: tables, files, snapshots, logs, audit records.

    \b
    Examples:
      weir subject find 42
      weir subject find --email ann@example.com --format json
    """
    project, who = _who(obj, subject_id, email, phone, kind)
    report = project.subjects.find(who)
    if fmt == "json":
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
        return
    title = f"{report.kind} {report.id}: {report.rows} row(s) in {len(report.places)} table(s)"
    emit([p.as_dict() for p in report.places], "table", title=title)
    for source, counts in report.collector_log.items():
        console.print(
            f"collector log {source}: {counts['records']} record(s) in {counts['segments']} segment(s)"
        )
    console.print(f"audit records naming them: {report.audit_records}")
    if report.erased:
        console.print(f"erasure {report.erased['erasure']}: {report.erased['state']}")
    for hold in report.holds:
        console.print(
            f"under legal hold {hold['hold']} since {hold['since'][:10]} ({hold['reason']}, "
            f"placed by {hold['by']}): they may not be erased while it lasts; "
            f"release it with `{hold['release']}`",
            markup=False,
        )


@subject.command("export")
@_id
@_email
@_phone
@_kind
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json"]),
    default="json",
    show_default=True,
    help="The export's format.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to FILE (readable by you only) instead of printing it.",
)
@click.pass_obj
@guarded
def export(
    obj: Context,
    subject_id: str | None,
    email: str | None,
    phone: str | None,
    kind: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Write everything weir holds about a person, every layer, in clear (an access request).

    The export is recorded in the audit log (without the person's values).

    \b
    Examples:
      weir subject export 42
      weir subject export --email ann@example.com --output ann.json
    """
    project, who = _who(obj, subject_id, email, phone, kind)
    text = json.dumps(project.subjects.export(who), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    errors.print(f"wrote {output}", highlight=False)


@subject.command("erase")
@_id
@_email
@_phone
@_kind
@click.option(
    "--reason", required=True, help="Why (the request it answers); kept in the audit log."
)
@_fmt
@click.pass_obj
@guarded
def erase(
    obj: Context,
    subject_id: str | None,
    email: str | None,
    phone: str | None,
    kind: str | None,
    reason: str,
    fmt: OutputFormat,
) -> None:
    """Erase a person everywhere and print the erasure certificate.

    With privacy.encrypt_pii their data key is destroyed first, so what was
    sealed under it is unreadable everywhere at once. Their identifier becomes
    a stable pseudonym and their personal data is removed from every layer, older snapshot, the collector's log and the
    metadata; a scan of every file under the state folder then looks for
    their values. Interrupted, it finishes the job when run again.

    \b
    Example:
      weir subject erase 42 --reason "GDPR art. 17 request, ticket 1234"
    """
    project, who = _who(obj, subject_id, email, phone, kind)
    certificate = project.subjects.erase(who, reason).as_dict()
    if fmt == "json":
        sys.stdout.write(json.dumps(certificate, indent=2) + "\n")
    else:
        _print_certificate(certificate)
    if not certificate["verified"]:
        sys.exit(1)


def _print_certificate(body: dict[str, Any]) -> None:
    emit(
        [
            {
                k: t.get(k)
                for k in ("table", "rows", "files_rewritten", "snapshots_expired", "files_removed")
            }
            for t in body["tables"]
        ],
        "table",
        title=f"Erasure {body['erasure']} of a {body['subject']} ({body['reason']})",
    )
    for log in body["collector_log"]:
        console.print(
            f"collector log {log['source']}: {log['segments_deleted']} segment(s) deleted,"
            f" {log['pending']} record(s) not yet flushed"
        )
    if body.get("key_destroyed"):
        console.print("data key destroyed: every sealed value of theirs is unreadable everywhere")
    metadata = body["metadata"]
    literals = metadata.get("audit_literals_erased")
    console.print(
        "audit literals erased: "
        + (str(literals) if metadata.get("audit_literals_supported") else "not supported here")
    )
    scan = body["verification"]
    console.print(
        f"verification: {scan['files']} file(s), {scan['bytes']} bytes under {scan['folder']},"
        f" {len(scan['values'])} value(s) looked for: "
        + ("no copy found" if scan["clean"] else f"{len(scan['hits'])} hit(s)")
    )
    for hit in scan["hits"]:
        console.print(f"  {hit['file']}: {hit['value']} ({hit['found_in']})")
    if body.get("already_erased"):
        console.print("(this subject was already erased: the certificate of that erasure)")
    console.print("certified" if body["verified"] else "NOT verified: run the command again")
