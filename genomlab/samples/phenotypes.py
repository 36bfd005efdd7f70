"""Planted phenotype effects: a quantitative trait and one HPO term, each with known causes.

Only the planted sites carry effects; sex and ancestry shift the trait (so a GWAS must adjust for
sex and principal components), everything else is noise. Effect sizes are large on purpose so a
cohort of a few hundred samples reaches genome-wide significance; ``expected_detectable_at_n``
in ``truth.json`` says from which N a test with p < 5e-8 is expected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genomlab.samples.cohort import Cohort, get_haplotype_ancestries

PLANTED_HPO = ("HP:0001250", "Seizure")
#: Per-allele effects on ``quant_trait`` (residual SD 1) and odds ratios for the HPO term.
QUANT_BETAS: tuple[float, ...] = (1.2, -1.0, 0.9)
HPO_ODDS_RATIOS: tuple[float, ...] = (6.0, 4.0)
SEX_EFFECT = 0.5
ANCESTRY_EFFECT: dict[str, float] = {"EUR": 0.0, "AFR": 0.4, "EAS": -0.4, "OCE": 0.2}
HPO_BASE_LOGIT = -1.2
#: Expected z at which a test reaches p < 5e-8 with 99 % power: the threshold's z (5.45) plus
#: z of 0.99 (2.33). ``expected_detectable_at_n`` is the N where the expected z reaches it, so a
#: test at that N misses a planted effect once in a hundred worlds, not once in seven.
TARGET_Z = 5.45 + 2.33


@dataclass
class Phenotypes:
    """Per-person trait values and the planted associations for ``truth.json``."""

    quant_trait: np.ndarray
    hpo_affected: np.ndarray
    associations: list[dict]


def compute_phenotypes(rng: np.random.Generator, cohort: Cohort, planted: list[str],
                       dosages: list[np.ndarray], planted_p: float, *,
                       quant_betas: tuple[float, ...] = QUANT_BETAS) -> Phenotypes:
    """Draw per-person phenotypes from the planted sites' dosages.

    Parameters
    ----------
    rng
        The world's generator.
    cohort
        Persons (sex, ancestry).
    planted
        Variant ids of the planted sites (first ``len(quant_betas)`` act on the trait, the next
        ``len(HPO_ODDS_RATIOS)`` on the HPO term).
    dosages
        Per-person alternate-allele dosage of each planted site.
    planted_p
        The planted sites' allele frequency.
    quant_betas
        Per-allele effects on ``quant_trait`` (trait SD units), one per planted trait site;
        :data:`QUANT_BETAS` (large, detectable in a few hundred samples) by default. Smaller
        ones plant effects that need more samples, e.g. two cohorts meta-analysed.

    Returns
    -------
    Phenotypes

    Examples
    --------
    >>> from genomlab.samples.cohort import build_cohort
    >>> rng = np.random.default_rng(0)
    >>> cohort = build_cohort(rng, 60)
    >>> d = [rng.binomial(2, 0.4, len(cohort.persons)) for _ in range(5)]
    >>> ph = compute_phenotypes(rng, cohort, [f"chr1:{i}:A:G" for i in range(5)], d, 0.4)
    >>> [a["phenotype"] for a in ph.associations][-1]
    'HP:0001250'
    """
    n_q = len(quant_betas)
    male = np.array([p.genetic_sex == "male" for p in cohort.persons], dtype=float)
    shift = np.array([np.mean([ANCESTRY_EFFECT[a] for a in get_haplotype_ancestries(p.ancestry)])
                      for p in cohort.persons])
    centred = [d - 2 * planted_p for d in dosages]
    var_g = 2 * planted_p * (1 - planted_p)
    genetic_q = sum(b * c for b, c in zip(quant_betas, centred[:n_q], strict=True))
    quant = genetic_q + SEX_EFFECT * male + shift + rng.standard_normal(len(male))
    logit = HPO_BASE_LOGIT + sum(np.log(o) * c for o, c in
                                 zip(HPO_ODDS_RATIOS, centred[n_q:], strict=True))
    affected = rng.random(len(male)) < 1 / (1 + np.exp(-logit))
    total_var = 1 + sum(b * b * var_g for b in quant_betas)
    associations = []
    for vid, beta in zip(planted[:n_q], quant_betas, strict=True):
        r2 = beta * beta * var_g / total_var
        associations.append({
            "variant": vid, "phenotype": "quant_trait", "beta": beta, "allele_frequency":
            planted_p, "variance_explained": round(r2, 4),
            "expected_detectable_at_n": int(np.ceil(TARGET_Z ** 2 * (1 - r2) / r2))})
    prevalence = float(affected.mean())
    for vid, odds in zip(planted[n_q:], HPO_ODDS_RATIOS, strict=True):
        info = var_g * prevalence * (1 - prevalence)
        associations.append({
            "variant": vid, "phenotype": PLANTED_HPO[0], "phenotype_label": PLANTED_HPO[1],
            "odds_ratio": odds, "allele_frequency": planted_p,
            "expected_detectable_at_n": int(np.ceil(TARGET_Z ** 2 / (np.log(odds) ** 2 * info)))})
    return Phenotypes(quant, affected, associations)
