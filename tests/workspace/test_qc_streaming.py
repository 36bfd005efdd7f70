"""The streamed QC: block sums equal the whole-matrix kernels, and the Hail-free conversion of a
VCF gives the very calls and entry statistics Hail's export gives."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genomlab.errors import ValidationFailed
from genomlab.workspace.bed import BedFile, pack_bed_rows
from genomlab.workspace.io import GenotypeMatrix, read_bed
from genomlab.workspace.qc.pipeline import compute_group_hwe_min, compute_variant_table_streamed
from genomlab.workspace.qc.relatedness import compute_mendel_errors
from genomlab.workspace.qc.sample_qc import compute_sample_metrics, finish_sample_metrics
from genomlab.workspace.qc.sex import call_genetic_sex, compute_sex_check
from genomlab.workspace.qc.streaming import (
    concat_rows,
    count_genotypes_without,
    count_variant_genotypes_streamed,
    run_sample_pass,
    select_rows,
)
from genomlab.workspace.qc.variant_qc import compute_genotype_counts, compute_variant_metrics
from genomlab.workspace.vcf_bed import AdjFilter, MultiallelicSite, convert_vcf_to_bed
from tests.workspace.conftest import COMMITTED_WORLD

VCF = COMMITTED_WORLD / "genotypes" / "cohort.vcf.bgz"


def _cohort(rng: np.random.Generator, n_samples: int = 30) -> GenotypeMatrix:
    """Autosomal and chrX variants (males haploid on X), a few missing calls, one trio."""
    auto = rng.binomial(2, rng.uniform(0.05, 0.6, (300, 1)), (300, n_samples))
    female = np.arange(n_samples) % 2 == 0
    x = np.where(female, rng.binomial(2, 0.3, (80, n_samples)),
                 2 * rng.binomial(1, 0.3, (80, n_samples)))
    n_alt = np.vstack([auto, x]).astype(np.int8)
    n_alt[rng.random(n_alt.shape) < 0.02] = -1
    contig = np.repeat(["chr1", "chrX"], [300, 80])
    position = np.concatenate([np.arange(1, 301), 3_000_000 + np.arange(80)])
    alleles = rng.choice(list("ACGT"), (380, 2))
    alt = np.where(alleles[:, 0] == alleles[:, 1], "AT", alleles[:, 1])
    variants = pd.DataFrame({"contig": contig, "position": position, "ref": alleles[:, 0],
                             "alt": alt})
    variants["variant"] = [f"{c}:{p}:{r}:{a}" for c, p, r, a in variants.itertuples(index=False)]
    return GenotypeMatrix(n_alt, [f"S{i:03d}" for i in range(n_samples)], variants)


def _write_bed(gm: GenotypeMatrix, prefix: Path) -> BedFile:
    Path(f"{prefix}.bed").write_bytes(b"\x6c\x1b\x01" + pack_bed_rows(gm.n_alt))
    v = gm.variants
    Path(f"{prefix}.bim").write_text("".join(
        f"{c}\t{i}\t0\t{p}\t{a}\t{r}\n" for c, i, p, a, r in zip(
            v["contig"], v["variant"], v["position"], v["alt"], v["ref"], strict=True)))
    Path(f"{prefix}.fam").write_text("".join(f"0\t{s}\t0\t0\t0\t-9\n" for s in gm.samples))
    return BedFile.open(prefix)


def test_streamed_passes__block_sums_equal_the_whole_matrix_kernels(tmp_path: Path) -> None:
    gm = _cohort(np.random.default_rng(5))
    bed = _write_bed(gm, tmp_path / "c")
    info = pd.DataFrame({"father": "0", "mother": "0", "reported_sex": "female"},
                        index=pd.Index(gm.samples, name="s"))
    info.loc["S002", ["father", "mother"]] = ["S001", "S000"]
    block_calls = 7 * len(gm.samples)  # 7 variants per block: 55 blocks, the last one short

    totals = run_sample_pass(bed, info, max_calls=block_calls)
    pd.testing.assert_frame_equal(finish_sample_metrics(totals.samples),
                                  compute_sample_metrics(gm), rtol=1e-12)
    pd.testing.assert_frame_equal(call_genetic_sex(totals.x_homozygosity, info["reported_sex"]),
                                  compute_sex_check(gm, info["reported_sex"]), rtol=1e-12)
    pd.testing.assert_frame_equal(totals.trios, compute_mendel_errors(gm, info))
    assert totals.trios["n_called"].iloc[0] > 250  # the trio was counted over every block

    common = select_rows(bed, lambda block: compute_variant_metrics(block)["AF"] > 0.2,
                         max_calls=block_calls)
    np.testing.assert_array_equal(common, compute_variant_metrics(gm)["AF"] > 0.2)
    np.testing.assert_array_equal(bed.read_rows(common).n_alt, gm.n_alt[common])
    table = concat_rows(bed, compute_variant_metrics, max_calls=block_calls)
    pd.testing.assert_frame_equal(table, compute_variant_metrics(gm), check_dtype=False)


def test_compute_variant_table_streamed__equals_the_whole_matrix_metrics_and_group_hwe(
        tmp_path: Path) -> None:
    gm = _cohort(np.random.default_rng(6), n_samples=45)  # 45: the last byte is padded
    bed = _write_bed(gm, tmp_path / "c")
    males = np.arange(45) % 2 == 1
    passing = np.arange(45) % 7 != 3
    groups = np.where(np.arange(45) < 20, "G1", np.where(np.arange(45) < 40, "G2", "G3"))
    streamed = compute_variant_table_streamed(bed, passing, males, groups, min_group_size=5)
    expected = compute_variant_metrics(gm.subset(cols=passing), males=males[passing])
    expected["p_value_hwe_min_group"] = compute_group_hwe_min(gm, groups, passing, males,
                                                              min_group_size=5)
    pd.testing.assert_frame_equal(streamed, expected, check_dtype=False, rtol=1e-9)
    assert streamed["p_value_hwe_min_group"].notna().sum() > 300  # groups were tested
    ok = count_variant_genotypes_streamed(bed, passing)
    np.testing.assert_array_equal(ok["n_het"], (gm.n_alt[:, passing] == 1).sum(axis=1))
    info = pd.DataFrame({"father": "0", "mother": "0"}, index=pd.Index(gm.samples, name="s"))
    everyone = run_sample_pass(bed, info, max_calls=7 * 45).variant_counts
    assert everyone is not None
    without = count_genotypes_without(bed, everyone, ~passing, max_calls=7 * 45)
    for key in ("n_called", "n_hom_ref", "n_het", "n_hom_var"):
        np.testing.assert_array_equal(without[key], compute_genotype_counts(
            gm.n_alt[:, passing], axis=1)[key], err_msg=key)


def test_bed_file_open__refuses_a_bed_of_the_wrong_size(tmp_path: Path) -> None:
    gm = _cohort(np.random.default_rng(1))
    _write_bed(gm, tmp_path / "c")
    with (tmp_path / "c.bed").open("ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(ValidationFailed, match=r"c\.bed: .* expected .* 380 variants × 30"):
        BedFile.open(tmp_path / "c")


STRICT = AdjFilter(min_gq=95, min_dp=30, min_het_ab=0.4)  # bites on the committed world


@pytest.mark.hail
@pytest.mark.tools
@pytest.mark.slow
def test_convert_vcf_to_bed__equals_hail_export_and_entry_stats(hl: Any, small_mt: Any,
                                                               tmp_path: Path) -> None:
    from genomlab.workspace.io import export_genotype_matrix, get_qc_call_expr
    from genomlab.workspace.qc.sample_qc import compute_entry_stats

    ours_stats = convert_vcf_to_bed(VCF, tmp_path / "ours", adj=STRICT)
    call = get_qc_call_expr(hl, small_mt, min_gq=STRICT.min_gq, min_dp=STRICT.min_dp,
                            min_het_ab=STRICT.min_het_ab)
    hail = export_genotype_matrix(hl, small_mt, call, tmp_path / "hail")
    ours = read_bed(tmp_path / "ours")
    assert ours.samples == hail.samples
    pd.testing.assert_frame_equal(ours.variants, hail.variants)
    np.testing.assert_array_equal(ours.n_alt, hail.n_alt)
    assert (ours.n_alt == -1).mean() > 0.05  # the strict filter removed calls
    expected = compute_entry_stats(hl, small_mt, call)
    assert sorted(ours_stats.columns) == sorted(expected.columns)
    pd.testing.assert_frame_equal(ours_stats, expected[ours_stats.columns], rtol=1e-9)


@pytest.mark.hail
@pytest.mark.tools
def test_convert_vcf_to_bed__gt_only_vcf_through_plink2_equals_hail_raw_calls(
        small_gm: Any, tmp_path: Path) -> None:
    gt_only = tmp_path / "gt.vcf.gz"
    subprocess.run(["bcftools", "annotate", "-x", "FORMAT/AD,FORMAT/DP,FORMAT/GQ", "-Oz", "-o",
                    str(gt_only), str(VCF)], check=True)
    stats = convert_vcf_to_bed(gt_only, tmp_path / "ours")
    assert stats.columns.empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.vcf.gz", "ours.bed", "ours.bim",
                                                          "ours.fam"]
    hail, _ = small_gm  # the raw calls, diploidised, exported by Hail
    ours = read_bed(tmp_path / "ours")
    assert ours.samples == hail.samples
    pd.testing.assert_frame_equal(ours.variants, hail.variants)
    np.testing.assert_array_equal(ours.n_alt, hail.n_alt)


def _vcf(path: Path, records: list[str], fields: str = "GT:AD") -> Path:
    header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
              "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                         "FORMAT", "A", "B"])]
    if fields == "GT":
        header.pop(3)
    path.write_text("\n".join(header + records) + "\n")
    return path


@pytest.mark.tools
@pytest.mark.parametrize("fields", ["GT:AD", "GT"])
def test_convert_vcf_to_bed__multiallelic_site_raises_and_writes_nothing(
        tmp_path: Path, fields: str) -> None:
    gt = "\t0/1:5,5\t1/2:0,4,6" if fields == "GT:AD" else "\t0/1\t1/2"
    records = [f"chr1\t100\t.\tA\tC\t.\tPASS\t.\t{fields}" + ("\t0/1:5,5\t0/0:9,0"
                                                              if fields == "GT:AD" else
                                                              "\t0/1\t0/0"),
               f"chr1\t200\t.\tA\tC,G\t.\tPASS\t.\t{fields}{gt}"]
    vcf = _vcf(tmp_path / "m.vcf", records, fields)
    with pytest.raises(MultiallelicSite, match=r"m\.vcf: .*multi-allelic"):
        convert_vcf_to_bed(vcf, tmp_path / "out" / "calls")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.tools
def test_convert_vcf_to_bed__unreadable_vcf_is_a_one_line_error(tmp_path: Path) -> None:
    vcf = tmp_path / "broken.vcf.gz"
    data = VCF.read_bytes()
    vcf.write_bytes(data[: len(data) * 2 // 3])  # cut after thousands of records were read
    with pytest.raises(ValidationFailed, match=r"broken\.vcf\.gz: ") as caught:
        convert_vcf_to_bed(vcf, tmp_path / "out" / "calls")
    assert "\n" not in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.hail
@pytest.mark.tools
@pytest.mark.slow
def test_run_cohort_qc__streamed_engine_equals_hail_engine(hl: Any, tmp_path: Path) -> None:
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    fam = VCF.parent / "cohort.fam"
    for engine in ("stream", "hail"):
        run_cohort_qc(hl, tmp_path / engine, vcf=VCF, samples=fam, engine=engine)
    assert (tmp_path / "hail" / "work" / "cohort.mt").exists()
    assert not (tmp_path / "stream" / "work" / "cohort.mt").exists()
    tables = sorted(p.name for p in (tmp_path / "hail").glob("*.tsv"))
    assert len(tables) == 6
    for table in tables:
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "stream" / table, sep="\t"),
                                      pd.read_csv(tmp_path / "hail" / table, sep="\t"),
                                      check_exact=False, rtol=1e-9, obj=table)


class _HailNeeded(Exception):
    """Raised by a Hail starter that must not be called."""


def _refuse_to_start_hail() -> Any:
    raise _HailNeeded


@pytest.mark.tools
def test_run_cohort_qc__starts_hail_only_when_the_engine_needs_it(tmp_path: Path) -> None:
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    fam = VCF.parent / "cohort.fam"
    result = run_cohort_qc(_refuse_to_start_hail, tmp_path / "stream", vcf=VCF, samples=fam,
                           spark_master="local[2]")
    assert result.provenance["engine"] == "stream"
    assert "Hail start-up" not in result.timings
    assert (tmp_path / "stream" / "sample_qc.tsv").stat().st_size > 0
    with pytest.raises(_HailNeeded):
        run_cohort_qc(_refuse_to_start_hail, tmp_path / "hail", vcf=VCF, samples=fam,
                      spark_master="local[2]", engine="hail")
    with pytest.raises(ValueError, match="spark_master is needed"):
        run_cohort_qc(_refuse_to_start_hail, tmp_path / "x", vcf=VCF, samples=fam)
