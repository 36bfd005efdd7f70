"""Detailed-QC reads (genomlab.samples.qc_reads): the figures the reads carry are exact."""

from __future__ import annotations

import gzip

import numpy as np

from genomlab.samples.qc_reads import (
    N_TARGETS,
    READ_LENGTH,
    REFERENCE_LENGTH,
    get_targets,
    make_read_pairs,
    make_reference,
)


def _records(data: bytes) -> list[list[bytes]]:
    lines = gzip.decompress(data).splitlines()
    return [lines[i:i + 4] for i in range(0, len(lines), 4)]


def test_make_read_pairs__counts_qualities_and_dropped_windows_are_exact() -> None:
    ref = make_reference(np.random.default_rng(5))
    r1, r2 = make_read_pairs(np.random.default_rng(6), ref, depth=33.3, percent_q30=87.4,
                             target_fraction=0.85, name="HQC")
    reads1, reads2 = _records(r1), _records(r2)
    n_pairs = round(33.3 * REFERENCE_LENGTH / READ_LENGTH / 2)
    assert len(reads1) == len(reads2) == n_pairs
    quals = b"".join(r[3] for r in reads1 + reads2)
    assert quals.count(b"F") == round(0.874 * len(quals))
    assert set(quals) == {ord("F"), ord(",")}
    covered = np.zeros(REFERENCE_LENGTH, dtype=int)
    comp = bytes.maketrans(b"ACGT", b"TGCA")
    for rec in reads1:
        start = ref.find(rec[1])
        assert start >= 0  # every read is the reference
        covered[start:start + READ_LENGTH] += 1
    for rec in reads2:
        start = ref.find(rec[1].translate(comp)[::-1])
        assert start >= 0  # R2 is the reverse complement
        covered[start:start + READ_LENGTH] += 1
    assert covered.sum() == 2 * n_pairs * READ_LENGTH
    empty = [i for i, (a, b) in enumerate(get_targets()) if covered[a:b].max() == 0]
    assert len(empty) == round(0.15 * N_TARGETS)
    assert all(covered[a:b].mean() >= 20 for i, (a, b) in enumerate(get_targets())
               if i not in empty)


def test_make_read_pairs__same_stream_same_bytes() -> None:
    ref = make_reference(np.random.default_rng(5))

    def draw(seed: int) -> tuple[bytes, bytes]:
        return make_read_pairs(np.random.default_rng(seed), ref, depth=5.0, percent_q30=90.0,
                               target_fraction=0.9, name="H")

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)
