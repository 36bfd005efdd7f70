"""``genomlab trust-center …`` end to end, including ``audit verify`` on a tampered ledger."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.db import dispose_engines
from genomlab.institution import Institution
from genomlab.messages import SignedDocument
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.applications.entitlements import get_signed_approval
from genomlab.platform.person_credentials import get_operator_actor
from tests.conftest import write_config_file
from tests.trust_center.conftest import (
    GRZ,
    KDK,
    LE_IK,
    OTHER_LE_IK,
    approve_nodes,
    make_kvnr,
    platform_people,
)


def _cli(config_file: Path, env: dict[str, str] | None = None) -> Callable[..., str]:
    runner = CliRunner()

    def run(*args: str, exit_code: int = 0) -> str:
        result = runner.invoke(main, ["--config", str(config_file), "trust-center", *args],
                               env={"GENOMLAB_CREDENTIALS": "", **(env or {})})
        assert result.exit_code == exit_code, result.output
        return result.output

    return run


def test_trust_center_cli__full_flow_and_audit(config: GenomlabConfig, tmp_path: Path,
                                               sign_grant: Callable[..., SignedDocument],
                                               everyone_in_cohort: None) -> None:
    run = _cli(write_config_file(config, tmp_path / "genomlab.toml"))
    approve_nodes(config, GRZ, KDK)
    kvnr = make_kvnr(42)
    vns = json.loads(run("case-numbers", "request", "--kvnr", kvnr, "--arbeitsnummer", "AN-42",
                         "--le-ik", LE_IK, "--le-name", "Uniklinik Test"))
    pseudonyms = {}
    for domain, node, vn in (("genomic", GRZ, vns["vng"]), ("clinical", KDK, vns["vnk"])):
        pseudonyms[domain] = run("case-numbers", "exchange", vn, "--node", node,
                                 "--domain", domain).strip()
        assert "deleted" in run("case-numbers", "confirm", vn, "--node", node,
                                "--pseudonym", pseudonyms[domain])
    tan = "ef" * 32
    assert "registered" in run("case-numbers", "register", "--kvnr", make_kvnr(43),
                               "--arbeitsnummer", "AN-43", "--le-ik", LE_IK, "--le-name", "UK",
                               "--tan-g", tan)
    assert run("case-numbers", "exchange", tan, "--node", GRZ,
               "--domain", "genomic").startswith("GDP1-")
    assert "already used" in run("case-numbers", "exchange", vns["vng"], "--node", GRZ,
                                 "--domain", "genomic", exit_code=1)
    for scope in ("research", "reIdentification"):
        run("consent", "record", "--kvnr", kvnr, "--le-ik", LE_IK, "--scope", scope,
            "--decision", "permit")
    people = platform_people(config, "olga", "otto", "rita")
    for officer in ("olga", "otto"):
        run("officer", "appoint", officer)

    # the in-process path asks the platform's store whether the approval is its current one:
    # only the approval the platform issued counts (one signed beside it is refused)
    (tmp_path / "genomes.txt").write_text(pseudonyms["genomic"] + "\n")
    app = run_applications_demo(config, admin="tc-admin")
    approval = tmp_path / "approval.json"
    approval.write_text(sign_grant(app.project_id, application_id=app.application_id)
                        .model_dump_json())  # validly signed, but never issued by the platform
    assert "not the platform's current approval" in run(
        "linkage-map", "issue", "--approval", str(approval), "--genome-pseudonyms",
        str(tmp_path / "genomes.txt"), "--out", str(tmp_path / "map.tsv"), exit_code=1)
    approval.write_text(get_signed_approval(config, app.application_id).model_dump_json())
    out = run("linkage-map", "issue", "--approval", str(approval), "--genome-pseudonyms",
              str(tmp_path / "genomes.txt"), "--out", str(tmp_path / "map.tsv"))
    assert out.split(": ", 1)[1] == (
        f"1 rows for project {app.project_id} (key version 1); 0 without research consent, "
        f"0 unknown pseudonyms; written to {tmp_path / 'map.tsv'}\n")
    header, row = (tmp_path / "map.tsv").read_text().splitlines()
    assert header.split("\t") == ["project_pseudonym", "genome_pseudonym", "clinical_pseudonym"]
    project_pseudonym, genome, clinical = row.split("\t")
    assert (genome, clinical) == (pseudonyms["genomic"], pseudonyms["clinical"])

    request_id = run("reid", "request", "--project", app.project_id, "--pseudonym",
                     project_pseudonym, "--reason", "actionable finding", "--kind",
                     "reIdentification", "--credentials", str(people["rita"])).strip()
    assert "Error:" in run("reid", "approve", request_id, "--credentials", str(people["rita"]),
                           exit_code=1)
    assert run("reid", "approve", request_id, "--credentials",
               str(people["olga"])) == "approved (1 of 2)\n"
    assert run("reid", "approve", request_id, "--credentials",
               str(people["otto"])) == "approved (2 of 2)\n"
    assert "not the treating LE" in run("reid", "release", request_id, "--le-ik", OTHER_LE_IK,
                                        exit_code=1)
    assert run("reid", "release", request_id, "--le-ik", LE_IK).strip() == f"{LE_IK}\tAN-42"

    correction_id = run("correction", "request", "--pseudonym", pseudonyms["clinical"],
                        "--node", KDK, "--reason", "wrong diagnosis date").strip()
    assert run("correction", "release", correction_id, "--le-ik", LE_IK).splitlines() == [
        f"{KDK} (clinical): wrong diagnosis date", f"{LE_IK}\tAN-42"]

    notice = run("consent", "withdraw", "--kvnr", kvnr, "--le-ik", LE_IK)
    assert notice.splitlines()[0].endswith("; 1 project(s) to notify")
    assert notice.splitlines()[1:] == [f"{app.project_id}\t{project_pseudonym}"]
    assert run("key", "rotate") == "key version 2 created\n"
    assert "ok:" in run("audit", "verify")

    dispose_engines()
    with Institution(config, "trust_center").engine().begin() as con:  # SQLite or PostgreSQL
        con.exec_driver_sql("UPDATE ledger_events SET actor = 'mallory' WHERE seq = 5")
    out = run("audit", "verify", exit_code=1)
    assert out.splitlines() == [
        "trust_center: BROKEN at seq 5: content does not match its hash (modified or moved)",
        "Error: trust-centre ledger broken at seq 5"]


def test_trust_center_cli__case_identification_contact_and_redeem(
        config: GenomlabConfig, tmp_path: Path, tc, sign_grant: Callable[..., SignedDocument]
) -> None:
    from tests.trust_center.conftest import enrol

    run = _cli(write_config_file(config, tmp_path / "genomlab.toml"))
    (person,) = enrol(tc, 1, start=60)
    tc.record_consent(kvnr=person.kvnr, le_ik=LE_IK, scope="caseIdentification",
                      decision="permit", actor="le")
    people = platform_people(config, "olga", "otto", "lena")
    for officer in ("olga", "otto"):
        tc.appoint_officer(officer, actor="tc-head")
    linkage = tc.issue_linkage_map(sign_grant(), actor="data_service",
                                   genome_pseudonyms=[person.genome])
    ((project_pseudonym, _, _),) = linkage.rows()
    request_id = run("reid", "request", "--project", "GDE-2026-001", "--pseudonym",
                     project_pseudonym, "--reason", "similar case", "--kind",
                     "caseIdentification", "--credentials", str(people["lena"])).strip()
    run("reid", "approve", request_id, "--credentials", str(people["olga"]))
    assert "1 of 2" in run("reid", "contact", request_id, "--le-ik", OTHER_LE_IK,
                           "--credentials", str(people["lena"]), exit_code=1)
    run("reid", "approve", request_id, "--credentials", str(people["otto"]))
    assert "case labels" in run("reid", "release", request_id, "--le-ik", LE_IK, exit_code=1)
    number, le_ik, le_name = run("reid", "contact", request_id, "--le-ik", OTHER_LE_IK,
                                 "--credentials", str(people["lena"])).strip().split("\t")
    assert (len(number), le_ik, le_name) == (64, LE_IK, "Uniklinik Test")
    assert run("reid", "redeem", number, "--le-ik", LE_IK).strip() == (
        f"{LE_IK}\t{person.arbeitsnummer}")
    assert "already redeemed" in run("reid", "redeem", number, "--le-ik", LE_IK, exit_code=1)


PERSON_COMMANDS = [
    ("case-numbers", "request"), ("case-numbers", "register"), ("consent", "record"),
    ("consent", "withdraw"), ("officer", "appoint"), ("approval", "revoke"),
    ("linkage-map", "issue"), ("reid", "request"), ("reid", "approve"), ("reid", "release"),
    ("reid", "contact"), ("reid", "redeem"), ("correction", "release"), ("key", "rotate"),
]


def test_trust_center_cli__no_command_takes_user(config: GenomlabConfig, tmp_path: Path) -> None:
    run = _cli(write_config_file(config, tmp_path / "genomlab.toml"))
    for command in PERSON_COMMANDS:
        out = run(*command, "--user", "olga", exit_code=2)
        assert "No such option '--user'" in out, command


def test_reid_approve__one_officer_under_two_names_is_refused(
        config: GenomlabConfig, tmp_path: Path, tc, sign_grant: Callable[..., SignedDocument]
) -> None:
    from tests.trust_center.conftest import enrol

    (person,) = enrol(tc, 1, start=70)
    tc.record_consent(kvnr=person.kvnr, le_ik=LE_IK, scope="reIdentification",
                      decision="permit", actor="le")
    people = platform_people(config, "olga", "otto", "rita")
    linkage = tc.issue_linkage_map(sign_grant(), actor="data_service",
                                   genome_pseudonyms=[person.genome])
    ((project_pseudonym, _, _),) = linkage.rows()
    # olga claims otto's name in the environment and in her credentials file
    as_otto = {"JUPYTERHUB_USER": "otto", "GENOMLAB_LOCAL_USER": "otto",
               "GENOMLAB_CREDENTIALS": str(people["olga"])}
    run = _cli(write_config_file(config, tmp_path / "genomlab.toml"), as_otto)
    run("officer", "appoint", "olga")
    run("officer", "appoint", "otto")
    request_id = run("reid", "request", "--project", "GDE-2026-001", "--pseudonym",
                     project_pseudonym, "--reason", "actionable finding", "--kind",
                     "reIdentification", "--credentials", str(people["rita"])).strip()
    assert run("reid", "approve", request_id) == "approved (1 of 2)\n"
    edited = tmp_path / "olga-as-otto.json"
    edited.write_text(json.dumps({**json.loads(people["olga"].read_text()), "user_id": "otto"}))
    refused = run("reid", "approve", request_id, "--credentials", str(edited), exit_code=1)
    assert "olga has already approved; a second officer must approve" in refused
    assert "1 of 2 officer approvals" in run("reid", "release", request_id, "--le-ik", LE_IK,
                                             exit_code=1)
    events = [(e.type, e.actor, e.payload.get("officer")) for e in tc.ledger.events()
              if e.type in ("reid.approved", "officer.appointed")]
    operator = get_operator_actor()
    assert events == [("officer.appointed", operator, "olga"),
                      ("officer.appointed", operator, "otto"),
                      ("reid.approved", "olga", "olga")]
