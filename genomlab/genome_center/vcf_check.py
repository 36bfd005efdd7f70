"""The content check of a submission's VCFs, in the validation step, before any Hail work.

grz-check's checksums (:func:`genomlab.genome_center.metadata.check_submission_files`, or
grzctl's ``validate``) prove only that the GRZ got the bytes the hospital sent; these checks
prove the bytes are a VCF genotype storage can take. Each VCF is read once, streaming:

- compression: a ``.gz``/``.bgz`` file is BGZF (bgzip) from its first block to the 28-byte
  end-of-file block, every block inflating with a matching CRC (a truncated or damaged file is
  refused here, not halfway through a Hail import);
- records: a ``##fileformat=VCF`` first line, a ``#CHROM`` header with sample columns, every
  record with as many fields as the header, a contig of the store's reference genome
  (:data:`genomlab.genome_center.genotypes.REFERENCE_GENOME`, ``chr1`` not ``1``) and a
  position inside it, and at least one record (a header-only VCF holds no genotypes);
- donors (germline VCFs, the ones the store takes): the VCF has a column for the donor it is
  listed under (by ``donorPseudonym``, the index donor by the one column left over), names no
  donor the submission does not have, and every donor column has at least one called genotype.

A problem is a :class:`~genomlab.genome_center.metadata.SubmissionRejected`
(``validation_error``) naming the file's field path, the file and the line.

Examples
--------
>>> import gzip, tempfile
>>> vcf = Path(tempfile.mkdtemp()) / "x.vcf.gz"
>>> _ = vcf.write_bytes(gzip.compress(b"##fileformat=VCFv4.2\\n"))
>>> scan_vcf(vcf, get_reference_contig_lengths(REFERENCE_GENOME))
Traceback (most recent call last):
...
genomlab.genome_center.vcf_check.VcfContentError: not BGZF-compressed (bgzip); a plain gzip ...
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genomlab.genome_center.genotypes import (
    REFERENCE_GENOME,
    assign_columns,
    is_compressed_vcf,
    open_vcf_text,
)
from genomlab.genome_center.metadata import SubmissionRejected
from genomlab.hail_session import get_reference_contig_lengths

if TYPE_CHECKING:
    from grz_pydantic_models.submission.metadata import GrzSubmissionMetadata

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
"""The empty block that ends every BGZF file (SAM/BAM specification, section 4.1.2)."""
_NO_CALL = frozenset({".", ""})


class VcfContentError(ValueError):
    """What is wrong with a VCF's content (one line, without the file's name)."""


@dataclass(frozen=True)
class VcfScan:
    """What a VCF that read cleanly holds: its sample columns, records and calls per column."""

    columns: tuple[str, ...]
    n_records: int
    n_called: tuple[int, ...]


def check_bgzf_framing(path: Path) -> None:
    """Refuse a file that does not start with a BGZF block or lacks the BGZF end-of-file block.

    Examples
    --------
    >>> import tempfile
    >>> vcf = Path(tempfile.mkdtemp()) / "x.vcf.gz"
    >>> _ = vcf.write_bytes(BGZF_EOF * 2)  # two empty blocks: framed, if empty
    >>> check_bgzf_framing(vcf)
    >>> _ = vcf.write_bytes((BGZF_EOF * 2)[:-1])
    >>> check_bgzf_framing(vcf)
    Traceback (most recent call last):
    ...
    genomlab.genome_center.vcf_check.VcfContentError: truncated: the BGZF end-of-file block ...
    """
    with path.open("rb") as handle:
        head = handle.read(18)
        if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
            raise VcfContentError("not BGZF-compressed (bgzip); a plain gzip or other file "
                                  "cannot be indexed")
        handle.seek(0, 2)
        if handle.tell() < len(BGZF_EOF) + 18:
            raise VcfContentError("truncated: shorter than one BGZF block and the end-of-file "
                                  "block")
        handle.seek(-len(BGZF_EOF), 2)
        if handle.read() != BGZF_EOF:
            raise VcfContentError("truncated: the BGZF end-of-file block is missing")


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a VCF, its compression checked block by block while read."""
    try:
        with open_vcf_text(path) as handle:
            yield from enumerate(handle, start=1)
    except EOFError as exc:
        raise VcfContentError("truncated: the compressed data ends inside a block") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise VcfContentError(f"damaged compressed data: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise VcfContentError(f"not UTF-8 text: byte {exc.start} of a line") from exc


def _called(cell: str) -> bool:
    """Whether a sample cell (``GT:…``) calls at least one allele.

    Examples
    --------
    >>> [_called(c) for c in ("0/1:3,4:7:99", "./.:.:.:.", ".", "1")]
    [True, False, False, True]
    """
    gt = cell.split(":", 1)[0]
    return any(allele not in _NO_CALL for allele in gt.replace("|", "/").split("/"))


def _check_record(fields: Sequence[str], line: int, width: int,
                  contigs: Mapping[str, int]) -> None:
    if len(fields) != width:
        raise VcfContentError(f"line {line}: {len(fields)} fields, the #CHROM header has "
                              f"{width}")
    contig, pos = fields[0], fields[1]
    if contig not in contigs:
        raise VcfContentError(f"line {line}: contig {contig!r} is not a {REFERENCE_GENOME} "
                              "contig (this GRZ stores GRCh38 names such as 'chr1')")
    if not pos.isdigit() or not 1 <= int(pos) <= contigs[contig]:
        raise VcfContentError(f"line {line}: position {pos!r} is not inside {contig} "
                              f"(1..{contigs[contig]})")


def scan_vcf(path: Path, contigs: Mapping[str, int]) -> VcfScan:
    """Read a whole VCF once and check its framing, header and records (see the module).

    Raises :class:`VcfContentError` naming the line of the first problem.
    """
    if is_compressed_vcf(path):
        check_bgzf_framing(path)
    columns: tuple[str, ...] | None = None
    n_records = 0
    n_called: list[int] = []
    for line, text in _read_lines(path):
        if line == 1 and not text.startswith("##fileformat=VCF"):
            raise VcfContentError("line 1: not a VCF (no ##fileformat=VCF line)")
        if text.startswith("##"):
            continue
        fields = text.rstrip("\r\n").split("\t")
        if text.startswith("#CHROM"):
            columns = tuple(fields[9:])
            if not columns:
                raise VcfContentError(f"line {line}: the #CHROM header has no sample column")
            n_called = [0] * len(columns)
            continue
        if columns is None:
            raise VcfContentError(f"line {line}: a record before the #CHROM header")
        _check_record(fields, line, 9 + len(columns), contigs)
        n_records += 1
        for i, cell in enumerate(fields[9:]):
            n_called[i] += _called(cell)
    if columns is None:
        raise VcfContentError("no #CHROM header line")
    if n_records == 0:
        raise VcfContentError("no variant record: a header-only VCF holds no genotypes")
    return VcfScan(columns, n_records, tuple(n_called))


def check_donor_columns(scan: VcfScan, donor_names: Sequence[str], index_position: int,
                        owner: int) -> None:
    """Refuse a germline VCF without a column for its donor ``owner``, with a column naming
    no donor, or with a donor column that calls nothing.

    Examples
    --------
    >>> scan = VcfScan(("S1", "S2"), 5, (5, 0))
    >>> check_donor_columns(scan, ["index", "S2"], 0, 0)
    Traceback (most recent call last):
    ...
    genomlab.genome_center.vcf_check.VcfContentError: column 'S2' (donor S2) has no called ...
    """
    mapping = assign_columns(scan.columns, donor_names, index_position)
    if owner not in mapping:
        raise VcfContentError(f"no column for donor {donor_names[owner]!r} (columns: "
                              f"{', '.join(scan.columns)})")
    unknown = [c for c in scan.columns if c not in mapping.values()]
    if unknown:
        raise VcfContentError(f"column(s) {', '.join(map(repr, unknown))} name no donor of "
                              "this submission")
    for position, column in sorted(mapping.items()):
        if scan.n_called[scan.columns.index(column)] == 0:
            raise VcfContentError(f"column {column!r} (donor {donor_names[position]}) has no "
                                  f"called genotype in {scan.n_records} records")


def check_submission_vcfs(model: GrzSubmissionMetadata, files_dir: Path, *, source: str) -> None:
    """Check the content of every VCF the metadata lists (files already checked present).

    Raises
    ------
    SubmissionRejected
        ``validation_error``, field ``donors[i].labData[j].sequenceData.files[k]``, message
        ``<filePath>: <problem>``.
    """
    contigs = get_reference_contig_lengths(REFERENCE_GENOME)
    names = [donor.donor_pseudonym for donor in model.donors]
    index = next(i for i, donor in enumerate(model.donors) if donor.relation == "index")
    for i, donor in enumerate(model.donors):
        for j, lab in enumerate(donor.lab_data):
            if lab.sequence_data is None:
                continue
            for k, entry in enumerate(lab.sequence_data.files):
                if entry.file_type != "vcf":
                    continue
                try:
                    scan = scan_vcf(files_dir / entry.file_path, contigs)
                    if lab.sequence_subtype == "germline":
                        check_donor_columns(scan, names, index, i)
                except VcfContentError as exc:
                    raise SubmissionRejected(
                        source, "validation_error",
                        f"donors[{i}].labData[{j}].sequenceData.files[{k}]",
                        f"{entry.file_path}: {exc}") from exc
