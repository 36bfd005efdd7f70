"""The QC pipeline on a synthetic world: faults found (scored against truth.json), outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from genomlab.workspace.qc.filtering import SAMPLE_REASONS
from genomlab.workspace.qc.pipeline import QC_PLOTS, QC_TABLES
from genomlab.workspace.qc.provenance import QC_PROVENANCE
from tests.workspace.truth import PAIR_FAULTS, SAMPLE_FAULTS, score_qc

pytestmark = [pytest.mark.hail, pytest.mark.slow]


def _tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)


def test_run_cohort_qc__flags_injected_faults(qc_run: tuple[Any, Path], truth: dict) -> None:
    _, out = qc_run
    scores = score_qc(truth, _tsv(out / "sample_qc.tsv"), _tsv(out / "relatedness.tsv"))
    assert set(scores) == set(SAMPLE_FAULTS) | set(PAIR_FAULTS)
    for kind, (recall, precision) in scores.items():
        assert len(truth["faults"][kind]) >= 3, kind
        assert recall >= 0.95, (kind, recall)
        assert precision >= 0.95, (kind, precision)


def test_run_cohort_qc__flags_injected_variant_faults(qc_run: tuple[Any, Path],
                                                      truth: dict) -> None:
    _, out = qc_run
    variants = _tsv(out / "variant_qc.tsv").set_index("variant")
    autosomal = variants[variants["contig"].str.fullmatch(r"chr\d+")]
    for kind, reason in (("hwe_fail_variants", "hwe"), ("call_rate_fail_variants", "call_rate")):
        expected = set(truth["faults"][kind])
        found = set(autosomal.index[autosomal["reasons"].str.contains(reason)])
        assert expected <= found, kind
        assert len(found & expected) / len(found) >= 0.95, kind


def test_run_cohort_qc__writes_stable_tables_and_plots(hl: Any, qc_run: tuple[Any, Path],
                                                       truth: dict) -> None:
    result, out = qc_run
    for name in (*QC_TABLES, *QC_PLOTS):
        assert (out / name).stat().st_size > 0, name
    for name in QC_PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = _tsv(out / "sample_qc.tsv")
    assert samples.columns[:3].tolist() == ["sample", "pass", "reasons"]
    assert sorted(samples["sample"]) == sorted(s["sample"] for s in truth["samples"])
    assert set(samples["pass"]) == {"true", "false"}
    listed = {r for value in samples["reasons"] for r in value.split(";") if r}
    assert listed <= set(SAMPLE_REASONS)
    assert ((samples["reasons"] == "") == (samples["pass"] == "true")).all()
    for metric in ("call_rate", "n_het", "r_ti_tv", "r_het_hom_var", "n_singleton", "dp_mean",
                   "gq_mean", "x_f_stat", "ancestry_group"):
        assert metric in samples.columns, metric
    scores = _tsv(out / "pca_scores.tsv")
    assert {"sample", "PC1", "PC10", "projected", "ancestry_group"} <= set(scores.columns)
    assert len(_tsv(out / "variant_qc.tsv")) == truth["n_variants"]
    assert set(result.timings) >= {"read VCF → .bed (bcftools + numpy, streamed)",
                                   "KING kinship"}
    provenance = json.loads((out / QC_PROVENANCE).read_text())
    assert provenance["ancestry"]["method"] == "reference"
    assert provenance["ancestry"]["reference"]["name"] == "reference_panel"
    assert provenance["thresholds"]["ancestry_min_prob"] == 0.75
    assert hl.version().startswith(provenance["software"]["hail"])
    assert provenance["engine"] == "stream"
    assert provenance["spark_master"].startswith("local")
    assert provenance["thresholds"]["min_gq"] == 20
    assert provenance["thresholds"]["qc_max_variants"] == 20_000
    assert provenance["software"]["bcftools"].startswith("bcftools 1.")


def test_run_cohort_qc__ancestry_groups_match_truth(qc_run: tuple[Any, Path],
                                                     truth: dict) -> None:
    _, out = qc_run
    samples = _tsv(out / "sample_qc.tsv").set_index("sample")
    ancestry = pd.Series({s["sample"]: s["ancestry"] for s in truth["samples"]})
    assigned = samples["ancestry_group"][samples["ancestry_group"] != "unassigned"]
    table = pd.crosstab(ancestry[assigned.index], assigned)
    purity = table.max(axis=0).sum() / table.to_numpy().sum()
    assert purity > 0.98
    assert len(table.columns) == len(set(ancestry) - {"OCE"})


def test_import_vcf_to_mt__reuses_the_converted_matrix_table(hl: Any, tmp_path: Path) -> None:
    from genomlab.workspace.io import import_vcf_to_mt

    vcf = _write_vcf(tmp_path / "x.vcf.gz",
                     ["chr1\t100\t.\tA\tC\t.\tPASS\t.\tGT:AD\t0/1:5,5\t0/0:9,0"])
    import_vcf_to_mt(hl, vcf, tmp_path / "x.mt", n_partitions=1)
    marker = tmp_path / "x.mt" / "_SUCCESS"
    before = marker.stat().st_mtime_ns
    mt = import_vcf_to_mt(hl, vcf, tmp_path / "x.mt", n_partitions=1)
    assert marker.stat().st_mtime_ns == before
    assert mt.count_cols() == 2


def _write_vcf(path: Path, records: list[str]) -> Path:
    import subprocess

    header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
              "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                         "A", "B"])]
    path.with_suffix("").write_text("\n".join(header + records) + "\n")
    subprocess.run(["bgzip", "-f", str(path.with_suffix(""))], check=True)
    return path


@pytest.mark.parametrize(("records", "expected"), [
    (["chr1\t100\t.\tA\tC\t.\tPASS\t.\tGT:AD\t0/1:5,5\t0/0:9,0"], [("A", "C")]),
    (["chr1\t100\t.\tA\tC,G\t.\tPASS\t.\tGT:AD\t1/2:0,4,6\t0/0:9,0,0",
      "chr1\t200\t.\tT\tG\t.\tPASS\t.\tGT:AD\t0/1:5,5\t1/1:0,8"],
     [("A", "C"), ("A", "G"), ("T", "G")]),
])
def test_import_vcf_to_mt__splits_multiallelic_sites_only_when_present(
        hl: Any, tmp_path: Path, records: list[str], expected: list[tuple[str, str]]) -> None:
    from genomlab.workspace.io import import_vcf_to_mt

    vcf = _write_vcf(tmp_path / "x.vcf.gz", records)
    mt = import_vcf_to_mt(hl, vcf, tmp_path / "x.mt", n_partitions=1)
    assert [tuple(a) for a in mt.alleles.collect()] == expected
    if len(expected) == 3:  # the 1/2 call becomes het for each alternate allele
        assert mt.GT.collect()[:4] == [hl.Call([0, 1]), hl.Call([0, 0])] * 2
    assert sorted(p.name for p in tmp_path.iterdir() if "x.mt" in p.name) == ["x.mt"]


@pytest.fixture(scope="module")
def other_world_qc(hl: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """(truth, QC output) of another seed and size: 300 patients (~550 samples), seed 8, with
    admixed AFR+EUR persons besides the distant ones among the planted ancestry outliers."""
    from genomlab.samples import generate_world, load_truth
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    world = tmp_path_factory.mktemp("other-world") / "w"
    generate_world(world, n_patients=300, n_variants=4000, seed=8, admixed_share=0.02)
    out = tmp_path_factory.mktemp("other-qc")
    run_cohort_qc(hl, out, vcf=world / "genotypes" / "cohort.vcf.bgz",
                  reference=world / "reference_panel")
    return load_truth(world), out


def test_run_cohort_qc__flags_injected_faults_on_another_seed_and_size(
        other_world_qc: tuple[dict, Path]) -> None:
    truth, out = other_world_qc
    scores = score_qc(truth, _tsv(out / "sample_qc.tsv"), _tsv(out / "relatedness.tsv"))
    assert any("+" in s["ancestry"] for s in truth["samples"])  # admixed persons are planted
    for kind, (recall, precision) in scores.items():
        assert recall >= 0.95, (kind, recall)
        assert precision >= 0.95, (kind, precision)
