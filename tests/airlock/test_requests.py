"""Release requests on the real platform: checks, two independent reviewers, release, memory."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from genomlab.airlock.requests import (
    PROJECTION,
    get_queue,
    get_released_dir,
    get_request_detail,
    open_airlock_ledger,
    record_review,
    submit_request,
    withdraw_request,
)
from genomlab.cli import main
from genomlab.errors import ConflictError, PermissionDenied, ValidationFailed
from genomlab.ledger import projection_matches
from genomlab.platform.applications.register import get_register_page
from tests.airlock.conftest import Project
from tests.conftest import write_config_file

BY_SEX = "sex,n\nF,60\nM,55\n"


def test_submit_request__checks_recorded_per_file(project: Project) -> None:
    project.write("by_sex.csv", BY_SEX)
    project.write("plot.png", "png")
    project.write("plot.csv", "bin,count\n1,30\n2,40\n")
    request_id = submit_request(project.config, project.directory, "alice", project.project,
                                ["by_sex.csv", "plot.png"])
    detail = get_request_detail(project.config, request_id)
    status = {f["name"]: f["check_status"] for f in detail.files}
    assert status == {"by_sex.csv": "pass", "plot.png": "pass", "plot.csv": "pass"}
    assert detail.request["status"] == "submitted"
    assert detail.differencing.status == "pass"


def test_submit_request__failing_output_needs_justification(project: Project) -> None:
    project.write("small.csv", "sex,n\nF,60\nM,4\n")
    with pytest.raises(ValidationFailed, match=r"small\.csv fail the disclosure checks"):
        submit_request(project.config, project.directory, "alice", project.project,
                       ["small.csv"])
    request_id = submit_request(project.config, project.directory, "alice", project.project,
                                ["small.csv"], justification="M is a structural total")
    detail = get_request_detail(project.config, request_id)
    assert detail.files[0]["check_status"] == "fail"
    assert detail.files[0]["results"][0].reasons == [
        "row 1 (sex=M): n = 4 is below the minimum cell count 10"]


def test_submit_request__outsider_and_path_escape_refused(project: Project) -> None:
    project.write("by_sex.csv", BY_SEX)
    with pytest.raises(PermissionDenied, match="bob is not an entitled member"):
        submit_request(project.config, project.directory, "bob", project.project, ["by_sex.csv"])
    with pytest.raises(PermissionDenied, match="only files under"):
        submit_request(project.config, project.directory, "alice", project.project,
                       ["../release/secret.csv"])


def test_record_review__two_independent_approvals_release(project: Project) -> None:
    project.write("by_sex.csv", BY_SEX)
    cfg, d = project.config, project.directory
    request_id = submit_request(cfg, d, "alice", project.project, ["by_sex.csv"])
    with pytest.raises(PermissionDenied, match="not an output checker"):
        record_review(cfg, d, "alice", request_id, "approve", "fine")
    with pytest.raises(PermissionDenied, match="not an output checker"):
        record_review(cfg, d, "tom", request_id, "approve", "fine")
    with pytest.raises(ValidationFailed, match="needs a reason"):
        record_review(cfg, d, "hanna", request_id, "approve", " ")
    assert record_review(cfg, d, "hanna", request_id, "approve", "all ≥ 10") == \
        "partially_reviewed"
    with pytest.raises(ConflictError, match="already reviewed"):
        record_review(cfg, d, "hanna", request_id, "approve", "again")
    assert record_review(cfg, d, "ute", request_id, "approve", "agree") == "released"

    released = get_released_dir(cfg, project.project) / request_id / "by_sex.csv"
    assert released.read_text() == BY_SEX
    assert not released.is_relative_to(cfg.workspace_dir(project.project))
    [event] = open_airlock_ledger(cfg).events(type="airlock.request.released")
    import hashlib
    assert event.payload["files"][0]["sha256"] == hashlib.sha256(BY_SEX.encode()).hexdigest()
    assert event.payload["register_entry"] == project.application_id
    [entry] = get_register_page(cfg, search=project.project).entries
    assert any(request_id in r["reference"] and event.payload["files"][0]["sha256"]
               in r["reference"] for r in entry["results"])
    [submitted] = open_airlock_ledger(cfg).events(type="airlock.request.submitted")
    assert submitted.payload["criteria"]["min_cell_count"] == 10  # SATRE 3.3.09
    assert projection_matches(open_airlock_ledger(cfg), PROJECTION) == []


def test_record_review__one_rejection_rejects(project: Project) -> None:
    project.write("by_sex.csv", BY_SEX)
    cfg, d = project.config, project.directory
    request_id = submit_request(cfg, d, "alice", project.project, ["by_sex.csv"])
    record_review(cfg, d, "hanna", request_id, "approve", "ok")
    assert record_review(cfg, d, "ute", request_id, "reject", "intended use unclear") == \
        "rejected"
    assert not get_released_dir(cfg, project.project).exists()
    with pytest.raises(ConflictError, match="is rejected"):
        withdraw_request(cfg, "alice", request_id, "too late")


def test_record_review__concurrent_reviews_serialised(project: Project) -> None:
    project.write("by_sex.csv", BY_SEX)
    cfg, d = project.config, project.directory
    request_id = submit_request(cfg, d, "alice", project.project, ["by_sex.csv"])
    outcomes: dict[str, str] = {}

    def review(who: str) -> None:
        outcomes[who] = record_review(cfg, d, who, request_id, "approve", "ok")

    threads = [threading.Thread(target=review, args=(who,)) for who in ("hanna", "ute")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["partially_reviewed", "released"]
    assert len(list(open_airlock_ledger(cfg).events(type="airlock.request.released"))) == 1


def test_submit_request__differencing_with_earlier_release(project: Project) -> None:
    cfg, d = project.config, project.directory
    project.write("by_sex.csv", BY_SEX)
    first = submit_request(cfg, d, "alice", project.project, ["by_sex.csv"])
    record_review(cfg, d, "hanna", first, "approve", "ok")
    record_review(cfg, d, "ute", first, "approve", "ok")
    project.write("adults_by_sex.csv", "sex,n\nF,57\nM,55\n")
    with pytest.raises(ValidationFailed, match="differencing with earlier releases"):
        submit_request(cfg, d, "alice", project.project, ["adults_by_sex.csv"])
    second = submit_request(cfg, d, "alice", project.project, ["adults_by_sex.csv"],
                            justification="different cohort version")
    detail = get_request_detail(cfg, second)
    assert detail.files[0]["check_status"] == "pass"  # safe alone
    assert detail.differencing.status == "fail"
    earlier = f"{first}/by_sex.csv"
    assert detail.differencing.reasons == [
        f"adults_by_sex.csv row 0 (sex=F) and {earlier}: n differs by 3 (57 vs 60); "
        "if one population contains the other, the difference is a cell below 10",
        f"adults_by_sex.csv and {earlier}: the totals of n differ by 3 (112 vs 115); "
        "nested populations would reveal a group below 10"]


def test_airlock_cli__request_review_status(project: Project, tmp_path) -> None:
    project.write("by_sex.csv", BY_SEX)
    cfg = write_config_file(project.config, tmp_path / "genomlab.toml")

    def run(user: str, *args: str):
        """As ``user``'s credentials; the names in the environment say someone else."""
        from tests.people_credentials import credentials_for

        credentials = str(credentials_for(project.config, user))
        return CliRunner().invoke(main, ["--config", str(cfg), "airlock", *args],
                                  env={"GENOMLAB_CREDENTIALS": credentials,
                                       "JUPYTERHUB_USER": "hanna", "GENOMLAB_LOCAL_USER": "ute"})

    checked = run("alice", "check", project.project, "by_sex.csv")
    assert checked.exit_code == 0, checked.output
    assert checked.output.splitlines() == ["by_sex.csv: pass", "differencing: pass"]
    submitted = run("alice", "request", project.project, "by_sex.csv")
    assert submitted.exit_code == 0, submitted.output
    assert submitted.output.splitlines() == [
        "AR-000001: submitted, checks pass; waiting for two reviewers"]
    refused = run("alice", "review", "AR-000001", "approve", "--reason", "mine")
    assert refused.exit_code == 1
    assert "not an output checker" in refused.output
    assert run("hanna", "review", "AR-000001", "approve", "--reason", "ok").exit_code == 0
    assert run("ute", "review", "AR-000001", "approve", "--reason", "ok").exit_code == 0
    queue = run("hanna", "queue", "--all")
    [header, _, listed, count] = [line.split() for line in queue.output.splitlines()]
    assert header == ["Request", "Project", "Author", "Status", "Checks", "Reviews", "Submitted"]
    assert listed[:6] == ["AR-000001", project.project, "alice", "released", "pass", "2"]
    assert count == ["1", "requests"]
    assert run("bob", "queue", "--all").output.splitlines()[-1] == "0 requests"  # not his
    outsider = run("bob", "check", project.project, "by_sex.csv")
    assert outsider.exit_code == 1
    assert "bob is not an entitled member" in outsider.output
    assert get_queue(project.config, statuses=["released"])[0]["n_reviews"] == 2
    again = run("hanna", "release", "AR-000001")
    assert again.exit_code == 0
    assert again.output.splitlines() == ["AR-000001: already released"]
    for command in (["request", project.project, "by_sex.csv"], ["withdraw", "AR-000001"],
                    ["review", "AR-000001", "approve", "--reason", "ok"],
                    ["release", "AR-000001"]):
        named = run("alice", *command, "--user", "hanna")
        assert named.exit_code == 2
        assert "No such option '--user'" in named.output


def test_record_review__author_who_is_a_checker_cannot_review(config) -> None:
    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock.requests import get_outputs_dir
    from genomlab.platform.applications import Workflow
    from tests.platform.conftest import make_form, populate

    wf = Workflow(config)
    populate(wf)
    application_id = wf.create_draft("ute", make_form(team=()))  # ute is a handler
    project_id = wf.submit("ute", application_id)
    wf.assign_handler("hanna", application_id)
    wf.approve("dora", application_id)
    outputs = get_outputs_dir(config, project_id)
    outputs.mkdir(parents=True)
    (outputs / "by_sex.csv").write_text(BY_SEX)
    directory = PlatformDirectory(config)
    request_id = submit_request(config, directory, "ute", project_id, ["by_sex.csv"])
    assert directory.is_output_checker("ute")
    with pytest.raises(PermissionDenied, match="authors cannot review their own request"):
        record_review(config, directory, "ute", request_id, "approve", "mine is fine")
