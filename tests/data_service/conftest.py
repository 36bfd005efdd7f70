"""Fixtures: the 60-patient world enrolled once per session, copied into each test's home."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.data_service.index import build_feasibility_index
from genomlab.messages import CohortCriteria
from genomlab.platform.applications import ApplicationForm, Role, Workflow
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.models import TERMS_OF_USE_VERSION
from genomlab.platform.applications.store import read_platform
from tests.conftest import config_for, copy_home
from tests.data_service.world import (
    WORLD,
    EnrolledWorld,
    WorldClinicalNode,
    WorldGenomeNode,
    compute_site_counts,
    enrol_world,
)

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


@dataclass
class WorldHome:
    home: Path
    world: EnrolledWorld
    applications: Applications
    mt_paths: dict[str, Path]


@pytest.fixture(scope="session")
def world_home(tmp_path_factory: pytest.TempPathFactory) -> WorldHome:
    home = tmp_path_factory.mktemp("ds-world") / "home"
    config = config_for(home)
    world = enrol_world(config)
    applications = set_up_platform(config)
    return WorldHome(home, world, applications, {})


@pytest.fixture
def world_config(world_home: WorldHome, tmp_path: Path) -> GenomlabConfig:
    """A copy of the world home for one test."""
    return copy_home(world_home.home, tmp_path / "home")


@pytest.fixture
def clinical_nodes(world_home: WorldHome) -> list[WorldClinicalNode]:
    return [WorldClinicalNode(kdk, world_home.world)
            for kdk in world_home.world.truth["institutions"]["kdk"]]


@pytest.fixture(scope="session")
def grz_mts(hl: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    """Each GRZ's VCF as a MatrixTable (once per session) and its site counts."""
    from genomlab.workspace.io import import_vcf_to_mt

    out = tmp_path_factory.mktemp("grz-mts")
    result = {}
    for grz in ("GRZK00001", "GRZTUE002", "GRZHD0003"):
        path = out / f"{grz}.mt"
        import_vcf_to_mt(hl, WORLD / "genotypes" / f"{grz}.vcf.bgz", path, n_partitions=2)
        result[grz] = (path, compute_site_counts(hl, path))
    return result


@pytest.fixture
def genome_nodes(world_home: WorldHome, grz_mts: dict[str, tuple[Path, Any]]
                 ) -> list[WorldGenomeNode]:
    return [WorldGenomeNode(grz, world_home.world, path, sites)
            for grz, (path, sites) in grz_mts.items()]


@pytest.fixture
def indexed_config(world_config: GenomlabConfig, clinical_nodes: list[WorldClinicalNode],
                   world_home: WorldHome) -> GenomlabConfig:
    """The world home with a feasibility index over all nodes (GRZ sites left out: no Hail)."""
    import polars as pl

    class NoSites(WorldGenomeNode):
        def get_site_counts(self) -> pl.DataFrame:
            return pl.DataFrame(schema={"variant": pl.String, "n_carriers": pl.Int64})

    grzs = [NoSites(grz, world_home.world, Path("unused"), pl.DataFrame())
            for grz in world_home.world.truth["institutions"]["grz"]]
    build_feasibility_index(world_config, grzs, clinical_nodes, on=date(2026, 11, 1))
    return world_config

