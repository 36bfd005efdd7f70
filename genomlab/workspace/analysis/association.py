"""Association of variants with a clinical phenotype on Hail, with sex and ancestry PCs.

Follows the Hail GWAS tutorial: QC-passing samples and variants, MAF ≥ 0.01, alternate-allele
count as x, covariates intercept, is_female and PCs; ``hl.linear_regression_rows`` for a
quantitative phenotype, ``hl.logistic_regression_rows`` for a binary one. The binary test is the
likelihood-ratio test: for the large per-allele effects of Mendelian-leaning phenotypes the Wald
test loses power (its standard error grows faster than the estimate, the Hauck–Donner effect),
while the LRT keeps its nominal level for common variants. Only unrelated samples enter (the
PCA's unprojected set): Hail has no mixed model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.hail_session import HailModule

GENOME_WIDE_P = 5e-8  # the conventional genome-wide significance level (Pe'er et al. 2008)


def read_qc_outputs(qc_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``sample_qc``, ``variant_qc`` and ``pca_scores`` tables of ``genomlab workspace qc run``.

    Examples
    --------
    >>> import tempfile
    >>> read_qc_outputs(Path(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    genomlab.errors.NotFoundError: .../sample_qc.tsv: QC output not found; run ...
    """
    tables = []
    for name in ("sample_qc.tsv", "variant_qc.tsv", "pca_scores.tsv"):
        path = qc_dir / name
        if not path.exists():
            raise NotFoundError(f"{path}: QC output not found; run "
                                "`genomlab workspace qc run` first")
        tables.append(pd.read_csv(path, sep="\t", na_values=["NA"],
                                  true_values=["true"], false_values=["false"]))
    return tables[0], tables[1], tables[2]


def get_association_samples(info: pd.DataFrame, sample_qc: pd.DataFrame, scores: pd.DataFrame,
                            phenotype: str, *, n_pcs: int = 4,
                            unrelated_only: bool = True) -> pd.DataFrame:
    """Phenotype and covariates (``is_female``, ``PC1..PCn``) of the samples that enter.

    Samples must pass QC, have the phenotype and known sex, and (by default) be unrelated.
    Sex is the reported sex where known, else the genetic sex.

    Examples
    --------
    S3 has no phenotype and S4 fails QC; S2's sex is unreported, so its genetic sex counts:

    >>> samples = ["S1", "S2", "S3", "S4"]
    >>> info = pd.DataFrame({"reported_sex": ["female", None, "male", "male"],
    ...                      "quant_trait": [1.5, 0.2, None, 0.7]}, index=samples)
    >>> sample_qc = pd.DataFrame({"sample": samples, "pass": [True, True, True, False],
    ...                           "genetic_sex": ["female", "male", "male", "male"]})
    >>> scores = pd.DataFrame({"sample": samples, "PC1": [0.1, -0.2, 0.3, 0.0],
    ...                        "projected": False})
    >>> cov = get_association_samples(info, sample_qc, scores, "quant_trait", n_pcs=1)
    >>> cov.index.tolist(), cov.values.tolist()
    (['S1', 'S2'], [[1.5, 1.0, 0.1], [0.2, 0.0, -0.2]])
    """
    if phenotype not in info.columns:
        raise ValidationFailed(f"sample table: no phenotype column {phenotype!r}")
    qc = sample_qc.set_index("sample")
    pcs = scores.set_index("sample")
    table = pd.DataFrame(index=qc.index[qc["pass"].astype(bool)])
    if unrelated_only:
        table = table[~pcs.loc[table.index, "projected"].astype(bool).to_numpy()]
    table["y"] = info[phenotype].reindex(table.index)
    sex = info["reported_sex"].reindex(table.index).fillna(qc["genetic_sex"])
    table["is_female"] = sex.map({"female": 1.0, "male": 0.0})
    for k in range(1, n_pcs + 1):
        table[f"PC{k}"] = pcs.loc[table.index, f"PC{k}"]
    return table.dropna()


def compute_association(hl: HailModule, mt: Any, covariates: pd.DataFrame, *, binary: bool,
                        call_field: str = "GT") -> pd.DataFrame:
    """Regress ``y`` on each row's alternate-allele count with the other columns as covariates.

    Parameters
    ----------
    mt:
        Columns keyed by ``s``; restricted here to ``covariates.index``.
    covariates:
        Indexed by sample: ``y`` and numeric covariates (an intercept is added).
    call_field:
        Entry field holding the calls.

    Returns
    -------
    One row per variant: ``variant``, ``contig``, ``position``, ``n``, ``beta``,
    ``standard_error``, ``statistic`` (t for linear, the LRT's χ² for logistic regression),
    ``p_value``; missing where the logistic fit did not converge.

    Examples
    --------
    >>> compute_association(hl, mt, cov, binary=False).nsmallest(1, "p_value")  # doctest: +SKIP
    """
    frame = covariates.copy()
    frame["y"] = frame["y"].astype(float)
    frame.index.name = "s"
    cols = hl.Table.from_pandas(frame.reset_index(), key="s")
    mt = mt.annotate_cols(cov=cols[mt.s])
    mt = mt.filter_cols(hl.is_defined(mt.cov))
    mt = mt.annotate_entries(x=mt[call_field].n_alt_alleles())
    names = [c for c in frame.columns if c != "y"]
    covariate_exprs = [1.0, *(mt.cov[c] for c in names)]
    if binary:
        table = hl.logistic_regression_rows("lrt", y=mt.cov.y, x=mt.x, covariates=covariate_exprs)
        fit = table.fit.converged & hl.is_finite(table.chi_sq_stat)
        table = table.select(
            beta=hl.or_missing(fit, table.beta),
            # the standard error the LRT implies, |beta| / sqrt(chi²), as meta-analyses use it
            standard_error=hl.or_missing(fit & (table.chi_sq_stat > 0),
                                         hl.abs(table.beta) / hl.sqrt(table.chi_sq_stat)),
            statistic=hl.or_missing(fit, table.chi_sq_stat),
            p_value=hl.or_missing(fit, table.p_value), n=hl.missing(hl.tint64))
    else:
        table = hl.linear_regression_rows(y=mt.cov.y, x=mt.x, covariates=covariate_exprs)
        table = table.select(beta=table.beta, standard_error=table.standard_error,
                             statistic=table.t_stat, p_value=table.p_value, n=table.n)
    table = table.annotate(
        variant=hl.delimit([table.locus.contig, hl.str(table.locus.position), table.alleles[0],
                            table.alleles[1]], ":"),
        contig=table.locus.contig, position=table.locus.position).key_by().drop(
            "locus", "alleles")
    result = table.to_pandas()
    if binary:
        result["n"] = len(frame)
    # Hail's to_pandas gives nullable Float64 columns, which display 1e-20 as 0.0: plain
    # float64 (NaN where missing) shows small p-values in scientific notation.
    for column in ("beta", "standard_error", "statistic", "p_value"):
        result[column] = result[column].astype("float64")
    result["n"] = result["n"].astype("Int64")
    return result[["variant", "contig", "position", "n", "beta", "standard_error", "statistic",
                   "p_value"]]


def filter_association_variants(hl: HailModule, mt: Any, variant_qc: pd.DataFrame, *,
                                min_maf: float = 0.01) -> Any:
    """Rows of ``mt`` that pass variant QC with MAF ≥ ``min_maf`` (Hail GWAS tutorial: 0.01)."""
    af = variant_qc["AF"].astype(float)
    keep = variant_qc["pass"].astype(bool) & (np.minimum(af, 1 - af) >= min_maf)
    ids = variant_qc.loc[keep, "variant"].tolist()
    variants = hl.Table.from_pandas(pd.DataFrame({"variant": ids}))
    variants = variants.annotate(v=hl.parse_variant(variants.variant,
                                                    reference_genome=mt.locus.dtype.reference_genome))
    variants = variants.key_by(locus=variants.v.locus, alleles=variants.v.alleles)
    return mt.semi_join_rows(variants)


def get_independent_hits(results: pd.DataFrame, *, threshold: float = GENOME_WIDE_P,
                         window_bp: int = 5_000_000) -> pd.DataFrame:
    """Lead variants of significant loci: greedy clumping by distance (like plink
    ``--clump-kb``), keeping the smallest p within ``window_bp`` on each side.

    Examples
    --------
    >>> r = pd.DataFrame({"contig": ["chr1"] * 2, "position": [1, 100], "p_value": [1e-9, 1e-8]})
    >>> len(get_independent_hits(r))
    1
    """
    hits = results[results["p_value"] < threshold].sort_values("p_value")
    leads: list[int] = []
    for idx, row in hits.iterrows():
        near = [lead for lead in leads if results.at[lead, "contig"] == row["contig"]
                and abs(results.at[lead, "position"] - row["position"]) <= window_bp]
        if not near:
            leads.append(idx)
    return results.loc[leads]


def compute_detectable_effect(n_samples: int, *, allele_frequency: float,
                              case_fraction: float | None = None, alpha: float = GENOME_WIDE_P,
                              power: float = 0.8) -> float:
    """The smallest per-allele effect a test on ``n_samples`` detects at ``alpha`` with
    ``power``: an odds ratio for a binary phenotype (``case_fraction`` given), else a beta in
    standard deviations of the trait.

    The additive test's information per sample is 2p(1−p)·φ(1−φ) for case fraction φ (log odds
    ratio) or 2p(1−p) (beta, residual SD 1); the effect is (z₁₋α/₂ + z_power) / √(n·info), as
    ``genomlab.samples.phenotypes`` plants its ``expected_detectable_at_n``.

    Examples
    --------
    >>> round(compute_detectable_effect(200, allele_frequency=0.4, case_fraction=0.3), 1)
    4.1
    >>> round(compute_detectable_effect(1000, allele_frequency=0.4), 2)
    0.29
    """
    from scipy.stats import norm

    z = norm.isf(alpha / 2) + norm.ppf(power)
    info = 2 * allele_frequency * (1 - allele_frequency) * max(n_samples, 1)
    if case_fraction is None:
        return float(z / np.sqrt(info))
    if not 0 < case_fraction < 1:
        return float("inf")
    return float(np.exp(z / np.sqrt(info * case_fraction * (1 - case_fraction))))


@dataclass(frozen=True)
class AssociationSummary:
    """What one association run can say: who entered, what it found, what it could find."""

    phenotype: str
    binary: bool
    n_samples: int
    n_cases: int | None
    n_variants: int
    n_loci: int
    detectable: dict[float, float]
    problem: str | None = None

    def format(self) -> str:
        """Plain sentences for the notebook."""
        who = (f"{self.n_samples} samples ({self.n_cases} cases, "
               f"{self.n_samples - (self.n_cases or 0)} controls)" if self.binary
               else f"{self.n_samples} samples")
        unit = "odds ratio" if self.binary else "beta (trait SD)"
        reach = "; ".join(f"{effect:.3g} at allele frequency {af:g}"
                          for af, effect in self.detectable.items())
        lines = [f"{self.phenotype}: {who}, {self.n_variants} variants tested."]
        if self.problem:
            lines.append(f"The regression could not be fitted: {self.problem}. The cohort is "
                         f"too small: with 80 % power it would detect a per-allele {unit} of "
                         f"{reach}.")
        elif self.n_loci:
            lines.append(f"{self.n_loci} independent locus/loci reach p < {GENOME_WIDE_P:g}.")
        else:
            lines.append(f"No variant reaches p < {GENOME_WIDE_P:g}: the cohort is too small "
                         f"for any but very large effects. With 80 % power it detects a "
                         f"per-allele {unit} of {reach}.")
        return "\n".join(lines)


def summarise_association(results: pd.DataFrame, covariates: pd.DataFrame, *, phenotype: str,
                          binary: bool,
                          allele_frequencies: tuple[float, ...] = (0.05, 0.2, 0.4),
                          problem: str | None = None) -> AssociationSummary:
    """Samples, cases, variants, independent loci and the detectable effect of a run."""
    n = len(covariates)
    cases = int(covariates["y"].sum()) if binary else None
    fraction = cases / n if binary and n and cases is not None else None
    detectable = {af: compute_detectable_effect(n, allele_frequency=af, case_fraction=fraction)
                  for af in allele_frequencies}
    return AssociationSummary(phenotype, binary, n, cases, int(results["p_value"].notna().sum()),
                              len(get_independent_hits(results)), detectable, problem)


def get_untested_results(variant_qc: pd.DataFrame, *, min_maf: float = 0.01) -> pd.DataFrame:
    """The result rows of the variants a regression would have tested, every statistic NA."""
    af = variant_qc["AF"].astype(float)
    keep = variant_qc["pass"].astype(bool) & (np.minimum(af, 1 - af) >= min_maf)
    rows = variant_qc.loc[keep, ["variant", "contig", "position"]].reset_index(drop=True)
    rows["n"] = pd.array([pd.NA] * len(rows), dtype="Int64")
    for column in ("beta", "standard_error", "statistic", "p_value"):
        rows[column] = np.nan
    return rows


def format_results_table(results: pd.DataFrame) -> Any:
    """``results`` styled for reading: p-values in scientific notation, 3 significant digits.

    Examples
    --------
    >>> html = format_results_table(pd.DataFrame({"variant": ["chr1:1:A:G"], "beta": [1.5],
    ...                                           "p_value": [1.2e-20]})).to_html()
    >>> "1.20e-20" in html
    True
    """
    formats = {c: "{:.3g}" for c in ("beta", "standard_error", "statistic")
               if c in results.columns}
    formats["p_value"] = "{:.2e}"
    return results.style.format(formats, na_rep="NA").hide(axis="index")


def run_association(hl: HailModule, out_dir: Path, *, qc_dir: Path, phenotype: str,
                    vcf: Path | None = None, release: Path | None = None,
                    samples: Path | None = None, binary: bool | None = None,
                    n_pcs: int = 4, config: GenomlabConfig | None = None,
                    user: str | None = None,
                    progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Association of ``phenotype`` on QC'd data; writes ``association.tsv``, ``manhattan.png``
    and ``qq.png`` to ``out_dir`` and returns the results.

    ``phenotype`` is a spec of :func:`~genomlab.workspace.analysis.phenotypes.get_phenotype_values`:
    ``ICD10GM:<prefix>``, an HPO term ``HP:<id>`` (case/control) or a numeric column. A release
    is read only after the entitlement check of ``open_release`` (``config``, ``user``: see
    :func:`genomlab.workspace.io.read_source`). ``progress`` gets one line per step.

    Examples
    --------
    >>> run_association(hl, Path("gwas"), qc_dir=Path("qc"), phenotype="quant_trait",
    ...                 vcf=Path("cohort.vcf.bgz"))  # doctest: +SKIP
    """
    from genomlab.workspace.analysis.phenotypes import add_phenotype
    from genomlab.workspace.io import check_release_access, get_qc_call_expr, read_source
    from genomlab.workspace.plots import plot_manhattan, plot_qq, save_figure

    say = progress or (lambda _line: None)
    if release is not None:  # first: a refused user learns nothing about the QC outputs
        check_release_access(release, config=config, user=user)
    sample_qc, variant_qc, scores = read_qc_outputs(qc_dir)
    say("reading genotypes and clinical data")
    mt, info = read_source(hl, vcf=vcf, release=release, samples=samples,
                           work_dir=qc_dir / "work", config=config, user=user)
    info = add_phenotype(info, phenotype)
    covariates = get_association_samples(info, sample_qc, scores, phenotype, n_pcs=n_pcs)
    if binary is None:
        binary = bool(covariates["y"].isin([0, 1]).all())
    if len(covariates) < n_pcs + 3:
        raise ValidationFailed(f"{phenotype}: only {len(covariates)} samples with data")
    say(f"regression ({'logistic' if binary else 'linear'}) on {len(covariates)} samples")
    mt = filter_association_variants(hl, mt, variant_qc)
    mt = mt.annotate_entries(QC_GT=get_qc_call_expr(hl, mt))
    problem = None
    try:
        results = compute_association(hl, mt, covariates, binary=binary, call_field="QC_GT")
    except Exception as error:  # Hail's FatalError: the covariates-only model has no fit
        if "null model" not in str(error):
            raise
        n_cases = int(covariates["y"].sum())
        problem = (f"the logistic null model (sex and {n_pcs} PCs, no variant) does not "
                   f"converge with {n_cases} cases among {len(covariates)} samples")
        say(problem)
        results = get_untested_results(variant_qc)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".association.tsv.tmp"
    results.to_csv(tmp, sep="\t", index=False, float_format="%.6g", na_rep="NA")
    tmp.replace(out_dir / "association.tsv")
    save_figure(plot_manhattan(results), out_dir / "manhattan.png")
    save_figure(plot_qq(results), out_dir / "qq.png")
    summary = summarise_association(results, covariates, phenotype=phenotype, binary=binary,
                                    problem=problem)
    (out_dir / "summary.txt").write_text(summary.format() + "\n")
    say("done")
    return results
