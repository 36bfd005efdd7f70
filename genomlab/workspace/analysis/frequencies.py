"""Allele-frequency tables by sample group (disease type, ancestry group), from the QC matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genomlab.workspace.io import GenotypeMatrix


def compute_group_allele_counts(gm: GenotypeMatrix, groups: pd.Series) -> dict[str, np.ndarray]:
    """Per group, an ``(n_variants, 2)`` array of reference and alternate allele counts
    (scikit-allel's ``AlleleCountsArray`` layout). Samples without a group are left out.

    Examples
    --------
    >>> gm = GenotypeMatrix.from_counts([[0, 1, 2, -1], [2, 2, 0, 1]])
    >>> groups = pd.Series({"S00001": "rare", "S00002": "rare", "S00003": "oncological"})
    >>> {name: counts.tolist() for name, counts in compute_group_allele_counts(gm, groups).items()}
    {'oncological': [[0, 2], [2, 0]], 'rare': [[3, 1], [0, 4]]}
    """
    labels = groups.reindex(gm.samples)
    out = {}
    for name in sorted(labels.dropna().unique()):
        sub = gm.n_alt[:, (labels == name).to_numpy()]
        called = (sub >= 0).sum(axis=1)
        alt = np.where(sub > 0, sub, 0).sum(axis=1)
        out[str(name)] = np.stack([2 * called - alt, alt], axis=1)
    return out


def compute_allele_frequency_table(gm: GenotypeMatrix, groups: pd.Series, *,
                                   by: str = "group", min_samples: int = 1) -> pd.DataFrame:
    """Long table: one row per variant and group with ``n_samples``, ``AC``, ``AN``, ``AF``.

    Groups with fewer than ``min_samples`` samples are dropped (disclosure control happens in
    the airlock; pass its group-size threshold here to avoid producing such rows at all).

    Examples
    --------
    >>> gm = GenotypeMatrix.from_counts([[0, 1, 2, -1], [2, 2, 0, 1]])
    >>> groups = pd.Series({"S00001": "rare", "S00002": "rare", "S00003": "oncological"})
    >>> table = compute_allele_frequency_table(gm, groups, by="disease_type", min_samples=2)
    >>> table.values.tolist()
    [['chr1:1:A:G', 'rare', 2, 1, 4, 0.25], ['chr1:2:A:G', 'rare', 2, 4, 4, 1.0]]
    """
    labels = groups.reindex(gm.samples)
    sizes = labels.value_counts()
    frames = []
    for name, counts in compute_group_allele_counts(gm, groups).items():
        if sizes.get(name, 0) < min_samples:
            continue
        an = counts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            af = np.where(an > 0, counts[:, 1] / an, np.nan)
        frames.append(pd.DataFrame({"variant": gm.variants["variant"], by: name,
                                    "n_samples": int(sizes[name]), "AC": counts[:, 1],
                                    "AN": an, "AF": af}))
    if not frames:
        return pd.DataFrame(columns=["variant", by, "n_samples", "AC", "AN", "AF"])
    return pd.concat(frames, ignore_index=True)
