"""Fixtures: the committed world through the real intake once per session, copied per test.

The world home is built as in production: ``genomlab.intake.run_world_intake`` (the session's
``world_intake`` of tests/conftest.py, copied here) takes
``data_samples/world`` through the trust centre, the GRZs (genotypes into their Hail stores) and
the KDKs; the platform then holds applications in every state, and the data service's
feasibility index is built over the nodes' real readers (``genomlab.data_service.adapters``).
Because GRZ intake stores genotypes with Hail, every test of the world home uses Hail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import ClinicalNodeReader, GenomeCenterReader, get_node_readers
from genomlab.data_service.index import build_feasibility_index
from genomlab.messages import CohortCriteria
from genomlab.platform.applications import ApplicationForm, Role, Workflow
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.models import TERMS_OF_USE_VERSION
from genomlab.platform.applications.store import read_platform
from tests.conftest import WorldIntake, copy_home

INDEXED_ON = date(2026, 11, 1)
"""The day the session's feasibility index is built (age bands): fixed, never today."""

STAFF = {"admin": (Role.ADMIN,), "hanna": (Role.HANDLER,), "dora": (Role.DECIDER,),
         "kurt": (Role.COMMITTEE,)}
RESEARCHERS = ("alice", "tom", "bob")
RARE = CohortCriteria(disease_types=("rare",))
JUSTIFICATION = ("Variant-level association with the clinical phenotype needs individual "
                 "genotypes and phenotypes of each person in the cohort.")


@dataclass(frozen=True)
class Applications:
    """Application ids of the world home, by what happened to them."""

    individual: str
    aggregated: str
    revoked: str
    expired: str
    unapproved: str
    projects: dict[str, str]


def file_application(wf: Workflow, *, level: str = "individual",
                     clinical_fields: tuple[str, ...] = ("sex", "hpo_terms", "diagnosis"),
                     criteria: CohortCriteria = RARE,
                     approve: bool = True, valid: tuple[date, date] | None = None) -> str:
    form = ApplicationForm(
        title="Genome sequencing in rare disease", lay_summary="What causes rare diseases.",
        scientific_abstract="Association of variants with phenotypes.", purposes=("research",),
        duo_permission="HMB", data_categories=("genomic", "clinical"),
        clinical_fields=clinical_fields, criteria=criteria, level=level,  # type: ignore[arg-type]
        individual_justification=JUSTIFICATION if level == "individual" else None,
        ethics_vote_reference="EK 1/2026", accepted_terms=TERMS_OF_USE_VERSION, team=("tom",))
    application_id = wf.create_draft("alice", form)
    wf.submit("alice", application_id)
    if approve:
        wf.assign_handler("hanna", application_id)
        wf.request_committee_review("hanna", application_id)
        wf.record_vote("kurt", application_id, "approve")
        start, end = valid or (None, None)
        wf.approve("dora", application_id, valid_from=start, valid_until=end)
    return application_id


def set_up_platform(config: GenomlabConfig) -> Applications:
    wf = Workflow(config)
    wf.bootstrap_admin("admin", institution="BfArM")
    for user, roles in STAFF.items():
        if user != "admin":
            wf.register_user("admin", user, institution="BfArM")
        for role in roles:
            if user != "admin":
                wf.grant_role("admin", user, role)
    for user in RESEARCHERS:
        wf.register_user("admin", user, institution="Uni Tübingen")
    individual = file_application(wf)
    aggregated = file_application(wf, level="aggregated", clinical_fields=("hpo_terms", "sex"),
                                  criteria=CohortCriteria())
    revoked = file_application(wf)
    wf.revoke("dora", revoked, "breach of the terms of use")
    expired = file_application(wf, valid=(date(2025, 1, 1), date(2025, 6, 30)))
    unapproved = file_application(wf, approve=False)
    with read_platform(config) as conn:
        projects = dict(conn.execute(select(t.applications.c.application_id,
                                            t.applications.c.project_id)).all())
    return Applications(individual, aggregated, revoked, expired, unapproved, projects)


def is_consented(sample: dict[str, Any], consents: dict[str, dict[str, Any]]) -> bool:
    """Research consent given and not withdrawn (per truth.json)."""
    record = consents[sample["sample"]]
    withdrawn = any(w["scope"] == "research" for w in record["withdrawals"])
    return sample["research_consent"] == "permit" and not withdrawn


@dataclass
class WorldHome:
    """The session's world home, the world's truth and the applications filed in it."""

    home: Path
    truth: dict[str, Any]
    applications: Applications

    @property
    def consented_samples(self) -> list[dict[str, Any]]:
        """The samples a data service may use: research consent given, not withdrawn."""
        consents = {c["sample"]: c for c in self.truth["consents"]}
        return [s for s in self.truth["samples"] if is_consented(s, consents)]


@pytest.fixture(scope="session")
def world_home(world_intake: WorldIntake, hl: Any,
               tmp_path_factory: pytest.TempPathFactory) -> WorldHome:
    """The session's world intake (copied), applications filed, the index built."""
    config = copy_home(world_intake.config.home, tmp_path_factory.mktemp("ds-world") / "home")
    applications = set_up_platform(config)
    build_feasibility_index(config, *get_node_readers(config, hl), on=INDEXED_ON)
    return WorldHome(config.home, world_intake.truth, applications)


@pytest.fixture
def world_config(world_home: WorldHome, tmp_path: Path) -> GenomlabConfig:
    """A copy of the world home for one test (its stores, keys, genotypes and index)."""
    return copy_home(world_home.home, tmp_path / "home")


@pytest.fixture
def genome_nodes(world_config: GenomlabConfig, hl: Any) -> list[GenomeCenterReader]:
    """The real readers of the test home's GRZs."""
    return get_node_readers(world_config, hl)[0]


@pytest.fixture
def clinical_nodes(world_config: GenomlabConfig) -> list[ClinicalNodeReader]:
    """The real readers of the test home's KDKs."""
    return get_node_readers(world_config)[1]


def get_dataset_pseudonyms(config: GenomlabConfig, truth: dict[str, Any]) -> set[str]:
    """Every genome- and clinical-dataset pseudonym the world's nodes hold (either store)."""
    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.genome_center.intake import GenomeCenter

    nodes = truth["institutions"]
    genome = {d["genome_pseudonym"] for node in nodes["grz"]
              for d in GenomeCenter(config, node).get_donors()}
    clinical = {r["clinical_pseudonym"] for node in nodes["kdk"]
                for r in ClinicalNode(config, node).get_records() if r["clinical_pseudonym"]}
    return genome | clinical
