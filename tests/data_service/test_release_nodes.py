"""End to end over the real node stores: world intake, consents, index, feasibility, release."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select

from genomlab.data_service.adapters import get_node_readers
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.index import build_feasibility_index
from genomlab.data_service.release import release_application
from genomlab.db import read_connection
from genomlab.trust_center import store as tc_store
from genomlab.trust_center.identifiers import normalise_kvnr
from genomlab.trust_center.service import TrustCenter
from tests.conftest import config_for
from tests.data_service.conftest import set_up_platform
from tests.data_service.world import WORLD, is_consented, load_truth


@pytest.mark.slow
@pytest.mark.hail
def test_release_application__over_real_node_stores_cohort_equals_truth(
        hl: Any, tmp_path: Path) -> None:
    from genomlab.intake import CONSENTS_REPORTED, run_world_intake

    world = tmp_path / "world"
    shutil.copytree(WORLD, world)
    config = config_for(tmp_path / "home")
    run_world_intake(config, world, progress=lambda _m: None, hail=lambda: hl)
    assert (config.home / "hospitals" / CONSENTS_REPORTED).is_file()
    tc = TrustCenter(config)
    truth = load_truth()
    apps = set_up_platform(config)

    grzs, kdks = get_node_readers(config, hl)
    build_feasibility_index(config, grzs, kdks)
    answer = run_feasibility_query(config, make_request(["diseaseType:rare"],
                                                        granularity="count"), user="alice")
    assert answer["responseSummary"]["exists"] is True

    result = release_application(config, apps.individual, genome_nodes=grzs,
                                 clinical_nodes=kdks, linkage_service=tc, hl=hl)
    columns = hl.read_matrix_table(str(result.path / "genotypes.mt")).s.collect()
    project = apps.projects[apps.individual]
    consents = {c["sample"]: c for c in truth["consents"]}
    expected = [s for s in truth["samples"]
                if s["disease_type"] == "rare" and is_consented(s, consents)]
    with read_connection(tc.ledger.engine) as conn:
        released = {tc.resolve_project_pseudonym(conn, project, p) for p in columns}
        wanted = {conn.execute(select(tc_store.persons.c.person_id).where(
            tc_store.persons.c.kvnr_hash == tc.secrets.kvnr_hash(normalise_kvnr(s["kvnr"]))
        )).scalar() for s in expected}
    assert released == wanted
    clinical = pl.read_parquet(result.path / "clinical" / "persons.parquet")
    assert set(clinical.columns) == {"s", "sex", "hpo_terms", "diagnosis"}
    assert set(clinical["s"]) <= set(columns)
