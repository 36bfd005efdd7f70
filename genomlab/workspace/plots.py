"""QC and association plots as matplotlib figures (PNG files).

Each ``plot_*`` returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
state, no GUI backend; notebooks display it inline); :func:`save_figure` writes it atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from genomlab.workspace.qc.relatedness import (
    KING_DUPLICATE,
    KING_FIRST_DEGREE,
    KING_SECOND_DEGREE,
    KING_THIRD_DEGREE,
)

GENOME_WIDE = 5e-8


def _axes(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` via a temp file; close it; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def plot_call_rate(sample_qc: pd.DataFrame, *, threshold: float = 0.97,
                   column: str = "raw_call_rate") -> Figure:
    """Histogram of the per-sample call rate with the filter threshold.

    Examples
    --------
    >>> import tempfile
    >>> fig = plot_call_rate(pd.DataFrame({"raw_call_rate": [0.99, 0.995, 0.93]}))
    >>> ax = fig.axes[0]
    >>> int(sum(bar.get_height() for bar in ax.patches)), ax.get_legend_handles_labels()[1]
    (3, ['threshold 0.97'])
    >>> save_figure(fig, Path(tempfile.mkdtemp()) / "call_rate.png").read_bytes()[1:4]
    b'PNG'
    """
    fig, ax = _axes(6, 4)
    ax.hist(sample_qc[column].dropna(), bins=40, color="#4c72b0")
    ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold}")
    ax.set(xlabel="sample call rate", ylabel="samples", title="Sample call rate")
    ax.legend()
    return fig


def plot_heterozygosity(sample_qc: pd.DataFrame) -> Figure:
    """Heterozygosity rate against call rate, failing samples highlighted."""
    fig, ax = _axes(6, 4)
    ok = sample_qc["pass"].astype(bool)
    for mask, colour, label in ((ok, "#4c72b0", "pass"), (~ok, "#c44e52", "fail")):
        ax.scatter(sample_qc.loc[mask, "raw_call_rate"],
                   sample_qc.loc[mask, "heterozygosity_rate"], s=10, c=colour, label=label)
    ax.set(xlabel="call rate", ylabel="heterozygosity rate (n_het / n_called)",
           title="Heterozygosity vs call rate")
    ax.legend()
    return fig


def plot_pca(scores: pd.DataFrame, *, group: str = "ancestry_group", x: str = "PC1",
             y: str = "PC2") -> Figure:
    """PC scatter coloured by ``group``; projected (related) samples drawn as crosses."""
    fig, ax = _axes(6, 5)
    for name, part in scores.groupby(group):
        projected = part["projected"].astype(bool) if "projected" in part else False
        ax.scatter(part.loc[~projected, x], part.loc[~projected, y], s=10, label=str(name))
        if np.any(projected):
            ax.scatter(part.loc[projected, x], part.loc[projected, y], s=14, marker="x",
                       color=ax.collections[-1].get_facecolor()[0])
    ax.set(xlabel=x, ylabel=y, title="Ancestry PCA (x: projected relateds)")
    ax.legend(fontsize=8)
    return fig


def plot_kinship(relatedness: pd.DataFrame) -> Figure:
    """KING kinship against IBS0 for related pairs, with KING's degree boundaries."""
    fig, ax = _axes(6, 4)
    for finding, part in relatedness.groupby("finding"):
        ax.scatter(part["ibs0"], part["kinship"], s=14, label=finding or "not judged")
    for bound in (KING_DUPLICATE, KING_FIRST_DEGREE, KING_SECOND_DEGREE, KING_THIRD_DEGREE):
        ax.axhline(bound, color="grey", linewidth=0.6, linestyle=":")
    ax.set(xlabel="IBS0 proportion", ylabel="KING kinship", title="Relatedness")
    if len(relatedness):
        ax.legend(fontsize=8)
    return fig


def plot_manhattan(results: pd.DataFrame, *, p: str = "p_value",
                   threshold: float = GENOME_WIDE) -> Figure:
    """Manhattan plot of ``results`` (``contig``, ``position``, ``p``), contigs in order."""
    data = results.dropna(subset=[p]).copy()
    data["order"] = data["contig"].str.removeprefix("chr").map(_contig_rank)
    data = data.sort_values(["order", "position"])
    offsets, ticks, labels, start = {}, [], [], 0
    for contig, part in data.groupby("order", sort=True):
        offsets[contig] = start
        ticks.append(start + part["position"].max() / 2)
        labels.append(part["contig"].iloc[0].removeprefix("chr"))
        start += int(part["position"].max())
    x = data["position"] + data["order"].map(offsets)
    fig, ax = _axes(10, 4)
    colours = np.where(data["order"] % 2 == 0, "#4c72b0", "#8da0cb")
    ax.scatter(x, -np.log10(data[p].clip(lower=1e-300)), s=6, c=colours)
    ax.axhline(-np.log10(threshold), color="#c44e52", linestyle="--")
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set(xlabel="chromosome", ylabel="-log10 p", title="Manhattan plot")
    return fig


def plot_qq(results: pd.DataFrame, *, p: str = "p_value") -> Figure:
    """QQ plot of observed against expected -log10 p, with the genomic inflation λ."""
    pv = np.sort(results[p].dropna().clip(lower=1e-300).to_numpy())
    expected = -np.log10((np.arange(1, len(pv) + 1) - 0.5) / len(pv))
    fig, ax = _axes(5, 5)
    ax.scatter(expected, -np.log10(pv), s=6)
    top = max(expected.max(initial=1), 1)
    ax.plot([0, top], [0, top], color="#c44e52")
    ax.set(xlabel="expected -log10 p", ylabel="observed -log10 p",
           title=f"QQ plot (λ = {compute_genomic_inflation(pv):.3f})")
    return fig


def compute_genomic_inflation(p_values: np.ndarray) -> float:
    """Genomic inflation λ: median χ²(1) statistic over its expectation 0.4549.

    Examples
    --------
    >>> round(compute_genomic_inflation(np.array([0.5])), 3)
    1.0
    """
    from scipy.stats import chi2

    p_values = np.asarray(p_values)
    p_values = p_values[np.isfinite(p_values)]
    if len(p_values) == 0:
        return float("nan")
    return float(np.median(chi2.isf(p_values, 1)) / chi2.ppf(0.5, 1))


def _contig_rank(name: str) -> int:
    return int(name) if name.isdigit() else {"X": 23, "Y": 24, "M": 25, "MT": 25}.get(name, 26)
