"""Reads for detailed QC: a small synthetic reference, its target BED and FASTQ pairs whose
measured figures are the ones a lab datum's metadata reports (issue 17).

BfArM's GRZ_QC_Workflow recomputes, for a submission selected for detailed QC, the mean depth
of coverage (mosdepth over the whole genome for WGS), the percentage of bases at or above the
quality threshold (fastp, before filtering) and the fraction of target regions whose mean
coverage reaches the minimum coverage (mosdepth ``--by`` the target BED). The GRZ's reference
here is one random contig ``chrQC`` of :data:`REFERENCE_LENGTH` bases with
:data:`N_TARGETS` target windows of :data:`TARGET_LENGTH` bases, one every
:data:`TARGET_PITCH` bases (windows far enough apart that a read pair touching one window never
reaches the next).

:func:`make_read_pairs` draws paired reads (length :data:`READ_LENGTH`, fragments 200 to 300
bases, R2 reverse-complemented) so that

- the number of reads is ``round(depth * REFERENCE_LENGTH / READ_LENGTH)`` (every read maps, so
  mosdepth's whole-genome mean is ``depth``),
- exactly ``round(percent_q30 / 100 * bases)`` bases have quality 37 (``F``), the rest 11 (``,``),
- ``round((1 - target_fraction) * N_TARGETS)`` target windows receive no read at all (the
  others far more than any minimum coverage at the depths BfArM asks for).

The same generator draws honest reads (the reported figures) and inflated ones (true figures
below BfArM's thresholds, reported above them).

WES and panel lab data are captured libraries: :func:`make_captured_read_pairs` puts every pair on
a target window of the lab datum's own BED (:data:`WES_TARGETS`: every window;
:data:`PANEL_TARGETS`: every other one), one mate covering the window exactly, so mosdepth's
``total_region`` mean over the BED is the reported depth and
``round((1 - target_fraction) * len(targets))`` windows receive no read.

Examples
--------
>>> import numpy as np
>>> ref = make_reference(np.random.default_rng(0))
>>> len(ref), len(get_targets())
(10000, 20)
>>> r1, r2 = make_read_pairs(np.random.default_rng(1), ref, depth=4.0, percent_q30=90.0,
...                          target_fraction=0.9, name="X")
>>> import gzip
>>> [gzip.decompress(r).count(b"\\n") // 4 for r in (r1, r2)]
[200, 200]
"""

from __future__ import annotations

import gzip

import numpy as np

READ_LENGTH = 100
REFERENCE_NAME = "chrQC"
REFERENCE_LENGTH = 10_000
N_TARGETS = 20
TARGET_LENGTH = 100
TARGET_PITCH = 500
TARGET_OFFSET = 200
FRAGMENT_MIN, FRAGMENT_MAX = 200, 300
HIGH_QUALITY, LOW_QUALITY = ord("F"), ord(",")  # phred 37 and 11 (+33)
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_COMPLEMENT = bytes.maketrans(b"ACGT", b"TGCA")


def make_reference(rng: np.random.Generator) -> bytes:
    """The reference sequence (``REFERENCE_LENGTH`` random bases)."""
    return bytes(_BASES[rng.integers(0, 4, REFERENCE_LENGTH)])


def get_targets() -> list[tuple[int, int]]:
    """The target windows (0-based, half-open)."""
    return [(TARGET_OFFSET + i * TARGET_PITCH, TARGET_OFFSET + i * TARGET_PITCH + TARGET_LENGTH)
            for i in range(N_TARGETS)]


def format_fasta(reference: bytes) -> bytes:
    """``reference`` as FASTA (one record ``chrQC``, 80 bases a line)."""
    lines = [reference[i:i + 80] for i in range(0, len(reference), 80)]
    return b">" + REFERENCE_NAME.encode() + b"\n" + b"\n".join(lines) + b"\n"


def get_library_targets(library: str) -> list[tuple[int, int]]:
    """The target windows of a lab datum's BED by library type: ``wes`` every window,
    ``panel`` every other one (``ValueError`` for another type)."""
    if library == "wes":
        return get_targets()
    if library == "panel":
        return get_targets()[::2]
    raise ValueError(f"libraryType {library!r}: captured reads exist for wes and panel only")


def format_targets_bed(targets: list[tuple[int, int]] | None = None) -> bytes:
    """The target windows (default: all, :func:`get_targets`) as BED."""
    windows = get_targets() if targets is None else targets
    return b"".join(b"%s\t%d\t%d\n" % (REFERENCE_NAME.encode(), a, b) for a, b in windows)


def _format_pairs(reference: bytes, starts1: list[int], starts2: list[int], quals: np.ndarray,
                  name: str) -> tuple[bytes, bytes]:
    out = []
    for mate, starts in ((1, starts1), (2, starts2)):
        records = []
        for r, start in enumerate(starts):
            seq = reference[start:start + READ_LENGTH]
            if mate == 2:
                seq = seq.translate(_COMPLEMENT)[::-1]
            records.append(b"@%s:%d %d:N:0:1\n%s\n+\n%s\n"
                           % (name.encode(), r + 1, mate, seq, quals[mate - 1, r].tobytes()))
        out.append(gzip.compress(b"".join(records), compresslevel=6, mtime=0))
    return out[0], out[1]


def _qualities(rng: np.random.Generator, n_pairs: int, percent_q30: float) -> np.ndarray:
    n_bases = 2 * n_pairs * READ_LENGTH
    flat = np.full(n_bases, LOW_QUALITY, dtype=np.uint8)
    flat[rng.permutation(n_bases)[:round(percent_q30 / 100.0 * n_bases)]] = HIGH_QUALITY
    return flat.reshape(2, n_pairs, READ_LENGTH)


def make_captured_read_pairs(rng: np.random.Generator, reference: bytes,
                             targets: list[tuple[int, int]], *, depth: float,
                             percent_q30: float, target_fraction: float, name: str
                             ) -> tuple[bytes, bytes]:
    """Gzipped R1 and R2 FASTQ of a captured (WES or panel) library on ``targets``.

    ``round(depth * len(targets) * TARGET_LENGTH / READ_LENGTH)`` pairs, dealt in turn to the
    windows kept (all but ``round((1 - target_fraction) * len(targets))`` drawn ones); a pair's
    R1 starts at its window (or, every other pair, its R2 ends there), the other mate lies
    outside every window (fragments 200 to 300 bases, windows :data:`TARGET_PITCH` apart).
    Qualities as in :func:`make_read_pairs`.

    Examples
    --------
    >>> ref = make_reference(np.random.default_rng(0))
    >>> r1, _ = make_captured_read_pairs(np.random.default_rng(1), ref, get_targets()[::2],
    ...                                  depth=100.0, percent_q30=90.0, target_fraction=0.9,
    ...                                  name="X")
    >>> gzip.decompress(r1).count(b"\\n") // 4
    1000
    """
    if any(b - a != READ_LENGTH for a, b in targets):
        raise ValueError(f"target windows must be {READ_LENGTH} bases long")
    n_pairs = max(1, round(depth * len(targets) * TARGET_LENGTH / READ_LENGTH))
    n_dropped = round((1.0 - target_fraction) * len(targets))
    dropped = set(rng.choice(len(targets), size=n_dropped, replace=False).tolist())
    kept = [w for i, w in enumerate(targets) if i not in dropped]
    if not kept:
        raise ValueError(f"target_fraction={target_fraction}: no window would be covered")
    frag = rng.integers(FRAGMENT_MIN, FRAGMENT_MAX + 1, n_pairs)
    starts1: list[int] = []
    starts2: list[int] = []
    for k in range(n_pairs):
        a = kept[k % len(kept)][0]
        if k % 2 == 0:  # R1 on the window, R2 downstream
            s1, s2 = a, a + int(frag[k]) - READ_LENGTH
        else:  # R2 on the window, R1 upstream
            s1, s2 = a + READ_LENGTH - int(frag[k]), a
        if s1 < 0 or s2 + READ_LENGTH > len(reference):
            raise ValueError(f"window at {a}: a fragment of {int(frag[k])} bases leaves the "
                             f"reference")
        starts1.append(s1)
        starts2.append(s2)
    return _format_pairs(reference, starts1, starts2, _qualities(rng, n_pairs, percent_q30),
                         name)


def make_read_pairs(rng: np.random.Generator, reference: bytes, *, depth: float,
                    percent_q30: float, target_fraction: float, name: str
                    ) -> tuple[bytes, bytes]:
    """Gzipped R1 and R2 FASTQ (mtime 0) with the figures described in the module docstring."""
    n_pairs = max(1, round(depth * len(reference) / READ_LENGTH / 2))
    targets = get_targets()
    n_dropped = round((1.0 - target_fraction) * N_TARGETS)
    dropped = sorted(rng.choice(N_TARGETS, size=n_dropped, replace=False).tolist())
    blocked = np.zeros(len(reference) + 1, dtype=np.int32)
    for i in dropped:  # reads starting in (a - READ_LENGTH, b) overlap window [a, b)
        a, b = targets[i]
        blocked[max(0, a - READ_LENGTH + 1)] += 1
        blocked[b] -= 1
    free = np.cumsum(blocked)[:len(reference)] == 0
    starts1: list[int] = []
    starts2: list[int] = []
    while len(starts1) < n_pairs:
        size = 2 * (n_pairs - len(starts1)) + 16
        s = rng.integers(0, len(reference) - FRAGMENT_MAX + 1, size)
        frag = rng.integers(FRAGMENT_MIN, FRAGMENT_MAX + 1, size)
        s2 = s + frag - READ_LENGTH
        ok = free[s] & free[s2]
        starts1 += s[ok].tolist()
        starts2 += s2[ok].tolist()
    starts1, starts2 = starts1[:n_pairs], starts2[:n_pairs]
    return _format_pairs(reference, starts1, starts2, _qualities(rng, n_pairs, percent_q30),
                         name)
