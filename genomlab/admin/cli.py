"""``genomlab db status`` and ``genomlab db upgrade``: schema revisions of the home's stores."""

from __future__ import annotations

import click

from genomlab.cli_context import CliContext, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option


@click.group("db")
def db() -> None:
    """Schema revisions of the institution stores (Alembic migrations)."""


@db.command("status")
@format_option()
@pass_cli
def db_status(cli: CliContext, output_format: OutputFormat) -> None:
    """Print each institution's store revision and the newest one this release knows."""
    from genomlab.institution import existing_institutions
    from genomlab.migrations import get_head_revision, get_store_revision

    head = get_head_revision()
    rows = []
    for institution in existing_institutions(cli.config):
        revision = get_store_revision(institution.store_url)
        rows.append({"institution": institution.name, "revision": revision or "empty",
                     "state": "up to date" if revision == head else f"needs upgrade to {head}"})
    echo_rows(rows, [("institution", "Institution"), ("revision", "Store revision"),
                     ("state", "State")], output_format)


@db.command("upgrade")
@pass_cli
def db_upgrade(cli: CliContext) -> None:
    """Upgrade every institution's store in the home to this release's schema, in place.

    Each store upgrades in one transaction that holds the ledger's write lock; events are never
    rewritten, so ledgers verify before and after. Safe to run again.
    """
    from genomlab.migrations import upgrade_home

    for upgrade in upgrade_home(cli.config):
        click.echo(f"{upgrade.institution}\t{upgrade.before or 'empty'} -> {upgrade.after}")


commands: list[click.Command] = [db]
