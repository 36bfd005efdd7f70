"""Inputs of cohort QC and analysis: a VCF (converted once) or a release, plus sample information.

Two sources give the same pair, a Hail MatrixTable keyed by ``s`` and a sample table:

- a VCF with a ``samples.tsv`` (contract of ``genomlab.samples``) or a PLINK ``.fam``;
- a release directory holding ``genotypes.mt`` (columns keyed by the project pseudonym ``s``)
  and clinical Parquet keyed by the same ``s`` (``sex`` plus phenotype columns). A release is
  read only after the entitlement check of :func:`~genomlab.workspace.release.open_release`
  (:func:`check_release_access`): only ``<home>/workspaces/<project>/release``, only for a
  member of the project's approved team with an active entitlement.

For the numeric QC steps the genotypes leave Hail once, as a PLINK ``.bed`` (2 bits per call,
written by Hail in parallel), and are read into an ``int8`` matrix of alternate-allele counts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.hail_session import HailModule

SAMPLE_COLUMNS = ("reported_sex", "family", "father", "mother")
# GRCh38 pseudo-autosomal regions of chrX (1-based, inclusive), as plink2 ``--split-par hg38``.
PAR_GRCH38 = ((10_001, 2_781_479), (155_701_383, 156_030_895))
_BED_MAGIC = b"\x6c\x1b\x01"
# PLINK .bed 2-bit codes (A1 = alternate allele as Hail writes it): 00 hom A1, 01 missing,
# 10 het, 11 hom A2.
_BED_TO_N_ALT = np.array([2, -1, 1, 0], dtype=np.int8)
_BYTE_TO_CALLS = np.stack([_BED_TO_N_ALT[(np.arange(256) >> (2 * k)) & 3] for k in range(4)], 1)
_BYTE_TO_4_CALLS = np.ascontiguousarray(_BYTE_TO_CALLS).view(np.uint32).ravel()  # one take


def decode_bed_rows(packed: np.ndarray, n_samples: int) -> np.ndarray:
    """``n_alt[variant, sample]`` (int8, -1 missing) of packed ``.bed`` rows (uint8).

    Examples
    --------
    >>> decode_bed_rows(np.array([[0x78, 0x03]], dtype=np.uint8), 5).tolist()
    [[2, 1, 0, -1, 0]]
    """
    calls = _BYTE_TO_4_CALLS[packed].view(np.int8).reshape(len(packed), -1)
    return calls if calls.shape[1] == n_samples else np.ascontiguousarray(calls[:, :n_samples])


@dataclass(frozen=True)
class GenotypeMatrix:
    """Alternate-allele counts in memory: ``n_alt[variant, sample]`` in {0, 1, 2}, -1 missing.

    ``variants`` has one row per variant with ``contig``, ``position``, ``ref``, ``alt`` and
    ``variant`` (``contig:position:ref:alt``).
    """

    n_alt: np.ndarray
    samples: list[str]
    variants: pd.DataFrame

    @classmethod
    def from_counts(cls, n_alt: Any, *, contig: str = "chr1") -> GenotypeMatrix:
        """A matrix of the counts ``n_alt`` (variants × samples) with samples ``S00001``, … and
        A>G variants at positions 1, 2, … of ``contig``: small inputs for examples and tests.

        Examples
        --------
        >>> gm = GenotypeMatrix.from_counts([[0, 1, 2], [-1, 0, 1]], contig="chrX")
        >>> gm.samples, gm.variants["variant"].tolist(), gm.is_x.tolist()
        (['S00001', 'S00002', 'S00003'], ['chrX:1:A:G', 'chrX:2:A:G'], [True, True])
        """
        counts = np.asarray(n_alt, dtype=np.int8)
        positions = np.arange(1, counts.shape[0] + 1)
        variants = pd.DataFrame({"contig": contig, "position": positions, "ref": "A", "alt": "G"})
        variants["variant"] = [f"{contig}:{p}:A:G" for p in positions]
        return cls(counts, [f"S{i:05d}" for i in range(1, counts.shape[1] + 1)], variants)

    def subset(self, rows: np.ndarray | None = None,
               cols: np.ndarray | None = None) -> GenotypeMatrix:
        """The matrix restricted to boolean/integer ``rows`` (variants) and ``cols`` (samples)."""
        n_alt, samples, variants = self.n_alt, self.samples, self.variants
        if rows is not None:
            idx = _as_indices(rows)
            n_alt, variants = n_alt[idx], variants.iloc[idx].reset_index(drop=True)
        if cols is not None:
            idx = _as_indices(cols)
            n_alt, samples = n_alt[:, idx], [samples[i] for i in idx]
        return GenotypeMatrix(n_alt, samples, variants)

    @property
    def is_autosomal(self) -> np.ndarray:
        contig = self.variants["contig"].str.removeprefix("chr")
        return contig.str.fullmatch(r"\d+").to_numpy()

    @property
    def is_x(self) -> np.ndarray:
        return self.variants["contig"].isin(["chrX", "X"]).to_numpy()

    @property
    def is_x_nonpar(self) -> np.ndarray:
        """chrX outside the GRCh38 pseudo-autosomal regions: haploid in males."""
        pos = self.variants["position"].to_numpy()
        in_par = np.zeros(len(pos), dtype=bool)
        for start, end in PAR_GRCH38:
            in_par |= (pos >= start) & (pos <= end)
        return self.is_x & ~in_par

    @property
    def is_y(self) -> np.ndarray:
        return self.variants["contig"].isin(["chrY", "Y"]).to_numpy()


def _as_indices(selection: np.ndarray) -> np.ndarray:
    selection = np.asarray(selection)
    return np.flatnonzero(selection) if selection.dtype == bool else selection


def default_n_partitions(hl: HailModule, per_core: int = 3) -> int:
    """Partitions sized to the cores Spark runs on (2–4 per core keeps every core busy).

    Examples
    --------
    >>> default_n_partitions(hl)  # doctest: +SKIP
    6
    """
    return max(1, per_core * int(hl.spark_context().defaultParallelism))


def import_vcf_to_mt(hl: HailModule, vcf: Path, mt_path: Path, *, n_partitions: int | None = None,
                     reference_genome: str = "GRCh38", overwrite: bool = False) -> Any:
    """Convert a VCF to a MatrixTable once (multi-allelics split) and return it read back.

    An existing MatrixTable at ``mt_path`` newer than the VCF is reused: VCF text is parsed once.
    The VCF is written as it is first; only if the written rows (read without entries, about a
    second) hold a multi-allelic site is it split and written again. Splitting re-maps every
    entry, which nearly doubles the conversion (44 s → 80 s on 2,000 × 100,000), and VCFs
    normalised upstream (``bcftools norm -m-``) have nothing to split.

    Examples
    --------
    >>> mt = import_vcf_to_mt(hl, Path("cohort.vcf.bgz"), Path("work/cohort.mt"))  # doctest: +SKIP
    """
    if not vcf.exists():
        raise NotFoundError(f"{vcf}: VCF not found")
    done = mt_path / "_SUCCESS"
    if not overwrite and done.exists() and done.stat().st_mtime >= vcf.stat().st_mtime:
        return hl.read_matrix_table(str(mt_path))
    recode = None
    if reference_genome == "GRCh38":
        recode = {str(i): f"chr{i}" for i in (*range(1, 23), "X", "Y")}
    raw_path = mt_path.with_name(f".{mt_path.name}.unsplit")
    hl.import_vcf(str(vcf), reference_genome=reference_genome, force_bgz=True,
                  n_partitions=n_partitions or default_n_partitions(hl),
                  contig_recoding=recode, array_elements_required=False).write(
        str(raw_path), overwrite=True)
    raw = hl.read_matrix_table(str(raw_path))
    shutil.rmtree(mt_path, ignore_errors=True)
    if raw.aggregate_rows(hl.agg.any(hl.len(raw.alleles) > 2)):
        hts_fields = {"GT", "AD", "DP", "GQ", "PL", "PGT", "PID"}
        split = hl.split_multi_hts(raw) if set(raw.entry) <= hts_fields else hl.split_multi(raw)
        split.write(str(mt_path), overwrite=True)
        shutil.rmtree(raw_path)
    else:
        raw_path.rename(mt_path)  # atomic: mt_path is either absent or complete
    return hl.read_matrix_table(str(mt_path))


def read_samples_tsv(path: Path) -> pd.DataFrame:
    """The clinical side's ``samples.tsv`` as a table indexed by ``s``.

    Examples
    --------
    >>> info = read_samples_tsv(Path("data_samples/world/genotypes/samples.tsv"))
    >>> info.columns[:2].tolist(), info.loc["S00002", ["family", "father", "mother"]].tolist()
    (['reported_sex', 'family'], ['F00002', '0', 'S00003'])
    """
    if not path.exists():
        raise NotFoundError(f"{path}: sample table not found")
    table = pd.read_csv(path, sep="\t", dtype={"family": str, "father": str, "mother": str})
    if "sample" not in table.columns:
        raise ValidationFailed(f"{path}: missing column 'sample'")
    table = table.rename(columns={"sample": "s"}).set_index("s")
    for col in ("father", "mother"):
        if col in table.columns:
            table[col] = table[col].fillna("0").replace({"": "0", ".": "0"})
    return _normalise(table, path)


def read_fam(path: Path) -> pd.DataFrame:
    """A PLINK ``.fam`` (FID IID PAT MAT SEX PHENO) as a sample table indexed by ``s``."""
    if not path.exists():
        raise NotFoundError(f"{path}: fam file not found")
    fam = pd.read_csv(path, sep=r"\s+", header=None, dtype=str,
                      names=["family", "s", "father", "mother", "sex", "phenotype"])
    fam["reported_sex"] = fam["sex"].map({"1": "male", "2": "female"})
    return _normalise(fam.drop(columns=["sex"]).set_index("s"), path)


def check_release_access(release: Path, *, config: GenomlabConfig | None = None,
                         user: str | None = None) -> Path:
    """``release`` if the current user (or ``user``) may read it now; else raise.

    The one entitlement check of every reader of a release folder: that of
    :func:`~genomlab.workspace.release.open_release_folder` (``config`` default: the
    environment's configuration; ``user`` default: the verified person of the credentials file).

    Raises
    ------
    PermissionDenied
        Not a project's release folder, a user off the team, or no active entitlement.
    """
    from genomlab.workspace.release import open_release_folder

    return open_release_folder(release, config=config, user=user).path


def read_release_samples(release: Path, *, config: GenomlabConfig | None = None,
                         user: str | None = None) -> pd.DataFrame:
    """The clinical Parquet of a release (keyed by the project pseudonym ``s``) as a sample table,
    after :func:`check_release_access`.

    Every ``*.parquet`` file directly in ``release`` (or in ``release/clinical``) that has an
    ``s`` column is joined on ``s``; ``sex`` is taken as the reported sex.
    """
    release = check_release_access(release, config=config, user=user)
    files = sorted([*release.glob("*.parquet"), *release.glob("clinical/*.parquet")])
    tables = [t.set_index("s") for f in files if "s" in (t := pd.read_parquet(f)).columns]
    if not tables:
        raise NotFoundError(f"{release}: no clinical Parquet with an 's' column")
    table = pd.concat(tables, axis=1)
    table = table.loc[:, ~table.columns.duplicated()]
    if "reported_sex" not in table.columns and "sex" in table.columns:
        table["reported_sex"] = table["sex"]
    return _normalise(table, release)


def _normalise(table: pd.DataFrame, source: Path) -> pd.DataFrame:
    if table.index.duplicated().any():
        duplicate = table.index[table.index.duplicated()][0]
        raise ValidationFailed(f"{source}: duplicate sample {duplicate}")
    for col in SAMPLE_COLUMNS:
        if col not in table.columns:
            table[col] = "0" if col in ("father", "mother") else None
    table["family"] = table["family"].fillna(pd.Series(table.index, index=table.index))
    sex = table["reported_sex"].astype("string").str.lower()
    table["reported_sex"] = sex.where(sex.isin(["male", "female"]))
    return table


def read_sample_info(*, vcf: Path | None = None, release: Path | None = None,
                     samples: Path | None = None, config: GenomlabConfig | None = None,
                     user: str | None = None) -> pd.DataFrame | None:
    """The sample table of a release, or of a VCF (``samples`` or the ``samples.tsv`` /
    ``cohort.fam`` next to it); ``None`` when a VCF has none. A release is read after
    :func:`check_release_access` (with ``config`` and ``user``).

    Examples
    --------
    >>> info = read_sample_info(vcf=Path("data_samples/world/genotypes/cohort.vcf.bgz"))
    >>> len(info), info["reported_sex"].value_counts().to_dict()
    (114, {'male': 59, 'female': 55})
    """
    if (vcf is None) == (release is None):
        raise ValidationFailed("give exactly one of --vcf or --release")
    if release is not None:
        return read_release_samples(release, config=config, user=user)
    assert vcf is not None
    if samples is None:
        candidates = [vcf.parent / "samples.tsv", vcf.parent / "cohort.fam"]
        samples = next((c for c in candidates if c.exists()), None)
    if samples is None:
        return None
    return read_fam(samples) if samples.suffix == ".fam" else read_samples_tsv(samples)


def read_source(hl: HailModule, *, vcf: Path | None = None, release: Path | None = None,
                samples: Path | None = None, work_dir: Path,
                n_partitions: int | None = None, config: GenomlabConfig | None = None,
                user: str | None = None) -> tuple[Any, pd.DataFrame]:
    """The MatrixTable and sample table of a VCF or a release directory.

    Parameters
    ----------
    vcf, release:
        Exactly one. A VCF is converted once to ``work_dir/cohort.mt``; a release is read as is.
    samples:
        For a VCF: ``samples.tsv`` or ``.fam``; default the ``samples.tsv`` or ``cohort.fam``
        next to the VCF, else reported sex and pedigree stay unknown.
    config, user:
        For a release: whose entitlement :func:`check_release_access` checks (default: the
        environment's configuration and the current user).

    Examples
    --------
    >>> vcf = Path("cohort.vcf.bgz")
    >>> mt, info = read_source(hl, vcf=vcf, work_dir=Path("work"))  # doctest: +SKIP
    """
    if release is not None:
        release = check_release_access(release, config=config, user=user)
    info = read_sample_info(vcf=vcf, release=release, samples=samples, config=config, user=user)
    if release is not None:
        mt_path = release / "genotypes.mt"
        if not mt_path.exists():
            raise NotFoundError(f"{release}: no genotypes.mt in the release")
        mt = hl.read_matrix_table(str(mt_path))
    else:
        assert vcf is not None
        mt = import_vcf_to_mt(hl, vcf, work_dir / "cohort.mt", n_partitions=n_partitions)
    return mt, align_sample_info(info, mt.s.collect(), vcf or Path())


def align_sample_info(info: pd.DataFrame | None, samples: list[str],
                      source: Path) -> pd.DataFrame:
    """``info`` in the order of the genotyped ``samples``; samples it lacks get no sex, no
    parents and a family of their own (``info`` ``None``: all of them).

    Examples
    --------
    >>> align_sample_info(None, ["S1", "S2"], Path("x.vcf"))["family"].tolist()
    ['S1', 'S2']
    """
    if info is None:
        info = _normalise(pd.DataFrame(index=pd.Index(samples, name="s")), source)
    return info.reindex(pd.Index(samples, name="s")).pipe(_fill_missing_samples)


def _fill_missing_samples(info: pd.DataFrame) -> pd.DataFrame:
    info["father"] = info["father"].fillna("0")
    info["mother"] = info["mother"].fillna("0")
    info["family"] = info["family"].fillna(pd.Series(info.index, index=info.index))
    return info


def get_qc_call_expr(hl: HailModule, mt: Any, *, min_gq: int | None = 20, min_dp: int | None = 10,
                     min_het_ab: float | None = 0.2) -> Any:
    """GT with gnomAD's ADJ genotype filter applied (failing calls set missing), diploidised.

    Defaults are gnomAD's ADJ (``get_adj_expr``): GQ ≥ 20, DP ≥ 10, het allele balance ≥ 0.2.
    Pass ``None`` to skip a filter (e.g. all three to compare with plink2 on raw calls).
    Haploid calls become homozygous diploid calls, as PLINK treats them.

    Examples
    --------
    >>> call = get_qc_call_expr(hl, mt)  # doctest: +SKIP
    """
    gt = mt.GT
    keep = hl.is_defined(gt)
    if min_gq is not None and "GQ" in mt.entry:
        keep &= hl.or_else(mt.GQ, 0) >= min_gq
    if min_dp is not None and "DP" in mt.entry:
        keep &= hl.or_else(mt.DP, 0) >= min_dp
    if min_het_ab is not None and "AD" in mt.entry:
        total = hl.or_else(hl.sum(mt.AD), 0)
        ab = hl.if_else(total > 0, mt.AD[1] / total, 0.0)
        keep &= ~gt.is_het() | (hl.or_else(ab, 0.0) >= min_het_ab)
    diploid = hl.if_else(gt.ploidy == 1, hl.call(gt[0], gt[0]), gt)
    return hl.or_missing(keep, diploid)


def export_genotype_matrix(hl: HailModule, mt: Any, call: Any, prefix: Path) -> GenotypeMatrix:
    """Write ``call`` as PLINK ``prefix.{bed,bim,fam}`` (one parallel Hail pass) and read it.

    The same files serve plink2 for cross-checks.

    Examples
    --------
    >>> gm = export_genotype_matrix(hl, mt, mt.GT, Path("work/qc"))  # doctest: +SKIP
    >>> gm.n_alt.shape  # doctest: +SKIP
    (3000, 300)
    """
    export_plink_calls(hl, mt, call, prefix)
    return read_bed(prefix)


def export_plink_calls(hl: HailModule, mt: Any, call: Any, prefix: Path) -> Path:
    """Write ``call`` as PLINK ``prefix.{bed,bim,fam}`` in one parallel Hail pass (on the
    executors of a cluster); variant ids ``contig:position:ref:alt``, A1 the alternate allele.
    """
    prefix.parent.mkdir(parents=True, exist_ok=True)
    varid = hl.delimit([mt.locus.contig, hl.str(mt.locus.position), mt.alleles[0], mt.alleles[1]],
                       ":")
    hl.export_plink(mt, str(prefix), call=call, ind_id=mt.s, varid=varid)
    return prefix


def read_bed(prefix: Path) -> GenotypeMatrix:
    """Read PLINK ``prefix.{bed,bim,fam}`` (variant-major) into a :class:`GenotypeMatrix`.

    Alternate allele = A1 (the first allele column of the ``.bim``), as Hail's export writes it.
    """
    fam = pd.read_csv(f"{prefix}.fam", sep=r"\s+", header=None, dtype=str)
    bim = pd.read_csv(f"{prefix}.bim", sep="\t", header=None,
                      dtype={0: str, 1: str, 4: str, 5: str},
                      names=["contig", "variant", "cm", "position", "alt", "ref"])
    n_samples, n_variants = len(fam), len(bim)
    raw = np.fromfile(f"{prefix}.bed", dtype=np.uint8)
    if raw[:3].tobytes() != _BED_MAGIC:
        raise ValidationFailed(f"{prefix}.bed: not a variant-major PLINK bed file")
    per_variant = (n_samples + 3) // 4
    packed = raw[3:].reshape(n_variants, per_variant)
    variants = bim[["contig", "position", "ref", "alt", "variant"]].copy()
    return GenotypeMatrix(decode_bed_rows(packed, n_samples), fam[1].tolist(), variants)
