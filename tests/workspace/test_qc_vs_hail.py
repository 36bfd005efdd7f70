"""The numpy QC kernels reproduce Hail's own methods on the same calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from genomlab.workspace.qc.ancestry import compute_pca_with_relateds
from genomlab.workspace.qc.relatedness import compute_king, compute_mendel_errors
from genomlab.workspace.qc.sample_qc import compute_sample_metrics
from genomlab.workspace.qc.sex import compute_sex_check
from genomlab.workspace.qc.variant_qc import compute_hwe_midp, compute_variant_metrics

pytestmark = [pytest.mark.hail, pytest.mark.slow]


def _diploid_mt(hl: Any, mt: Any) -> Any:
    gt = mt.GT
    return mt.annotate_entries(GT=hl.if_else(gt.ploidy == 1, hl.call(gt[0], gt[0]), gt))


def test_compute_sample_metrics__matches_hail_sample_qc(hl: Any, small_mt: Any,
                                                         small_gm: Any) -> None:
    gm, _ = small_gm
    mt = hl.sample_qc(_diploid_mt(hl, small_mt))
    expected = mt.cols().to_pandas().set_index("s")
    ours = compute_sample_metrics(gm)
    for name in ("call_rate", "n_called", "n_het", "n_hom_var", "n_singleton", "n_transition",
                 "n_transversion", "n_snp", "r_ti_tv", "r_het_hom_var"):
        np.testing.assert_allclose(ours[name].to_numpy(dtype=float),
                                   expected.loc[ours.index, f"sample_qc.{name}"].to_numpy(
                                       dtype=float), rtol=1e-12, err_msg=name)


def test_compute_entry_stats__matches_hail_dp_gq_stats(hl: Any, small_mt: Any) -> None:
    from genomlab.workspace.qc.sample_qc import compute_entry_stats

    mt = hl.sample_qc(small_mt)
    expected = mt.cols().to_pandas().set_index("s")
    ours = compute_entry_stats(hl, small_mt, small_mt.GT)
    for ours_name, hail_name in (("dp_mean", "dp_stats.mean"), ("gq_mean", "gq_stats.mean"),
                                 ("dp_stdev", "dp_stats.stdev")):
        np.testing.assert_allclose(ours[ours_name], expected.loc[ours.index,
                                                                 f"sample_qc.{hail_name}"],
                                   rtol=1e-9, err_msg=ours_name)
    assert (ours["n_filtered"] == 0).all()


def test_compute_variant_metrics__matches_hail_variant_qc(hl: Any, small_mt: Any,
                                                          small_gm: Any) -> None:
    gm, _ = small_gm
    mt = hl.variant_qc(_diploid_mt(hl, small_mt))
    rows = mt.rows()
    rows = rows.select(variant=hl.delimit([rows.locus.contig, hl.str(rows.locus.position),
                                           rows.alleles[0], rows.alleles[1]], ":"),
                       AF=rows.variant_qc.AF[1], call_rate=rows.variant_qc.call_rate,
                       p_value_hwe=rows.variant_qc.p_value_hwe)
    expected = rows.key_by().drop("locus", "alleles").to_pandas().set_index("variant")
    ours = compute_variant_metrics(gm).set_index("variant")
    auto = gm.is_autosomal
    for name in ("AF", "call_rate", "p_value_hwe"):
        np.testing.assert_allclose(ours.loc[auto, name].to_numpy(dtype=float),
                                   expected.loc[ours.index[auto], name].to_numpy(dtype=float),
                                   rtol=1e-6, atol=1e-12, err_msg=name)


def test_compute_hwe_midp__matches_hail_on_edge_counts(hl: Any) -> None:
    cases = [(100, 0, 0), (0, 50, 0), (10, 0, 10), (40, 20, 5), (1, 2, 1), (500, 1, 0),
             (333, 444, 111), (0, 0, 0)]
    expected = hl.eval([hl.hardy_weinberg_test(r, h, v).p_value for r, h, v in cases])
    ours = compute_hwe_midp(*map(np.array, zip(*cases, strict=True)))
    np.testing.assert_allclose(ours, np.array(expected, dtype=float), rtol=1e-9)


def test_compute_king__matches_hail_king(hl: Any, small_mt: Any, small_gm: Any) -> None:
    gm, _ = small_gm
    cols = np.arange(0, len(gm.samples), 3)  # a third of the samples keeps hl.king quick
    auto = gm.subset(rows=gm.is_autosomal, cols=cols)
    kinship, _ = compute_king(auto)
    mt = small_mt.filter_rows(small_mt.locus.in_autosome())
    mt = mt.filter_cols(hl.literal(set(auto.samples)).contains(mt.s))
    king = hl.king(mt.GT).entries().to_pandas()
    matrix = king.pivot(index="s_1", columns="s", values="phi").loc[auto.samples, auto.samples]
    off = ~np.eye(len(auto.samples), dtype=bool)
    np.testing.assert_allclose(kinship[off], matrix.to_numpy(dtype=float)[off], atol=1e-9)


def test_compute_sex_check__matches_hail_impute_sex(hl: Any, small_mt: Any,
                                                    small_gm: Any) -> None:
    gm, _ = small_gm
    ours = compute_sex_check(gm, pd.Series(dtype=object))
    mt = _diploid_mt(hl, small_mt)
    expected = hl.impute_sex(mt.GT).to_pandas().set_index("s")
    np.testing.assert_allclose(ours["x_f_stat"], expected.loc[ours.index, "f_stat"], rtol=1e-9)
    is_female = expected.loc[ours.index, "is_female"].to_numpy(dtype=bool)
    assert ((ours["genetic_sex"] == "female").to_numpy() == is_female).all()


def test_compute_mendel_errors__matches_hail_mendel_errors(hl: Any, small_mt: Any,
                                                           small_gm: Any) -> None:
    from genomlab.workspace.io import read_fam
    from tests.workspace.conftest import COMMITTED_WORLD

    gm, _ = small_gm
    fam = COMMITTED_WORLD / "genotypes" / "cohort.fam"
    ours = compute_mendel_errors(gm, read_fam(fam)).set_index("child")
    mt = small_mt.filter_rows(small_mt.locus.in_autosome())
    _, per_fam, _, _ = hl.mendel_errors(mt.GT, hl.Pedigree.read(str(fam), delimiter="\\s+"))
    expected = per_fam.to_pandas()
    assert len(ours) == len(expected) > 0
    by_father = expected.set_index("pat_id")["errors"]
    for child, row in ours.iterrows():
        assert row["n_errors"] == by_father[row["father"]], child
    assert ours["n_errors"].max() > 100  # the swapped-in sample


def test_compute_pca_with_relateds__matches_hwe_normalized_pca(hl: Any, small_mt: Any,
                                                               small_gm: Any) -> None:
    gm, _ = small_gm
    auto = gm.subset(rows=gm.is_autosomal)
    scores, eigenvalues = compute_pca_with_relateds(auto, np.ones(len(gm.samples), bool), k=4)
    mt = small_mt.filter_rows(small_mt.locus.in_autosome())
    hail_eigen, hail_scores, _ = hl.hwe_normalized_pca(mt.GT, k=4)
    np.testing.assert_allclose(eigenvalues, hail_eigen, rtol=1e-4)
    expected = hail_scores.to_pandas().set_index("s").loc[gm.samples, "scores"]
    matrix = np.stack(expected.to_numpy())
    for k in range(4):
        ours = scores[f"PC{k + 1}"].to_numpy()
        sign = np.sign(ours @ matrix[:, k])
        np.testing.assert_allclose(sign * ours, matrix[:, k], atol=1e-4 * np.abs(ours).max())


def test_compute_pca_with_relateds__projects_relateds_near_their_fit(small_gm: Any) -> None:
    gm, _ = small_gm
    auto = gm.subset(rows=gm.is_autosomal)
    everyone = np.ones(len(gm.samples), bool)
    held_out = everyone.copy()
    held_out[::10] = False
    full, _ = compute_pca_with_relateds(auto, everyone, k=2)
    part, _ = compute_pca_with_relateds(auto, held_out, k=2)
    assert part["projected"].sum() == (~held_out).sum()
    corr = abs(np.corrcoef(full.loc[~held_out, "PC1"], part.loc[~held_out, "PC1"])[0, 1])
    assert corr > 0.95
