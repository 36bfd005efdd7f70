"""``genomlab trust-center …``: the trust centre's operations from the command line.

Identifying inputs (KVNR part, Arbeitsnummer) are prompted for without echo when not given, so
they need not appear in the shell history; a node is named by ``--node``. No command takes a
person's name (issue 15):

- the people of re-identification (the requester, trust-centre officers) act as the verified
  subject of their platform credentials file (``--credentials``, else ``$GENOMLAB_CREDENTIALS``,
  else ``~/.genomlab/credentials.json``). The platform knows the person; the trust centre keeps
  its own officer list (``officer appoint USER_ID``), keyed by that verified platform user id;
- every other command is the trust centre's operator work (messages from LEs and the platform,
  linkage maps, releases to LEs, keys): the ledger records ``operator:<OS account>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from genomlab.cli_context import (
    CliContext,
    credentials_option,
    get_acting_person,
    get_operator,
    node_option,
    pass_cli,
)
from genomlab.errors import GenomlabError

if TYPE_CHECKING:  # the choices of the options below are these types' values
    from genomlab.messages import DatasetDomain
    from genomlab.trust_center.reidentification import ReidKind
    from genomlab.trust_center.service import ConsentScope, SubmissionType, TrustCenter

_DATE = click.DateTime(formats=["%Y-%m-%d"])


def _tc(cli: CliContext) -> TrustCenter:
    from genomlab.trust_center.service import TrustCenter

    return TrustCenter(cli.config)


def _read_document(path: Path) -> Any:
    from pydantic import ValidationError

    from genomlab.messages import SignedDocument

    try:
        return SignedDocument.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        raise GenomlabError(f"{path}: not a signed document ({str(exc).splitlines()[0]})") from exc


def _read_pseudonyms(path: Path | None) -> list[str]:
    if path is None:
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _kvnr_option() -> Any:
    return click.option("--kvnr", prompt="KVNR (unchangeable part)", hide_input=True,
                        help="Unchangeable part of the KVNR; prompted without echo if omitted.")


@click.group("trust-center")
def trust_center() -> None:
    """Vertrauensstelle: case numbers, consent, linkage maps, re-identification, keys, audit."""


@trust_center.group("case-numbers")
def case_numbers() -> None:
    """Vorgangsnummern (VNg/VNk): request for a patient, exchange and confirm at a node."""


@case_numbers.command("request")
@_kvnr_option()
@click.option("--arbeitsnummer", prompt=True, hide_input=True,
              help="The LE's case label (≤ 40 characters); prompted without echo if omitted.")
@click.option("--le-ik", required=True, help="Institutionskennzeichen of the LE (9 digits).")
@click.option("--le-name", required=True, help="Name of the LE.")
@click.option("--submission-type", default="initial", show_default=True,
              type=click.Choice(["initial", "followup", "addition", "correction"]))
@pass_cli
def request_cmd(cli: CliContext, kvnr: str, arbeitsnummer: str, le_ik: str, le_name: str,
                submission_type: SubmissionType) -> None:
    """Issue a VNg and a VNk for one patient; prints them as JSON."""
    numbers = _tc(cli).request_case_numbers(
        kvnr=kvnr, arbeitsnummer=arbeitsnummer, le_ik=le_ik, le_name=le_name,
        submission_type=submission_type, actor=get_operator())
    click.echo(json.dumps({"vng": numbers.genomic, "vnk": numbers.clinical}))


@case_numbers.command("register")
@_kvnr_option()
@click.option("--arbeitsnummer", prompt=True, hide_input=True,
              help="The LE's case label (≤ 40 characters); prompted without echo if omitted.")
@click.option("--le-ik", required=True, help="Institutionskennzeichen of the LE (9 digits).")
@click.option("--le-name", required=True, help="Name of the LE.")
@click.option("--tan-g", default=None, help="LE-generated genomic TAN (64 hex[:suffix]).")
@click.option("--tan-c", default=None, help="LE-generated clinical TAN (64 hex).")
@click.option("--submission-type", default="initial", show_default=True,
              type=click.Choice(["initial", "followup", "addition", "correction"]))
@pass_cli
def register_cmd(cli: CliContext, kvnr: str, arbeitsnummer: str, le_ik: str, le_name: str,
                 tan_g: str | None, tan_c: str | None, submission_type: SubmissionType) -> None:
    """Register TANs the LE generated itself (tanG/tanC) with the patient's identity."""
    _tc(cli).register_case_numbers(
        kvnr=kvnr, arbeitsnummer=arbeitsnummer, le_ik=le_ik, le_name=le_name, genomic=tan_g,
        clinical=tan_c, submission_type=submission_type,
        actor=get_operator())
    click.echo("case numbers registered")


@case_numbers.command("exchange")
@click.argument("case_number")
@node_option("GRZ… for a VNg, KDK… for a VNk.")
@click.option("--domain", required=True, type=click.Choice(["genomic", "clinical"]))
@pass_cli
def exchange_cmd(cli: CliContext, case_number: str, node_id: str,
                 domain: DatasetDomain) -> None:
    """Exchange a VN for the node's dataset pseudonym (prints it)."""
    click.echo(_tc(cli).exchange_case_number(case_number, node_id=node_id,
                                             domain=domain))


@case_numbers.command("confirm")
@click.argument("case_number")
@node_option("The node that exchanged the VN.")
@click.option("--pseudonym", required=True, help="The pseudonym the node stored the data under.")
@pass_cli
def confirm_cmd(cli: CliContext, case_number: str, node_id: str, pseudonym: str) -> None:
    """Confirm delivery: the trust centre checks the pseudonym and deletes the VN."""
    _tc(cli).confirm_delivery(case_number, node_id=node_id, pseudonym=pseudonym)
    click.echo("delivery confirmed; case number deleted")


@trust_center.group("consent")
def consent() -> None:
    """Research consent and mvConsent scopes per person, as sent by the treating LE."""


@consent.command("record")
@_kvnr_option()
@click.option("--le-ik", required=True, help="IK of the LE that sends the consent.")
@click.option("--scope", required=True, type=click.Choice(
    ["research", "mvSequencing", "reIdentification", "caseIdentification"]))
@click.option("--decision", required=True, type=click.Choice(["permit", "deny"]))
@click.option("--date", "decided_on", type=_DATE, default=None, help="YYYY-MM-DD (default today).")
@pass_cli
def consent_record(cli: CliContext, kvnr: str, le_ik: str, scope: ConsentScope,
                   decision: Literal["permit", "deny"], decided_on: Any) -> None:
    """Record a consent decision for one scope."""
    _tc(cli).record_consent(kvnr=kvnr, le_ik=le_ik, scope=scope, decision=decision,
                            decided_on=decided_on.date() if decided_on else None,
                            actor=get_operator())
    click.echo(f"consent recorded: {scope} {decision}")


@consent.command("withdraw")
@_kvnr_option()
@click.option("--le-ik", required=True, help="IK of the LE that sends the withdrawal.")
@click.option("--date", "withdrawn_on", type=_DATE, default=None, help="YYYY-MM-DD.")
@pass_cli
def consent_withdraw(cli: CliContext, kvnr: str, le_ik: str, withdrawn_on: Any) -> None:
    """Withdraw research consent; prints the projects to notify with their pseudonym."""
    notice = _tc(cli).withdraw_research_consent(
        kvnr=kvnr, le_ik=le_ik, actor=get_operator(),
        withdrawn_on=withdrawn_on.date() if withdrawn_on else None)
    click.echo(f"research consent withdrawn on {notice.withdrawn_on}; "
               f"{len(notice.projects)} project(s) to notify")
    for project_id, pseudonym in notice.projects:
        click.echo(f"{project_id}\t{pseudonym}")


@trust_center.group("officer")
def officer() -> None:
    """Trust-centre officers (who may approve re-identification)."""


@officer.command("appoint")
@click.argument("user_id")
@pass_cli
def officer_appoint(cli: CliContext, user_id: str) -> None:
    """Appoint platform user USER_ID a trust-centre officer (operator).

    The officer then acts with their own platform credentials (``reid approve``); the trust
    centre's list holds the verified platform user id, so one person is one officer."""
    _tc(cli).appoint_officer(user_id, actor=get_operator())
    click.echo(f"{user_id} appointed")


@trust_center.group("approval")
def approval() -> None:
    """Approvals and revocations received from the platform."""


@approval.command("revoke")
@click.option("--document", "path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The platform's signed approval-revocation (JSON).")
@pass_cli
def approval_revoke(cli: CliContext, path: Path) -> None:
    """Record a signed revocation: no further linkage map for that application."""
    application_id = _tc(cli).receive_revocation(_read_document(path), actor=get_operator())
    click.echo(f"approval {application_id} revoked")


@trust_center.group("linkage-map")
def linkage_map() -> None:
    """Linkage maps (project pseudonym ↔ dataset pseudonyms) for approved applications."""


@linkage_map.command("issue")
@click.option("--approval", "approval_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The platform's signed approval (JSON).")
@click.option("--genome-pseudonyms", type=click.Path(exists=True, dir_okay=False,
                                                     path_type=Path),
              help="File with one genome-dataset pseudonym per line.")
@click.option("--clinical-pseudonyms", type=click.Path(exists=True, dir_okay=False,
                                                       path_type=Path),
              help="File with one clinical-dataset pseudonym per line.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the map (.parquet or .tsv).")
@pass_cli
def linkage_map_issue(cli: CliContext, approval_path: Path, genome_pseudonyms: Path | None,
                      clinical_pseudonyms: Path | None, out: Path) -> None:
    """Issue a linkage map for the consented persons among the requested pseudonyms that the
    approval's criteria select (the approved cohort, judged on the nodes' dataset attributes)."""
    result = _tc(cli).issue_linkage_map(
        _read_document(approval_path), actor=get_operator(),
        genome_pseudonyms=_read_pseudonyms(genome_pseudonyms),
        clinical_pseudonyms=_read_pseudonyms(clinical_pseudonyms))
    frame = result.to_polars()
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix == ".parquet":
        frame.write_parquet(tmp)
    else:
        frame.write_csv(tmp, separator="\t")
    tmp.replace(out)
    click.echo(f"linkage map {result.map_id}: {len(result)} rows for project "
               f"{result.project_id} (key version {result.key_version}); "
               f"{result.n_excluded_no_consent} without research consent, "
               f"{result.n_unknown} unknown pseudonyms; written to {out}")


@trust_center.group("reid")
def reid() -> None:
    """Re-identification and case identification (consent scope + two officers)."""


@reid.command("request")
@click.option("--project", "project_id", required=True, help="Project holding the pseudonym.")
@click.option("--pseudonym", required=True, help="The project pseudonym (PP<version>-…).")
@click.option("--reason", required=True, help="Why re-identification is needed.")
@click.option("--kind", required=True, type=click.Choice(["reIdentification",
                                                          "caseIdentification"]))
@credentials_option()
@pass_cli
def reid_request(cli: CliContext, project_id: str, pseudonym: str, reason: str,
                 kind: ReidKind, credentials: Path | None) -> None:
    """Open a request; prints its id."""
    from genomlab.trust_center.reidentification import request_reidentification

    click.echo(request_reidentification(_tc(cli), project_id=project_id,
                                        project_pseudonym=pseudonym, reason=reason,
                                        kind=kind,
                                        requester=get_acting_person(cli, credentials)))


@reid.command("approve")
@click.argument("request_id")
@credentials_option()
@pass_cli
def reid_approve(cli: CliContext, request_id: str, credentials: Path | None) -> None:
    """Approve a request as a trust-centre officer."""
    from genomlab.trust_center.reidentification import (
        REQUIRED_APPROVALS,
        approve_reidentification,
    )

    count = approve_reidentification(_tc(cli), request_id,
                                     officer=get_acting_person(cli, credentials))
    click.echo(f"approved ({count} of {REQUIRED_APPROVALS})")


@reid.command("release")
@click.argument("request_id")
@click.option("--le-ik", required=True, help="IK of the LE that collects the result.")
@pass_cli
def reid_release(cli: CliContext, request_id: str, le_ik: str) -> None:
    """Release the Arbeitsnummer(s) to the treating LE (prints them); reIdentification only."""
    from genomlab.trust_center.reidentification import release_reidentification

    result = release_reidentification(_tc(cli), request_id, le_ik=le_ik,
                                      actor=get_operator())
    for number in result.arbeitsnummern:
        click.echo(f"{result.le_ik}\t{number}")


@reid.command("contact")
@click.argument("request_id")
@click.option("--le-ik", required=True, help="IK of the requesting LE.")
@credentials_option()
@pass_cli
def reid_contact(cli: CliContext, request_id: str, le_ik: str,
                 credentials: Path | None) -> None:
    """Case identification: a new number and the other LE's contact (prints NUMBER, IK, name).
    """
    from genomlab.trust_center.reidentification import release_case_identification

    for contact in release_case_identification(_tc(cli), request_id, requester_le_ik=le_ik,
                                               actor=get_acting_person(cli, credentials)):
        click.echo(f"{contact.contact_number}\t{contact.le_ik}\t{contact.le_name}")


@reid.command("redeem")
@click.argument("contact_number")
@click.option("--le-ik", required=True, help="IK of the contacted LE.")
@pass_cli
def reid_redeem(cli: CliContext, contact_number: str, le_ik: str) -> None:
    """The contacted LE presents the number; prints its own Arbeitsnummer(s) of the case."""
    from genomlab.trust_center.reidentification import redeem_case_contact

    result = redeem_case_contact(_tc(cli), contact_number, le_ik=le_ik,
                                 actor=get_operator())
    for number in result.arbeitsnummern:
        click.echo(f"{result.le_ik}\t{number}")


@trust_center.group("correction")
def correction() -> None:
    """Correction procedure (GenDV § 5): node → trust centre → treating LE."""


@correction.command("request")
@click.option("--pseudonym", required=True, help="The dataset pseudonym the node stores.")
@node_option("The GRZ or KDK asking.")
@click.option("--reason", required=True, help="What is wrong with the dataset.")
@pass_cli
def correction_request(cli: CliContext, pseudonym: str, node_id: str, reason: str) -> None:
    """Open a correction request; prints its id."""
    from genomlab.trust_center.corrections import request_correction

    click.echo(request_correction(_tc(cli), pseudonym, node_id=node_id, reason=reason))


@correction.command("release")
@click.argument("correction_id")
@click.option("--le-ik", required=True, help="IK of the LE that collects the request.")
@pass_cli
def correction_release(cli: CliContext, correction_id: str, le_ik: str) -> None:
    """Pass the request to the treating LE with its Arbeitsnummer(s)."""
    from genomlab.trust_center.corrections import release_correction

    notice = release_correction(_tc(cli), correction_id, le_ik=le_ik, actor=get_operator())
    click.echo(f"{notice.node_id} ({notice.domain}): {notice.reason}")
    for number in notice.arbeitsnummern:
        click.echo(f"{le_ik}\t{number}")


@trust_center.group("key")
def key() -> None:
    """Project-pseudonym key versions."""


@key.command("rotate")
@click.option("--project", "project_id", default=None,
              help="Move this project to the current key version instead of creating a new one.")
@pass_cli
def key_rotate(cli: CliContext, project_id: str | None) -> None:
    """Create a new key version (or re-key one project); old pseudonyms stay resolvable."""
    tc = _tc(cli)
    if project_id is None:
        click.echo(f"key version {tc.rotate_keys(actor=get_operator())} created")
    else:
        version = tc.rekey_project(project_id, actor=get_operator())
        click.echo(f"project {project_id} now uses key version {version}")


@trust_center.group("audit")
def audit() -> None:
    """Audit the trust centre's ledger."""


@audit.command("verify")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM public key to verify with (default: trust_center/keys/ledger.pub.pem).")
@pass_cli
def audit_verify(cli: CliContext, public_key: Path | None) -> None:
    """Verify the trust centre's ledger; print the first bad seq and exit 1 if broken."""
    from genomlab.db import get_engine
    from genomlab.institution import Institution
    from genomlab.keys import key_id, load_public_key
    from genomlab.ledger import verify_ledger

    institution = Institution(cli.config, "trust_center")
    path = public_key or institution.directory / "keys" / "ledger.pub.pem"
    if not path.exists():
        raise GenomlabError(f"{path}: no trust-centre ledger public key")
    pub = load_public_key(path.read_bytes())
    report = verify_ledger(get_engine(institution.store_url), {key_id(pub): pub})
    click.echo(f"trust_center: {report}")
    if not report.ok:
        raise GenomlabError(f"trust-centre ledger broken at seq {report.first_bad_seq}")


commands: list[click.Command] = [trust_center]
