"""Recall and precision of every planted fault kind on worlds of other seeds and sizes, through
the Hail-free engine (a VCF on a local master: bcftools and numpy, no Spark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.workspace.truth import PAIR_FAULTS, SAMPLE_FAULTS, score_qc


def _refuse_to_start_hail() -> Any:
    raise AssertionError("the streamed engine must not start Hail")


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize(("n_patients", "seed", "admixed_share", "with_reference"), [
    # 947 samples: the world where the 8-MAD noise rule found 7 of 10 cryptic pairs.
    (500, 21, 0.0, True),
    (250, 31, 0.02, True),
    (150, 2, 0.0, False),  # the cohort-only ancestry fallback
])
def test_run_cohort_qc__flags_every_fault_kind_on_worlds_of_other_seeds_and_sizes(
        tmp_path: Path, n_patients: int, seed: int, admixed_share: float,
        with_reference: bool) -> None:
    from genomlab.samples import generate_world, load_truth
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    world = tmp_path / "world"
    generate_world(world, n_patients=n_patients, n_variants=4000, seed=seed,
                   admixed_share=admixed_share)
    truth = load_truth(world)
    result = run_cohort_qc(_refuse_to_start_hail, tmp_path / "qc",
                           vcf=world / "genotypes" / "cohort.vcf.bgz",
                           reference=world / "reference_panel" if with_reference else None,
                           spark_master="local[1]")

    assert result.provenance["engine"] == "stream"
    scores = score_qc(truth, result.sample_qc, result.relatedness)
    assert set(scores) == set(SAMPLE_FAULTS) | set(PAIR_FAULTS)
    assert all(truth["faults"][kind] for kind in scores)  # every kind is planted
    for kind, (recall, precision) in scores.items():
        assert recall >= 0.95, (kind, recall)
        assert precision >= 0.95, (kind, precision)
