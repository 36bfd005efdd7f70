"""A withdrawn consent reaches the nodes, the feasibility index and the projects at once.

One module-wide home (a copy of the session's world home): the individual-level application is
released, one released person with a private variant (a site nobody else at their GRZ
carries) withdraws research consent through :func:`genomlab.intake.propagation.
propagate_withdrawal`, and the project is released again. The tests read what was left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select

from genomlab.clinical_node.intake import ClinicalNode
from genomlab.clinical_node.store import PROJECTION as KDK_PROJECTION
from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import get_node_readers
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.index import load_feasibility_index
from genomlab.data_service.release import ReleaseResult, release_application
from genomlab.data_service.store import open_data_service_ledger
from genomlab.db import read_connection
from genomlab.genome_center.intake import GenomeCenter
from genomlab.genome_center.store import PROJECTION as GRZ_PROJECTION
from genomlab.intake.propagation import PropagationReport, propagate_withdrawal
from genomlab.ledger import projection_matches
from genomlab.trust_center import store as tc_store
from genomlab.trust_center.identifiers import normalise_kvnr
from genomlab.trust_center.service import TrustCenter
from genomlab.workspace.notebook_context import ProjectContext
from tests.conftest import copy_home
from tests.data_service.conftest import WorldHome

pytestmark = pytest.mark.hail  # GRZ batches are Hail MatrixTables; compaction rewrites them

WITHDRAWN_ON = date(2026, 11, 2)


@dataclass(frozen=True)
class Person:
    """The person who withdraws: their ids at every party and a genotype only they carry."""

    kvnr: str
    le_ik: str
    grz: str
    project_pseudonym: str
    genome_pseudonym: str
    clinical_pseudonym: str
    private_site: str
    """``chr:pos:ref:alt`` of a variant no one else at their GRZ carries."""


@dataclass
class Withdrawal:
    config: GenomlabConfig
    project: str
    person: Person
    first: ReleaseResult
    first_persons: list[str]
    later: ReleaseResult
    report: PropagationReport
    scan_before: dict[str, set[str]]
    scan_after: dict[str, set[str]]
    totals_before: dict[str, int]
    totals_after: dict[str, int]
    ledger_mentions: dict[Path, int]


def _release(config: GenomlabConfig, application_id: str, hl: Any) -> ReleaseResult:
    genome_nodes, clinical_nodes = get_node_readers(config, hl)
    return release_application(config, application_id, genome_nodes=genome_nodes,
                               clinical_nodes=clinical_nodes,
                               linkage_service=TrustCenter(config), hl=hl)


def _private_sites(hl: Any, config: GenomlabConfig, grz: str) -> dict[str, str]:
    """genome pseudonym → one variant only that person carries at the GRZ (in either store:
    relatives without research consent share variants). Other GRZs may hold other persons
    with the variant: the synthetic world has no variant private in the whole home."""
    carriers: dict[str, list[str]] = {}
    center = GenomeCenter(config, grz)
    for store_name in ("consented", "nonconsented"):
        if not center.get_batch_paths(store_name):
            continue
        mt = center.read_genotypes(hl, store_name=store_name)
        non_ref = hl.or_else(mt.GT.is_non_ref(), False)
        rows = mt.select_rows(who=hl.agg.filter(non_ref, hl.agg.collect(mt.s))).rows()
        for row in rows.filter(hl.len(rows.who) > 0).collect():
            site = f"{row.locus.contig}:{row.locus.position}:{row.alleles[0]}:{row.alleles[1]}"
            carriers.setdefault(site, []).extend(row.who)
    found: dict[str, str] = {}
    for site, who in sorted(carriers.items()):
        if len(who) == 1:
            found.setdefault(who[0], site)
    return found


def _choose_person(config: GenomlabConfig, world_home: WorldHome, project: str,
                   released: list[str], hl: Any) -> Person:
    tc = TrustCenter(config)
    with read_connection(tc.ledger.engine) as conn:
        by_person = {tc.resolve_project_pseudonym(conn, project, p): p for p in released}
        kvnr_of = dict(conn.execute(select(tc_store.persons.c.person_id,
                                           tc_store.persons.c.kvnr_hash)).all())
    for grz in world_home.truth["institutions"]["grz"]:
        private = _private_sites(hl, config, grz)
        for sample in world_home.consented_samples:
            if (sample["grz"] != grz or sample["disease_type"] != "rare"
                    or not sample.get("tan_c")):  # a person with a clinical record too
                continue
            hashed = tc.secrets.kvnr_hash(normalise_kvnr(sample["kvnr"]))
            person_id = next((p for p, h in kvnr_of.items() if h == hashed), None)
            genome = tc.dataset_pseudonym(person_id, "genomic") if person_id else None
            if person_id in by_person and genome in private:
                return Person(sample["kvnr"], sample["hospital_ik"], grz, by_person[person_id],
                              genome, tc.dataset_pseudonym(person_id, "clinical"),
                              private[genome])
    raise AssertionError("the world has no released person with a private variant")


def scan_node_stores(config: GenomlabConfig, hl: Any, needles: set[str]) -> dict[str, set[str]]:
    """Per node: which ``needles`` appear in its folder, in the raw bytes of every file (SQLite
    stores and their WAL included), in every Parquet table's decoded values and in every Hail
    MatrixTable's decoded column keys and carried variants (both are compressed on disk)."""
    return {folder.name: _scan_folder(folder, hl, needles)
            for kind in ("grz", "kdk") for folder in sorted((config.home / kind).iterdir())}


def _scan_folder(folder: Path, hl: Any, needles: set[str]) -> set[str]:
    found: set[str] = set()
    encoded = {n: n.encode() for n in needles}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found |= {n for n, raw in encoded.items() if raw in data}
            if path.suffix == ".parquet":
                text = json.dumps(pl.read_parquet(path).to_dicts(), default=str)
                found |= {n for n in needles if n in text}
        elif path.is_dir() and path.suffix == ".mt" and (path / "metadata.json.gz").exists():
            mt = hl.read_matrix_table(str(path))
            # a site counts where somebody carries it (other batches list the site with the
            # reference calls of other persons, which are no genotype of this one)
            rows = mt.filter_rows(hl.agg.any(hl.or_else(mt.GT.is_non_ref(), False))).rows(
                ).select().collect()
            text = " ".join(mt.s.collect()) + " " + " ".join(
                f"{r.locus.contig}:{r.locus.position}:{r.alleles[0]}:{r.alleles[1]}"
                for r in rows)
            found |= {n for n in needles if n in text}
    return found


def _ledger_mentions(config: GenomlabConfig, pseudonyms: set[str]) -> dict[Path, int]:
    """Per node SQLite store: how often signed ledger events name one of ``pseudonyms``."""
    from genomlab.ledger import events_table

    counts: dict[Path, int] = {}
    for kind, ledger_of in (("grz", lambda n: GenomeCenter(config, n).ledger),
                            ("kdk", lambda n: ClinicalNode(config, n).ledger)):
        for folder in sorted((config.home / kind).iterdir()):
            ledger = ledger_of(folder.name)
            with read_connection(ledger.engine) as conn:
                payloads = conn.execute(select(events_table.c.payload)).scalars().all()
            counts[folder / f"{kind}.db"] = sum(p.count(pseudonym) for p in payloads
                                                for pseudonym in pseudonyms)
    return counts


def _totals(config: GenomlabConfig, person: Person) -> dict[str, int]:
    """The true (unsuppressed) totals the data service recorded for two questions that count
    the person (carriers of their private variant, rare-disease genomes at their GRZ) and the
    index's carrier count of that variant at their GRZ."""
    asked = {"variant": make_request(variant=person.private_site, granularity="count"),
             "genomes": make_request(["diseaseType:rare", f"node:{person.grz}"],
                                     granularity="count")}
    totals = {}
    for name, request in asked.items():
        run_feasibility_query(config, request, user="alice")
        last = [e for e in open_data_service_ledger(config).events()
                if e.type == "feasibility.answered"][-1]
        totals[name] = last.payload["total"]
    sites = load_feasibility_index(config).sites
    here = sites.filter((pl.col("node") == person.grz) & (pl.col("variant") == person.private_site))
    totals["carriers_at_grz"] = int(here["n_carriers"].sum())
    return totals


def _member_copy(config: GenomlabConfig, project: str) -> Any:
    """The project's current release as a team member opens it (Crypt4GH at rest: decrypted
    into the member's scratch, issue 19)."""
    from genomlab.workspace import open_release

    return open_release(project, user="tom", config=config)


@pytest.fixture(scope="module")
def withdrawal(world_home: WorldHome, hl: Any,
               tmp_path_factory: pytest.TempPathFactory) -> Withdrawal:
    config = copy_home(world_home.home, tmp_path_factory.mktemp("withdrawal") / "home")
    apps = world_home.applications
    project = apps.projects[apps.individual]
    first = _release(config, apps.individual, hl)
    released = _member_copy(config, project).read_matrix_table(hl).s.collect()
    person = _choose_person(config, world_home, project, released, hl)
    needles = {person.genome_pseudonym, person.clinical_pseudonym, person.private_site}
    scan_before = scan_node_stores(config, hl, needles)
    totals_before = _totals(config, person)
    report = propagate_withdrawal(config, kvnr=person.kvnr, le_ik=person.le_ik, actor="le",
                                  hl=hl, on=WITHDRAWN_ON)
    totals_after = _totals(config, person)
    later = _release(config, apps.individual, hl)
    scan_after = scan_node_stores(config, hl, needles)
    return Withdrawal(config, project, person, first, released, later, report, scan_before,
                      scan_after, totals_before, totals_after,
                      _ledger_mentions(config, {person.genome_pseudonym,
                                                         person.clinical_pseudonym}))


def test_propagate_withdrawal__person_leaves_every_consented_store(
        withdrawal: Withdrawal, hl: Any) -> None:
    config, person = withdrawal.config, withdrawal.person
    assert withdrawal.report.genome_nodes[person.grz] == 1
    assert sum(withdrawal.report.clinical_nodes.values()) == 1
    for grz in withdrawal.report.genome_nodes:
        center = GenomeCenter(config, grz)
        assert person.genome_pseudonym not in set(center.read_genotypes(hl).s.collect())
        assert person.genome_pseudonym not in {d["genome_pseudonym"]
                                               for d in center.get_donors()}
        for path in center.get_batch_paths():  # compacted, not hidden at read time
            assert person.genome_pseudonym not in hl.read_matrix_table(path).s.collect()
    for kdk in withdrawal.report.clinical_nodes:
        node = ClinicalNode(config, kdk)
        for table in ("cases", "diagnoses", "phenotypes", "parts"):
            frame = node.read_table(table)
            assert person.clinical_pseudonym not in set(frame["clinical_pseudonym"])
        assert person.clinical_pseudonym not in {r["clinical_pseudonym"]
                                                 for r in node.get_records()}


def test_propagate_withdrawal__node_projections_equal_their_ledgers(
        withdrawal: Withdrawal) -> None:
    config = withdrawal.config
    for grz in withdrawal.report.genome_nodes:
        assert projection_matches(GenomeCenter(config, grz).ledger, GRZ_PROJECTION) == []
    for kdk in withdrawal.report.clinical_nodes:
        assert projection_matches(ClinicalNode(config, kdk).ledger, KDK_PROJECTION) == []


def test_propagate_withdrawal__later_release_lacks_the_person(
        withdrawal: Withdrawal, hl: Any) -> None:
    pseudonym = withdrawal.person.project_pseudonym
    before = withdrawal.first_persons  # the release folder now holds the later release
    member_copy = _member_copy(withdrawal.config, withdrawal.project)
    after = member_copy.read_matrix_table(hl).s.collect()
    assert pseudonym in before
    assert pseudonym not in after
    assert len(after) == len(before) - 1
    clinical = pl.read_parquet(member_copy.path / "clinical" / "persons.parquet")
    assert pseudonym not in set(clinical["s"])


def test_propagate_withdrawal__feasibility_counts_leave_the_person(
        withdrawal: Withdrawal) -> None:
    before, after = withdrawal.totals_before, withdrawal.totals_after
    assert before["carriers_at_grz"] == 1
    assert after["carriers_at_grz"] == 0
    assert after["variant"] == before["variant"] - 1
    assert after["genomes"] == before["genomes"] - 1


def test_propagate_withdrawal__projects_holding_the_person_get_a_notice_at_once(
        withdrawal: Withdrawal) -> None:
    config, project = withdrawal.config, withdrawal.project
    pseudonym = withdrawal.person.project_pseudonym
    [notice] = withdrawal.report.notices  # written by the withdrawal, before any later release
    content = json.loads(Path(notice).read_text())
    assert Path(notice).parent == config.workspace_dir(project) / "notices"
    assert content["project_pseudonyms"] == [pseudonym]
    assert content["release_id"] == withdrawal.first.release_id
    assert content["reason"] == "withdrawal"
    events = [e.payload for e in open_data_service_ledger(config).events()
              if e.type == "release.withdrawal_notified" and e.payload["notice"] == notice]
    assert [e["project_pseudonyms"] for e in events] == [[pseudonym]]
    context = ProjectContext(project, "alice", date(2027, 1, 1),
                             config.workspace_dir(project), ("HMB",))
    assert pseudonym in context.format_summary()
    assert "WITHDRAWAL NOTICES" in context.format_summary()


def test_propagate_withdrawal__byte_scan_of_node_stores_finds_no_genotype_or_pseudonym(
        withdrawal: Withdrawal) -> None:
    person = withdrawal.person
    before = set().union(*withdrawal.scan_before.values())
    after = set().union(*withdrawal.scan_after.values())
    assert before == {person.genome_pseudonym, person.clinical_pseudonym, person.private_site}
    assert person.private_site in withdrawal.scan_before[person.grz]
    assert after  # the pseudonyms are left in signed intake events (the next test)
    # no genotype of the person is left at their GRZ (other GRZs hold other carriers)
    assert person.private_site not in withdrawal.scan_after[person.grz]


def test_propagate_withdrawal__pseudonyms_left_only_in_signed_ledger_events(
        withdrawal: Withdrawal) -> None:
    """The nodes' signed intake events (never rewritten) still name the dataset pseudonyms;
    no other byte of any node file does: every raw occurrence in a store is one of theirs
    (projection rows, freed pages and the WAL hold none)."""
    person = withdrawal.person
    wanted = [person.genome_pseudonym.encode(), person.clinical_pseudonym.encode()]
    assert sum(withdrawal.ledger_mentions.values()) > 0
    for store_file, in_events in withdrawal.ledger_mentions.items():
        raw = sum(path.read_bytes().count(p) for p in wanted
                  for path in store_file.parent.glob(f"{store_file.name}*"))
        others = sum(path.read_bytes().count(p) for p in wanted
                     for path in store_file.parent.rglob("*")
                     if path.is_file() and not path.name.startswith(store_file.name))
        assert others == 0, store_file
        assert raw <= in_events, store_file
