"""``genomlab kdk``: a clinical data node's records.

``genomlab kdk submit`` needs the trust centre, which this package must not import; it is
added to this group by :mod:`genomlab.intake.cli` (the composition root).
"""

from __future__ import annotations

import click

from genomlab.cli_context import CliContext, node_option, pass_cli, require_node


@click.group()
def kdk() -> None:
    """Clinical data node (KDK): intake of clinical records, record states."""


@kdk.command("status")
@node_option("KDK id, e.g. KDKTUE005.")
@pass_cli
def status_cmd(cli: CliContext, node_id: str) -> None:
    """List the node's records with state and, for errors, the field."""
    from genomlab.clinical_node.intake import ClinicalNode

    rows = ClinicalNode(cli.config, require_node(cli, "kdk", node_id)).get_records()
    for row in rows:
        failure = f"  {row['failure_field']}" if row["state"] == "error" else ""
        click.echo(f"{row['record_id']:<24} {row['state']:<12}{failure}")
    click.echo(f"{len(rows)} records")


commands: list[click.Command] = [kdk]
