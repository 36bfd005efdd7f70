"""The node read protocols implemented over the real GRZ and KDK stores of a home.

The data service reads only each node's *consented* store (research-consented datasets; the GRZ
already leaves out persons who withdrew), and filters by pseudonym at the node
(``GenomeCenter.read_genotypes(pseudonyms=…)``, ``ClinicalNode.read_table(pseudonyms=…)``)
before anything is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from genomlab.config import GenomlabConfig
from genomlab.data_service.nodes import CLINICAL_ATTRIBUTES, GENOME_ATTRIBUTES, SITE_COLUMNS
from genomlab.errors import ValidationFailed
from genomlab.hail_session import HailModule

CONSENTED = "consented"
CASE_FIELDS = {"sex": "gender", "birth_month": "birth_month", "disease_type": "disease_type",
               "library_type": "library_type"}
"""Releasable clinical fields read from a KDK's ``cases`` table (release name → column)."""
LIST_FIELDS = ("diagnosis", "hpo_terms")
"""Releasable list fields: ICD-10-GM codes (``diagnoses``) and HPO terms (``phenotypes``)."""
RELEASABLE_FIELDS = (*CASE_FIELDS, *LIST_FIELDS)
"""The default releasable fields. Besides these, an approval may name any path of BfArM's KDK
dataset that a KDK stores (``case.diagnosisOd.ecogPerformanceStatusScore``,
``molecular.smallVariants.gene.code``; see :mod:`genomlab.clinical_node.dataset`)."""


class GenomeCenterReader:
    """A GRZ's consented store through :class:`genomlab.data_service.nodes.GenomeNodeReader`.

    ``hl`` is needed for the allele index and exports only (not for dataset attributes).
    """

    def __init__(self, config: GenomlabConfig, node_id: str, hl: HailModule | None = None) -> None:
        from genomlab.genome_center.intake import GenomeCenter

        self.node_id = node_id
        self._grz = GenomeCenter(config, node_id)
        self._hl = hl

    def get_dataset_attributes(self) -> pl.DataFrame:
        submissions = {s["inbox_id"]: s for s in self._grz.get_submissions()}
        withdrawn = self._grz.get_withdrawn()
        latest: dict[str, dict[str, Any]] = {}
        for donor in self._grz.get_donors():
            if donor["store"] != CONSENTED or donor["genome_pseudonym"] in withdrawn:
                continue
            submission = submissions[donor["inbox_id"]]
            if submission["state"] == "error":
                continue
            libraries = sorted(filter(None, donor["library_types"].split(",")))
            latest[donor["genome_pseudonym"]] = {
                "pseudonym": donor["genome_pseudonym"],
                "disease_type": submission["disease_type"],
                "library_type": libraries[0] if libraries else submission["library_type"]}
        return pl.DataFrame(list(latest.values()), schema=GENOME_ATTRIBUTES)

    def get_site_counts(self) -> pl.DataFrame:
        hl = self._require_hail()
        if not self._grz.get_batch_paths(CONSENTED):
            return pl.DataFrame(schema=SITE_COLUMNS)
        mt = self._grz.read_genotypes(hl, store_name=CONSENTED)
        variant = hl.delimit([mt.locus.contig, hl.str(mt.locus.position), mt.alleles[0],
                              mt.alleles[1]], ":")
        rows = mt.select_rows(variant=variant,
                              n_carriers=hl.agg.count_where(mt.GT.is_non_ref())).rows()
        frame = pl.from_pandas(rows.key_by().select("variant", "n_carriers").to_pandas())
        return frame.filter(pl.col("n_carriers") > 0).cast(SITE_COLUMNS)

    def export_cohort_genotypes(self, hl: HailModule, pseudonyms: Sequence[str]) -> Any:
        return self._grz.read_genotypes(hl, pseudonyms=list(pseudonyms), store_name=CONSENTED)

    def _require_hail(self) -> HailModule:
        if self._hl is None:
            from genomlab.hail_session import init_hail

            self._hl = init_hail(self._grz.config)
        return self._hl


class ClinicalNodeReader:
    """A KDK's consented store through :class:`genomlab.data_service.nodes.ClinicalNodeReader`."""

    def __init__(self, config: GenomlabConfig, node_id: str) -> None:
        from genomlab.clinical_node.intake import ClinicalNode

        self.node_id = node_id
        self._kdk = ClinicalNode(config, node_id)

    def _lists(self, pseudonyms: Sequence[str] | None) -> pl.DataFrame:
        diagnoses = (self._kdk.read_table("diagnoses", pseudonyms=pseudonyms, store_name=CONSENTED)
                     .filter(pl.col("system") == "ICD-10-GM")
                     .group_by("clinical_pseudonym").agg(pl.col("code").unique().sort()
                                                         .alias("diagnosis")))
        phenotypes = (self._kdk.read_table("phenotypes", pseudonyms=pseudonyms,
                                           store_name=CONSENTED)
                      .group_by("clinical_pseudonym").agg(pl.col("hpo").unique().sort()
                                                          .alias("hpo_terms")))
        return diagnoses.join(phenotypes, on="clinical_pseudonym", how="full", coalesce=True)

    def _cases(self, pseudonyms: Sequence[str] | None) -> pl.DataFrame:
        cases = self._kdk.read_table("cases", pseudonyms=pseudonyms, store_name=CONSENTED)
        latest = cases.group_by("clinical_pseudonym", maintain_order=True).last()  # written last
        return latest.join(self._lists(pseudonyms), on="clinical_pseudonym", how="left")

    def get_dataset_attributes(self) -> pl.DataFrame:
        cases = self._cases(None)
        return cases.select(
            pl.col("clinical_pseudonym").alias("pseudonym"), "disease_type", "library_type",
            pl.col("gender").alias("sex"), pl.col("birth_month").alias("birth_date"),
            pl.col("diagnosis").fill_null([]).alias("icd10gm"),
            pl.col("hpo_terms").fill_null([]).alias("hpo")).cast(CLINICAL_ATTRIBUTES)

    def read_fields(self, pseudonyms: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        from genomlab.clinical_node.dataset import check_dataset_path, get_dataset_columns

        paths = [f for f in fields if f not in RELEASABLE_FIELDS]
        for path in paths:
            try:
                check_dataset_path(path)
            except ValidationFailed as exc:
                raise ValidationFailed(
                    f"{self.node_id}: {exc} (releasable: {', '.join(RELEASABLE_FIELDS)} or a "
                    "stored path of BfArM's KDK dataset)") from exc
        cases = self._cases(list(pseudonyms))
        frame = cases.select(pl.col("clinical_pseudonym").alias("pseudonym"),
                             *(pl.col(CASE_FIELDS.get(f, f)).alias(f) for f in fields
                               if f in RELEASABLE_FIELDS))
        if paths:
            parts = self._kdk.read_table("parts", pseudonyms=list(pseudonyms),
                                         store_name=CONSENTED)
            frame = frame.join(get_dataset_columns(parts, paths).rename(
                {"clinical_pseudonym": "pseudonym"}), on="pseudonym", how="left")
        return frame.select("pseudonym", *fields)


def get_node_readers(config: GenomlabConfig, hl: HailModule | None = None
                     ) -> tuple[list[GenomeCenterReader], list[ClinicalNodeReader]]:
    """Readers for every GRZ and KDK that has a folder under the home.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.institution import parse_institution
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> for name in ("grz:GRZK00001", "kdk:KDKK00001"):
    ...     parse_institution(config, name).directory.mkdir(parents=True)
    >>> grzs, kdks = get_node_readers(config)
    >>> [r.node_id for r in grzs], [r.node_id for r in kdks]
    (['GRZK00001'], ['KDKK00001'])
    """
    from genomlab.institution import existing_institutions

    nodes = existing_institutions(config)
    return ([GenomeCenterReader(config, str(n.node_id), hl) for n in nodes if n.kind == "grz"],
            [ClinicalNodeReader(config, str(n.node_id)) for n in nodes if n.kind == "kdk"])
