"""Release of N genomes x M variants spread over three GRZs into a workspace.

Run: ``.venv/bin/python benchmarks/release_cohort.py [n_genomes] [n_variants]`` (defaults 2000
and 100000). Synthetic genotypes (Hail's Balding-Nichols model) are written as each GRZ's
store keyed by genome-dataset pseudonyms that a real trust centre issued (case numbers,
delivery, consent: 90 % consent to research); a genomic, individual-level application is
approved at the platform.

Two ways to deliver the same cohort are timed side by side:

- genomlab: each GRZ filters its MatrixTable to the cohort, the data service relabels to project
  pseudonyms, outer-joins the centres on variants and writes ``genotypes.mt`` (plus hashing,
  manifest, ledger events);
- file-based reference (what a VCF delivery does): each GRZ exports its cohort as a bgzipped
  VCF, the receiver imports the three VCFs and joins them into one MatrixTable.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from genomlab.cohort import make_node_cohort_filter
from genomlab.config import GenomlabConfig, load_config
from genomlab.data_service.approval import register_data_service
from genomlab.data_service.nodes import GENOME_ATTRIBUTES, SITE_COLUMNS
from genomlab.data_service.release import release_application
from genomlab.hail_session import init_hail
from genomlab.platform.applications import ApplicationForm, Role, Workflow
from genomlab.platform.applications.models import TERMS_OF_USE_VERSION
from genomlab.platform.nodes import NodeRegistry
from genomlab.trust_center.identifiers import kvnr_check_digit
from genomlab.trust_center.service import TrustCenter

GRZS = ("GRZK00001", "GRZTUE002", "GRZHD0003")
LE_IK = "260840108"


class StoreNode:
    """A GRZ whose consented store is one MatrixTable keyed by genome-dataset pseudonym."""

    def __init__(self, node_id: str, mt_path: Path, pseudonyms: list[str]) -> None:
        self.node_id, self._mt_path, self._pseudonyms = node_id, mt_path, pseudonyms

    def get_dataset_attributes(self) -> pl.DataFrame:
        n = len(self._pseudonyms)
        return pl.DataFrame({"pseudonym": self._pseudonyms, "disease_type": ["rare"] * n,
                             "library_type": ["wgs"] * n}, schema=GENOME_ATTRIBUTES)

    def get_site_counts(self) -> pl.DataFrame:
        return pl.DataFrame(schema=SITE_COLUMNS)

    def export_cohort_genotypes(self, hl: Any, pseudonyms: Sequence[str]) -> Any:
        mt = hl.read_matrix_table(str(self._mt_path))
        return mt.filter_cols(hl.literal(set(pseudonyms)).contains(mt.s))


def enrol(config: GenomlabConfig, n: int) -> list[tuple[str, str]]:
    """n persons through the trust centre; returns (genome pseudonym, GRZ) per person."""
    tc = TrustCenter(config)
    for grz in GRZS:  # the trust centre exchanges case numbers only for approved nodes
        NodeRegistry(config).ensure_approved(grz, name=f"benchmark {grz}", actor="bench")
    people = []
    for i in range(n):
        head = f"{chr(ord('A') + i % 26)}{i:08d}"
        kvnr = f"{head}{kvnr_check_digit(head)}"
        grz = GRZS[i % 3]
        vns = tc.request_case_numbers(kvnr=kvnr, arbeitsnummer=f"AN-{i:06d}", le_ik=LE_IK,
                                      le_name="Uniklinik", actor="le")
        pseudonym = tc.exchange_case_number(vns.genomic, node_id=grz, domain="genomic")
        tc.confirm_delivery(vns.genomic, node_id=grz, pseudonym=pseudonym)
        tc.record_consent(kvnr=kvnr, le_ik=LE_IK, scope="research",
                          decision="permit" if i % 10 else "deny", actor="le")
        people.append((pseudonym, grz))
    return people


def approve(config: GenomlabConfig) -> str:
    wf = Workflow(config)
    wf.bootstrap_admin("admin", institution="BfArM")
    for user, role in (("hanna", Role.HANDLER), ("dora", Role.DECIDER), ("kurt", Role.COMMITTEE)):
        wf.register_user("admin", user, institution="BfArM")
        wf.grant_role("admin", user, role)
    wf.register_user("admin", "alice", institution="Uni")
    form = ApplicationForm(
        title="Benchmark cohort", lay_summary="Benchmark.", scientific_abstract="Benchmark.",
        purposes=("research",), duo_permission="HMB", data_categories=("genomic",),
        level="individual", individual_justification="Individual genotypes are needed for "
        "per-person association testing in this benchmark cohort.",
        ethics_vote_reference="EK 1/2026", accepted_terms=TERMS_OF_USE_VERSION)
    application_id = wf.create_draft("alice", form)
    wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.request_committee_review("hanna", application_id)
    wf.record_vote("kurt", application_id, "approve")
    wf.approve("dora", application_id, valid_from=date.today())
    return application_id


def write_stores(hl: Any, people: list[tuple[str, str]], n_variants: int, out: Path
                 ) -> list[StoreNode]:
    mt = hl.balding_nichols_model(3, len(people), n_variants, n_partitions=24,
                                  reference_genome="GRCh38")
    mt = mt.key_cols_by(s=hl.literal([p for p, _ in people])[hl.int32(mt.sample_idx)])
    mt = mt.select_rows().select_cols().select_globals()
    nodes = []
    for k, grz in enumerate(GRZS):
        names = [p for p, g in people if g == grz]
        part = mt.filter_cols(hl.literal(set(names)).contains(mt.s))
        if k == 2:  # the third centre lacks every tenth site: the outer join must fill it
            part = part.filter_rows(part.locus.position % 10 != 0)
        path = out / f"{grz}.mt"
        part.write(str(path), overwrite=True)
        nodes.append(StoreNode(grz, path, names))
    return nodes


def file_based_delivery(hl: Any, nodes: list[StoreNode], cohort: set[str], out: Path) -> int:
    parts = []
    for node in nodes:
        mt = node.export_cohort_genotypes(hl, sorted(cohort))
        vcf = out / f"{node.node_id}.vcf.bgz"
        hl.export_vcf(mt, str(vcf))
        parts.append(hl.import_vcf(str(vcf), reference_genome="GRCh38", force_bgz=True))
    mt = parts[0]
    for other in parts[1:]:
        mt = mt.union_cols(other, row_join_type="outer")
    mt.write(str(out / "reference.mt"), overwrite=True)
    return hl.read_matrix_table(str(out / "reference.mt")).count_cols()


def main(n_genomes: int = 2000, n_variants: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        config = load_config(environ={"GENOMLAB_HOME": str(out / "home")})
        hl = init_hail(config)
        start = time.perf_counter()
        people = enrol(config, n_genomes)
        application_id = approve(config)
        register_data_service(config, actor="bench")  # BfArM approves the data service
        print(f"trust centre enrolment of {n_genomes} persons: {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        nodes = write_stores(hl, people, n_variants, out / "stores")
        print(f"GRZ stores written: {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        result = release_application(config, application_id, genome_nodes=nodes,
                                     clinical_nodes=[],
                                     linkage_service=TrustCenter(  # stores outside the home
                                         config, cohort=make_node_cohort_filter(nodes, [])),
                                     hl=hl)
        release_s = time.perf_counter() - start
        released = hl.read_matrix_table(str(result.path / "genotypes.mt"))
        n_rows, n_cols = released.count()
        print(f"genomlab release: {release_s:.1f} s -> {n_cols} persons x {n_rows} variants "
              f"(sources {result.manifest['sources']['genome_centres']})")

        start = time.perf_counter()
        cohort = {p for i, (p, _) in enumerate(people) if i % 10}
        n_reference = file_based_delivery(hl, nodes, cohort, out / "reference")
        reference_s = time.perf_counter() - start
        print(f"file-based reference (VCF export + import + join): {reference_s:.1f} s "
              f"({n_reference} persons, no pseudonym replacement, no hashes)")
        print(f"ratio reference / genomlab: {reference_s / release_s:.2f}x")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
