"""Association across platforms (1+Million Genomes): summary statistics, never individual rows.

Each platform (its own home, its own world) runs the association inside its own workspace
(:func:`compute_summary_statistics` on that workspace's QC outputs) and writes one summary-
statistics table per variant (:data:`SUMSTATS_COLUMNS`: alleles, ``n``, ``beta``,
``standard_error``, ``p_value``; no sample identifier, no genotype). The table leaves the country
only through that country's airlock: a request by a team member, two distinct output checkers,
the release (``airlock.request.released`` in that home's airlock ledger;
:func:`find_release_event` finds the event that released a file). A researcher approved in both
countries combines the released tables with :func:`meta_analyse` (CLI:
``genomlab federation meta-analyse``).

Before any of that, the same researcher asks the countries' Beacons in one call:
:func:`query_beacons` sends one Beacon v2 request to several :class:`BeaconEndpoint` s (each
with the caller's own visa for that country), validates each answer against the framework
schemas and aggregates them the Beacon-network way (:class:`FederatedBeaconAnswer`; CLI:
``genomlab federation beacon-query``).

Never imports the trust centre, the genome data centres, the clinical nodes or the data service
(an import-linter contract): what crosses a border is a released table, or a Beacon's answer
over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.federation._beacons import (
    BeaconAnswer,
    BeaconEndpoint,
    FederatedBeaconAnswer,
    aggregate_beacon_answers,
    find_schema_errors,
    query_beacons,
    read_beacon_answer,
)

if TYPE_CHECKING:
    from genomlab.config import GenomlabConfig
    from genomlab.ledger import Event

#: Columns of an exchanged summary-statistics table (tab-separated, one row per variant).
#: ``effect_allele`` is the allele ``beta`` counts (the VCF's alternate allele).
SUMSTATS_COLUMNS = (
    "variant",
    "chromosome",
    "position",
    "effect_allele",
    "other_allele",
    "n",
    "beta",
    "standard_error",
    "p_value",
)
#: Minor-allele frequency below which a variant is left out of an exchanged table: rare
#: variants' estimates rest on a few carriers (and the meta-analysis' normal approximation too).
DEFAULT_MIN_MAF = 0.05

__all__ = [
    "DEFAULT_MIN_MAF",
    "SUMSTATS_COLUMNS",
    "BeaconAnswer",
    "BeaconEndpoint",
    "FederatedBeaconAnswer",
    "aggregate_beacon_answers",
    "compute_summary_statistics",
    "find_release_event",
    "find_schema_errors",
    "meta_analyse",
    "query_beacons",
    "read_beacon_answer",
    "read_summary_statistics",
    "write_summary_statistics",
    "write_table",
]


def _fit_rows(
    y: np.ndarray, covariates: np.ndarray, n_alt: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per variant (row of ``n_alt``; -1 missing): n, beta, standard error and two-sided p of x
    in ``y ~ covariates + x`` by least squares on the samples called at that variant, with the
    t distribution on n − k degrees of freedom (as Hail's ``linear_regression_rows``).

    The normal equations of every variant at once (its own called samples): XᵀX and Xᵀy built
    with masked sums, solved as a batch. NaN where the design is singular (x constant).
    """
    from scipy.stats import t as t_dist

    called = (n_alt >= 0).astype(float)
    x = np.where(n_alt >= 0, n_alt, 0).astype(float)
    n_cov = covariates.shape[1]
    k = n_cov + 1
    gram = np.empty((len(x), k, k))
    gram[:, :n_cov, :n_cov] = np.einsum("vn,ni,nj->vij", called, covariates, covariates)
    cross = x @ covariates  # missing calls are 0 in x
    gram[:, :n_cov, n_cov] = cross
    gram[:, n_cov, :n_cov] = cross
    gram[:, n_cov, n_cov] = (x * x).sum(axis=1)
    rhs = np.empty((len(x), k))
    rhs[:, :n_cov] = called @ (covariates * y[:, None])
    rhs[:, n_cov] = x @ y
    n = called.sum(axis=1)
    beta = np.full(len(x), np.nan)
    se = np.full(len(x), np.nan)
    ok = np.linalg.matrix_rank(gram) == k
    inverse = np.linalg.inv(gram[ok])
    coef = np.einsum("vij,vj->vi", inverse, rhs[ok])
    rss = called[ok] @ (y * y) - np.einsum("vi,vi->v", coef, rhs[ok])
    df = n[ok] - k
    sigma2 = np.where(df > 0, rss / np.maximum(df, 1), np.nan)
    beta[ok] = coef[:, -1]
    se[ok] = np.sqrt(np.maximum(sigma2, 0) * inverse[:, -1, -1])
    p = np.full(len(x), np.nan)
    p[ok] = 2 * t_dist.sf(np.abs(beta[ok] / se[ok]), np.maximum(df, 1))
    return n.astype(np.int64), beta, se, p


def compute_summary_statistics(
    qc_dir: Path,
    info: pd.DataFrame,
    phenotype: str,
    *,
    n_pcs: int = 4,
    min_maf: float = DEFAULT_MIN_MAF,
) -> pd.DataFrame:
    """Per-variant linear association of a quantitative ``phenotype`` in one workspace.

    The model of :func:`~genomlab.workspace.analysis.association.compute_association` (Hail
    GWAS tutorial): QC-passing unrelated samples
    (:func:`~genomlab.workspace.analysis.association.get_association_samples`), the
    genotype-filtered calls of the QC run (``qc_dir/work/qc_calls.bed``), alternate-allele
    count as x, covariates intercept, ``is_female`` and ``n_pcs`` PCs; variants passing variant
    QC with MAF ≥ ``min_maf``. A sample with a missing call leaves only that variant's fit, so
    ``n`` is per variant. Computed with numpy on the workspace's ``.bed`` (no Spark), so a
    platform can run it on a small machine.

    Returns
    -------
    One row per variant with :data:`SUMSTATS_COLUMNS`; no sample-level column.
    """
    from genomlab.workspace.analysis.association import get_association_samples, read_qc_outputs
    from genomlab.workspace.qc.pipeline import read_qc_genotypes

    sample_qc, variant_qc, scores = read_qc_outputs(qc_dir)
    covariates = get_association_samples(info, sample_qc, scores, phenotype, n_pcs=n_pcs)
    if not pd.api.types.is_numeric_dtype(covariates["y"]):
        raise ValidationFailed(f"sample table: phenotype {phenotype!r} is not numeric")
    af = variant_qc["AF"].astype(float)
    keep = variant_qc["pass"].astype(bool) & (np.minimum(af, 1 - af) >= min_maf)
    wanted = set(variant_qc.loc[keep, "variant"])
    genotypes = read_qc_genotypes(qc_dir)
    columns = {s: i for i, s in enumerate(genotypes.samples)}
    missing = [s for s in covariates.index if s not in columns]
    if missing:
        raise ValidationFailed(
            f"{qc_dir}: sample {missing[0]} of the QC tables is not in the QC's genotype export"
        )
    cols = np.array([columns[s] for s in covariates.index])
    y = covariates["y"].to_numpy(float)
    base = np.column_stack([np.ones(len(y)), covariates.drop(columns="y").to_numpy(float)])
    variants = genotypes.variants
    rows = np.flatnonzero(variants["variant"].isin(wanted).to_numpy())
    n, beta, se, p = _fit_rows(y, base, genotypes.n_alt[np.ix_(rows, cols)])
    chosen = variants.iloc[rows]
    table = pd.DataFrame(
        {
            "variant": chosen["variant"].astype(str).to_numpy(),
            "chromosome": chosen["contig"].astype(str).to_numpy(),
            "position": chosen["position"].astype(np.int64).to_numpy(),
            "effect_allele": chosen["alt"].astype(str).to_numpy(),
            "other_allele": chosen["ref"].astype(str).to_numpy(),
            "n": n,
            "beta": beta,
            "standard_error": se,
            "p_value": p,
        }
    )
    return table[np.isfinite(table["standard_error"])].reset_index(drop=True)


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write ``table`` as TSV to a temporary file beside ``path``, then rename: a reader never
    sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.8g", na_rep="NA")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_summary_statistics(table: pd.DataFrame, path: Path) -> Path:
    """Write an exchange table: exactly :data:`SUMSTATS_COLUMNS`, nothing else."""
    return write_table(table[list(SUMSTATS_COLUMNS)], path)


def _field_error(path: Path, line: int, variant: str, field: str, value: Any, what: str) -> str:
    return f"{path}: line {line} (variant {variant}): field {field} = {value!r} {what}"


def read_summary_statistics(path: Path) -> pd.DataFrame:
    """Read and check an exchanged summary-statistics table.

    Every error names the file, the record (line number and variant) and the field.

    Raises
    ------
    NotFoundError
        No such file.
    ValidationFailed
        A required column is missing; a value is not numeric, ``standard_error`` is not a
        positive finite number, ``n`` is not a positive integer, an allele is empty, or a
        variant appears twice.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "de.tsv"
    >>> _ = path.write_text("variant\\tchromosome\\tposition\\teffect_allele\\tother_allele\\tn"
    ...                     "\\tbeta\\tstandard_error\\tp_value\\n"
    ...                     "chr1:10:A:G\\tchr1\\t10\\tG\\tA\\t500\\t0.2\\tabc\\t0.01\\n")
    >>> read_summary_statistics(path)
    Traceback (most recent call last):
    ...
    genomlab.errors.ValidationFailed: .../de.tsv: line 2 (variant chr1:10:A:G): field standard_error = 'abc' is not a number
    """  # noqa: E501
    if not path.is_file():
        raise NotFoundError(f"{path}: no such summary-statistics file")
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    absent = [c for c in SUMSTATS_COLUMNS if c not in frame.columns]
    if absent:
        raise ValidationFailed(
            f"{path}: line 1 (header): no column {absent[0]!r} "
            f"(required: {', '.join(SUMSTATS_COLUMNS)})"
        )
    frame = frame[list(SUMSTATS_COLUMNS)].copy()
    frame["line"] = np.arange(2, len(frame) + 2)
    raw = frame.copy()  # the values as written, for messages
    for column in ("position", "n", "beta", "standard_error", "p_value"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna()
        if bad.any():
            row = frame[bad].iloc[0]
            raise ValidationFailed(
                _field_error(
                    path, row["line"], row["variant"], column, row[column], "is not a number"
                )
            )
        frame[column] = values
    checks = [
        (
            "standard_error",
            ~(np.isfinite(frame["standard_error"]) & (frame["standard_error"] > 0)),
            "is not a positive finite number",
        ),
        ("beta", ~np.isfinite(frame["beta"]), "is not finite"),
        ("n", ~((frame["n"] > 0) & (frame["n"] % 1 == 0)), "is not a positive integer"),
        ("p_value", ~frame["p_value"].between(0, 1), "is not a probability"),
        ("effect_allele", frame["effect_allele"].str.strip() == "", "is empty"),
        ("other_allele", frame["other_allele"].str.strip() == "", "is empty"),
        (
            "other_allele",
            frame["other_allele"] == frame["effect_allele"],
            "equals the effect allele",
        ),
    ]
    for column, bad, what in checks:
        if bad.any():
            row = frame[bad].iloc[0]
            raise ValidationFailed(
                _field_error(
                    path, row["line"], row["variant"], column, raw.at[row.name, column], what
                )
            )
    twice = frame.duplicated(["chromosome", "position"], keep="first")
    if twice.any():
        row = frame[twice].iloc[0]
        raise ValidationFailed(
            _field_error(
                path,
                row["line"],
                row["variant"],
                "position",
                f"{row['chromosome']}:{row['position']}",
                "appears on an earlier line too",
            )
        )
    frame["position"] = frame["position"].astype(np.int64)
    frame["n"] = frame["n"].astype(np.int64)
    return frame


def meta_analyse(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Fixed-effect inverse-variance meta-analysis of per-study summary statistics.

    For variant j with estimates βᵢ and standard errors sᵢ from studies i (Borenstein, Hedges,
    Higgins & Rothstein, *Introduction to Meta-Analysis*, 2009, ch. 11; the ``SCHEME STDERR``
    of METAL, Willer, Li & Abecasis, Bioinformatics 26:2190, 2010):

    - weights wᵢ = 1 / sᵢ², pooled β = Σ wᵢβᵢ / Σ wᵢ, SE(β) = 1 / √(Σ wᵢ);
    - z = β / SE, two-sided p = 2 Φ(−|z|);
    - heterogeneity: Cochran's Q = Σ wᵢ (βᵢ − β)², p from χ² with k − 1 degrees of freedom,
      I² = max(0, (Q − (k − 1)) / Q) (Higgins & Thompson, Stat Med 21:1539, 2002).

    Variants are matched by chromosome and position; a study whose effect allele is the other
    study's other allele has its β sign flipped (alleles aligned to the first study's); any
    other allele pair is an error. Variants in only some studies are combined over those.

    Parameters
    ----------
    tables
        Per study (its file name, for messages): :func:`read_summary_statistics` frames.

    Returns
    -------
    One row per variant: ``variant``, ``chromosome``, ``position``, ``effect_allele``,
    ``other_allele``, ``n_studies``, ``n``, ``beta``, ``standard_error``, ``z``, ``p_value``,
    ``q``, ``q_p_value``, ``i2``, ``direction`` (per study ``+``, ``-`` or ``?`` if absent).

    Examples
    --------
    Two studies of one variant, the second coded the other way round (β flips sign): weights 4
    and 1, β = (4·0.3 + 1·0.5)/5 = 0.34, SE = 1/√5 = 0.447:

    >>> a = pd.DataFrame({"variant": ["chr1:10:A:G"], "chromosome": ["chr1"], "position": [10],
    ...                   "effect_allele": ["G"], "other_allele": ["A"], "n": [400],
    ...                   "beta": [0.3], "standard_error": [0.5], "line": [2]})
    >>> b = a.assign(effect_allele="A", other_allele="G", n=100, beta=-0.5, standard_error=1.0)
    >>> row = meta_analyse({"de.tsv": a, "fr.tsv": b}).iloc[0]
    >>> float(round(row.beta, 3)), float(round(row.standard_error, 3)), int(row.n), row.direction
    (0.34, 0.447, 500, '++')
    """
    from scipy.stats import chi2, norm

    if not tables:
        raise ValidationFailed("meta-analysis: no summary-statistics files given")
    names = list(tables)
    alleles: dict[tuple[str, int], tuple[str, str, str, str]] = {}
    betas: dict[str, pd.Series] = {}
    ses: dict[str, pd.Series] = {}
    ns: dict[str, pd.Series] = {}
    for name in names:
        frame = tables[name]
        keys = list(
            zip(frame["chromosome"].astype(str), frame["position"].astype(int), strict=True)
        )
        sign = np.ones(len(frame))
        for k, (key, row) in enumerate(zip(keys, frame.itertuples(index=False), strict=True)):
            known = alleles.setdefault(
                key, (str(row.effect_allele), str(row.other_allele), str(row.variant), name)
            )
            if (row.effect_allele, row.other_allele) == known[:2]:
                continue
            if (row.other_allele, row.effect_allele) == known[:2]:
                sign[k] = -1.0
                continue
            raise ValidationFailed(
                f"{name}: line {row.line} (variant {row.variant}): field effect_allele = "
                f"{row.effect_allele!r} (other allele {row.other_allele!r}) does not match "
                f"{known[0]!r}/{known[1]!r} of {known[2]} in {known[3]}"
            )
        index = pd.MultiIndex.from_tuples(keys, names=["chromosome", "position"])
        betas[name] = pd.Series(frame["beta"].to_numpy(float) * sign, index=index)
        ses[name] = pd.Series(frame["standard_error"].to_numpy(float), index=index)
        ns[name] = pd.Series(frame["n"].to_numpy(np.int64), index=index)
    beta = pd.DataFrame(betas)
    se = pd.DataFrame(ses).reindex(beta.index)
    n = pd.DataFrame(ns).reindex(beta.index)
    weight = 1.0 / se**2
    total = weight.sum(axis=1)  # NaN (absent) skipped
    pooled = (weight * beta).sum(axis=1) / total
    pooled_se = 1.0 / np.sqrt(total)
    z = pooled / pooled_se
    k = beta.notna().sum(axis=1)
    q = (weight * beta.sub(pooled, axis=0) ** 2).sum(axis=1)
    q_p = pd.Series(np.where(k > 1, chi2.sf(q, np.maximum(k - 1, 1)), np.nan), index=q.index)
    i2 = pd.Series(
        np.where(q > 0, np.maximum(0.0, (q - (k - 1)) / q.where(q > 0, 1.0)), 0.0), index=q.index
    )
    direction = beta.apply(
        lambda r: "".join(
            "?" if pd.isna(b) else "+" if b > 0 else "-" if b < 0 else "0" for b in r
        ),
        axis=1,
    )
    keys = list(beta.index)
    result = pd.DataFrame(
        {
            "variant": [alleles[key][2] for key in keys],
            "chromosome": [key[0] for key in keys],
            "position": [key[1] for key in keys],
            "effect_allele": [alleles[key][0] for key in keys],
            "other_allele": [alleles[key][1] for key in keys],
            "n_studies": k.to_numpy(),
            "n": n.sum(axis=1).astype(np.int64).to_numpy(),
            "beta": pooled.to_numpy(),
            "standard_error": pooled_se.to_numpy(),
            "z": z.to_numpy(),
            "p_value": 2 * norm.sf(np.abs(z.to_numpy())),
            "q": q.to_numpy(),
            "q_p_value": q_p.to_numpy(),
            "i2": i2.to_numpy(),
            "direction": direction.to_numpy(),
        }
    )
    return result.reset_index(drop=True)


def find_release_event(config: GenomlabConfig, path: Path) -> Event:
    """The ``airlock.request.released`` event of ``config``'s home that released ``path`` (a
    file under that home's ``airlock/released/``) with the file's current sha256.

    Raises
    ------
    NotFoundError
        No release event of that home names this file with this content.
    """
    from genomlab.airlock.files import sha256_file
    from genomlab.airlock.requests import open_airlock_ledger
    from genomlab.home import resolve_in_home

    digest = sha256_file(path)
    for event in open_airlock_ledger(config).events(type="airlock.request.released"):
        for released in event.payload["files"]:
            where = resolve_in_home(config.home, released["released_path"])
            if where.resolve() == path.resolve() and released["sha256"] == digest:
                return event
    raise NotFoundError(f"{path}: no airlock release of {config.home} with sha256 {digest}")
