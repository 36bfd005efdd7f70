"""Planted faults and associations are found by standard QC and GWAS methods.

Sample and variant QC use plink2 (``--missing``, ``--hardy``, ``--het``, ``--pca``); the GWAS is
an ordinary least-squares / logistic score test with sex and principal components as covariates,
on a world of a few hundred patients (``expected_detectable_at_n`` in truth.json).
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from genomlab.samples import generate_world, load_truth

GENOME_WIDE = 5e-8
#: plink2 QC thresholds commonly used: call rate 0.95, HWE p 1e-6, |het F| beyond 0.15.
MIN_CALL_RATE = 0.95
HWE_P = 1e-6
HET_F = 0.15


def _plink(world: Path, out: Path, *flags: str) -> None:
    subprocess.run(["plink2", "--vcf", str(world / "genotypes" / "cohort.vcf.bgz"), "--fam",
                    str(world / "genotypes" / "cohort.fam"), "--split-par", "hg38",
                    "--set-all-var-ids", "chr@:#:$r:$a",
                    "--threads", "2", "--out", str(out), *flags],
                   check=True, capture_output=True)


def _table(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    header = lines[0].lstrip("#").split()
    return [dict(zip(header, line.split(), strict=True)) for line in lines[1:]]


@pytest.mark.tools
def test_plink2_qc__flags_exactly_the_planted_samples_and_variants(
        world: Path, truth: dict, tmp_path: Path) -> None:
    _plink(world, tmp_path / "qc", "--autosome", "--missing", "--hardy", "--het")
    smiss = _table(tmp_path / "qc.smiss")
    low = {r["IID"] for r in smiss if 1 - float(r["F_MISS"]) < MIN_CALL_RATE}
    assert low == set(truth["faults"]["low_call_rate"])
    vmiss = _table(tmp_path / "qc.vmiss")
    assert {r["ID"] for r in vmiss if 1 - float(r["F_MISS"]) < MIN_CALL_RATE} == \
        set(truth["faults"]["call_rate_fail_variants"])
    hardy = _table(tmp_path / "qc.hardy")
    assert {r["ID"] for r in hardy if float(r["P"]) < HWE_P} == \
        set(truth["faults"]["hwe_fail_variants"])
    het = {r["IID"]: float(r["F"]) for r in _table(tmp_path / "qc.het")}
    assert {s for s, f in het.items() if f < -HET_F} == set(truth["faults"]["contamination"])


@pytest.mark.tools
def test_plink2_pca__ancestry_outliers_are_the_most_distant(
        world: Path, truth: dict, tmp_path: Path) -> None:
    _plink(world, tmp_path / "pca", "--autosome", "--maf", "0.05", "--pca", "6")
    rows = _table(tmp_path / "pca.eigenvec")
    names = [r["IID"] for r in rows]
    pcs = np.array([[float(r[f"PC{i}"]) for i in range(1, 7)] for r in rows])
    dist = np.linalg.norm(pcs[:, None, :] - pcs[None, :, :], axis=2)
    np.fill_diagonal(dist, np.inf)
    nearest = np.sort(dist, axis=1)[:, :5].mean(axis=1)
    n_out = len(truth["faults"]["ancestry_outlier"])
    order = np.argsort(nearest)[::-1]
    assert {names[i] for i in order[:n_out]} == set(truth["faults"]["ancestry_outlier"])
    # Next come relatives (duplicates span their own PC); PCA on unrelated samples widens this.
    assert nearest[order[n_out - 1]] > 1.3 * nearest[order[n_out]]


def _dosages(world: Path) -> tuple[list[str], list[str], np.ndarray]:
    ids, rows = [], []
    with gzip.open(world / "genotypes" / "cohort.vcf.bgz", "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                names = line.rstrip("\n").split("\t")[9:]
            elif not line.startswith(("#", "chrX", "chrY")):
                fields = line.rstrip("\n").split("\t")
                ids.append(":".join([fields[0], fields[1], fields[3], fields[4]]))
                rows.append([np.nan if "." in c[:3] else c[:3].count("1") for c in fields[9:]])
    return names, ids, np.array(rows).T


def _association_p(y: np.ndarray, geno: np.ndarray, covars: np.ndarray) -> np.ndarray:
    """Per-variant p of a linear model y ~ covariates + dosage (Frisch–Waugh residualisation)."""
    q, _ = np.linalg.qr(covars)
    y_res = y - q @ (q.T @ y)
    g_res = geno - q @ (q.T @ geno)
    ss_g = (g_res ** 2).sum(axis=0)
    beta = g_res.T @ y_res / np.where(ss_g > 0, ss_g, np.inf)
    dof = len(y) - covars.shape[1] - 1
    sigma2 = ((y_res ** 2).sum() - beta ** 2 * ss_g) / dof
    t = beta * np.sqrt(ss_g / sigma2)
    return 2 * stats.t.sf(np.abs(t), dof)


@pytest.mark.slow
def test_gwas__planted_variants_are_genome_wide_significant(tmp_path: Path) -> None:
    world = tmp_path / "w"
    generate_world(world, n_patients=320, n_variants=4000, seed=5)
    truth = load_truth(world)
    names, ids, geno = _dosages(world)
    geno = np.where(np.isnan(geno), np.nanmean(geno, axis=0), geno)
    common = geno.std(axis=0) > 0
    std = (geno[:, common] - geno[:, common].mean(axis=0)) / geno[:, common].std(axis=0)
    pcs = np.linalg.svd(std, full_matrices=False)[0][:, :4]
    by_sample = {s["sample"]: s for s in truth["samples"]}
    sex = np.array([by_sample[n]["reported_sex"] == "male" for n in names], dtype=float)
    covars = np.column_stack([np.ones(len(names)), sex, pcs])
    planted = {a["variant"] for a in truth["associations"]}
    others = np.array([v not in planted for v in ids])
    for assoc in truth["associations"]:
        key = "quant_trait" if assoc["phenotype"] == "quant_trait" else "hpo_affected"
        y = np.array([float(by_sample[n][key]) for n in names])
        p = _association_p(y, geno, covars)
        hit = ids.index(assoc["variant"])
        assert p[hit] < GENOME_WIDE, assoc
        assert p[others].min() > p[hit], assoc
