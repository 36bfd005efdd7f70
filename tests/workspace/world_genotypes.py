"""Genotypes of a synthetic world in memory without Hail (scikit-allel reads the VCF), and the
hard filters that precede the ancestry step, for cheap ancestry tests on many worlds."""

from __future__ import annotations

from pathlib import Path

import allel
import numpy as np
import pandas as pd

from genomlab.workspace.io import GenotypeMatrix
from genomlab.workspace.qc.filtering import get_call_rate_failures


def read_world_genotypes(world: Path) -> GenotypeMatrix:
    """The cohort VCF's calls as alternate-allele counts (haploid and partial calls missing)."""
    data = allel.read_vcf(str(world / "genotypes" / "cohort.vcf.bgz"), fields=[
        "samples", "calldata/GT", "variants/CHROM", "variants/POS", "variants/REF",
        "variants/ALT"])
    gt = data["calldata/GT"]
    n_alt = np.where((gt >= 0).all(axis=2), gt.clip(0).sum(axis=2), -1).astype(np.int8)
    variants = pd.DataFrame({"contig": data["variants/CHROM"], "position": data["variants/POS"],
                             "ref": data["variants/REF"], "alt": data["variants/ALT"][:, 0]})
    variants["variant"] = (variants["contig"] + ":" + variants["position"].astype(str) + ":"
                           + variants["ref"] + ":" + variants["alt"])
    return GenotypeMatrix(n_alt, list(data["samples"]), variants)


def get_hard_filter_mask(gm: GenotypeMatrix, truth: dict) -> np.ndarray:
    """Samples that pass the hard filters preceding ancestry: the call-rate filter (computed on
    the autosomes) and
    the read-based contamination filter. The latter needs Hail's allele-depth pass
    (``compute_entry_stats``, scored in test_qc_pipeline), so it is taken from truth here."""
    call_rate = pd.Series((gm.n_alt[gm.is_autosomal] >= 0).mean(axis=0), index=gm.samples)
    contaminated = np.isin(gm.samples, truth["faults"]["contamination"])
    return ~get_call_rate_failures(call_rate).to_numpy() & ~contaminated
