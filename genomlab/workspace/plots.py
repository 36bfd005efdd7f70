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
from matplotlib.ticker import MaxNLocator

from genomlab.workspace.qc.relatedness import (
    KING_DUPLICATE,
    KING_FIRST_DEGREE,
    KING_SECOND_DEGREE,
    KING_THIRD_DEGREE,
)

GENOME_WIDE = 5e-8
REASON_COLOURS = {"call_rate": "#c44e52", "heterozygosity": "#dd8452", "sex_mismatch": "#8172b3",
                  "duplicate": "#937860", "relatedness": "#da8bc3", "mendel": "#55a868",
                  "ancestry_outlier": "#ccb974"}
"""One colour per QC failure reason (``genomlab.workspace.qc.filtering.SAMPLE_REASONS``)."""
KING_DEGREES = (("duplicate / MZ twin", KING_DUPLICATE), ("1st degree", KING_FIRST_DEGREE),
                ("2nd degree", KING_SECOND_DEGREE), ("3rd degree", KING_THIRD_DEGREE))
"""KING's kinship lower bounds per degree (Manichaikul et al. 2010, Table 1)."""


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
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return fig


def get_first_reason(reasons: pd.Series) -> pd.Series:
    """The first of each sample's ``;``-joined QC failure reasons; ``pass`` where none.

    Examples
    --------
    >>> get_first_reason(pd.Series(["", "heterozygosity;mendel", None])).tolist()
    ['pass', 'heterozygosity', 'pass']
    """
    return reasons.fillna("").astype(str).str.split(";").str[0].replace("", "pass")


def get_heterozygosity_bounds(sample_qc: pd.DataFrame, *, n_mad: float = 4.0,
                              column: str = "heterozygosity_rate",
                              group: str = "ancestry_group") -> pd.DataFrame:
    """Per ancestry group, the bounds median ± ``n_mad``·MAD (scaled 1.4826) of ``column``:
    those of the QC's stratified heterozygosity filter (gnomAD, k = 4). Group ``unassigned``
    has none.

    Examples
    --------
    >>> qc = pd.DataFrame({"heterozygosity_rate": [0.30, 0.31, 0.29, 0.30],
    ...                    "ancestry_group": "G1"})
    >>> get_heterozygosity_bounds(qc).round(4).values.tolist()
    [['G1', 0.2703, 0.3297]]
    """
    groups = (sample_qc[group] if group in sample_qc else
              pd.Series("all", index=sample_qc.index)).fillna("all")
    rows = []
    for name, values in sample_qc[column].groupby(groups):
        if name == "unassigned" or values.notna().sum() == 0:
            continue
        median = values.median()
        mad = 1.4826 * (values - median).abs().median()
        rows.append((str(name), median - n_mad * mad, median + n_mad * mad))
    return pd.DataFrame(rows, columns=[group, "lower", "upper"])


def plot_heterozygosity(sample_qc: pd.DataFrame, *, n_mad: float = 4.0) -> Figure:
    """Heterozygosity rate against call rate, coloured by the first QC failure reason, with the
    filter's bounds (median ± ``n_mad``·MAD per ancestry group) drawn."""
    fig, ax = _axes(6, 4)
    reason = (get_first_reason(sample_qc["reasons"]) if "reasons" in sample_qc else
              sample_qc["pass"].astype(bool).map({True: "pass", False: "fail"}))
    for name in ["pass", *sorted(set(reason) - {"pass"})]:
        mask = reason == name
        ax.scatter(sample_qc.loc[mask, "raw_call_rate"],
                   sample_qc.loc[mask, "heterozygosity_rate"], s=12 if name == "pass" else 22,
                   c="#4c72b0" if name == "pass" else REASON_COLOURS.get(name, "#333333"),
                   label=f"{name} ({int(mask.sum())})")
    bounds = get_heterozygosity_bounds(sample_qc, n_mad=n_mad)
    for i, row in enumerate(bounds.itertuples(index=False)):
        label = f"bounds: median ± {n_mad:g} MAD" + (f" ({row[0]})" if len(bounds) > 1 else "")
        for j, value in enumerate((row[1], row[2])):
            ax.axhline(value, color="grey", linestyle="--", linewidth=0.8,
                       label=label if j == 0 and (i == 0 or len(bounds) > 1) else None)
    ax.set(xlabel="call rate", ylabel="heterozygosity rate (n_het / n_called)",
           title="Heterozygosity vs call rate (colour: QC failure reason)")
    ax.legend(fontsize=7)
    return fig


def plot_pca(scores: pd.DataFrame, *, group: str = "ancestry_group", x: str = "PC1",
             y: str = "PC2", variance_explained: dict[str, float] | None = None,
             reference: pd.DataFrame | None = None) -> Figure:
    """PC scatter coloured by ``group``; projected (related) samples drawn as crosses.

    ``variance_explained`` (PC name → share) labels the axes with the % of variance each PC
    explains; ``reference`` (a panel's ``PC1..`` scores) is drawn in grey beneath the cohort.

    Examples
    --------
    >>> s = pd.DataFrame({"PC1": [0.1, -0.2], "PC2": [0.0, 0.3], "ancestry_group": "EUR",
    ...                   "projected": [False, True]})
    >>> fig = plot_pca(s, variance_explained={"PC1": 0.123, "PC2": 0.05})
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('PC1 (12.3 % of variance)', 'PC2 (5.0 % of variance)')
    """
    fig, ax = _axes(6, 5)
    if reference is not None and len(reference):
        ax.scatter(reference[x], reference[y], s=6, color="#cccccc", label="reference panel")
    for name, part in scores.groupby(group):
        projected = part["projected"].astype(bool) if "projected" in part else False
        ax.scatter(part.loc[~projected, x], part.loc[~projected, y], s=10,
                   label=f"{name} ({len(part)})")
        if np.any(projected):
            ax.scatter(part.loc[projected, x], part.loc[projected, y], s=14, marker="x",
                       color=ax.collections[-1].get_facecolor()[0])
    shares = variance_explained or {}

    def label(pc: str) -> str:
        return f"{pc} ({100 * shares[pc]:.1f} % of variance)" if pc in shares else pc

    ax.set(xlabel=label(x), ylabel=label(y), title="Ancestry PCA (x: projected relateds)")
    ax.legend(fontsize=8)
    return fig


def plot_kinship(relatedness: pd.DataFrame) -> Figure:
    """KING kinship against IBS0 for related pairs, with KING's degree boundaries."""
    fig, ax = _axes(6, 4)
    for finding, part in relatedness.groupby("finding"):
        ax.scatter(part["ibs0"], part["kinship"], s=14, label=finding or "not judged")
    for name, bound in KING_DEGREES:
        ax.axhline(bound, color="grey", linewidth=0.6, linestyle=":")
        ax.annotate(f"{name} ≥ {bound:g}", (1.0, bound), xycoords=("axes fraction", "data"),
                    xytext=(-3, 2), textcoords="offset points", ha="right", fontsize=7,
                    color="#555555")
    top = max(KING_DUPLICATE + 0.05, float(relatedness["kinship"].max()) + 0.02
              if len(relatedness) else 0.0)
    ax.set_ylim(top=top)
    ax.set(xlabel="IBS0 proportion", ylabel="KING kinship",
           title="Relatedness (KING degree thresholds)")
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
    ax.set_xticks(*get_readable_ticks(ticks, labels, span=max(start, 1)), fontsize=8)
    ax.set(xlabel="chromosome", ylabel="-log10 p", title="Manhattan plot")
    return fig


def plot_qq(results: pd.DataFrame, *, p: str = "p_value", level: float = 0.95) -> Figure:
    """QQ plot of observed against expected -log10 p, with the genomic inflation λ and the
    ``level`` confidence band of the ordered p-values under the null (the k-th smallest of n
    uniform p-values is Beta(k, n − k + 1)).

    Examples
    --------
    >>> fig = plot_qq(pd.DataFrame({"p_value": np.linspace(0.01, 1, 50)}))
    >>> fig.axes[0].get_legend_handles_labels()[1]
    ['95 % confidence band', 'expected']
    """
    from scipy.stats import beta

    pv = np.sort(results[p].dropna().astype(float).clip(lower=1e-300).to_numpy())
    n = len(pv)
    ranks = np.arange(1, n + 1)
    expected = -np.log10((ranks - 0.5) / max(n, 1))
    fig, ax = _axes(5, 5)
    if n:
        tail = (1 - level) / 2
        ax.fill_between(expected, -np.log10(beta.ppf(1 - tail, ranks, n - ranks + 1)),
                        -np.log10(beta.ppf(tail, ranks, n - ranks + 1)), color="#dddddd",
                        label=f"{100 * level:g} % confidence band")
    ax.scatter(expected, -np.log10(pv), s=6)
    top = max(expected.max(initial=1), 1)
    ax.plot([0, top], [0, top], color="#c44e52", label="expected")
    ax.set(xlabel="expected -log10 p", ylabel="observed -log10 p",
           title=f"QQ plot (λ = {compute_genomic_inflation(pv):.3f})")
    ax.legend(fontsize=8, loc="upper left")
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


def get_readable_ticks(ticks: list[float], labels: list[str], *, span: float,
                       min_gap: float = 0.025) -> tuple[list[float], list[str]]:
    """Ticks and labels with those closer than ``min_gap`` of ``span`` to the last kept one
    dropped, so chromosome labels of a Manhattan plot never overlap.

    Examples
    --------
    >>> get_readable_ticks([0, 10, 50, 100], ["1", "2", "3", "4"], span=100, min_gap=0.2)
    ([0, 50, 100], ['1', '3', '4'])
    """
    kept_ticks: list[float] = []
    kept_labels: list[str] = []
    for tick, label in zip(ticks, labels, strict=True):
        if not kept_ticks or tick - kept_ticks[-1] >= min_gap * span:
            kept_ticks.append(tick)
            kept_labels.append(label)
    return kept_ticks, kept_labels


def _contig_rank(name: str) -> int:
    return int(name) if name.isdigit() else {"X": 23, "Y": 24, "M": 25, "MT": 25}.get(name, 26)
