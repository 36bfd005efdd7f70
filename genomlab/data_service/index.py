"""The feasibility index: what the nodes report, kept by the data service for fast counting.

**Why it exists.** Before an application is filed, a researcher asks how many persons fit
(§ 64e: feasibility before access). Answering each query at the nodes would reach every GRZ's
genotypes and every KDK's records per question, keep the nodes on-line for every query and
leave each query visible at every node. Instead the nodes report once (when their data change)
and the data service counts from its own copy of what they reported, in milliseconds, auditing
each answer (:mod:`genomlab.data_service.feasibility`).

**What it holds.** When nodes report (:func:`build_feasibility_index`), the data service keeps
three tables, sorted so that row order carries no information, with **no pseudonym and no
genotype**, but row-level all the same (one row per dataset; see issue 21):

- genome datasets — ``node``, ``disease_type``, ``library_type``;
- clinical datasets — the same plus ``sex``, ``age_band`` and the ``icd10gm`` and ``hpo`` lists;
- sites — ``node``, ``variant``, ``n_carriers`` (each GRZ's exact carrier count per allele).

**Where.** In the data service's own store (:mod:`genomlab.data_service.index_tables`): the same
SQLite file (owner-only mode) or PostgreSQL database, and so the same permissions, as its ledger
and releases; never as files of their own. A build replaces all rows in one transaction with
its ``feasibility.index_built`` event; the Parquet folder of older releases
(``<home>/data_service/feasibility``) is removed by the next build and by migration ``0006``.

A query reads only these tables, never genotypes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
import polars as pl

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.data_service.files import compute_digest
from genomlab.data_service.index_tables import (
    create_index_tables,
    read_index_digest,
    read_index_frames,
    remove_legacy_index_files,
    replace_index_rows,
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
from genomlab.db import get_engine
from genomlab.errors import NotFoundError
from genomlab.institution import Institution

INDEX_NAMES = ("genome_datasets", "clinical_datasets", "sites")


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

    All rows are replaced in the data service's store in one transaction with the
    ``feasibility.index_built`` event (a query sees the old index or the new one); a Parquet
    index left by an older release is removed afterwards.

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
    digest = compute_digest({name: hashlib.sha256(table.write_ndjson().encode()).hexdigest()
                             for name, table in zip(INDEX_NAMES, tables, strict=True)})
    ledger = open_data_service_ledger(config)
    create_index_tables(ledger.engine)
    with ledger.transaction() as tx:
        replace_index_rows(tx.conn, tables, digest)
        tx.append("feasibility.index_built", {
            "build_id": secrets.token_hex(8),
            "nodes": [n.node_id for n in genome_nodes] + [n.node_id for n in clinical_nodes],
            "n_genome_datasets": tables[0].height, "n_clinical_datasets": tables[1].height,
            "n_sites": tables[2].height, "digest": digest}, actor=actor)
    remove_legacy_index_files(config.institution_dir("data_service"))
    return digest


def load_feasibility_index(config: GenomlabConfig) -> FeasibilityIndex:
    """The current index (cached per process until a rebuild changes its digest)."""
    institution = Institution(config, "data_service")
    digest = read_index_digest(institution.engine())
    if digest is None:
        raise NotFoundError(f"{institution.name}: no feasibility index yet (run "
                            "`genomlab data-service index` after the nodes have reported)")
    return _load(institution.store_url, digest)


@lru_cache(maxsize=4)
def _load(store_url: str, digest: str) -> FeasibilityIndex:
    genome, clinical, sites = read_index_frames(get_engine(store_url))
    return FeasibilityIndex(genome=genome, clinical=clinical, sites=sites, digest=digest)
