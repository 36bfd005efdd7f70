"""Writing one intake run's genotype batches so that a bad submission fails alone.

A run writes one batch per consent store for all its submissions
(:func:`genomlab.genome_center.genotypes.write_batch`). The validation step has already read
every VCF (:mod:`genomlab.genome_center.vcf_check`), so a batch rarely fails; when it does
because of a submission's file (a Hail import error, a damaged file), that submission is found
and left out, and the batches are written again without it:

- the failing store's submissions are each imported alone into a scratch folder (a store with
  one submission needs no such probe: it is the one);
- every submission whose probe fails gets a one-line reason (the first line of the error, never
  Java's stack trace) and is dropped from every store (a family's donors may sit in both);
- all batches of the run are written anew from the others, so no batch holds a sample of a
  failed submission.

An error that is no submission's fault (disk full, out of memory, a failure no probe repeats)
is raised unchanged: the run stops and a rerun resumes it.
"""

from __future__ import annotations

import gzip
import secrets
import shutil
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from genomlab import clock
from genomlab.genome_center import genotypes
from genomlab.hail_session import HailModule

_RESOURCE_MARKERS = ("No space left on device", "OutOfMemoryError", "Disk quota exceeded",
                     "Too many open files")
MAX_REASON = 300


@dataclass(frozen=True)
class WrittenBatch:
    """A batch written (not yet indexed): its id, path, store and (inbox id, pseudonym)s."""

    batch_id: str
    path: Path
    store: str
    samples: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StorageOutcome:
    """The batches written and, per failed submission, its VCF's field and a one-line reason."""

    batches: tuple[WrittenBatch, ...]
    failures: Mapping[str, tuple[str, str]]


def get_first_line(exc: BaseException) -> str:
    """The exception's first non-empty line (Hail puts Java's stack trace after it), shortened.

    Examples
    --------
    >>> get_first_line(ValueError("\\nHailException: bad DP\\n\\tat is.hail.Foo(Foo.scala:1)"))
    'HailException: bad DP'
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


def is_submission_fault(exc: BaseException) -> bool:
    """Whether ``exc`` can come from a submission's file rather than from the machine.

    Examples
    --------
    >>> is_submission_fault(EOFError("truncated")), is_submission_fault(OSError(28, "full"))
    (True, False)
    """
    if any(marker in str(exc) for marker in _RESOURCE_MARKERS):
        return False
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError, ValueError,
                        IndexError, KeyError)):
        return True
    hail = sys.modules.get("hail")  # a Hail error needs Hail started: never imported here
    if hail is None:
        return False
    return isinstance(exc, (hail.utils.java.FatalError, hail.utils.java.HailUserError))


def new_batch_id() -> str:
    return f"b{clock.now().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


class BatchWriter:
    """Writes a run's batches under a GRZ folder, leaving out submissions that fail.

    Parameters
    ----------
    hail:
        Starts (or returns) Hail; called only if there is something to write.
    grz_dir, scratch:
        The GRZ's folder (stores under ``genotypes/``) and a scratch folder for merged VCFs.
    indexed:
        Per store, the batch paths already in the index (anything else there is a leftover).
    """

    def __init__(self, hail: Callable[[], HailModule], grz_dir: Path, scratch: Path,
                 indexed: Callable[[str], Sequence[str]]) -> None:
        self.hail, self.grz_dir, self.scratch, self.indexed = hail, grz_dir, scratch, indexed

    def write(self, sources: Mapping[str, Sequence[genotypes.SampleSource]]) -> StorageOutcome:
        """Write the batches of ``sources`` (inbox id → its donors' samples)."""
        failures: dict[str, tuple[str, str]] = {}
        while True:
            kept = {inbox: s for inbox, s in sources.items() if inbox not in failures}
            try:
                return StorageOutcome(tuple(self._write_all(kept)), failures)
            except _StoreFailed as failed:
                found = self._find_failing(failed.group, failed.cause)
                if not found:
                    raise failed.cause from None
                failures.update(found)

    def _write_all(self, sources: Mapping[str, Sequence[genotypes.SampleSource]]
                   ) -> list[WrittenBatch]:
        written = []
        taken: set[str] = set()  # a person twice in a run (a follow-up) is stored once
        for store in genotypes.STORES:
            store_dir = genotypes.get_store_dir(self.grz_dir, store)
            genotypes.remove_unindexed_batches(store_dir, self.indexed(store))
            group: dict[str, list[genotypes.SampleSource]] = {}
            for inbox, samples in sources.items():
                for sample in samples:
                    if sample.store == store and sample.pseudonym not in taken:
                        taken.add(sample.pseudonym)
                        group.setdefault(inbox, []).append(sample)
            if not group:
                continue
            batch_id = new_batch_id()
            try:
                path = genotypes.write_batch(self.hail(), [s for v in group.values() for s in v],
                                             store_dir, batch_id, self.scratch)
            except Exception as exc:
                if not is_submission_fault(exc):
                    raise
                raise _StoreFailed(group, exc) from exc
            written.append(WrittenBatch(batch_id, path, store, tuple(
                (inbox, s.pseudonym) for inbox, samples in group.items() for s in samples)))
        return written

    def _find_failing(self, group: Mapping[str, Sequence[genotypes.SampleSource]],
                      cause: Exception) -> dict[str, tuple[str, str]]:
        """Per submission of ``group`` that fails alone: its first VCF's field and reason."""
        if len(group) == 1:
            ((inbox, samples),) = group.items()
            return {inbox: _describe(samples, cause)}
        found: dict[str, tuple[str, str]] = {}
        probe_dir = self.scratch / "probe"
        for inbox, samples in group.items():
            shutil.rmtree(probe_dir, ignore_errors=True)
            try:
                genotypes.write_batch(self.hail(), samples, probe_dir, "probe", self.scratch)
            except Exception as exc:
                if not is_submission_fault(exc):
                    raise
                found[inbox] = _describe(samples, exc)
            finally:
                shutil.rmtree(probe_dir, ignore_errors=True)
        return found


def _describe(samples: Sequence[genotypes.SampleSource], exc: BaseException) -> tuple[str, str]:
    """The field of a failed submission's first VCF and the one-line reason."""
    first = samples[0]
    return first.field, f"{first.vcf.name}: genotype import failed: {get_first_line(exc)}"


class _StoreFailed(Exception):
    """A store's batch failed with a fault that may be a submission's (internal)."""

    def __init__(self, group: Mapping[str, Sequence[genotypes.SampleSource]],
                 cause: Exception) -> None:
        super().__init__(str(cause))
        self.group = group
        self.cause = cause
