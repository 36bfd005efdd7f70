"""``genomlab airlock``: check outputs, ask for their release, review, and list the queue.

When the airlock service runs (``genomlab serve airlock``, its record in ``<home>/services/``)
``request``, ``review`` and ``release`` go to it with the person's credentials
(``$GENOMLAB_CREDENTIALS`` or ``~/.genomlab/credentials.json``): who acts is the credentials'
person. Otherwise (in-process) the acting person is the same verified subject of the credentials
file, checked against the platform (:func:`genomlab.cli_context.get_acting_person`); no name in
the environment counts (issue 15).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from genomlab.cli_context import CliContext, credentials_option, get_acting_person, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option
from genomlab.config import GenomlabConfig
from genomlab.home import resolve_in_home

if TYPE_CHECKING:
    from genomlab.clients.airlock import AirlockClient


def _service_client(config: GenomlabConfig, credentials: Path | None) -> AirlockClient | None:
    """The airlock service's client with the person's credentials, if the service runs."""
    from genomlab.clients.airlock import AirlockClient
    from genomlab.clients.data_service import load_person_tokens, service_running

    if not service_running(config, "airlock"):
        return None
    return AirlockClient(config, load_person_tokens(config, credentials))


@click.group()
def airlock() -> None:
    """Output checking: disclosure checks and two-reviewer release of workspace outputs."""


@airlock.command("check")
@click.argument("project")
@click.argument("files", nargs=-1, required=True)
@credentials_option()
@pass_cli
def check(cli: CliContext, project: str, files: tuple[str, ...],
          credentials: Path | None) -> None:
    """Run the disclosure checks on output FILES of PROJECT before asking (nothing is recorded).

    FILES are relative to the workspace's outputs/ folder; you must be on PROJECT's team.
    Exits 1 if any check fails.
    """
    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock.requests import check_files, get_outputs_dir
    from genomlab.errors import GenomlabError, PermissionDenied

    person = get_acting_person(cli, credentials)
    if not PlatformDirectory(cli.config).is_team_member(person, project):
        raise PermissionDenied(f"{person} is not an entitled member of project {project}")
    checks = check_files(cli.config, project, get_outputs_dir(cli.config, project), list(files))
    for file_check in checks.files:
        click.echo(f"{file_check.path}: {file_check.status}")
        for result in file_check.results:
            for reason in result.reasons if result.status != "pass" else []:
                click.echo(f"    {result.check} {result.status}: {reason}")
    click.echo(f"differencing: {checks.differencing.status}")
    for reason in checks.differencing.reasons if checks.differencing.status != "pass" else []:
        click.echo(f"    {reason}")
    if checks.status == "fail":
        raise GenomlabError(f"{project}: outputs fail the disclosure checks (see above)")


@airlock.command("request")
@click.argument("project")
@click.argument("files", nargs=-1, required=True)
@click.option("--justification", default="", help="Why failing outputs should still go out.")
@credentials_option()
@pass_cli
def request(cli: CliContext, project: str, files: tuple[str, ...], justification: str,
            credentials: Path | None) -> None:
    """Ask to release output FILES of PROJECT (relative to the workspace's outputs/)."""
    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock.requests import get_request_detail, submit_request

    client = _service_client(cli.config, credentials)
    if client is not None:
        request_id = client.submit_request(project, list(files), justification=justification)
        checks = client.get_request_detail(request_id)["request"]["check_status"]
        click.echo(f"{request_id}: submitted, checks {checks}; waiting for two reviewers")
        return
    request_id = submit_request(cli.config, PlatformDirectory(cli.config),
                                get_acting_person(cli, credentials), project, list(files),
                                justification=justification)
    detail = get_request_detail(cli.config, request_id)
    click.echo(f"{request_id}: submitted, checks {detail.request['check_status']}; "
               "waiting for two reviewers")


@airlock.command("review")
@click.argument("request_id")
@click.argument("decision", type=click.Choice(["approve", "reject", "changes"]))
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
@credentials_option()
@pass_cli
def review(cli: CliContext, request_id: str, decision: str, reason: str,
           credentials: Path | None) -> None:
    """Approve, reject or ask for changes to every file of REQUEST_ID you have not decided yet,
    as an output checker (never the author); the reason is the comment to the author."""
    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock.events import Decision
    from genomlab.airlock.requests import record_review

    client = _service_client(cli.config, credentials)
    if client is not None:
        click.echo(f"{request_id}: {client.record_review(request_id, decision, reason)}")
        return
    status = record_review(cli.config, PlatformDirectory(cli.config),
                           get_acting_person(cli, credentials), request_id,
                           cast(Decision, decision), reason)
    click.echo(f"{request_id}: {status}")


@airlock.command("release")
@click.argument("request_id")
@credentials_option()
@pass_cli
def release(cli: CliContext, request_id: str, credentials: Path | None) -> None:
    """Copy an approved request out again if its release was interrupted (idempotent)."""
    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock.requests import release_request

    client = _service_client(cli.config, credentials)
    if client is not None:
        files = client.release_request(request_id)
    else:
        files = release_request(cli.config, PlatformDirectory(cli.config), request_id,
                                actor=get_acting_person(cli, credentials))
    for f in files:
        click.echo(f"{resolve_in_home(cli.config.home, f['released_path'])}  "
                   f"sha256 {f['sha256']}")
    if not files:
        click.echo(f"{request_id}: already released")


@airlock.command("withdraw")
@click.argument("request_id")
@click.option("--reason", default="", help="Why.")
@credentials_option()
@pass_cli
def withdraw(cli: CliContext, request_id: str, reason: str, credentials: Path | None) -> None:
    """Withdraw your own open request."""
    from genomlab.airlock.requests import withdraw_request

    withdraw_request(cli.config, get_acting_person(cli, credentials), request_id, reason)
    click.echo(f"{request_id}: withdrawn")


@airlock.command("queue")
@click.option("--all", "show_all", is_flag=True, help="Include decided and released requests.")
@click.option("--project", default=None, help="Only this project.")
@format_option()
@credentials_option()
@pass_cli
def queue(cli: CliContext, show_all: bool, project: str | None,
          output_format: OutputFormat, credentials: Path | None) -> None:
    """List release requests (open ones by default), oldest first: every request for an output
    checker, your own requests for anyone else."""
    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock.requests import OPEN_STATES, get_queue

    person = get_acting_person(cli, credentials)
    rows = get_queue(cli.config, statuses=None if show_all else OPEN_STATES, project=project)
    if not PlatformDirectory(cli.config).is_output_checker(person):
        rows = [r for r in rows if r["author"] == person]
    echo_rows([{**r, "submitted_at": r["submitted_at"][:19]} for r in rows],
              [("request_id", "Request"), ("project", "Project"), ("author", "Author"),
               ("status", "Status"), ("check_status", "Checks"), ("n_reviews", "Reviews"),
               ("submitted_at", "Submitted")], output_format,
              footer=f"{len(rows)} requests")


commands = [airlock]
