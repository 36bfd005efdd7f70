"""``genomlab platform apply``, ``… review`` and ``… register``: data-use applications.

The acting person is the verified subject of their credentials file (``--credentials FILE``,
else ``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``), never a name: with the
platform service running the command calls it with the person's token, otherwise it checks the
credentials against the platform store (:mod:`genomlab.platform.person_session`). What they
may do comes from the roles in the platform's records (``genomlab platform users``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import click

from genomlab.cli_context import CliContext, credentials_option, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option
from genomlab.errors import ValidationFailed

acting_person_option = credentials_option()
reason_option = click.option("--reason", required=True, help="Why (recorded and shown).")


def get_person(cli: CliContext, credentials: Path | None) -> Any:
    """The verified person of the credentials file (a
    :class:`~genomlab.platform.person_session.PersonSession`)."""
    from genomlab.platform.person_session import open_person_session

    return open_person_session(cli.config, credentials)


def act(cli: CliContext, credentials: Path | None, action: str, target: str | None,
        body: dict[str, Any]) -> dict[str, Any]:
    """Run a person action (:data:`genomlab.platform.person_actions.ACTIONS`) as the verified
    person of ``credentials``."""
    result: dict[str, Any] = get_person(cli, credentials).act(action, target, body)
    return result


def get_workflow(cli: CliContext) -> Any:
    """The platform's application workflow over this invocation's configuration."""
    from genomlab.platform.applications import Workflow

    return Workflow(cli.config)


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"{path}: cannot read: {exc}") from exc


def _read_form(path: Path) -> Any:
    from genomlab.platform.applications.models import parse_form

    return parse_form(_read_mapping(path), source=str(path))


def parse_day(value: str | None, option: str) -> date | None:
    """``value`` as an ISO date (``None`` stays ``None``); a bad one names ``option``."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"{option}: not an ISO date (YYYY-MM-DD): {value!r}") from exc


def _print_detail(cli: CliContext, application_id: str) -> None:
    from genomlab.platform.applications.queries import get_application_detail

    detail = get_application_detail(cli.config, application_id)
    row = detail.row
    click.echo(f"{row['application_id']}  {row['project_id'] or '-'}  {row['status']}  "
               f"{row['title']}")
    click.echo(f"  applicant {row['applicant']} ({row['institution']}), team "
               f"{', '.join(m['user_id'] for m in detail.team)}")
    duo = " ".join([detail.form.duo_permission, detail.form.disease or "",
                    *detail.form.duo_modifiers]).replace("  ", " ")
    click.echo(f"  purposes {row['purposes']}, DUO {duo}, level {row['level']}, "
               f"handler {row['handler'] or '-'}")
    for verdict in detail.verdicts:
        click.echo(f"  [{verdict.verdict}] {verdict.subject}: {'; '.join(verdict.reasons)}")
    for vote in detail.votes:
        click.echo(f"  vote {vote['voter']}: {vote['vote']} {vote['comment']}")
    for event in detail.history:
        extra = "; ".join(f"{k}={v}" for k, v in event["detail"].items())
        click.echo(f"  {event['at'][:19]}  {event['type']:<18} {event['actor']:<12} {extra}")


# --- apply -------------------------------------------------------------------------------------

@click.group()
def apply() -> None:
    """File data-use applications (§ 64e (9) SGB V): draft, submit, results."""


@apply.command("template")
def apply_template() -> None:
    """Print an example application form (JSON) to fill in."""
    from genomlab.platform.applications.models import TERMS_OF_USE_VERSION

    click.echo(json.dumps({
        "title": "Penetrance of BRCA1 variants in hereditary breast cancer",
        "lay_summary": "How often do carriers of BRCA1 variants fall ill?",
        "scientific_abstract": "We estimate age-specific penetrance from genomDE cases.",
        "purposes": ["research"], "duo_permission": "DS", "disease": "C50",
        "duo_modifiers": ["PUB"], "data_categories": ["genomic", "clinical"],
        "clinical_fields": ["diagnosis", "age_at_diagnosis"],
        "criteria": {"disease_types": ["hereditary"], "icd10gm_prefixes": ["C50"]},
        "level": "aggregated", "individual_justification": None, "duration_months": 12,
        "ethics_vote_reference": "EK 123/2026", "accepted_terms": TERMS_OF_USE_VERSION,
        "commercial": False, "team": [],
    }, indent=2, ensure_ascii=False))


@apply.command("new")
@click.argument("form_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@acting_person_option
@click.option("--submit", is_flag=True, help="Submit right away.")
@pass_cli
def apply_new(cli: CliContext, form_path: Path, credentials: Path | None, submit: bool) -> None:
    """Create a draft from FORM_PATH (JSON or TOML); print its id."""
    form = _read_form(form_path).model_dump(mode="json")
    result = act(cli, credentials, "apply.new", None, {"form": form, "submit": submit})
    if submit:
        click.echo(f"{result['application_id']} submitted as project {result['project_id']}")
    else:
        click.echo(f"{result['application_id']} drafted")


@apply.command("edit")
@click.argument("application_id")
@click.argument("form_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@acting_person_option
@pass_cli
def apply_edit(cli: CliContext, application_id: str, form_path: Path,
               credentials: Path | None) -> None:
    """Replace the form of a draft or returned application."""
    act(cli, credentials, "apply.edit", application_id,
        {"form": _read_form(form_path).model_dump(mode="json")})
    click.echo(f"{application_id} edited")


@apply.command("submit")
@click.argument("application_id")
@acting_person_option
@pass_cli
def apply_submit(cli: CliContext, application_id: str, credentials: Path | None) -> None:
    """Submit (or resubmit after return) an application."""
    result = act(cli, credentials, "apply.submit", application_id, {})
    click.echo(f"{application_id} submitted as project {result['project_id']}")


@apply.command("check")
@click.argument("form_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_cli
def apply_check(cli: CliContext, form_path: Path) -> None:
    """Check a form before filing it: the rules ``apply submit`` enforces (terms, justification,
    ethics vote, registered team), then consent scope and dataset DUO tags.

    Lists every problem; exits 1 if ``apply submit`` would refuse the form.
    """
    from genomlab.platform.applications.duo import get_overall_verdict, match_application
    from genomlab.platform.applications.models import find_submission_problems
    from genomlab.platform.applications.queries import (
        get_dataset_tags,
        get_unregistered_members,
    )
    from genomlab.platform.applications.store import read_platform

    form = _read_form(form_path)
    with read_platform(cli.config) as conn:
        problems = find_submission_problems(form) + [
            ("team", f"{member} is not a registered platform user")
            for member in get_unregistered_members(conn, form.team)]
        verdicts = match_application(form, get_dataset_tags(conn))
    for field, problem in problems:
        click.echo(f"[refused] {field}: {problem}")
    for verdict in verdicts:
        click.echo(f"[{verdict.verdict}] {verdict.subject}: {'; '.join(verdict.reasons)}")
    click.echo(f"overall: {get_overall_verdict(verdicts)}")
    if problems:
        raise ValidationFailed(f"{form_path}: {len(problems)} problem(s) that apply submit "
                               "refuses (listed above)")


@apply.command("show")
@click.argument("application_id")
@pass_cli
def apply_show(cli: CliContext, application_id: str) -> None:
    """Show an application: status, team, DUO verdicts, votes and timeline."""
    _print_detail(cli, application_id)


@apply.command("result")
@click.argument("application_id")
@click.option("--kind", type=click.Choice(["publication", "report", "dataset", "software"]),
              required=True)
@click.option("--title", required=True)
@click.option("--reference", required=True, help="DOI or URL.")
@acting_person_option
@pass_cli
def apply_result(cli: CliContext, application_id: str, kind: str, title: str, reference: str,
                 credentials: Path | None) -> None:
    """Report a result of an approved project for the public register."""
    act(cli, credentials, "apply.result", application_id,
        {"kind": kind, "title": title, "reference": reference})
    click.echo(f"{application_id}: {kind} recorded")


@apply.command("close")
@click.argument("application_id")
@reason_option
@acting_person_option
@pass_cli
def apply_close(cli: CliContext, application_id: str, reason: str,
                credentials: Path | None) -> None:
    """Withdraw your application (or end your approved project)."""
    act(cli, credentials, "apply.close", application_id, {"reason": reason})
    click.echo(f"{application_id} closed")


# --- review ------------------------------------------------------------------------------------

@click.group()
def review() -> None:
    """Review data-use applications: queue, assignment, committee votes, decisions."""


@review.command("queue")
@click.option("--status", "statuses", multiple=True,
              help="Only these states (default: submitted, returned, under_review).")
@click.option("--purpose", default=None, help="care, quality_assurance, evaluation or research.")
@click.option("--mine", is_flag=True, help="Only applications assigned to me (the verified "
              "person of the credentials file).")
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0, show_default=True)
@acting_person_option
@format_option()
@pass_cli
def review_queue(cli: CliContext, statuses: tuple[str, ...], purpose: str | None, mine: bool,
                 limit: int, offset: int, credentials: Path | None,
                 output_format: OutputFormat) -> None:
    """List the review queue, longest waiting first, with age in days."""
    from genomlab.platform.applications.models import OPEN_STATUSES
    from genomlab.platform.applications.queries import get_queue_page

    page = get_queue_page(cli.config, statuses=statuses or OPEN_STATUSES, purpose=purpose,
                          handler=get_person(cli, credentials).user_id if mine else None,
                          offset=offset,
                          limit=limit)
    echo_rows(page.rows, [("application_id", "Application"), ("project_id", "Project"),
                          ("status", "Status"), ("age_days", "Days waiting"),
                          ("handler", "Handler"), ("title", "Title")], output_format,
              footer=f"{len(page.rows)} of {page.total} (offset {offset})")


def add_workflow_command(group: click.Group, name: str, action: str, target: str | None,
                         params: Sequence[Callable[[Any], Any]], done: str, doc: str) -> None:
    """Add ``<group> <name> PARAMS… [--credentials FILE]`` running person action ``action``
    (:data:`genomlab.platform.person_actions.ACTIONS`) as the verified person, with the
    parameter ``target`` as its target and the others as its body; it echoes ``done``
    formatted with the parameters."""

    def command(cli: CliContext, credentials: Path | None, **values: Any) -> None:
        body = {k: v for k, v in values.items() if k != target}
        act(cli, credentials, action, values[target] if target else None, body)
        click.echo(done.format(**values))

    command.__doc__ = doc
    for decorator in reversed((*params, acting_person_option, pass_cli)):
        command = decorator(command)
    group.command(name)(command)


for _name, _action, _doc in (
        ("reject", "review.reject", "Reject the application (decider; reason required)."),
        ("return", "review.return",
         "Return the application to the applicant (handler; reason required)."),
        ("close", "apply.close",
         "Close the application; an approved one loses its entitlements."),
        ("revoke", "review.revoke",
         "Revoke an approval (decider or admin): entitlements end at once.")):
    add_workflow_command(review, _name, _action, "application_id",
                         (click.argument("application_id"), reason_option),
                         f"{{application_id}}: {_name} done", _doc)


@review.command("assign")
@click.argument("application_id")
@click.option("--handler", default=None, help="Assign this handler (default: me).")
@acting_person_option
@pass_cli
def review_assign(cli: CliContext, application_id: str, handler: str | None,
                  credentials: Path | None) -> None:
    """Assign a handler and start the review."""
    act(cli, credentials, "review.assign", application_id, {"handler": handler})
    click.echo(f"{application_id}: under review")


@review.command("request-committee")
@click.argument("application_id")
@click.option("--note", default="", help="What the committee should look at.")
@acting_person_option
@pass_cli
def review_request(cli: CliContext, application_id: str, note: str,
                   credentials: Path | None) -> None:
    """Ask the scientific committee (§ 64e (9b)) to review and vote."""
    act(cli, credentials, "review.request-committee", application_id, {"note": note})
    click.echo(f"{application_id}: committee review requested")


@review.command("vote")
@click.argument("application_id")
@click.argument("vote", type=click.Choice(["approve", "reject", "abstain"]))
@click.option("--comment", default="", help="Required for a vote to reject.")
@acting_person_option
@pass_cli
def review_vote(cli: CliContext, application_id: str, vote: str, comment: str,
                credentials: Path | None) -> None:
    """Record a committee member's vote."""
    act(cli, credentials, "review.vote", application_id, {"vote": vote, "comment": comment})
    click.echo(f"{application_id}: vote {vote} recorded")


@review.command("approve")
@click.argument("application_id")
@click.option("--valid-from", default=None, help="YYYY-MM-DD (default: today).")
@click.option("--valid-until", default=None,
              help="YYYY-MM-DD (default: valid-from plus the requested duration).")
@click.option("--note", default="")
@click.option("--duo-override-reason", default=None,
              help="Why it is approved although a requested dataset's DUO tags block the "
                   "purpose (required then; shown in the case file).")
@acting_person_option
@pass_cli
def review_approve(cli: CliContext, application_id: str, valid_from: str | None,
                   valid_until: str | None, note: str, duo_override_reason: str | None,
                   credentials: Path | None) -> None:
    """Approve (decider): sign the grant and entitle the team until the end date."""
    start, end = parse_day(valid_from, "--valid-from"), parse_day(valid_until, "--valid-until")
    body = act(cli, credentials, "review.approve", application_id, {
        "valid_from": start.isoformat() if start else None,
        "valid_until": end.isoformat() if end else None, "note": note,
        "duo_override_reason": duo_override_reason})
    click.echo(f"{application_id}: approved as {body['project_id']} for "
               f"{', '.join(body['team'])} until {body['valid_until']} "
               f"(signed, key {body['key_id']})")


@review.command("expire")
@click.option("--at", "at_text", default=None, help="ISO date/time to evaluate (default: now).")
@pass_cli
def review_expire(cli: CliContext, at_text: str | None) -> None:
    """Expire every approval whose end date has passed (run daily)."""
    at = None
    if at_text is not None:
        day = parse_day(at_text[:10], "--at")
        at = datetime.combine(day, datetime.min.time(), UTC) if day else None
    expired = get_workflow(cli).expire_due(at)
    click.echo(f"{len(expired)} expired" + (f": {', '.join(expired)}" if expired else ""))


@review.command("show")
@click.argument("application_id")
@pass_cli
def review_show(cli: CliContext, application_id: str) -> None:
    """Show an application with DUO verdicts, votes and timeline."""
    _print_detail(cli, application_id)


@review.command("tag-dataset")
@click.argument("tags_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@acting_person_option
@pass_cli
def review_tag_dataset(cli: CliContext, tags_path: Path, credentials: Path | None) -> None:
    """Record a dataset's DUO tags from a JSON/TOML file (admin)."""
    from pydantic import ValidationError

    from genomlab.platform.applications.models import DatasetTags

    try:
        tags = DatasetTags.model_validate(_read_mapping(tags_path))
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ValidationFailed(f"{tags_path}: {'.'.join(map(str, error['loc']))}: "
                               f"{error['msg']}") from None
    act(cli, credentials, "review.tag-dataset", None, {"tags": tags.model_dump(mode="json")})
    click.echo(f"{tags.dataset_id} tagged {tags.duo_permission}")


# --- register ----------------------------------------------------------------------------------

@click.group()
def register() -> None:
    """The public application register: applicants, projects, decisions, results."""


@register.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default=None,
              help="Default: from the file suffix (.csv, else JSON).")
@pass_cli
def register_export(cli: CliContext, out: Path, fmt: Literal["json", "csv"] | None) -> None:
    """Export the register as JSON or CSV (schema: docs/register-schema.md)."""
    from genomlab.platform.applications.register import export_register

    n = export_register(cli.config, out, fmt)
    click.echo(f"{n} entries written to {out}")


@register.command("show")
@click.option("--search", default=None, help="Text in title, project, institution or purpose.")
@click.option("--limit", default=20, show_default=True)
@format_option()
@pass_cli
def register_show(cli: CliContext, search: str | None, limit: int,
                  output_format: OutputFormat) -> None:
    """Print the newest register entries (the whole entries: ``register export``)."""
    from genomlab.platform.applications.register import get_register_page

    page = get_register_page(cli.config, search=search, limit=limit)
    echo_rows(page.entries, [("project_id", "Project"), ("status", "Status"),
                             ("submitted_on", "Submitted"), ("institution", "Institution"),
                             ("title", "Title")], output_format,
              footer=f"{len(page.entries)} of {page.total}")

