"""``genomlab platform users``: who works on the platform and in which roles.

User and role administration is the platform's (BfArM holds the roles; services and dashboards
ask it), and it serves every workflow that checks a role: application review, the committee,
decisions, output checking in the airlock. It therefore has its own group instead of living in
``review``, which is the handlers' and the committee's work on applications.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from genomlab.cli_context import CliContext, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option
from genomlab.platform.applications.models import Role
from genomlab.platform.applications_cli import (
    acting_user_option,
    add_workflow_command,
    get_acting_user,
    get_workflow,
    parse_day,
)

user_id_argument = click.argument("user_id")
role_argument = click.argument("role", type=click.Choice([role.value for role in Role]))


@click.group("users")
def users() -> None:
    """Platform users and their roles (admin), and a user's entitlements."""


@users.command("bootstrap-admin")
@click.option("--institution", required=True)
@click.option("--name", default="")
@acting_user_option
@pass_cli
def users_bootstrap_admin(cli: CliContext, institution: str, name: str,
                          user: str | None) -> None:
    """Make me the first platform admin (refused once an admin exists)."""
    actor = get_acting_user(cli, user)
    get_workflow(cli).bootstrap_admin(actor, institution=institution, name=name)
    click.echo(f"{actor} is admin")


@users.command("add")
@click.argument("user_id")
@click.option("--institution", required=True)
@click.option("--name", default="")
@acting_user_option
@pass_cli
def users_add(cli: CliContext, user_id: str, institution: str, name: str,
              user: str | None) -> None:
    """Register USER_ID as a user of an institution (admin)."""
    get_workflow(cli).register_user(get_acting_user(cli, user), user_id,
                                    institution=institution, name=name)
    click.echo(f"{user_id} registered ({institution})")


for _name, _method, _outcome, _doc in (
        ("grant", "grant_role", "is", "Give USER_ID a platform ROLE (admin)."),
        ("withdraw", "withdraw_role", "is no longer",
         "Take a platform ROLE away from USER_ID (admin).")):
    add_workflow_command(users, _name, _method, (user_id_argument, role_argument),
                         f"{{user_id}} {_outcome} {{role}}", _doc)


@users.command("entitlements")
@click.argument("user_id")
@click.option("--at", "at_text", default=None, help="ISO date to evaluate (default: now).")
@format_option()
@pass_cli
def users_entitlements(cli: CliContext, user_id: str, at_text: str | None,
                       output_format: OutputFormat) -> None:
    """List USER_ID's active entitlements (approved projects they may use, until when)."""
    from genomlab.platform.applications import get_active_entitlements

    day = parse_day(at_text, "--at")
    at = datetime.combine(day, datetime.min.time(), UTC) if day else None
    found = get_active_entitlements(cli.config, user_id, at)
    rows = [{"project_id": i.project_id, "application_id": i.application_id,
             "valid_from": i.valid_from, "valid_until": i.valid_until} for i in found]
    echo_rows(rows, [("project_id", "Project"), ("application_id", "Application"),
                     ("valid_from", "Valid from"), ("valid_until", "Valid until")],
              output_format, footer=f"{len(found)} active")
