"""The committed 60-patient world, enrolled at a real trust centre, with readers for its nodes.

The genome data centres and clinical nodes are read through the data service's node protocols
(:mod:`genomlab.data_service.nodes`). These readers serve the committed world's files under the
pseudonyms the trust centre issued: the per-GRZ VCFs (as MatrixTables filtered to the requested
datasets before anything is returned) and the KDK records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from genomlab.config import GenomlabConfig
from genomlab.data_service.nodes import CLINICAL_ATTRIBUTES, GENOME_ATTRIBUTES, SITE_COLUMNS
from genomlab.trust_center.service import TrustCenter

WORLD = Path(__file__).resolve().parents[2] / "data_samples" / "world"
CLINICAL_FIELDS = ("sex", "birth_date", "disease_type", "library_type", "diagnosis", "hpo_terms",
                   "symptom_onset")


def load_truth() -> dict[str, Any]:
    return json.loads((WORLD / "truth.json").read_text())


def is_consented(sample: dict[str, Any], consents: dict[str, dict[str, Any]]) -> bool:
    """Research consent given and not withdrawn (per truth.json)."""
    record = consents[sample["sample"]]
    withdrawn = any(w["scope"] == "research" for w in record["withdrawals"])
    return sample["research_consent"] == "permit" and not withdrawn


@dataclass
class EnrolledWorld:
    """Who is who: per sample its genome and clinical pseudonyms (empty if none)."""

    truth: dict[str, Any]
    genome: dict[str, str] = field(default_factory=dict)
    clinical: dict[str, str] = field(default_factory=dict)

    @property
    def samples(self) -> list[dict[str, Any]]:
        return list(self.truth["samples"])

    @property
    def consents(self) -> dict[str, dict[str, Any]]:
        return {c["sample"]: c for c in self.truth["consents"]}


def enrol_world(config: GenomlabConfig) -> EnrolledWorld:
    """Case numbers, deliveries and consents of every world sample at the trust centre."""
    truth = load_truth()
    world = EnrolledWorld(truth)
    tc = TrustCenter(config)
    names = {h["ik"]: h["name"] for h in truth["institutions"]["hospitals"]}
    consents = world.consents
    for sample in truth["samples"]:
        ik = sample["hospital_ik"]
        vns = tc.request_case_numbers(kvnr=sample["kvnr"], arbeitsnummer=sample["arbeitsnummer"],
                                      le_ik=ik, le_name=names[ik], actor=f"le:{ik}")
        world.genome[sample["sample"]] = tc.exchange_case_number(
            vns.genomic, node_id=sample["grz"], domain="genomic")
        tc.confirm_delivery(vns.genomic, node_id=sample["grz"],
                            pseudonym=world.genome[sample["sample"]])
        if sample.get("kdk_record"):
            world.clinical[sample["sample"]] = tc.exchange_case_number(
                vns.clinical, node_id=sample["kdk"], domain="clinical")
            tc.confirm_delivery(vns.clinical, node_id=sample["kdk"],
                                pseudonym=world.clinical[sample["sample"]])
        if sample["research_consent"] in ("permit", "deny"):
            tc.record_consent(kvnr=sample["kvnr"], le_ik=ik, scope="research",
                              decision=sample["research_consent"], actor=f"le:{ik}",
                              decided_on=date(2025, 1, 1))
        for withdrawal in consents[sample["sample"]]["withdrawals"]:
            tc.withdraw_research_consent(kvnr=sample["kvnr"], le_ik=ik, actor=f"le:{ik}",
                                         withdrawn_on=date.fromisoformat(withdrawal["date"]))
    return world


class WorldGenomeNode:
    """A GRZ of the world: its samples' metadata and its VCF as a MatrixTable."""

    def __init__(self, node_id: str, world: EnrolledWorld, mt_path: Path,
                 sites: pl.DataFrame) -> None:
        self.node_id = node_id
        self._mt_path = mt_path
        self._sites = sites
        rows = [s for s in world.samples if s["grz"] == node_id]
        self._pseudonym = {s["sample"]: world.genome[s["sample"]] for s in rows}
        self._attributes = pl.DataFrame({
            "pseudonym": [world.genome[s["sample"]] for s in rows],
            "disease_type": [s["disease_type"] for s in rows],
            "library_type": [s["library_type"] for s in rows]}, schema=GENOME_ATTRIBUTES)

    def get_dataset_attributes(self) -> pl.DataFrame:
        return self._attributes

    def get_site_counts(self) -> pl.DataFrame:
        return self._sites.select(list(SITE_COLUMNS))

    def export_cohort_genotypes(self, hl: Any, pseudonyms: Sequence[str]) -> Any:
        mt = hl.read_matrix_table(str(self._mt_path))
        mt = mt.key_cols_by(s=hl.literal(self._pseudonym)[mt.s])
        return mt.filter_cols(hl.literal(set(pseudonyms)).contains(mt.s))


def compute_site_counts(hl: Any, mt_path: Path) -> pl.DataFrame:
    """Carriers per allele of one GRZ MatrixTable (what a GRZ reports at intake)."""
    mt = hl.read_matrix_table(str(mt_path))
    variant = hl.delimit([mt.locus.contig, hl.str(mt.locus.position), mt.alleles[0],
                          mt.alleles[1]], ":")
    rows = mt.select_rows(variant=variant,
                          n_carriers=hl.agg.count_where(mt.GT.is_non_ref())).rows()
    frame = pl.from_pandas(rows.key_by().select("variant", "n_carriers").to_pandas())
    return frame.filter(pl.col("n_carriers") > 0).with_columns(pl.col("n_carriers").cast(pl.Int64))


class WorldClinicalNode:
    """A KDK of the world: its records (from the committed JSON files)."""

    def __init__(self, node_id: str, world: EnrolledWorld) -> None:
        self.node_id = node_id
        rows = []
        for sample in world.samples:
            if sample.get("kdk") != node_id or not sample.get("kdk_record"):
                continue
            record = json.loads((WORLD / sample["kdk_record"]).read_text())
            case = record["case"].get("diagnosisRd") or record["case"]["diagnosisOd"]
            codes = [d["icd10gm"] for d in case.get("diagnoses", [])] or [
                case["mainDiagnosis"]["code"]]
            terms = case.get("phenotypes", []) or case.get("hpoTerms", [])
            meta = record["metaData"]
            rows.append({
                "pseudonym": world.clinical[sample["sample"]],
                "disease_type": meta["submission"]["diseaseType"],
                "library_type": case.get("libraryType"), "sex": meta["gender"],
                "birth_date": meta["birthDate"],
                "icd10gm": codes, "hpo": [term["code"] for term in terms],
                "symptom_onset": case.get("symptomOnsetDate")})
        self.records = pl.DataFrame(rows, schema={**CLINICAL_ATTRIBUTES,
                                                  "symptom_onset": pl.String})

    def get_dataset_attributes(self) -> pl.DataFrame:
        return self.records.select(list(CLINICAL_ATTRIBUTES))

    def read_fields(self, pseudonyms: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        names = {"diagnosis": "icd10gm", "hpo_terms": "hpo"}
        unknown = set(fields) - set(CLINICAL_FIELDS)
        assert not unknown, unknown
        return (self.records.filter(pl.col("pseudonym").is_in(list(pseudonyms)))
                .select("pseudonym", *(pl.col(names.get(f, f)).alias(f) for f in fields)))
