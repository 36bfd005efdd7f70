"""A labelled ancestry reference: PCA loadings, allele frequencies and labelled PC scores.

This is what a deployment downloads from gnomAD (HGDP + 1000 Genomes loadings, ``pca_af``, and
the labelled reference samples the random forest is trained on). Two layouts are read:

- published: ``loadings.tsv`` (``variant``, ``af``, ``PC1..PCk``), ``reference_scores.tsv``
  (``sample``, ``population``, ``PC1..PCk``) and ``eigenvalues.tsv`` (``PC``, ``eigenvalue``),
  as :func:`write_reference_loadings` writes them;
- a panel: ``panel.bed/.bim/.fam`` and ``labels.tsv`` (the synthetic world's
  ``reference_panel/``), whose loadings :func:`compute_reference_pca` computes.

The reference scores are out-of-fold projections, not the in-sample ``U·S``: in-sample scores
are inflated (each sample helped to fit the loadings, most on the noise PCs) while a cohort's
projected scores are not, so a classifier trained on in-sample scores would misjudge the cohort.

The PCA is Hail's ``hwe_normalized_pca`` in numpy (see :mod:`.ancestry`); the cohort is projected
with the reference frequencies as ``hl.experimental.pc_project`` / gnomAD's ``pc_project`` do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.workspace.io import GenotypeMatrix, read_bed

LOADINGS_TSV = "loadings.tsv"
SCORES_TSV = "reference_scores.tsv"
EIGENVALUES_TSV = "eigenvalues.tsv"
_PUBLISHED = (LOADINGS_TSV, SCORES_TSV, EIGENVALUES_TSV)


@dataclass(frozen=True)
class ReferencePca:
    """Loadings ``(n_variants, k)`` of the reference PCA with its allele frequencies ``af``, the
    reference samples' out-of-fold scores (``PC1..PCk``) with their ``population`` label, and
    the eigenvalues of the PCs."""

    name: str
    sha256: str
    variants: pd.Index
    af: np.ndarray
    loadings: np.ndarray
    scores: pd.DataFrame
    eigenvalues: np.ndarray

    @property
    def populations(self) -> list[str]:
        """The labels, sorted."""
        return sorted(self.scores["population"].unique())


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()


def _pc_columns(k: int) -> list[str]:
    return [f"PC{i + 1}" for i in range(k)]


def hwe_standardise(n_alt: np.ndarray, af: np.ndarray, n_variants: int) -> np.ndarray:
    """``(n_alt − 2p) / sqrt(2p(1−p)·M)`` per variant row, missing calls (−1) set to 0.

    Examples
    --------
    >>> hwe_standardise(np.array([[0, 2, -1]]), np.array([0.5]), 2).round(3).tolist()
    [[-1.0, 1.0, 0.0]]
    """
    scale = np.sqrt(2 * af * (1 - af) * n_variants)
    x = (n_alt.astype(np.float32) - (2 * af)[:, None]) / scale[:, None]
    x[n_alt < 0] = 0.0
    return x


def get_top_eigenpairs(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues (descending) and their eigenvectors of the symmetric
    ``gram``; only those are computed (LAPACK ``syevr`` with an index range), each vector's
    sign fixed so that its largest entry is positive.

    Examples
    --------
    >>> values, vectors = get_top_eigenpairs(np.diag([1.0, 3.0, 2.0]), 2)
    >>> values.tolist(), vectors.T.tolist()
    ([3.0, 2.0], [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    """
    from scipy.linalg import eigh
    from threadpoolctl import threadpool_limits

    n = gram.shape[0]
    k = min(k, n)
    if k == 0:
        return np.zeros(0), np.zeros((n, 0))
    # One BLAS thread: the reduction to tridiagonal form is latency-bound, and OpenBLAS threads
    # that spin-wait on a busy machine made it 5–10× slower (1,000²: 0.3 s vs 1–4 s, 2 cores).
    with threadpool_limits(limits=1, user_api="blas"):
        values, vectors = eigh(gram, subset_by_index=[n - k, n - 1], driver="evr")
    values, vectors = values[::-1], vectors[:, ::-1]
    peak = vectors[np.abs(vectors).argmax(axis=0), np.arange(k)]
    return values, vectors * np.where(peak < 0, -1.0, 1.0)


def compute_top_pcs(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``s²`` and loadings ``(variants, k)`` of the leading ``k`` PCs of ``x``
    (variants × samples) from the samples' Gram matrix: an ``n × n`` eigenproblem instead of an
    SVD of the whole matrix (far cheaper when variants outnumber samples).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(50, 8))
    >>> eigenvalues, loadings = compute_top_pcs(x, 3)
    >>> s = np.linalg.svd(x, compute_uv=False)
    >>> orthonormal = np.allclose(loadings.T @ loadings, np.eye(3))
    >>> bool(np.allclose(eigenvalues, s[:3] ** 2)), bool(orthonormal)
    (True, True)
    """
    values, vectors = get_top_eigenpairs(x.T.astype(np.float64) @ x, k)
    values = np.clip(values, 0, None)
    loadings = (x @ vectors) / np.sqrt(np.where(values > 0, values, 1.0))
    return values, loadings


def compute_out_of_fold_scores(x: np.ndarray, loadings: np.ndarray, *,
                               n_folds: int = 5) -> np.ndarray:
    """Scores ``(n_samples, k)`` of the columns of ``x`` (standardised variants × samples) as a
    projected sample would get them: each fold projected onto the PCs of the other folds, then
    expressed in the coordinates of ``loadings`` (the full PCA's, ``(variants, k)``).

    Examples
    --------
    Two populations: out-of-fold scores keep the split but not the in-sample inflation.

    >>> rng = np.random.default_rng(0)
    >>> af = rng.uniform(0.1, 0.9, (2, 2000, 1))
    >>> g = np.hstack([rng.binomial(2, af[0], (2000, 30)), rng.binomial(2, af[1], (2000, 30))])
    >>> p = g.mean(axis=1) / 2
    >>> x = hwe_standardise(g, p, 2000)
    >>> eigenvalues, loadings = compute_top_pcs(x, 3)
    >>> oof = compute_out_of_fold_scores(x, loadings)
    >>> inflation = np.abs(x.T @ loadings).mean(axis=0) / np.abs(oof).mean(axis=0)
    >>> bool(inflation[0] < 1.1), bool(inflation[2] > 2)
    (True, True)
    """
    n, k = x.shape[1], loadings.shape[1]
    scores = np.empty((n, k))
    fold = np.arange(n) % n_folds
    for f in range(n_folds):
        held = fold == f
        _, fold_loadings = compute_top_pcs(x[:, ~held], k)
        scores[held] = (x[:, held].T @ fold_loadings) @ (fold_loadings.T @ loadings)
    return scores


def compute_reference_pca(gm: GenotypeMatrix, labels: pd.Series, *, k: int = 10,
                          name: str = "reference", sha256: str = "") -> ReferencePca:
    """HWE-normalised PCA of the reference genotypes ``gm`` (autosomal, labelled by ``labels``)
    with out-of-fold reference scores (:func:`compute_out_of_fold_scores`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> af = rng.uniform(0.05, 0.95, (2, 400, 1))
    >>> gm = GenotypeMatrix.from_counts(np.hstack([rng.binomial(2, af[0], (400, 20)),
    ...                                            rng.binomial(2, af[1], (400, 20))]))
    >>> labels = pd.Series(np.repeat(["A", "B"], 20), index=gm.samples)
    >>> ref = compute_reference_pca(gm, labels, k=3)
    >>> r = np.corrcoef(ref.scores["PC1"], labels == "A")[0, 1]  # PC1 separates A from B
    >>> ref.loadings.shape, bool(abs(r) > 0.99)
    ((400, 3), True)
    """
    gm = gm.subset(rows=gm.is_autosomal)
    called = gm.n_alt >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        af = np.where(called, gm.n_alt, 0).sum(axis=1) / (2 * called.sum(axis=1))
    keep = np.isfinite(af) & (af > 0) & (af < 1)
    gm, af = gm.subset(rows=keep), af[keep]
    x = hwe_standardise(gm.n_alt, af, len(af))
    k = min(k, x.shape[1] - 1, x.shape[0])
    eigenvalues, loadings = compute_top_pcs(x, k)
    scores = pd.DataFrame(compute_out_of_fold_scores(x, loadings), columns=_pc_columns(k),
                          index=pd.Index(gm.samples, name="sample"))
    missing = sorted(set(gm.samples) - set(labels.index))
    if missing:
        raise ValidationFailed(f"reference labels: no population for sample {missing[0]}")
    scores.insert(0, "population", labels.reindex(scores.index).to_numpy())
    return ReferencePca(name, sha256, pd.Index(gm.variants["variant"]), af, loadings, scores,
                        eigenvalues)


def read_reference(path: Path, *, k: int = 10) -> ReferencePca:
    """The reference at ``path``: published loadings, or a panel whose PCA is computed here.

    Examples
    --------
    >>> import tempfile
    >>> read_reference(Path(tempfile.mkdtemp()) / "none")
    Traceback (most recent call last):
    ...
    genomlab.errors.NotFoundError: .../none: no ancestry reference (need loadings.tsv + ...
    """
    if all((path / name).exists() for name in _PUBLISHED):
        files = [path / name for name in _PUBLISHED]
        loadings = pd.read_csv(files[0], sep="\t", index_col="variant")
        scores = pd.read_csv(files[1], sep="\t", index_col="sample", dtype={"population": str})
        eigenvalues = pd.read_csv(files[2], sep="\t", index_col="PC")["eigenvalue"]
        pcs = [c for c in loadings.columns if c.startswith("PC")][:k]
        return ReferencePca(path.name, _digest(files), loadings.index,
                            loadings["af"].to_numpy(), loadings[pcs].to_numpy(),
                            scores[["population", *pcs]], eigenvalues[pcs].to_numpy())
    files = [path / "panel.bed", path / "panel.bim", path / "panel.fam", path / "labels.tsv"]
    if not all(f.exists() for f in files):
        raise NotFoundError(f"{path}: no ancestry reference (need {' + '.join(_PUBLISHED)}, "
                            "or panel.bed/.bim/.fam + labels.tsv)")
    labels = pd.read_csv(files[3], sep="\t", dtype=str).set_index("sample")["population"]
    return compute_reference_pca(read_bed(path / "panel"), labels, k=k, name=path.name,
                                 sha256=_digest(files))


def write_reference_loadings(ref: ReferencePca, out_dir: Path) -> list[Path]:
    """Write ``ref`` in the published layout (what a deployment downloads), return the files.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> gm = GenotypeMatrix.from_counts(rng.binomial(2, 0.4, (50, 10)))
    >>> ref = compute_reference_pca(gm, pd.Series("A", index=gm.samples), k=2)
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = write_reference_loadings(ref, out)
    >>> np.allclose(read_reference(out).loadings, ref.loadings)
    True
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    pcs = _pc_columns(ref.loadings.shape[1])
    loadings = pd.DataFrame(ref.loadings, columns=pcs, index=ref.variants.rename("variant"))
    loadings.insert(0, "af", ref.af)
    loadings.to_csv(out_dir / LOADINGS_TSV, sep="\t", float_format="%.10g")
    ref.scores.rename_axis("sample").to_csv(out_dir / SCORES_TSV, sep="\t", float_format="%.10g")
    pd.Series(ref.eigenvalues, index=pd.Index(pcs, name="PC"), name="eigenvalue").to_csv(
        out_dir / EIGENVALUES_TSV, sep="\t", float_format="%.10g")
    return [out_dir / name for name in _PUBLISHED]


def project_onto_reference(gm: GenotypeMatrix, ref: ReferencePca) -> tuple[pd.DataFrame, float]:
    """PC scores of the samples of ``gm`` on the reference loadings, and the share of reference
    variants found in ``gm``.

    Genotypes are standardised with the reference frequencies and M = all reference variants
    (absent variants contribute 0), as gnomAD's ``pc_project`` does.

    Examples
    --------
    Projecting the reference onto itself gives its in-sample scores ``U·S``:

    >>> rng = np.random.default_rng(0)
    >>> gm = GenotypeMatrix.from_counts(rng.binomial(2, 0.3, (200, 12)))
    >>> ref = compute_reference_pca(gm, pd.Series("A", index=gm.samples), k=3)
    >>> scores, overlap = project_onto_reference(gm, ref)
    >>> bool(np.allclose((scores.to_numpy() ** 2).sum(axis=0), ref.eigenvalues)), overlap
    (True, 1.0)
    """
    position = pd.Series(np.arange(len(gm.variants)), index=gm.variants["variant"].to_numpy())
    position = position[~position.index.duplicated()]
    at = position.reindex(ref.variants).to_numpy()
    found = ~np.isnan(at)
    n_alt = gm.n_alt[at[found].astype(int)]
    x = hwe_standardise(n_alt, ref.af[found], len(ref.af))
    scores = x.T @ ref.loadings[found]
    table = pd.DataFrame(scores, columns=_pc_columns(ref.loadings.shape[1]),
                         index=pd.Index(gm.samples, name="s"))
    return table, float(found.mean()) if len(found) else 0.0
