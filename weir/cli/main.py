"""The ``weir`` command: a thin shell over the library, one call per command.

The commands live beside this file by what they work on; this module only
puts them together.
"""

from __future__ import annotations

from weir.cli import (
    alerts,
    catalog,
    data,
    demo,
    governance,
    keystore,
    lifecycle,
    migrate,
    models,
    privacy,
    quality,
    runs,
    serve,
    sources,
    streams,
    users,
)
from weir.cli.app import cli

for command in (
    data.init,
    data.generate,
    data.ingest,
    data.sql,
    data.status,
    data.snapshots,
    data.quarantine,
    demo.demo,
    models.run,
    models.plan,
    models.lineage,
    models.kpi,
    serve.serve,
    serve.collect,
    governance.token,
    governance.audit,
    users.user,
    streams.keys,
    keystore.keystore,
    streams.consume,
    quality.quality,
    quality.health,
    quality.flags,
    alerts.alerts,
    runs.runs,
    runs.backfill,
    runs.schedule,
    runs.worker,
    privacy.subject,
    lifecycle.lifecycle,
    sources.sources,
    catalog.catalog,
    migrate.migrate,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="weir")


if __name__ == "__main__":
    main()
