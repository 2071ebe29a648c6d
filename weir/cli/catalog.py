"""Commands over the catalog: the scan for personal data no classification declares."""

from __future__ import annotations

import click

from weir.cli.app import Context, format_option, guarded
from weir.cli.output import OutputFormat, console, emit


@click.group()
def catalog() -> None:
    """The catalog: scan the lake for personal or card data in unclassified columns.

    \b
    Examples:
      weir catalog scan
      weir catalog findings --all
    """


@catalog.command("scan")
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    help="Only this table (layer.name); repeatable. Default: every table.",
)
@click.option(
    "--sample",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Rows sampled per table.",
)
@format_option
@click.pass_obj
@guarded
def catalog_scan(obj: Context, datasets: tuple[str, ...], sample: int, fmt: OutputFormat) -> None:
    """Sample every table and flag columns holding personal or card data they do not declare.

    Looks for e-mail addresses, phone numbers, card numbers (Luhn-checked),
    IBANs (mod-97 checked), IP addresses and street addresses. Only counts are
    kept (matches in the sample, the sample's size, a confidence), never a
    value. The findings show in the catalog and can raise an alert (kind
    pii_found).

    \b
    Examples:
      weir catalog scan
      weir catalog scan --dataset raw.crm_interactions --sample 5000
    """
    result = obj.open().catalog.scan(list(datasets) or None, sample)
    flagged = [f.as_row() for f in result.flagged]
    if fmt == "json":
        emit(flagged, fmt)
        return
    console.print(
        f"scanned {len(result.datasets)} table(s), {result.rows:,} sampled row(s): "
        f"{len(result.findings)} finding(s), {len(flagged)} in columns not classified for them"
    )
    if flagged:
        emit(flagged, fmt, title="unclassified personal data")


@catalog.command("findings")
@click.option(
    "--all", "all_kinds", is_flag=True, help="Also what a column's classification declares."
)
@format_option
@click.pass_obj
@guarded
def catalog_findings(obj: Context, all_kinds: bool, fmt: OutputFormat) -> None:
    """What the latest scan found: by default only the columns not classified for it.

    \b
    Examples:
      weir catalog findings
      weir catalog findings --all --format json
    """
    found = obj.open().catalog.findings(all_kinds=all_kinds)
    if fmt == "table" and not found:
        console.print("no finding: run `weir catalog scan`" if not all_kinds else "no finding")
        return
    emit([f.as_row() for f in found], fmt, title="personal data found by the scan")
