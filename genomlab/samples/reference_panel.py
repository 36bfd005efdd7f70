"""A labelled ancestry reference panel shipped with each synthetic world.

Real deployments project their cohort onto published loadings of a labelled panel (gnomAD's
HGDP + 1000 Genomes); the synthetic world ships its own: unrelated reference individuals of each
main population (:data:`REFERENCE_POPULATIONS`), drawn from the same group allele frequencies
as the world's founders, at the world's autosomal sites. The planted distant population
(``OCE``) is not a label of the panel, as Oceanian ancestry is not among gnomAD's training
labels: cohort members of it should come out unassigned.

Layout (``world/reference_panel/``): ``panel.bed``/``.bim``/``.fam`` (PLINK 1, variant-major,
A1 = alternate allele, variant ids ``contig:pos:ref:alt``) and ``labels.tsv`` (``sample``,
``population``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genomlab.samples.cohort import ANCESTRY_SHARE
from genomlab.samples.files import write_text

#: Labelled populations of the panel: the world's main groups.
REFERENCE_POPULATIONS: tuple[str, ...] = tuple(ANCESTRY_SHARE)
PANEL_DIR = "reference_panel"
_BED_MAGIC = bytes([0x6C, 0x1B, 0x01])
# PLINK 2-bit codes by alternate-allele count 0, 1, 2 (A1 = alt: 00 hom A1, 10 het, 11 hom A2).
_N_ALT_TO_BED = np.array([0b11, 0b10, 0b00], dtype=np.uint8)


def draw_reference_genotypes(rng: np.random.Generator, freqs: np.ndarray, *,
                             n_per_group: int) -> np.ndarray:
    """Alternate-allele counts ``(n_sites, n_groups * n_per_group)`` of unrelated individuals,
    ``n_per_group`` per row of ``freqs`` (group allele frequencies, ``(n_groups, n_sites)``).

    Examples
    --------
    >>> counts = draw_reference_genotypes(np.random.default_rng(0),
    ...                                   np.array([[0.0, 1.0], [1.0, 0.0]]), n_per_group=2)
    >>> counts.tolist()
    [[0, 0, 2, 2], [2, 2, 0, 0]]
    """
    p = np.repeat(freqs, n_per_group, axis=0).T
    return rng.binomial(2, p).astype(np.int8)


def encode_bed(n_alt: np.ndarray) -> bytes:
    """PLINK 1 variant-major ``.bed`` bytes of ``n_alt`` (variants × samples, 0/1/2).

    Examples
    --------
    >>> encode_bed(np.array([[0, 1, 2, 0, 2]])).hex()
    '6c1b01cb00'
    """
    n_variants, n_samples = n_alt.shape
    padded = np.zeros((n_variants, (n_samples + 3) // 4 * 4), dtype=np.uint8)
    padded[:, :n_samples] = _N_ALT_TO_BED[n_alt]
    quads = padded.reshape(n_variants, -1, 4)
    packed = quads[..., 0] | quads[..., 1] << 2 | quads[..., 2] << 4 | quads[..., 3] << 6
    return _BED_MAGIC + packed.astype(np.uint8).tobytes()


def write_reference_panel(out: Path, rng: np.random.Generator, freqs: np.ndarray,
                          groups: list[str], variant_ids: list[str], *,
                          n_per_group: int = 100) -> Path:
    """Write ``out/reference_panel`` for the sites ``variant_ids`` (autosomal) and return it.

    Parameters
    ----------
    freqs
        Allele frequencies ``(len(groups), len(variant_ids))``; only the rows of
        :data:`REFERENCE_POPULATIONS` are drawn.
    n_per_group
        Reference individuals per population.

    Examples
    --------
    >>> import tempfile
    >>> ids = ["chr1:100:A:G", "chr2:200:C:T"]
    >>> panel = write_reference_panel(Path(tempfile.mkdtemp()), np.random.default_rng(0),
    ...                               np.full((4, 2), 0.5), ["EUR", "AFR", "EAS", "OCE"], ids,
    ...                               n_per_group=2)
    >>> (panel / "labels.tsv").read_text().splitlines()[:3]
    ['sample\\tpopulation', 'R00001\\tEUR', 'R00002\\tEUR']
    """
    rows = [groups.index(pop) for pop in REFERENCE_POPULATIONS]
    n_alt = draw_reference_genotypes(rng, freqs[rows], n_per_group=n_per_group)
    samples = [f"R{i + 1:05d}" for i in range(n_alt.shape[1])]
    labels = np.repeat(REFERENCE_POPULATIONS, n_per_group)
    panel = out / PANEL_DIR
    panel.mkdir(parents=True, exist_ok=True)
    (panel / "panel.bed").write_bytes(encode_bed(n_alt))
    bim = []
    for vid in variant_ids:
        contig, pos, ref, alt = vid.split(":")
        bim.append(f"{contig}\t{vid}\t0\t{pos}\t{alt}\t{ref}")
    write_text(panel / "panel.bim", "\n".join(bim) + "\n")
    write_text(panel / "panel.fam", "".join(f"{s}\t{s}\t0\t0\t0\t-9\n" for s in samples))
    write_text(panel / "labels.tsv", "sample\tpopulation\n"
               + "".join(f"{s}\t{pop}\n" for s, pop in zip(samples, labels, strict=True)))
    return panel
