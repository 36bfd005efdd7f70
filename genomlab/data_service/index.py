"""The feasibility index: what the nodes report, kept by the data service for fast counting.

When nodes report (:func:`build_feasibility_index`), the data service stores three Parquet tables
under ``<home>/data_service/feasibility/``, sorted so that row order carries no information, and
with **no pseudonym and no genotype**:

- ``genome_datasets.parquet`` — ``node``, ``disease_type``, ``library_type``;
- ``clinical_datasets.parquet`` — the same plus ``sex``, ``age_band`` and the ``icd10gm`` and
  ``hpo`` lists;
- ``sites.parquet`` — ``node``, ``variant``, ``n_carriers`` (each GRZ's allele index).

A query (:mod:`genomlab.data_service.feasibility`) reads only these tables, never genotypes.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.data_service.files import (
    compute_digest,
    compute_file_sha256,
    make_staging_dir,
    replace_dir,
)
from genomlab.data_service.nodes import (
    CLINICAL_ATTRIBUTES,
    GENOME_ATTRIBUTES,
    SITE_COLUMNS,
    ClinicalNodeReader,
    GenomeNodeReader,
    check_columns,
    compute_age_bands,
)
from genomlab.data_service.store import open_data_service_ledger
from genomlab.errors import NotFoundError

INDEX_FILES = ("genome_datasets.parquet", "clinical_datasets.parquet", "sites.parquet")


@dataclass(frozen=True)
class FeasibilityIndex:
    """The three tables of the feasibility index, as loaded for querying."""

    genome: pl.DataFrame
    clinical: pl.DataFrame
    sites: pl.DataFrame
    digest: str
    masks: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict, repr=False,
                                                          compare=False)
    """Boolean row masks per (side, kind, value), filled as queries need them."""

    @property
    def nodes(self) -> dict[str, list[str]]:
        return {"genomic": sorted(set(self.genome["node"])),
                "clinical": sorted(set(self.clinical["node"]))}


def get_index_dir(config: GenomlabConfig) -> Path:
    """Where the feasibility index lives."""
    return config.institution_dir("data_service") / "feasibility"


def collect_node_reports(genome_nodes: Sequence[GenomeNodeReader],
                         clinical_nodes: Sequence[ClinicalNodeReader], *,
                         on: date) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The three index tables from the nodes' reports (pseudonyms dropped, rows sorted)."""
    genome = [check_columns(n.get_dataset_attributes(), GENOME_ATTRIBUTES,
                            f"{n.node_id} datasets").with_columns(node=pl.lit(n.node_id))
              for n in genome_nodes]
    sites = [check_columns(n.get_site_counts(), SITE_COLUMNS, f"{n.node_id} sites")
             .with_columns(node=pl.lit(n.node_id)) for n in genome_nodes]
    clinical = [check_columns(n.get_dataset_attributes(), CLINICAL_ATTRIBUTES,
                              f"{n.node_id} datasets").with_columns(node=pl.lit(n.node_id))
                for n in clinical_nodes]
    keys = ["node", "disease_type", "library_type"]
    genome_frame = (pl.concat(genome) if genome else pl.DataFrame(schema={
        **GENOME_ATTRIBUTES, "node": pl.String})).select(keys).sort(keys, nulls_last=True)
    keys = [*keys, "sex"]
    clinical_frame = pl.concat(clinical) if clinical else pl.DataFrame(schema={
        **CLINICAL_ATTRIBUTES, "node": pl.String})
    clinical_frame = (clinical_frame.with_columns(
        age_band=compute_age_bands(clinical_frame["birth_date"], on=on),
        icd10gm=pl.col("icd10gm").list.sort(), hpo=pl.col("hpo").list.sort())
        .select([*keys, "age_band", "icd10gm", "hpo"]))
    sites_frame = (pl.concat(sites) if sites else pl.DataFrame(schema={
        **SITE_COLUMNS, "node": pl.String})).select("node", "variant", "n_carriers").sort(
        "node", "variant")
    # equal attribute rows are ordered by their term lists too: row order carries nothing
    clinical_frame = clinical_frame.with_columns(
        _k=pl.col("icd10gm").list.join(";") + "|" + pl.col("hpo").list.join(";")).sort(
        [*keys, "age_band", "_k"], nulls_last=True).drop("_k")
    return genome_frame, clinical_frame, sites_frame


def build_feasibility_index(config: GenomlabConfig, genome_nodes: Sequence[GenomeNodeReader],
                            clinical_nodes: Sequence[ClinicalNodeReader], *,
                            on: date | None = None, actor: str = "data_service") -> str:
    """Rebuild the feasibility index from the nodes' reports; returns its content digest.

    Written aside and moved into place (a query sees the old index or the new one), then
    recorded as ``feasibility.index_built``.

    Examples
    --------
    ``genomlab.data_service.feasibility`` shows it on the committed world; here a KDK that has
    not received records yet:

    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.data_service.adapters import ClinicalNodeReader
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> digest = build_feasibility_index(config, [], [ClinicalNodeReader(config, "KDKK00001")])
    >>> index = load_feasibility_index(config)
    >>> index.digest == digest, index.clinical.height, index.clinical.columns[:4]
    (True, 0, ['node', 'disease_type', 'library_type', 'sex'])
    """
    on = on or clock.today()
    tables = collect_node_reports(genome_nodes, clinical_nodes, on=on)
    target = get_index_dir(config)
    staging = make_staging_dir(target)
    hashes = {}
    for name, table in zip(INDEX_FILES, tables, strict=True):
        table.write_parquet(staging / name, statistics=False)
        hashes[name] = compute_file_sha256(staging / name)
    digest = compute_digest(hashes)
    (staging / "DIGEST").write_text(digest + "\n")
    replace_dir(staging, target)
    open_data_service_ledger(config).append("feasibility.index_built", {
        "build_id": secrets.token_hex(8),
        "nodes": [n.node_id for n in genome_nodes] + [n.node_id for n in clinical_nodes],
        "n_genome_datasets": tables[0].height, "n_clinical_datasets": tables[1].height,
        "n_sites": tables[2].height, "digest": digest}, actor=actor)
    return digest


def load_feasibility_index(config: GenomlabConfig) -> FeasibilityIndex:
    """The current index (cached per process until a rebuild changes its digest)."""
    directory = get_index_dir(config)
    marker = directory / "DIGEST"
    if not marker.exists():
        raise NotFoundError(f"{directory}: no feasibility index yet (run "
                            "`genomlab data-service index` after the nodes have reported)")
    return _load(str(directory), marker.read_text().strip())


@lru_cache(maxsize=4)
def _load(directory: str, digest: str) -> FeasibilityIndex:
    path = Path(directory)
    genome, clinical, sites = (pl.read_parquet(path / name) for name in INDEX_FILES)
    return FeasibilityIndex(genome=genome, clinical=clinical, sites=sites, digest=digest)
