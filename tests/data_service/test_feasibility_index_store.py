"""Issue 21: the feasibility index (row-level: sex, age band, ICD-10-GM, HPO per dataset and
exact carrier counts) lives in the data service's store, not in files of its own."""

from __future__ import annotations

import stat
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select

from genomlab.config import GenomlabConfig
from genomlab.data_service.index import (
    build_feasibility_index,
    collect_node_reports,
    load_feasibility_index,
)
from genomlab.data_service.store import index_builds, open_data_service_ledger
from genomlab.db import read_connection
from genomlab.errors import ValidationFailed
from genomlab.institution import Institution
from genomlab.migrations import get_head_revision, get_store_revision, upgrade_home
from tests.conftest import config_for
from tests.data_service.reported_nodes import (
    INDEXED_ON,
    ReportedClinicalNode,
    make_clinical_world,
    make_genome_node,
)


def _files_outside_store(config: GenomlabConfig) -> list[str]:
    """Files under the data service's folder other than its keys and its SQLite store."""
    service = config.institution_dir("data_service")
    store = Institution(config, "data_service").store_url.removeprefix("sqlite:///")
    store_files = {store, f"{store}-wal", f"{store}-shm"}
    return sorted(str(p.relative_to(service)) for p in service.rglob("*")
                  if p.is_file() and str(p) not in store_files
                  and p.relative_to(service).parts[0] != "keys")


def _make_legacy_index(config: GenomlabConfig) -> list[Path]:
    """What a home of an older release holds: the Parquet index and a leftover staging folder."""
    service = config.institution_dir("data_service")
    legacy = [service / "feasibility", service / ".feasibility.staging-0123456789ab"]
    for folder in legacy:
        folder.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"node": ["KDKK00001"], "sex": ["female"], "hpo": [["HP:0000001"]]}
                     ).write_parquet(folder / "clinical_datasets.parquet")
    (legacy[0] / "DIGEST").write_text("0" * 64 + "\n")
    return legacy


@pytest.fixture
def nodes() -> list[ReportedClinicalNode]:
    return make_clinical_world()


def test_build_feasibility_index__rows_only_in_the_store(
        tmp_path: Path, nodes: list[ReportedClinicalNode]) -> None:
    config = config_for(tmp_path / "home")
    genome = [make_genome_node()]
    digest = build_feasibility_index(config, genome, nodes, on=INDEXED_ON)
    assert _files_outside_store(config) == []
    assert not list(config.home.rglob("*.parquet"))
    service = config.institution_dir("data_service")
    assert {stat.S_IMODE(p.stat().st_mode) for p in service.rglob("*") if p.is_file()} <= {
        0o600}
    index = load_feasibility_index(config)
    expected = collect_node_reports(genome, nodes, on=INDEXED_ON)
    assert index.digest == digest
    assert index.genome.equals(expected[0])
    assert index.clinical.equals(expected[1])
    assert index.sites.equals(expected[2])
    assert index.clinical.height == 241
    from genomlab.data_service.index_tables import clinical_rows, site_rows

    engine = open_data_service_ledger(config).engine
    with read_connection(engine) as conn:
        assert conn.execute(select(func.count()).select_from(clinical_rows)).scalar() == 241
        assert conn.execute(select(site_rows.c.n_carriers).where(
            site_rows.c.variant == "chr2:500:G:T")).scalar() == 3


def test_build_feasibility_index__rebuild_replaces_rows_and_old_parquet(
        tmp_path: Path, nodes: list[ReportedClinicalNode]) -> None:
    config = config_for(tmp_path / "home")
    first = build_feasibility_index(config, [], nodes, on=INDEXED_ON)
    legacy = _make_legacy_index(config)
    second = build_feasibility_index(config, [], nodes[1:], on=INDEXED_ON)
    assert second != first
    assert [p for p in legacy if p.exists()] == []
    assert _files_outside_store(config) == []
    index = load_feasibility_index(config)
    assert index.digest == second
    assert index.nodes["clinical"] == ["KDKTUE005"]
    assert index.clinical.height == len(nodes[1].rows)
    ledger = open_data_service_ledger(config)
    with read_connection(ledger.engine) as conn:
        assert sorted(conn.execute(select(index_builds.c.digest)).scalars()) == sorted(
            [first, second])


def test_build_feasibility_index__bad_report_keeps_the_index(
        tmp_path: Path, nodes: list[ReportedClinicalNode]) -> None:
    config = config_for(tmp_path / "home")
    digest = build_feasibility_index(config, [], nodes, on=INDEXED_ON)
    broken = ReportedClinicalNode("KDKK00001", [{k: v for k, v in row.items() if k != "sex"}
                                                for row in nodes[0].rows])
    broken.get_dataset_attributes = lambda: pl.DataFrame(broken.rows)  # type: ignore[method-assign]
    with pytest.raises(ValidationFailed, match=r"^KDKK00001 datasets: missing column 'sex'$"):
        build_feasibility_index(config, [], [broken], on=INDEXED_ON)
    index = load_feasibility_index(config)
    assert index.digest == digest
    assert index.clinical.height == 241


def test_upgrade_home__removes_the_parquet_index_of_an_older_release(
        tmp_path: Path, nodes: list[ReportedClinicalNode]) -> None:
    config = config_for(tmp_path / "home")
    build_feasibility_index(config, [], nodes, on=INDEXED_ON)
    legacy = _make_legacy_index(config)
    upgrade_home(config)
    assert get_store_revision(config.store_url("data_service")) == get_head_revision()
    assert [p for p in legacy if p.exists()] == []
    assert load_feasibility_index(config).clinical.height == 241
