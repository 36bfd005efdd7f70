"""A PLINK ``.bed`` read in blocks of variants, so memory follows the block, not the cohort.

The file is read with plain reads, not memory-mapped: pages of a mapping that were touched
count in the process's resident memory until it is dropped, which is what streaming avoids.
Genotypes come back as :class:`~genomlab.workspace.io.GenotypeMatrix` blocks (``int8`` counts
of A1, the alternate allele as Hail and genomlab write it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.workspace.io import _BED_MAGIC, GenotypeMatrix, decode_bed_rows

DEFAULT_BLOCK_CALLS = 1 << 24  # ~16 M calls (16 MB as int8) per block
# n_alt (0, 1, 2, missing as -1 → index 3) to the 2-bit .bed code (A1 = alternate allele)
_N_ALT_TO_BED = np.array([3, 2, 0, 1], dtype=np.uint8)


@dataclass(frozen=True)
class BedFile:
    """The ``.bim``/``.fam`` of ``prefix`` in memory and the ``.bed`` read on demand.

    ``variants`` uses Arrow strings: four string columns of a million variants take ~60 MB
    instead of ~250 MB as Python objects.
    """

    prefix: Path
    samples: list[str]
    variants: pd.DataFrame

    @classmethod
    def open(cls, prefix: Path) -> BedFile:
        """The PLINK fileset ``prefix.{bed,bim,fam}``, checked for the magic and the size."""
        bed = Path(f"{prefix}.bed")
        if not bed.exists():
            raise NotFoundError(f"{bed}: PLINK .bed not found")
        fam = pd.read_csv(f"{prefix}.fam", sep=r"\s+", header=None, dtype=str, usecols=[1])
        bim = pd.read_csv(f"{prefix}.bim", sep="\t", header=None, usecols=[0, 1, 3, 4, 5],
                          names=["contig", "variant", "cm", "position", "alt", "ref"],
                          dtype={"contig": "string[pyarrow]", "variant": "string[pyarrow]",
                                 "position": np.int64, "alt": "string[pyarrow]",
                                 "ref": "string[pyarrow]"})
        out = cls(Path(prefix), fam[1].tolist(), bim[["contig", "position", "ref", "alt",
                                                      "variant"]])
        with bed.open("rb") as handle:
            if handle.read(3) != _BED_MAGIC:
                raise ValidationFailed(f"{bed}: not a variant-major PLINK bed file")
        expected = 3 + out.bytes_per_variant * len(bim)
        if bed.stat().st_size != expected:
            raise ValidationFailed(f"{bed}: {bed.stat().st_size} bytes, expected {expected} for "
                                   f"{len(bim)} variants × {len(out.samples)} samples")
        return out

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    @property
    def bytes_per_variant(self) -> int:
        return (len(self.samples) + 3) // 4

    def block_size(self, max_calls: int = DEFAULT_BLOCK_CALLS) -> int:
        """Variants per block so that a block holds about ``max_calls`` calls."""
        return max(1, max_calls // max(len(self.samples), 1))

    def _decode(self, packed: np.ndarray, rows: np.ndarray) -> GenotypeMatrix:
        return GenotypeMatrix(decode_bed_rows(packed, len(self.samples)), self.samples,
                              self.variants.iloc[rows].reset_index(drop=True))

    def iter_blocks(self, max_calls: int = DEFAULT_BLOCK_CALLS
                    ) -> Iterator[tuple[slice, GenotypeMatrix]]:
        """``(rows, block)`` for consecutive blocks of variants, ``rows`` their slice."""
        for rows, packed in self.iter_packed(max_calls):
            yield rows, self._decode(packed, np.arange(rows.start, rows.stop))

    def iter_packed(self, max_calls: int = DEFAULT_BLOCK_CALLS
                    ) -> Iterator[tuple[slice, np.ndarray]]:
        """``(rows, packed)``: consecutive blocks of variants as packed ``.bed`` bytes
        (uint8, variants × bytes per variant), not decoded (see ``qc.packed``)."""
        step, width = self.block_size(max_calls), self.bytes_per_variant
        with Path(f"{self.prefix}.bed").open("rb") as handle:
            handle.seek(3)
            for start in range(0, self.n_variants, step):
                stop = min(start + step, self.n_variants)
                raw = handle.read((stop - start) * width)
                yield slice(start, stop), np.frombuffer(raw, dtype=np.uint8).reshape(
                    stop - start, width)

    def read_rows(self, rows: np.ndarray) -> GenotypeMatrix:
        """The variants at boolean or integer ``rows`` (e.g. the QC subset) in memory."""
        rows = np.asarray(rows)
        idx = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        width = self.bytes_per_variant
        packed = np.empty((len(idx), width), dtype=np.uint8)
        with Path(f"{self.prefix}.bed").open("rb") as handle:
            for k, row in enumerate(idx):
                handle.seek(3 + int(row) * width)
                packed[k] = np.frombuffer(handle.read(width), dtype=np.uint8)
        return self._decode(packed, idx)


def pack_bed_rows(n_alt: np.ndarray) -> bytes:
    """``.bed`` bytes of ``n_alt[variant, sample]`` (0/1/2, -1 missing), A1 = alternate allele.

    Examples
    --------
    >>> pack_bed_rows(np.array([[2, 1, 0, -1, 0]], dtype=np.int8)).hex()
    '7803'
    """
    n_variants, n_samples = n_alt.shape
    padded = np.zeros((n_variants, (n_samples + 3) // 4 * 4), dtype=np.uint8)
    padded[:, :n_samples] = _N_ALT_TO_BED[np.where(n_alt < 0, 3, n_alt)]
    quads = padded.reshape(n_variants, -1, 4)
    packed = quads[..., 0] | quads[..., 1] << 2 | quads[..., 2] << 4 | quads[..., 3] << 6
    return packed.astype(np.uint8).tobytes()
