"""``genomlab platform users``: who works on the platform and in which roles.

User and role administration is the platform's (BfArM holds the roles; services and dashboards
ask it), and it serves every workflow that checks a role: application review, the committee,
decisions, output checking in the airlock. It therefore has its own group instead of living in
``review``, which is the handlers' and the committee's work on applications.

People are identified by the credential the platform issued them, never by a name: ``add``,
``grant`` and ``withdraw`` act as the verified person of ``--credentials FILE`` (an admin).
``bootstrap-admin``, ``issue-credential``, ``revoke-credential`` and ``withdraw-user`` are the
operator's, whose credential is access to the platform's folder and store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from genomlab.cli_context import CliContext, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option
from genomlab.platform.applications.models import Role
from genomlab.platform.applications_cli import (
    act,
    acting_person_option,
    add_workflow_command,
    get_workflow,
    parse_day,
)

user_id_argument = click.argument("user_id")
role_argument = click.argument("role", type=click.Choice([role.value for role in Role]))


@click.group("users")
def users() -> None:
    """Platform users, their roles and credentials, and a user's entitlements."""


@users.command("bootstrap-admin")
@click.argument("user_id")
@click.option("--institution", required=True)
@click.option("--name", default="")
@pass_cli
def users_bootstrap_admin(cli: CliContext, user_id: str, institution: str, name: str) -> None:
    """Make USER_ID the first platform admin (operator; refused once an admin exists).

    The operator's credential is access to the platform's folder and store; then
    ``users issue-credential USER_ID`` gives the admin their own credential.
    """
    get_workflow(cli).bootstrap_admin(user_id, institution=institution, name=name)
    click.echo(f"{user_id} is admin")


@users.command("add")
@click.argument("user_id")
@click.option("--institution", required=True)
@click.option("--name", default="")
@acting_person_option
@pass_cli
def users_add(cli: CliContext, user_id: str, institution: str, name: str,
              credentials: Path | None) -> None:
    """Register USER_ID as a user of an institution (admin)."""
    act(cli, credentials, "users.add", None,
        {"user_id": user_id, "institution": institution, "name": name})
    click.echo(f"{user_id} registered ({institution})")


for _name, _action, _outcome, _doc in (
        ("grant", "users.grant", "is", "Give USER_ID a platform ROLE (admin)."),
        ("withdraw", "users.withdraw", "is no longer",
         "Take a platform ROLE away from USER_ID (admin).")):
    add_workflow_command(users, _name, _action, "user_id", (user_id_argument, role_argument),
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


# --- people's credentials (operator commands: the operator's credential is the platform's
# folder and store, which the OS lets only the platform's account open) ----------------------


@users.command("issue-credential")
@click.argument("user_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Credentials file to write (0600); default "
                   "<home>/people/USER_ID/credentials.json. In a separated deployment: the "
                   "person's ~/.genomlab/credentials.json.")
@click.option("--replace", is_flag=True, help="Revoke the user's active credential first.")
@pass_cli
def users_issue_credential(cli: CliContext, user_id: str, out: Path | None,
                           replace: bool) -> None:
    """Issue USER_ID's person credential (operator): an OAuth client whose tokens name them."""
    from genomlab.platform.person_credentials import (
        PersonCredentials,
        get_embedded_credentials_path,
        get_operator_actor,
        issue_person_credential,
        save_person_credentials,
    )

    path = out or get_embedded_credentials_path(cli.config, user_id)
    issued = issue_person_credential(cli.config, user_id, actor=get_operator_actor(),
                                     replace=replace)
    save_person_credentials(path, PersonCredentials(
        issued.client_id, issued.client_secret, user_id, **_platform_endpoint(cli)))
    click.echo(f"{user_id}: credential {issued.client_id} written to {path} (0600)")


def _platform_endpoint(cli: CliContext) -> dict[str, str | None]:
    """The running platform service's token URL, base URL and CA certificate, if one runs
    (else the file has none and the person's CLI finds the service by its record)."""
    from genomlab.clients.oauth import ServiceUnavailable, get_service_endpoint

    try:
        endpoint = get_service_endpoint(cli.config, "platform")
        ca_pem = endpoint.ca.read_text() if endpoint.ca else None
    except (ServiceUnavailable, OSError):
        return {}
    url = endpoint.url.rstrip("/")
    return {"token_url": url + "/oauth2/token", "platform_url": url, "ca_pem": ca_pem}


@users.command("revoke-credential")
@click.argument("client_id")
@click.option("--reason", required=True, help="Why (recorded).")
@pass_cli
def users_revoke_credential(cli: CliContext, client_id: str, reason: str) -> None:
    """Revoke a person credential (operator): its tokens stop working at once."""
    from genomlab.platform.person_credentials import get_operator_actor, revoke_person_credential

    user_id = revoke_person_credential(cli.config, client_id, actor=get_operator_actor(),
                                       reason=reason)
    click.echo(f"{client_id} of {user_id} revoked")


@users.command("withdraw-user")
@click.argument("user_id")
@click.option("--reason", required=True, help="Why (recorded).")
@pass_cli
def users_withdraw_user(cli: CliContext, user_id: str, reason: str) -> None:
    """Withdraw USER_ID from the platform (operator): credentials revoked, tokens stop."""
    from genomlab.platform.person_credentials import get_operator_actor, withdraw_user

    withdraw_user(cli.config, user_id, actor=get_operator_actor(), reason=reason)
    click.echo(f"{user_id} withdrawn")


@users.command("credentials")
@format_option()
@pass_cli
def users_credentials(cli: CliContext, output_format: OutputFormat) -> None:
    """List the person credentials the platform issued (never their secrets)."""
    from genomlab.platform.person_credentials import list_person_credentials

    rows = list_person_credentials(cli.config)
    echo_rows(rows, [("user_id", "User"), ("client_id", "Credential"), ("status", "Status"),
                     ("issued_at", "Issued"), ("reason", "Reason")], output_format,
              footer=f"{len(rows)} credentials")
