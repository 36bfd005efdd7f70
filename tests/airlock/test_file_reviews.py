"""Per-file decisions: two different checkers on every file, "request changes" with a comment."""

from __future__ import annotations

import pytest

from genomlab.airlock.requests import (
    PROJECTION,
    get_released_dir,
    get_request_detail,
    open_airlock_ledger,
    record_file_review,
    record_review,
    submit_request,
)
from genomlab.errors import ConflictError, NotFoundError, PermissionDenied
from genomlab.ledger import projection_matches
from genomlab.platform.applications import Role, Workflow
from tests.airlock.conftest import Project

BY_SEX, BY_AGE = "sex,n\nF,60\nM,55\n", "age,n\n<50,40\n>=50,75\n"


def _two_files(project: Project) -> str:
    project.write("by_sex.csv", BY_SEX)
    project.write("by_age.csv", BY_AGE)
    return submit_request(project.config, project.directory, "alice", project.project,
                          ["by_sex.csv", "by_age.csv"])


def test_record_file_review__each_file_needs_two_different_checkers(project: Project) -> None:
    cfg, d = project.config, project.directory
    wf = Workflow(cfg)
    wf.register_user("root", "otto", institution="BfArM", name="Otto")
    wf.grant_role("root", "otto", Role.OUTPUT_CHECKER)
    wf.grant_role("root", "alice", Role.OUTPUT_CHECKER)
    request_id = _two_files(project)
    with pytest.raises(PermissionDenied, match="authors cannot review"):
        record_file_review(cfg, d, "alice", request_id, "by_sex.csv", "approve", "mine")
    with pytest.raises(NotFoundError, match=r"no file 'nope\.csv'"):
        record_file_review(cfg, d, "hanna", request_id, "nope.csv", "approve", "ok")
    assert record_file_review(cfg, d, "hanna", request_id, "by_sex.csv", "approve",
                              "all ≥ 10") == "partially_reviewed"
    with pytest.raises(ConflictError, match=r"hanna has already decided on by_sex\.csv"):
        record_file_review(cfg, d, "hanna", request_id, "by_sex.csv", "approve", "again")
    assert record_file_review(cfg, d, "ute", request_id, "by_sex.csv", "approve",
                              "agree") == "partially_reviewed"
    with pytest.raises(ConflictError, match=r"by_sex\.csv already has its 2 decisions"):
        record_file_review(cfg, d, "otto", request_id, "by_sex.csv", "approve", "third")
    # by_age.csv is decided by two other checkers: the rule holds per file
    assert record_file_review(cfg, d, "otto", request_id, "by_age.csv", "approve",
                              "bands wide") == "partially_reviewed"
    assert not get_released_dir(cfg, project.project).exists()
    assert record_file_review(cfg, d, "ute", request_id, "by_age.csv", "approve",
                              "fine") == "released"
    released = get_released_dir(cfg, project.project) / request_id
    assert sorted(p.name for p in released.iterdir()) == ["by_age.csv", "by_sex.csv"]
    detail = get_request_detail(cfg, request_id)
    assert {f["name"]: [x["reviewer"] for x in f["decisions"]] for f in detail.files} == {
        "by_age.csv": ["otto", "ute"], "by_sex.csv": ["hanna", "ute"]}
    # only ute decided every file: hers is the one whole-request review
    assert [(r["reviewer"], r["decision"]) for r in detail.reviews] == [("ute", "approve")]
    assert projection_matches(open_airlock_ledger(cfg), PROJECTION) == []


def test_record_file_review__changes_requested_with_comment_releases_nothing(
        project: Project) -> None:
    cfg, d = project.config, project.directory
    request_id = _two_files(project)
    assert record_review(cfg, d, "hanna", request_id, "approve", "all ≥ 10") == \
        "partially_reviewed"
    record_file_review(cfg, d, "ute", request_id, "by_sex.csv", "approve", "fine")
    status = record_file_review(cfg, d, "ute", request_id, "by_age.csv", "changes",
                                "merge the age bands into one row per decade")
    assert status == "changes_requested"
    detail = get_request_detail(cfg, request_id)
    assert detail.request["status"] == "changes_requested"
    by_age = next(f for f in detail.files if f["name"] == "by_age.csv")
    assert [(x["reviewer"], x["decision"], x["reason"]) for x in by_age["decisions"]] == [
        ("hanna", "approve", "all ≥ 10"),
        ("ute", "changes", "merge the age bands into one row per decade")]
    assert [(r["reviewer"], r["decision"]) for r in detail.reviews] == [
        ("hanna", "approve"), ("ute", "changes")]
    assert not get_released_dir(cfg, project.project).exists()
    with pytest.raises(ConflictError, match="the request is changes_requested"):
        record_file_review(cfg, d, "hanna", request_id, "by_age.csv", "approve", "late")
    assert projection_matches(open_airlock_ledger(cfg), PROJECTION) == []
