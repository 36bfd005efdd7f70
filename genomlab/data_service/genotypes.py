"""Hail steps of a release: relabel to project pseudonyms, union centres, hash, aggregate.

Each GRZ hands over a MatrixTable already restricted to the cohort (the node filters before
anything is written). Here every column key is replaced by the project pseudonym, only the
entry fields all centres share are kept (no row, column or global annotations travel: a node's
INFO counts would describe persons outside the cohort), the centres are joined column-wise with
an outer join on variants (missing calls where a centre lacks a site), and the columns are sorted
by pseudonym so that the same inputs give the same MatrixTable.

Reproducibility: Hail's MatrixTable files are not byte-stable, so a release hashes a canonical
export instead (:func:`compute_genotype_digest`): PLINK ``.bed/.bim/.fam`` of the (diploidised)
genotypes in the sorted order, plus a tab-separated table of per-variant sums of every other
numeric entry field.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from genomlab.data_service.files import compute_file_sha256
from genomlab.data_service.suppression import format_small
from genomlab.hail_session import HailModule

ENTRY_FIELDS = ("GT", "AD", "DP", "GQ")
"""Entry fields a release keeps when every centre has them (QC's ADJ filter reads AD/DP/GQ)."""


def relabel_columns(hl: HailModule, mt: Any, project_of: Mapping[str, str],
                    fields: Sequence[str]) -> Any:
    """``mt`` keyed by project pseudonym ``s``, with only ``fields`` per entry and no annotations.

    Raises if a column of ``mt`` has no project pseudonym (the node sent more than asked).
    """
    from genomlab.errors import ValidationFailed

    unknown = set(mt.s.collect()) - set(project_of)
    if unknown:
        raise ValidationFailed(f"genotypes: {len(unknown)} column(s) outside the cohort")
    mapping = hl.literal(dict(project_of))
    mt = mt.select_globals().select_rows().select_entries(*fields)
    mt = mt.key_cols_by(s=mapping[mt.s])
    return mt.select_cols()


def union_centres(hl: HailModule, parts: Sequence[Any]) -> Any:
    """Outer column-wise union of the centres' MatrixTables, columns sorted by ``s``."""
    mt = parts[0]
    for other in parts[1:]:
        mt = mt.union_cols(other, row_join_type="outer")
    names = mt.s.collect()
    order = sorted(range(len(names)), key=names.__getitem__)
    return mt.choose_cols(order)


def get_shared_entry_fields(parts: Sequence[Any]) -> list[str]:
    """The entry fields of :data:`ENTRY_FIELDS` present in every part (GT always)."""
    shared = [f for f in ENTRY_FIELDS if all(f in part.entry for part in parts)]
    if "GT" not in shared:
        from genomlab.errors import ValidationFailed

        raise ValidationFailed("genotypes: a centre's MatrixTable has no GT entry field")
    return shared


def compute_genotype_digest(hl: HailModule, mt: Any, work: Path) -> str:
    """sha256 of the canonical export of ``mt`` (see the module text); ``work`` is removed."""
    work.mkdir(parents=True, exist_ok=True)
    call = hl.if_else(mt.GT.ploidy == 1, hl.call(mt.GT[0], mt.GT[0]), mt.GT)
    varid = hl.delimit([mt.locus.contig, hl.str(mt.locus.position), mt.alleles[0],
                        mt.alleles[1]], ":")
    hl.export_plink(mt, str(work / "canonical"), call=call, ind_id=mt.s, varid=varid)
    sums = {f"sum_{name}": hl.agg.sum(hl.sum(mt[name]) if name == "AD" else mt[name])
            for name in ENTRY_FIELDS[1:] if name in mt.entry}
    if sums:
        table = mt.select_rows(**sums).rows()
        table.export(str(work / "sums.tsv"), parallel=None)
    digest = hashlib.sha256()
    for name in ("canonical.bed", "canonical.bim", "canonical.fam", "sums.tsv"):
        if (work / name).exists():
            digest.update(f"{name}\t{compute_file_sha256(work / name)}\n".encode())
    shutil.rmtree(work)
    return digest.hexdigest()


def compute_allele_frequencies(hl: HailModule, mt: Any, groups: Mapping[str, str], *,
                               min_allele_count: int = 10, min_group_size: int = 10
                               ) -> pl.DataFrame:
    """Allele counts and frequencies per variant for ``all`` and per group, suppressed.

    ``groups`` maps project pseudonym → group (e.g. sex). Groups smaller than
    ``min_group_size`` are left out, and then every group but ``all`` (else ``all`` minus the
    others would give the small group). For each variant where any group's allele count or
    carrier count is from 1 to ``min_allele_count - 1``, that variant's counts and frequencies
    are suppressed in *all* groups, so no group is the difference of shown ones.
    """
    sizes: dict[str, int] = {}
    for group in groups.values():
        sizes[group] = sizes.get(group, 0) + 1
    names = sorted(sizes)
    if any(sizes[g] < min_group_size for g in names) or len(names) < 2:
        names = []
    label = hl.literal(dict(groups))
    mt = mt.annotate_cols(_group=label[mt.s])
    aggs: dict[str, Any] = {"all": hl.agg.call_stats(mt.GT, mt.alleles)}
    carriers: dict[str, Any] = {"all": hl.agg.count_where(mt.GT.is_non_ref())}
    for name in names:
        aggs[name] = hl.agg.filter(mt._group == name, hl.agg.call_stats(mt.GT, mt.alleles))
        carriers[name] = hl.agg.filter(mt._group == name,
                                       hl.agg.count_where(mt.GT.is_non_ref()))
    variant = hl.delimit([mt.locus.contig, hl.str(mt.locus.position), mt.alleles[0],
                          mt.alleles[1]], ":")
    rows = mt.select_rows(variant=variant, **{
        f"{g}__{key}": value for g in aggs for key, value in (
            ("AC", aggs[g].AC[1]), ("AN", aggs[g].AN), ("n_carriers", carriers[g]))}).rows()
    frame = pl.from_pandas(rows.key_by().drop("locus", "alleles").to_pandas())
    long = pl.concat([
        frame.select(pl.col("variant"), pl.lit(g).alias("group"),
                     pl.lit(sizes.get(g, len(groups))).cast(pl.Int64).alias("n_samples"),
                     pl.col(f"{g}__AC").cast(pl.Int64).alias("AC"),
                     pl.col(f"{g}__AN").cast(pl.Int64).alias("AN"),
                     pl.col(f"{g}__n_carriers").cast(pl.Int64).alias("n_carriers"))
        for g in aggs])
    small = ((pl.col("AC").is_between(1, min_allele_count - 1))
             | (pl.col("n_carriers").is_between(1, min_allele_count - 1)))
    long = long.with_columns(_small=small.any().over("variant"))
    hidden = pl.col("_small")
    return long.select(
        "variant", "group", "n_samples",
        pl.when(hidden).then(None).otherwise(pl.col("AC")).alias("AC"), "AN",
        pl.when(hidden).then(None).otherwise(pl.col("AC") / pl.col("AN")).alias("AF"),
        pl.when(hidden).then(None).otherwise(pl.col("n_carriers")).alias("n_carriers"),
        hidden.alias("suppressed")).sort("variant", "group")


def compute_phenotype_counts(clinical: pl.DataFrame, *, min_cell_count: int = 10
                             ) -> pl.DataFrame:
    """Persons per value of each released clinical field (list fields per item), suppressed.

    A count from 1 to ``min_cell_count - 1`` shows as ``"<10"``. The values of a single-valued
    field add up to the cohort size, so when one of them is hidden the field's other counts are
    withheld too (``"suppressed"``); list fields (HPO terms, diagnoses) do not add up.

    Examples
    --------
    >>> frame = pl.DataFrame({"s": [f"P{i}" for i in range(12)], "sex": ["f"] * 11 + ["m"]})
    >>> compute_phenotype_counts(frame).rows()
    [('sex', 'f', 'suppressed'), ('sex', 'm', '<10')]
    """
    parts = []
    for name in clinical.columns:
        if name == "s":
            continue
        column = clinical.select("s", pl.col(name).alias("value"))
        is_list = isinstance(clinical.schema[name], pl.List)
        if is_list:
            column = column.explode("value")
        counts = (column.drop_nulls("value").unique()
                  .group_by("value").agg(pl.len().alias("n"))
                  .with_columns(value=pl.col("value").cast(pl.String)).sort("value"))
        shown = [str(format_small(int(n), min_cell_count=min_cell_count)) for n in counts["n"]]
        if not is_list and any(v.startswith("<") for v in shown):
            shown = [v if v.startswith("<") else "suppressed" for v in shown]
        parts.append(pl.DataFrame({"field": [name] * len(shown), "value": counts["value"],
                                   "n": shown}, schema={"field": pl.String, "value": pl.String,
                                                        "n": pl.String}))
    if not parts:
        return pl.DataFrame(schema={"field": pl.String, "value": pl.String, "n": pl.String})
    return pl.concat(parts)
