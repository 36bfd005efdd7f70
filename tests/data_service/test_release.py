"""Release: only consented persons meeting the criteria, only project pseudonyms, only the
requested fields; refusals; entitlement-checked opening; reproducible; withdrawal notices.

Every release reads the world home's nodes through their real readers
(``genomlab.data_service.adapters``) after the real intake of the committed world.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import RELEASABLE_FIELDS
from genomlab.data_service.release import release_application
from genomlab.data_service.store import DataServiceProjection, open_data_service_ledger
from genomlab.db import read_connection
from genomlab.errors import PermissionDenied
from genomlab.ledger import projection_matches
from genomlab.trust_center import store as tc_store
from genomlab.trust_center.identifiers import normalise_kvnr
from genomlab.trust_center.service import TrustCenter
from genomlab.workspace import open_release
from tests.data_service.conftest import INDEXED_ON, WorldHome, get_dataset_pseudonyms

pytestmark = pytest.mark.hail  # the world home's GRZs hold their genotypes in Hail stores


def _release(config: GenomlabConfig, application_id: str, genome_nodes: Any,
             clinical_nodes: Any, hl: Any = None) -> Any:
    return release_application(config, application_id, genome_nodes=genome_nodes,
                               clinical_nodes=clinical_nodes,
                               linkage_service=TrustCenter(config), hl=hl)


def _released_persons(config: GenomlabConfig, project: str, pseudonyms: list[str]) -> set[str]:
    """The trust centre's person ids behind released project pseudonyms."""
    tc = TrustCenter(config)
    with read_connection(tc.ledger.engine) as conn:
        return {tc.resolve_project_pseudonym(conn, project, p) for p in pseudonyms}


def _persons_of(config: GenomlabConfig, samples: list[dict[str, Any]]) -> set[str]:
    """The trust centre's person ids of truth.json samples (found by their KVNR part)."""
    tc = TrustCenter(config)
    hashes = [tc.secrets.kvnr_hash(normalise_kvnr(s["kvnr"])) for s in samples]
    with read_connection(tc.ledger.engine) as conn:
        found = dict(conn.execute(select(tc_store.persons.c.kvnr_hash,
                                         tc_store.persons.c.person_id)
                                  .where(tc_store.persons.c.kvnr_hash.in_(hashes))).all())
    assert len(found) == len(set(hashes))
    return set(found.values())


def _rare_consented(world_home: WorldHome) -> list[dict[str, Any]]:
    return [s for s in world_home.consented_samples if s["disease_type"] == "rare"]


def _birth_months(config: GenomlabConfig, world_home: WorldHome) -> set[str]:
    """Every birth month the world's KDKs hold, in either store."""
    from genomlab.clinical_node.intake import ClinicalNode

    return {month for node in world_home.truth["institutions"]["kdk"]
            for store_name in ("consented", "nonconsented")
            for month in ClinicalNode(config, node).read_table(
                "cases", store_name=store_name)["birth_month"].drop_nulls()}


def _workspace_text(workspace: Path) -> str:
    """Every file under the workspace as text, except Hail's binary MatrixTable internals."""
    parts = []
    for path in sorted(workspace.rglob("*")):
        if not path.is_file() or any(part.endswith(".mt") for part in path.parts):
            continue
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            parts.append(" ".join(frame.columns))
            parts.append(json.dumps(frame.to_dicts(), default=str))
        else:
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def _decrypted(config: GenomlabConfig, project: str) -> Path:
    """A team member's decrypted copy of the project's current release."""
    return open_release(project, user="tom", config=config).path


def _assert_no_plaintext(release: Path, decrypted: Path) -> None:
    """No 64-byte window of any decrypted data file occurs in any file of the release."""
    stored = b"".join(p.read_bytes() for p in sorted(release.rglob("*")) if p.is_file())
    windows = []
    for path in sorted(decrypted.rglob("*")):
        data = path.read_bytes() if path.is_file() and path.name != "manifest.json" else b""
        if len(data) >= 64:
            windows += [data[i:i + 64] for i in range(0, len(data) - 63, max(1, len(data) // 4))]
    assert len(windows) > 10
    assert not [w for w in windows if w in stored]
    assert b"PAR1" not in stored[:64]
    assert b"genotypes.mt/" not in stored


def test_release_application__individual_cohort_equals_truth_and_nothing_else_leaks(
        hl: Any, world_config: GenomlabConfig, world_home: WorldHome, genome_nodes: Any,
        clinical_nodes: Any) -> None:
    apps = world_home.applications
    project = apps.projects[apps.individual]
    result = _release(world_config, apps.individual, genome_nodes, clinical_nodes, hl)
    assert sorted(p.name for p in result.path.iterdir()) == ["manifest.json",
                                                             "release.tar.c4gh"]
    decrypted = open_release(project, user="tom", config=world_config).path
    assert decrypted == world_config.workspace_dir(project) / "scratch" / "tom" / (
        f"release-{result.release_id}")
    assert decrypted.parent.stat().st_mode & 0o777 == 0o700
    _assert_no_plaintext(result.path, decrypted)

    mt = hl.read_matrix_table(str(decrypted / "genotypes.mt"))
    columns = mt.s.collect()
    expected = _persons_of(world_config, _rare_consented(world_home))
    assert _released_persons(world_config, project, columns) == expected
    assert result.manifest["counts"]["n_persons"] == len(expected)
    assert all(c.startswith("PP") for c in columns)
    assert set(mt.entry) <= {"GT", "AD", "DP", "GQ"}
    assert list(mt.row) == ["locus", "alleles"]
    assert list(mt.col) == ["s"]
    n_variants = mt.count_rows()
    from genomlab.services.htsget_api import read_release_vcf  # what htsget serves

    served = read_release_vcf(world_config, project)
    assert served == (decrypted / "genotypes.vcf.bgz").read_bytes()
    records = subprocess.run(["bcftools", "view", "-H", str(decrypted / "genotypes.vcf.bgz")],
                             check=True, capture_output=True).stdout
    assert records.count(b"\n") == n_variants
    per_source = result.manifest["sources"]["genome_centres"]
    assert sum(v["n_samples"] for v in per_source.values()) == len(expected)
    assert n_variants >= max(v["n_variants"] for v in per_source.values())

    clinical = pl.read_parquet(decrypted / "clinical" / "persons.parquet")
    requested = {"sex", "hpo_terms", "diagnosis"}
    assert set(clinical.columns) == {"s"} | requested
    assert set(clinical["s"]) <= set(columns)

    workspace = world_config.workspace_dir(project)
    text = _workspace_text(workspace) + "\n".join(columns)
    pseudonyms = get_dataset_pseudonyms(world_config, world_home.truth)
    assert pseudonyms
    assert not [p for p in pseudonyms if p in text]
    tables = [pl.read_parquet(p) for p in workspace.rglob("*.parquet")]
    assert tables
    assert not [c for t in tables for c in t.columns if c in set(RELEASABLE_FIELDS) - requested]
    birth_months = _birth_months(world_config, world_home)
    assert birth_months
    assert not [d for d in birth_months if f'"{d}"' in text]
    assert not [p for p in workspace.iterdir() if p.name.startswith(".")]  # no staging left
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["application_id"] == apps.individual
    assert set(manifest["content_hashes"]) == {"genotypes.mt", "clinical/persons.parquet"}
    assert {"genomlab", "hail", "polars"} <= set(manifest["software"])

    release = open_release(project, user="tom", config=world_config)
    assert release.read_matrix_table(hl).count_cols() == len(expected)
    from genomlab.workspace.io import read_source

    _, info = read_source(hl, release=result.path, work_dir=workspace / "work",
                          config=world_config, user="tom")
    assert list(info.index) == columns
    assert info["reported_sex"].notna().sum() == clinical["sex"].is_not_null().sum()
    with pytest.raises(PermissionDenied, match="not on the approved team"):
        open_release(project, user="bob", config=world_config)
    ledger = open_data_service_ledger(world_config)
    assert [e.type for e in ledger.events()][-3:] == ["release.started", "release.linked",
                                                      "release.completed"]
    assert projection_matches(ledger, DataServiceProjection()) == []


def test_release_application__reproducible_and_withdrawal_notified(
        hl: Any, world_config: GenomlabConfig, world_home: WorldHome, genome_nodes: Any,
        clinical_nodes: Any) -> None:
    apps = world_home.applications
    project = apps.projects[apps.individual]
    first = _release(world_config, apps.individual, genome_nodes, clinical_nodes, hl)
    second = _release(world_config, apps.individual, genome_nodes, clinical_nodes, hl)
    assert first.release_id != second.release_id
    assert second.manifest["content_hashes"] == first.manifest["content_hashes"]
    assert second.manifest["content_digest"] == first.manifest["content_digest"]

    columns = hl.read_matrix_table(str(_decrypted(world_config, project) / "genotypes.mt")
                                   ).s.collect()
    leaving = sorted(columns)[0]
    [person_id] = _released_persons(world_config, project, [leaving])
    person = next(s for s in _rare_consented(world_home)
                  if _persons_of(world_config, [s]) == {person_id})
    TrustCenter(world_config).withdraw_research_consent(
        kvnr=person["kvnr"], le_ik=person["hospital_ik"], actor="le", withdrawn_on=INDEXED_ON)
    third = _release(world_config, apps.individual, genome_nodes, clinical_nodes, hl)
    after = hl.read_matrix_table(str(_decrypted(world_config, project) / "genotypes.mt")
                                 ).s.collect()
    assert leaving not in after
    assert len(after) == len(columns) - 1
    assert third.withdrawn == (leaving,)
    assert third.manifest["content_digest"] != second.manifest["content_digest"]
    notices = list((world_config.workspace_dir(project) / "notices").glob("withdrawal-*.json"))
    assert [json.loads(n.read_text())["project_pseudonyms"] for n in notices] == [[leaving]]
    events = [e for e in open_data_service_ledger(world_config).events()
              if e.type == "release.withdrawal_notified"]
    assert [e.payload["project_pseudonyms"] for e in events] == [[leaving]]


def test_release_application__aggregated_level_gets_only_suppressed_aggregates(
        hl: Any, world_config: GenomlabConfig, world_home: WorldHome, genome_nodes: Any,
        clinical_nodes: Any) -> None:
    apps = world_home.applications
    result = _release(world_config, apps.aggregated, genome_nodes, clinical_nodes, hl)
    names = sorted(str(p.relative_to(result.path)) for p in result.path.rglob("*") if p.is_file())
    assert names == ["aggregates/allele_frequencies.parquet",
                     "aggregates/phenotype_counts.parquet", "manifest.json"]
    k = world_config.disclosure.min_allele_count
    freqs = pl.read_parquet(result.path / "aggregates" / "allele_frequencies.parquet")
    shown = freqs.filter(~pl.col("suppressed"))
    assert shown.height > 0
    assert freqs.filter(pl.col("suppressed")).height > 0
    assert ((shown["AC"] == 0) | (shown["AC"] >= k)).all()
    assert ((shown["n_carriers"] == 0) | (shown["n_carriers"] >= k)).all()
    assert freqs.filter(pl.col("suppressed"))["AC"].null_count() == freqs.filter(
        pl.col("suppressed")).height
    assert (freqs["n_samples"] >= world_config.disclosure.min_group_size).all()
    counts = pl.read_parquet(result.path / "aggregates" / "phenotype_counts.parquet")
    numeric = [int(n) for n in counts["n"] if n.isdigit()]
    assert all(n >= world_config.disclosure.min_cell_count for n in numeric)
    assert set(counts["field"]) <= {"hpo_terms", "sex"}
    release = open_release(apps.projects[apps.aggregated], user="alice", config=world_config)
    assert release.level == "aggregated"
    assert release.read_aggregate("phenotype_counts").height == counts.height


@pytest.mark.parametrize("which", ["unapproved", "revoked", "expired"])
def test_release_application__refused_without_a_valid_approval(
        world_config: GenomlabConfig, world_home: WorldHome, clinical_nodes: Any,
        which: str) -> None:
    application_id = getattr(world_home.applications, which)
    with pytest.raises(PermissionDenied, match=application_id):
        _release(world_config, application_id, [], clinical_nodes)
    project = world_home.applications.projects[application_id]
    assert not (world_config.workspace_dir(project) / "release").exists()
    ledger = open_data_service_ledger(world_config)
    refusals = [e for e in ledger.events() if e.type == "release.refused"]
    assert [e.payload["application_id"] for e in refusals] == [application_id]
    assert "release.started" not in {e.type for e in ledger.events()}


@pytest.mark.parametrize(("which", "user", "reason"), [
    ("individual", "bob", "not on the approved team"),
    ("revoked", "alice", "has ended"),
    ("expired", "tom", "has ended"),
])
def test_open_release__refused_outside_team_or_entitlement(
        world_config: GenomlabConfig, world_home: WorldHome, which: str, user: str,
        reason: str) -> None:
    project = world_home.applications.projects[getattr(world_home.applications, which)]
    with pytest.raises(PermissionDenied, match=reason):
        open_release(project, user=user, config=world_config)


def test_open_release__identity_from_credentials_not_jupyterhub(
        world_config: GenomlabConfig, world_home: WorldHome,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.people_credentials import credentials_for

    project = world_home.applications.projects[world_home.applications.individual]
    monkeypatch.setenv("GENOMLAB_CREDENTIALS", str(credentials_for(world_config, "bob")))
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.setenv("GENOMLAB_LOCAL_USER", "alice")
    with pytest.raises(PermissionDenied, match="'bob'"):
        open_release(project, config=world_config)


def test_release_cli__refuses_a_revoked_application(world_config: GenomlabConfig,
                                                    world_home: WorldHome,
                                                    tmp_path: Path) -> None:
    from click.testing import CliRunner

    from genomlab.cli import main
    from tests.conftest import write_config_file

    config_file = write_config_file(world_config, tmp_path / "genomlab.toml")
    application_id = world_home.applications.revoked
    result = CliRunner().invoke(main, ["--config", str(config_file), "data-service", "release",
                                       application_id])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: application {application_id}: approval ended at")
