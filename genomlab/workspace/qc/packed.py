"""Counts straight from packed ``.bed`` bytes (four calls a byte), without decoding the block.

Decoding a block to one ``int8`` per call and comparing it per genotype is most of the cost of
a pass over a ``.bed``; counting the bytes themselves touches a quarter of the data:

- :func:`count_row_codes`: per variant, calls of each 2-bit code (hom-alt, missing, het,
  hom-ref) among the samples a :class:`SampleMask` keeps: a histogram of the 256 byte values
  per row times a 256 × 4 table;
- :func:`count_sample_codes`: per sample, calls of each code over the rows of each category
  (e.g. singletons, transitions): one histogram of (category, byte column, byte value);
- :func:`decode_columns`: the calls of a few samples (e.g. the trios) of every row.

Codes follow the ``.bed`` with A1 the alternate allele (see ``workspace.io``): 0 hom A1
(two alternate alleles), 1 missing, 2 het, 3 hom A2 (reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genomlab.workspace.io import _BED_TO_N_ALT

HOM_ALT, MISSING, HET, HOM_REF = 0, 1, 2, 3
_CODES = (np.arange(256)[:, None] >> (2 * np.arange(4))[None, :]) & 3  # [byte, position]
_LOW_BITS = np.uint64(0x5555_5555_5555_5555)  # the low bit of each of a word's 32 calls
# _POSITION_CODES[byte, position, code]: 1 where the call at ``position`` has ``code``
_POSITION_CODES = (_CODES[:, :, None] == np.arange(4)[None, None, :]).astype(np.float64)


@dataclass(frozen=True)
class SampleMask:
    """Byte masks that turn the calls of left-out samples (and the padding) into missing."""

    keep: np.ndarray  # uint8 per byte column: 11 for kept positions, 00 otherwise
    fill: np.ndarray  # uint8 per byte column: 01 for left-out positions

    @classmethod
    def of(cls, kept: np.ndarray) -> SampleMask:
        """Masks keeping the samples where boolean ``kept`` is set.

        Examples
        --------
        >>> mask = SampleMask.of(np.array([True, False, True, True, True]))
        >>> [f"{b:08b}" for b in mask.keep], [f"{b:08b}" for b in mask.fill]
        (['11110011', '00000011'], ['00000100', '01010100'])
        """
        n_bytes = (len(kept) + 3) // 4
        padded = np.zeros(n_bytes * 4, dtype=bool)
        padded[:len(kept)] = kept
        shifts = 2 * np.arange(4, dtype=np.uint8)
        quads = padded.reshape(n_bytes, 4)
        keep = (np.where(quads, 3, 0).astype(np.uint8) << shifts).sum(axis=1, dtype=np.uint8)
        fill = (np.where(quads, 0, 1).astype(np.uint8) << shifts).sum(axis=1, dtype=np.uint8)
        return cls(keep.astype(np.uint8), fill.astype(np.uint8))

    def apply(self, packed: np.ndarray) -> np.ndarray:
        return (packed & self.keep) | self.fill


def count_row_codes(packed: np.ndarray, mask: SampleMask) -> np.ndarray:
    """``out[variant, code]``: calls of each code among the samples ``mask`` keeps (the
    left-out ones count as missing).

    Examples
    --------
    Bit operations on 64-bit words (32 calls) and a popcount per code; five samples, calls
    2, 1, 0, missing, 0 (bytes ``0x78 0x03``), all kept:

    >>> packed = np.array([[0x78, 0x03]], dtype=np.uint8)
    >>> count_row_codes(packed, SampleMask.of(np.ones(5, bool))).tolist()
    [[1, 4, 1, 2]]
    """
    n_rows, n_bytes = packed.shape
    width = -(-n_bytes // 8) * 8  # whole 64-bit words; the extra bytes are missing calls
    masked = np.empty((n_rows, width), dtype=np.uint8)
    np.bitwise_and(packed, mask.keep, out=masked[:, :n_bytes])
    masked[:, :n_bytes] |= mask.fill
    masked[:, n_bytes:] = 0x55
    words = masked.view(np.uint64)
    low = words & _LOW_BITS  # the low bit of each 2-bit call, in place
    high = (words >> np.uint64(1)) & _LOW_BITS
    out = np.empty((n_rows, 4), dtype=np.int64)
    out[:, HOM_ALT] = np.bitwise_count(~(low | high) & _LOW_BITS).sum(axis=1)
    out[:, HET] = np.bitwise_count(high & ~low).sum(axis=1)
    out[:, HOM_REF] = np.bitwise_count(high & low).sum(axis=1)
    out[:, MISSING] = 4 * n_bytes - out[:, [HOM_ALT, HET, HOM_REF]].sum(axis=1)
    return out


def count_genotypes(packed: np.ndarray, mask: SampleMask) -> dict[str, np.ndarray]:
    """:func:`~genomlab.workspace.qc.variant_qc.compute_genotype_counts` along variants of
    the samples ``mask`` keeps, from packed bytes."""
    codes = count_row_codes(packed, mask)
    n_called = codes[:, HOM_ALT] + codes[:, HET] + codes[:, HOM_REF]
    return {"n_called": n_called, "n_hom_ref": codes[:, HOM_REF], "n_het": codes[:, HET],
            "n_hom_var": codes[:, HOM_ALT]}


def count_sample_codes(packed: np.ndarray, category: np.ndarray, n_categories: int,
                       n_samples: int, *, weights: np.ndarray | None = None) -> np.ndarray:
    """``out[category, sample, code]``: per sample, calls of each code over the rows of each
    category (``category[row]`` in ``0 … n_categories - 1``; -1 leaves a row out). With
    ``weights`` (one per row) the calls are weighted sums instead of counts.

    One histogram of (category, byte value) per byte column, then a 256 × 4 × 4 table turns
    byte values into the codes of the byte's four samples.

    Examples
    --------
    >>> packed = np.array([[0x78, 0x03], [0xFF, 0x03]], dtype=np.uint8)
    >>> count_sample_codes(packed, np.array([0, 1]), 2, 5)[:, :, 3].tolist()
    [[0.0, 0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0]]
    """
    used = category >= 0
    columns = np.ascontiguousarray(packed[used].T)  # [byte column, row]
    return count_sample_codes_by_column(columns, category[used], n_categories, n_samples,
                                        weights=None if weights is None else weights[used])


def count_sample_codes_by_column(columns: np.ndarray, category: np.ndarray, n_categories: int,
                                 n_samples: int, *, weights: np.ndarray | None = None
                                 ) -> np.ndarray:
    """:func:`count_sample_codes` of the transposed block ``columns`` (byte column × row,
    every row used), so that one transposition serves several counts."""
    offset = category.astype(np.int32) * 256
    size = n_categories * 256
    histogram = np.stack([np.bincount(offset + column, weights=weights, minlength=size)
                          for column in columns]) if len(columns) else np.zeros((0, size))
    histogram = histogram.reshape(-1, n_categories, 256).astype(np.float64)
    per_position = np.einsum("bcv,vpk->cbpk", histogram, _POSITION_CODES, optimize=True)
    return per_position.reshape(n_categories, -1, 4)[:, :n_samples]


def decode_columns(packed: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``n_alt[variant, k]`` (int8, -1 missing) of the samples at integer ``columns``.

    Examples
    --------
    >>> decode_columns(np.array([[0x78, 0x03]], dtype=np.uint8), np.array([0, 3, 4])).tolist()
    [[2, -1, 0]]
    """
    columns = np.asarray(columns, dtype=np.int64)
    codes = (packed[:, columns // 4] >> (2 * (columns % 4)).astype(np.uint8)) & 3
    return _BED_TO_N_ALT[codes]
