"""Declared events: the ledger refuses what an institution did not declare, and every institution
ledger, however it is opened, carries the institution's full projection set."""

from __future__ import annotations

import importlib
import json
import pkgutil
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect

from genomlab.airlock.directory import PlatformDirectory
from genomlab.airlock.requests import (
    get_outputs_dir,
    open_airlock_ledger,
    record_review,
    submit_request,
    withdraw_request,
)
from genomlab.clinical_node.intake import ClinicalNode
from genomlab.clinical_node.store import open_clinical_node_ledger
from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import ClinicalNodeReader
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.index import build_feasibility_index
from genomlab.data_service.store import open_data_service_ledger
from genomlab.errors import EventRefused, GenomlabError, PermissionDenied
from genomlab.genome_center.intake import GenomeCenter
from genomlab.genome_center.store import open_genome_center_ledger
from genomlab.institution import Institution, existing_institutions
from genomlab.intake import register_world_nodes, request_world_case_numbers, run_kdk_intake
from genomlab.ledger import DispatchProjection, Ledger, projection_matches
from genomlab.ledgers import LEDGER_SPECS, open_ledger
from genomlab.messages import SignedDocument
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.store import open_platform_ledger as open_applications_ledger
from genomlab.platform.nodes import NodeRegistry, open_registry_ledger
from genomlab.platform.store import open_platform_ledger
from genomlab.reports.runner import open_reports_ledger
from genomlab.trust_center.reidentification import request_reidentification
from genomlab.trust_center.service import TrustCenter
from genomlab.trust_center.store import open_trust_center_ledger
from tests.conftest import REPO, config_for
from tests.migrations.conftest import KINDS, read_release1_dump
from tests.platform.conftest import make_form, populate

GRZ, KDK = "GRZK00001", "KDKTUE005"

SUBPACKAGES = {"platform": "genomlab.platform", "trust_center": "genomlab.trust_center",
               "grz": "genomlab.genome_center", "kdk": "genomlab.clinical_node",
               "data_service": "genomlab.data_service", "airlock": "genomlab.airlock",
               "reports": "genomlab.reports"}

Opener = Callable[[GenomlabConfig], Ledger]
OPENERS: dict[str, list[Opener]] = {
    "platform": [open_platform_ledger, open_applications_ledger, open_registry_ledger,
                 lambda c: NodeRegistry(c).ledger, lambda c: Workflow(c).ledger],
    "trust_center": [open_trust_center_ledger, lambda c: TrustCenter(c).ledger],
    "grz": [lambda c: open_genome_center_ledger(c, GRZ), lambda c: GenomeCenter(c, GRZ).ledger],
    "kdk": [lambda c: open_clinical_node_ledger(c, KDK), lambda c: ClinicalNode(c, KDK).ledger],
    "data_service": [open_data_service_ledger],
    "airlock": [open_airlock_ledger],
    "reports": [open_reports_ledger],
}
"""Each institution's openers; :func:`genomlab.ledgers.open_ledger` is added for every kind."""


def _defined_projection_classes(package: str) -> set[type]:
    """Every projection class (``metadata`` + ``apply``) defined in an institution's package."""
    found: set[type] = set()
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name.rsplit(".", 1)[-1] in ("cli", "nodes_cli", "demo"):
            continue  # front ends and demo set-ups define no state
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (isinstance(value, type) and value.__module__ == module.__name__
                    and isinstance(getattr(value, "metadata", None), MetaData)
                    and callable(getattr(value, "apply", None))):
                found.add(value)
    return found


def _institution(config: GenomlabConfig, kind: str) -> Institution:
    node = {"grz": GRZ, "kdk": KDK}.get(kind)
    return Institution(config, kind, node)  # type: ignore[arg-type]


# --- refusals -----------------------------------------------------------------------------------


def test_append__undeclared_type_is_refused_and_nothing_written(config: GenomlabConfig) -> None:
    ledger = open_platform_ledger(config)
    with pytest.raises(EventRefused, match=r"platform: event type 'node.registerd' is not "
                                           r"declared") as refused:
        ledger.append("node.registerd", {"node_id": GRZ, "kind": "grz", "name": "GRZ"},
                      actor="op")
    assert (refused.value.event_type, refused.value.field) == ("node.registerd", None)
    assert ledger.head()[0] == 0
    assert list(ledger.events()) == []
    assert NodeRegistry(config).list_nodes() == []


def test_append__invalid_payload_is_refused_naming_the_field(config: GenomlabConfig) -> None:
    ledger = open_platform_ledger(config)
    with pytest.raises(EventRefused, match=r"event node.applied: field kind: Input should be "
                                           r"'grz', 'kdk', 'data_service', 'trust_center' "
                                           r"or 'airlock'") as refused:
        ledger.append("node.applied", {"node_id": GRZ, "kind": "lab", "name": "GRZ"}, actor="op")
    assert (refused.value.event_type, refused.value.field) == ("node.applied", "kind")
    with pytest.raises(EventRefused, match=r"event node.applied: field name: Field required"):
        ledger.append("node.applied", {"node_id": GRZ, "kind": "grz"}, actor="op")
    with pytest.raises(EventRefused, match=r"field colour: Extra inputs are not permitted"):
        ledger.append("node.applied", {"node_id": GRZ, "kind": "grz", "name": "G",
                                       "colour": "red"}, actor="op")
    with pytest.raises(EventRefused, match=r"event application.approved: field "
                                           r"approval.body.team: Field required"):
        ledger.append("application.approved", {
            "application_id": "APP-000001", "project_id": "GDE-2026-0001",
            "valid_from": "2026-01-01", "valid_until": "2027-01-01",
            "approval": {"body": {}}}, actor="dora")
    assert ledger.head()[0] == 0
    assert NodeRegistry(config).list_nodes() == []


def test_transaction__refused_event_rolls_back_the_whole_transaction(
        config: GenomlabConfig) -> None:
    ledger = open_platform_ledger(config)

    def apply_then_refused() -> None:
        with ledger.transaction() as tx:
            tx.append("node.applied", {"node_id": GRZ, "kind": "grz", "name": "GRZ"}, actor="op")
            tx.append("pruefbericht.refused", {"node_id": GRZ, "reason": "x", "qc_passed": True},
                      actor="op")

    with pytest.raises(EventRefused, match="field qc_passed"):
        apply_then_refused()
    assert ledger.head()[0] == 0
    assert NodeRegistry(config).list_nodes() == []


def test_append__ledger_opened_without_spec_is_read_only(config: GenomlabConfig) -> None:
    reader = Institution(config, "platform").ledger()
    with pytest.raises(GenomlabError, match="opened for reading only"):
        reader.append("node.applied", {"node_id": GRZ, "kind": "grz", "name": "GRZ"}, actor="op")
    assert reader.head()[0] == 0


def test_institution_ledger__spec_of_another_kind_is_refused(config: GenomlabConfig) -> None:
    with pytest.raises(ValueError, match="grz:GRZK00001: ledger spec of platform does not fit"):
        Institution(config, "grz", GRZ).ledger(LEDGER_SPECS["platform"])


# --- full projection sets -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SUBPACKAGES))
def test_openers__every_opener_yields_the_full_projection_set(kind: str, tmp_path: Path) -> None:
    config = config_for(tmp_path / "home")
    defined = _defined_projection_classes(SUBPACKAGES[kind])
    assert defined  # every institution projects its events into tables
    for opener in [*OPENERS[kind], lambda c: open_ledger(_institution(c, kind))]:
        ledger = opener(config)
        assert ledger.spec is LEDGER_SPECS[kind]  # type: ignore[index]
        assert {type(p) for p in ledger.projections} == defined
        live = set(inspect(ledger.engine).get_table_names())
        assert {t for p in ledger.projections for t in p.metadata.tables} <= live


@pytest.mark.parametrize("kind", sorted(SUBPACKAGES))
def test_projection_handlers__handle_declared_types_only(kind: str) -> None:
    spec = LEDGER_SPECS[kind]  # type: ignore[index]
    for projection in spec.projections:
        assert isinstance(projection, DispatchProjection)
        assert set(projection.handlers) <= spec.registry.types, type(projection).__name__


# --- what real flows append ---------------------------------------------------------------------


def _run_flow(config: GenomlabConfig, world: Path) -> None:
    """Nodes registered, case numbers, KDK intake with Prüfberichte, an application's life,
    an airlock release and a withdrawn request, consents, keys, a linkage map, a refused
    re-identification, a revocation, a feasibility index and query: the flows without Hail."""
    register_world_nodes(config, world, actor="test")
    request_world_case_numbers(config, world)
    run_kdk_intake(config, [world / "kdk"])
    wf = Workflow(config)
    populate(wf)
    app = wf.create_draft("alice", make_form())
    wf.edit("alice", app, make_form(title="Penetrance of BRCA1 and BRCA2 variants"))
    wf.submit("alice", app)
    wf.assign_handler("hanna", app)
    wf.return_application("hanna", app, "name the cohort size")
    project = wf.submit("alice", app)
    wf.assign_handler("hanna", app)
    wf.request_committee_review("hanna", app, "individual level")
    wf.record_vote("kurt", app, "approve", "fine")
    approval = wf.approve("dora", app)
    wf.add_result("alice", app, kind="publication", title="BRCA1", reference="doi:10/x")
    rejected = wf.create_draft("bob", make_form())
    wf.submit("bob", rejected)
    wf.reject("dora", rejected, "out of scope")
    outputs = get_outputs_dir(config, project)
    outputs.mkdir(parents=True)
    (outputs / "by_sex.csv").write_text("sex,n\nF,60\nM,55\n")
    directory = PlatformDirectory(config)
    released = submit_request(config, directory, "alice", project, ["by_sex.csv"])
    record_review(config, directory, "hanna", released, "approve", "all >= 10")
    record_review(config, directory, "ute", released, "approve", "agree")
    withdrawn = submit_request(config, directory, "alice", project, ["by_sex.csv"])
    withdraw_request(config, "alice", withdrawn, "sent twice")
    _run_trust_center_flow(config, world, approval, project)
    wf.revoke("dora", app, "breach of the terms of use")
    revoked = next(e for e in open_platform_ledger(config).events(type="application.revoked"))
    TrustCenter(config).receive_revocation(
        SignedDocument.model_validate(revoked.payload["revocation"]), actor="data_service")
    _run_data_service_flow(config, world)


def _run_trust_center_flow(config: GenomlabConfig, world: Path, approval: SignedDocument,
                           project: str) -> None:
    tc = TrustCenter(config)
    sample = json.loads((world / "truth.json").read_text())["samples"][0]
    hospital = {"kvnr": sample["kvnr"], "le_ik": sample["hospital_ik"], "actor": "le"}
    tc.record_consent(**hospital, scope="research", decision="permit")
    tc.appoint_officer("olga", actor="tc-admin")
    tc.rotate_keys(actor="tc-admin")
    tc.issue_linkage_map(approval, actor="data_service")
    tc.rekey_project(project, actor="tc-admin")
    with pytest.raises(PermissionDenied):
        request_reidentification(tc, project_id=project, project_pseudonym="unknown",
                                 reason="incidental finding", kind="reIdentification",
                                 requester="alice")
    tc.withdraw_research_consent(**hospital)


def _run_data_service_flow(config: GenomlabConfig, world: Path) -> None:
    kdks = [ClinicalNodeReader(config, node.name) for node in sorted((world / "kdk").iterdir())]
    build_feasibility_index(config, [], kdks, on=date(2026, 11, 1))
    run_feasibility_query(config, make_request(["diseaseType:rare"], granularity="count"),
                          user="alice")


@pytest.fixture(scope="module")
def flow_home(tmp_path_factory: pytest.TempPathFactory) -> GenomlabConfig:
    base = tmp_path_factory.mktemp("events")
    world = base / "world"
    shutil.copytree(REPO / "data_samples" / "world", world)
    config = config_for(base / "home")
    _run_flow(config, world)
    return config


def test_flow_ledgers__every_appended_event_is_declared(flow_home: GenomlabConfig) -> None:
    seen: dict[str, set[str]] = {}
    for inst in existing_institutions(flow_home):
        ledger = open_ledger(inst)
        for event in ledger.events():
            ledger.spec.registry.validate(event.type, event.payload)  # type: ignore[union-attr]
            seen.setdefault(inst.kind, set()).add(event.type)
        assert [p for p in ledger.projections if projection_matches(ledger, p)] == []
    assert {"platform", "trust_center", "kdk", "airlock", "data_service"} <= set(seen)
    for kind, types in seen.items():
        assert types <= LEDGER_SPECS[kind].registry.types  # type: ignore[index]


@pytest.mark.parametrize("kind", KINDS)
def test_release1_events__still_fit_the_declarations(kind: str) -> None:
    dump = read_release1_dump(kind)["tables"]["ledger_events"]
    rows = [dict(zip(dump["columns"], row, strict=True)) for row in dump["rows"]]
    registry = LEDGER_SPECS[kind].registry  # type: ignore[index]
    assert rows
    for row in rows:
        registry.validate(row["type"], json.loads(row["payload"]))
