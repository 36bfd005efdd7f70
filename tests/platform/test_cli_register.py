"""``genomlab platform apply / review / register / users`` and the register export schema."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from click.testing import CliRunner

from genomlab.cli import main
from genomlab.clock import use_clock
from genomlab.platform.applications.register import (
    REGISTER_FIELDS,
    export_register,
    get_register_page,
)
from tests.platform.conftest import World, credentials_of, make_form

REPO = Path(__file__).resolve().parents[2]


def _run(world: World, *args: str, user: str | None = None) -> object:
    """``genomlab platform ARGS`` acting as ``user``: with ``user``'s credentials file (the
    embedded default's ``<home>/people/<user>/credentials.json``) in ``$GENOMLAB_CREDENTIALS``."""
    env = {"GENOMLAB_HOME": str(world.config.home)}
    with use_clock(world.clock):  # the CLI's "now" is the world's clock, not today's date
        if user:
            env["GENOMLAB_CREDENTIALS"] = str(credentials_of(world.config, user))
        return CliRunner().invoke(main, ["platform", *args], env=env)


def test_cli__full_review_round_trip(world: World, tmp_path: Path) -> None:
    template = _run(world, "apply", "template")
    assert template.exit_code == 0, template.output
    form = json.loads(template.output)
    form["team"] = ["tom"]
    path = tmp_path / "form.json"
    path.write_text(json.dumps(form))
    check = _run(world, "apply", "check", str(path))
    assert "[allowed] research-consent" in check.output
    assert "overall: " in check.output
    new = _run(world, "apply", "new", str(path), "--submit", user="alice")
    assert new.exit_code == 0, new.output
    app, project = re.match(r"(APP-\d+) submitted as project (GDE-\d{4}-\d{4})",
                            new.output).groups()
    queue = _run(world, "review", "queue")
    [header, rule, listed, pager] = queue.output.splitlines()
    assert header.split()[:4] == ["Application", "Project", "Status", "Days"]
    assert set(rule) == {"-", " "}
    assert listed.split()[:3] == [app, project, "submitted"]
    assert pager == "1 of 1 (offset 0)"
    [row] = json.loads(_run(world, "review", "queue", "--format", "json").output)
    assert (row["application_id"], row["project_id"], row["status"]) == (app, project,
                                                                        "submitted")
    assert _run(world, "review", "assign", app, user="hanna").exit_code == 0
    approved = _run(world, "review", "approve", app, "--valid-until", "2027-01-31", user="dora")
    assert approved.exit_code == 0, approved.output
    assert f"approved as {project} for alice, tom until 2027-01-31" in approved.output
    entitled = _run(world, "users", "entitlements", "tom")
    [header, _, entitlement, total] = entitled.output.splitlines()
    assert header.split() == ["Project", "Application", "Valid", "from", "Valid", "until"]
    assert entitlement.split()[:2] == [project, app]
    assert entitlement.endswith(" 2027-01-31")
    assert total == "1 active"
    assert json.loads(_run(world, "users", "entitlements", "tom", "--format", "json").output)[0][
        "valid_until"] == "2027-01-31"
    result = _run(world, "apply", "result", app, "--kind", "publication", "--title",
                  "Findings", "--reference", "doi:10.1/abc", user="tom")
    assert result.exit_code == 0, result.output
    shown = _run(world, "apply", "show", app)
    assert "approved" in shown.output
    assert "result_added" in shown.output


def test_cli_apply_check__refuses_what_apply_submit_refuses(world: World, tmp_path: Path
                                                            ) -> None:
    form = json.loads(_run(world, "apply", "template").output)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(form))
    passed = _run(world, "apply", "check", str(good))
    assert passed.exit_code == 0, passed.output
    assert "[refused]" not in passed.output
    form.update(team=["nobody"], accepted_terms="", level="individual",
                individual_justification="too short")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(form))
    checked = _run(world, "apply", "check", str(bad))
    assert checked.exit_code == 1, checked.output
    refused = [line.split(":")[0] for line in checked.output.splitlines()
               if line.startswith("[refused]")]
    assert refused == ["[refused] accepted_terms", "[refused] individual_justification",
                       "[refused] team"]
    assert checked.output.splitlines()[-1] == (
        f"Error: {bad}: 3 problem(s) that apply submit refuses (listed above)")
    submitted = _run(world, "apply", "new", str(bad), "--submit", user="alice")
    assert submitted.exit_code == 1
    assert ": accepted_terms: accept the terms of use" in submitted.output


def test_cli__refusals_are_one_line_errors(world: World) -> None:
    app = world.under_review()
    denied = _run(world, "review", "approve", app, user="hanna")
    assert denied.exit_code == 1
    assert denied.output.strip().splitlines() == [
        f"Error: approve {app}: hanna needs the role decider"]
    missing = _run(world, "review", "reject", app, user="dora")
    assert missing.exit_code == 2
    assert "--reason" in missing.output
    short = _run(world, "review", "reject", app, "--reason", "no", user="dora")
    assert short.output.strip() == f"Error: {app}: reason: reject needs a reason of at least 5 " \
                                   "characters"
    conflicted = _run(world, "review", "reject", app, "--reason", "Not necessary.", user="ute")
    assert "conflict of interest" in conflicted.output
    assert conflicted.exit_code == 1


def test_cli_users__admin_registers_grants_and_withdraws_with_their_credentials(
        world: World) -> None:
    from genomlab.platform.applications.entitlements import get_user_roles

    added = _run(world, "users", "add", "nina", "--institution", "RKI", user="root")
    assert added.output.strip() == "nina registered (RKI)"
    granted = _run(world, "users", "grant", "nina", "handler", user="root")
    assert granted.output.strip() == "nina is handler"
    assert {role.value for role in get_user_roles(world.config, "nina")} == {"handler"}
    refused = _run(world, "users", "grant", "nina", "decider", user="nina")
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: grant decider: nina needs the role admin")
    withdrawn = _run(world, "users", "withdraw", "nina", "handler", user="root")
    assert withdrawn.output.strip() == "nina is no longer handler"
    assert get_user_roles(world.config, "nina") == frozenset()
    again = _run(world, "users", "bootstrap-admin", "nina", "--institution", "BfArM")
    assert again.output.strip() == "Error: bootstrap: the platform already has an admin"
    assert _run(world, "review", "grant", "nina", "handler").exit_code == 2  # moved to users


def test_export_register__json_and_csv_follow_the_documented_schema(world: World,
                                                                    tmp_path: Path) -> None:
    approved = world.approved()
    world.wf.add_result("tom", approved, kind="publication", title="Penetrance, finally",
                        reference="doi:10.1000/1")
    world.wf.create_draft("alice", make_form(title="A private draft"))
    rejected = world.under_review(title='<script>window.__xss=1</script> "quoted", title')
    world.wf.reject("dora", rejected, "Purpose not covered by § 64e.")
    assert export_register(world.config, tmp_path / "r.json") == 2
    document = json.loads((tmp_path / "r.json").read_text())
    assert [f["name"] for f in document["fields"]] == [n for n, _ in REGISTER_FIELDS]
    entries = {e["application_id"]: e for e in document["entries"]}
    assert set(entries) == {approved, rejected}  # drafts are never public
    assert entries[approved]["decision"] == "approved"
    assert entries[approved]["authorised_users"] == ["Alice (Uni Tübingen)", "Tom (UKE Hamburg)"]
    assert entries[approved]["results"][0]["reference"] == "doi:10.1000/1"
    assert entries[approved]["duo_permission_id"] == "DUO:0000007"
    assert entries[rejected]["decision"] == "rejected"
    export_register(world.config, tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [n for n, _ in REGISTER_FIELDS]
    by_id = {r["application_id"]: r for r in rows}
    assert by_id[rejected]["title"] == '<script>window.__xss=1</script> "quoted", title'
    assert by_id[approved]["purposes"] == "research"
    assert json.loads(by_id[approved]["results"])[0]["title"] == "Penetrance, finally"


def test_export_register__csv_escapes_a_formula_title_and_json_stays_exact(
        world: World, tmp_path: Path) -> None:
    title = '=HYPERLINK("http://127.0.0.1/x","click")'
    world.submitted(title=title, lay_summary="@SUM(1+1) in a lay summary")
    export_register(world.config, tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["title"] == "'" + title  # a spreadsheet shows it as text, never runs it
    assert row["lay_summary"] == "'@SUM(1+1) in a lay summary"
    export_register(world.config, tmp_path / "r.json")
    [entry] = json.loads((tmp_path / "r.json").read_text())["entries"]
    assert entry["title"] == title


def test_register_schema_doc__lists_every_field() -> None:
    doc = (REPO / "docs" / "register-schema.md").read_text()
    documented = re.findall(r"^\| `(\w+)` \|", doc, flags=re.MULTILINE)
    assert documented == [name for name, _ in REGISTER_FIELDS]


def test_get_register_page__searches_and_pages(world: World) -> None:
    for i in range(5):
        world.submitted(title=f"Study number {i}")
    page = get_register_page(world.config, search="number 3")
    assert (page.total, [e["title"] for e in page.entries]) == (1, ["Study number 3"])
    assert get_register_page(world.config, limit=2, offset=4).total == 5
    assert len(get_register_page(world.config, limit=2, offset=4).entries) == 1
