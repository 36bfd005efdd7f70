"""What the data service reads from the data nodes: the contracts, not the node internals.

A genome data centre (GRZ) and a clinical data node (KDK) each expose a small read API. The data
service depends on these protocols only; the composition root (CLI, demo, notebooks) passes the
nodes' implementations. Column contracts:

GRZ ``get_dataset_attributes()`` — one row per genome dataset in the node's store:
    ``pseudonym`` (genome-dataset pseudonym), ``disease_type``, ``library_type`` (a GRZ's
    submission metadata holds no sex the data service may use; sex comes from the KDKs).
GRZ ``get_site_counts()`` — one row per allele seen at the node:
    ``variant`` (``contig:position:ref:alt``), ``n_carriers`` (datasets with ≥ 1 alt allele).
GRZ ``export_cohort_genotypes(hl, pseudonyms)`` — a MatrixTable restricted *at the node* to the
    given genome-dataset pseudonyms (column key ``s``); nothing else leaves the node's store.
KDK ``get_dataset_attributes()`` — one row per clinical dataset:
    ``pseudonym``, ``disease_type``, ``library_type``, ``sex``, ``birth_date`` (``YYYY-MM``),
    ``icd10gm`` (list of codes), ``hpo`` (list of HPO ids).
KDK ``read_fields(pseudonyms, fields)`` — ``pseudonym`` plus only the requested fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol, runtime_checkable

import polars as pl

from genomlab.hail_session import HailModule

GENOME_ATTRIBUTES = pl.Schema({"pseudonym": pl.String, "disease_type": pl.String,
                               "library_type": pl.String})
CLINICAL_ATTRIBUTES = pl.Schema({**GENOME_ATTRIBUTES, "sex": pl.String(),
                                 "birth_date": pl.String(), "icd10gm": pl.List(pl.String),
                                 "hpo": pl.List(pl.String)})
SITE_COLUMNS = pl.Schema({"variant": pl.String, "n_carriers": pl.Int64})
AGE_BAND_YEARS = 10
"""Width of an age band (``40-49``): coarse enough that age is not an identifier on its own."""


@runtime_checkable
class GenomeNodeReader(Protocol):
    """A GRZ as the data service sees it."""

    node_id: str

    def get_dataset_attributes(self) -> pl.DataFrame:
        """One row per genome dataset (columns of :data:`GENOME_ATTRIBUTES`)."""
        ...

    def get_site_counts(self) -> pl.DataFrame:
        """Carriers per allele over the node's datasets (columns of :data:`SITE_COLUMNS`)."""
        ...

    def export_cohort_genotypes(self, hl: HailModule, pseudonyms: Sequence[str]) -> Any:
        """A MatrixTable of only ``pseudonyms`` (column key ``s``), filtered at the node."""
        ...


@runtime_checkable
class ClinicalNodeReader(Protocol):
    """A KDK as the data service sees it."""

    node_id: str

    def get_dataset_attributes(self) -> pl.DataFrame:
        """One row per clinical dataset (columns of :data:`CLINICAL_ATTRIBUTES`)."""
        ...

    def read_fields(self, pseudonyms: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """``pseudonym`` plus the requested ``fields`` of the given datasets, nothing else."""
        ...


def check_columns(frame: pl.DataFrame, schema: dict[str, Any], source: str) -> pl.DataFrame:
    """``frame`` with exactly the contract columns in contract order and types, or raise.

    Examples
    --------
    >>> check_columns(pl.DataFrame({"variant": ["chr1:1:A:C"], "n_carriers": [3]}),
    ...               SITE_COLUMNS, "GRZK00001 sites").columns
    ['variant', 'n_carriers']
    """
    from genomlab.errors import ValidationFailed

    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise ValidationFailed(f"{source}: missing column {missing[0]!r}")
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def compute_age_bands(birth_dates: pl.Series, *, on: date,
                      width: int = AGE_BAND_YEARS) -> pl.Series:
    """Age bands (``"40-49"``) on ``on`` from ``YYYY-MM`` birth dates; unknown stays null.

    Examples
    --------
    >>> compute_age_bands(pl.Series(["1980-05", None]), on=date(2026, 11, 1)).to_list()
    ['40-49', None]
    """
    year = birth_dates.str.slice(0, 4).cast(pl.Int32, strict=False)
    month = birth_dates.str.slice(5, 2).cast(pl.Int32, strict=False).fill_null(1)
    age = on.year - year - (month > on.month).cast(pl.Int32)
    low = (age // width) * width
    band = pl.format("{}-{}", pl.col("low"), pl.col("low") + width - 1)
    frame = pl.DataFrame({"low": low})
    return frame.select(pl.when(pl.col("low") >= 0).then(band).alias("age_band"))["age_band"]
