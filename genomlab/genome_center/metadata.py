"""Basic (inbox) validation of a GRZ submission: metadata, thresholds, files.

Validation uses BfArM's ``grz_pydantic_models`` (schema, cross-field rules and the thresholds of
``thresholds.json``: below a threshold is an error for the index donor and a warning for
relatives). Its model-level errors carry no location, so :func:`locate_model_error` names the
field from the message. On top of that this GRZ requires:

- every file listed exists under ``files/`` with the stated size and sha256, and BfArM's
  ``grz-check`` accepts its content (FASTQ pairs, read lengths, BAM):
  :func:`check_submission_files` calls it as grzctl's ``validate`` does (in-process intake; on
  the grzctl path grzctl has run it, and genomlab keeps no checker of its own);
- every VCF's content can be stored (:mod:`genomlab.genome_center.vcf_check`, run by intake
  after these checks).

A submission without a VCF is accepted, as BfArM's model accepts it (VCFs are recommended, not
required: ``grz-pydantic-models-testing``'s ``missing-vcf-file``); it is stored without genotypes
and confirmed like any other.

Every refusal is a :class:`SubmissionRejected` with a grzctl ``failure_reason``, the field path
(``donors[0].labData[1].sequenceData.files[2].fileChecksum``) and a one-line message naming it.

Examples
--------
>>> import importlib.resources, grz_pydantic_models_testing.example_metadata as ex
>>> text = importlib.resources.files(ex).joinpath("wgs_trio", "v1.3.0.json").read_text()
>>> checked = validate_metadata_text(text, source="wgs_trio")
>>> [d.relation for d in checked.metadata.donors]
['index', 'mother', 'father']
"""

from __future__ import annotations

import logging
import mmap
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from genomlab.errors import ValidationFailed
from genomlab.strict_json import JsonRefused, load_strict_json

if TYPE_CHECKING:
    from grz_pydantic_models.submission.metadata import (
        Donor,
        File,
        GrzSubmissionMetadata,
        LabDatum,
    )

FailureReason = str
"""grzctl's failure reasons: ``validation_error``, ``duplicate_tang``, ``file_not_found``,
``incomplete_submission``, ``unknown``."""

_MESSAGE_FIELDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Mean depth of coverage for donor '(?P<donor>[^']*)', lab datum "
                r"'(?P<lab>[^']*)'"), "sequenceData.meanDepthOfCoverage"),
    (re.compile(r"Minimum coverage for donor '(?P<donor>[^']*)', lab datum '(?P<lab>[^']*)'"),
     "sequenceData.minCoverage"),
    (re.compile(r"Fraction of targeted regions above minimum coverage for donor "
                r"'(?P<donor>[^']*)', lab datum '(?P<lab>[^']*)'"),
     "sequenceData.targetedRegionsAboveMinCoverage"),
    (re.compile(r"Percentage of bases above quality threshold"),
     "sequenceData.percentBasesAboveQualityThreshold.percent"),
    (re.compile(r"Expected minimumQuality"),
     "sequenceData.percentBasesAboveQualityThreshold.minimumQuality"),
    (re.compile(r"Incompatible reference genomes"), "sequenceData.referenceGenome"),
    (re.compile(r"BED file missing for lab datum '(?P<lab>[^']*)' in donor '(?P<donor>[^']*)'"),
     "sequenceData.files"),
    (re.compile(r"research ?consent", re.IGNORECASE), "researchConsents"),
    (re.compile(r"mvConsent|mvSequencing", re.IGNORECASE), "mvConsent"),
    (re.compile(r"index patient|relation", re.IGNORECASE), "relation"),
    (re.compile(r"tumor cell count", re.IGNORECASE), "tumorCellCount"),
    (re.compile(r"(?i)library type|libraryType"), "libraryType"),
    (re.compile(r"(?i)sequence subtype|genomicStudySubtype"), "sequenceSubtype"),
    (re.compile(r"(?i)donor count|genomicStudyType"), "submission.genomicStudyType"),
    (re.compile(r"(?i)checksum"), "fileChecksum"),
    (re.compile(r"(?i)file path"), "filePath"),
    (re.compile(r"(?i)lab data name|labDataName"), "labDataName"),
)
"""Message pattern of a grz-pydantic-models model validator → the field it is about."""


class SubmissionRejected(ValidationFailed):
    """A submission failed basic validation; carries the grzctl reason and the field path."""

    def __init__(self, source: str, reason: FailureReason, field_path: str, message: str) -> None:
        self.source = source
        self.reason = reason
        self.field = field_path
        self.detail = message
        super().__init__(f"{source}: field {field_path}: {message}")


@dataclass(frozen=True)
class CheckedMetadata:
    """Metadata that passed validation, with the threshold warnings for relatives."""

    metadata: GrzSubmissionMetadata
    warnings: tuple[str, ...] = field(default=())


def format_location(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a field path.

    Examples
    --------
    >>> format_location(("donors", 0, "labData", 1, "sequenceData", "files"))
    'donors[0].labData[1].sequenceData.files'
    """
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def locate_model_error(message: str, metadata: dict[str, Any] | None) -> str:
    """The field a location-less model error is about, from its message.

    Donor and lab datum names in the message are resolved to list indices when the raw
    metadata is at hand.

    Examples
    --------
    >>> locate_model_error("Mean depth of coverage for donor 'index', lab datum 'x' below", None)
    "donors['index'].labData['x'].sequenceData.meanDepthOfCoverage"
    """
    for pattern, suffix in _MESSAGE_FIELDS:
        match = pattern.search(message)
        if match is None:
            continue
        groups = match.groupdict()
        if "donor" not in groups or suffix.startswith("submission."):
            return suffix if suffix.startswith("submission.") else f"donors[*].{suffix}"
        donor, lab = _index_of(metadata, groups["donor"], groups.get("lab"))
        return f"donors[{donor}].labData[{lab}].{suffix}"
    return "metadata"


def _index_of(metadata: dict[str, Any] | None, donor: str, lab: str | None) -> tuple[Any, Any]:
    donors = (metadata or {}).get("donors") or []
    for i, entry in enumerate(donors):
        if isinstance(entry, dict) and entry.get("donorPseudonym") == donor:
            names = [d.get("labDataName") for d in entry.get("labData") or []
                     if isinstance(d, dict)]
            return i, names.index(lab) if lab in names else repr(lab)
    return repr(donor), repr(lab)


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "below" in text and "threshold" in text:
            self.messages.append(text.splitlines()[0])


@contextmanager
def _collect_threshold_warnings() -> Iterator[_WarningCollector]:
    logger = logging.getLogger("grz_pydantic_models")
    handler = _WarningCollector()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def read_metadata_json(data: bytes, *, source: str) -> Any:
    """The parsed ``metadata.json``: UTF-8, no duplicate key, not nested deeper than
    :data:`genomlab.strict_json.MAX_DEPTH`, JSON (:func:`genomlab.strict_json.load_strict_json`).

    Raises :class:`SubmissionRejected` (``validation_error``; field ``metadata`` or the
    duplicated key) otherwise.
    """
    try:
        return load_strict_json(data)
    except JsonRefused as exc:
        field_path = "metadata" if exc.field == "document" else exc.field
        raise SubmissionRejected(source, "validation_error", field_path, exc.detail) from exc


def check_files_folder(directory: Path, *, source: str) -> None:
    """Refuse a submission whose ``files/`` is a symlink or lies outside its folder (it would
    check and store the files of another submission)."""
    files_dir = directory / "files"
    if files_dir.is_symlink() or (files_dir.exists()
                                  and directory.resolve() not in files_dir.resolve().parents):
        raise SubmissionRejected(source, "validation_error", "files",
                                 f"files/ is a link to {files_dir.resolve()}; the files must "
                                 "be in the submission folder itself")


def validate_metadata_text(text: str, *, source: str) -> CheckedMetadata:
    """Validate ``metadata.json`` text (see :func:`validate_metadata`)."""
    return validate_metadata(read_metadata_json(text.encode("utf-8"), source=source),
                             source=source)


def validate_metadata(raw: Any, *, source: str) -> CheckedMetadata:
    """Validate parsed ``metadata.json`` with grz-pydantic-models plus this GRZ's VCF rule.

    Raises
    ------
    SubmissionRejected
        ``validation_error`` with the field path and the model's message.
    """
    from grz_pydantic_models.submission.metadata import GrzSubmissionMetadata

    with _collect_threshold_warnings() as collected:
        try:
            model = GrzSubmissionMetadata.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            message = str(first["msg"]).removeprefix("Value error, ").splitlines()[0]
            path = format_location(first["loc"]) or locate_model_error(message, raw)
            if path and first["loc"] and first["type"] == "value_error":
                located = locate_model_error(message, raw)
                path = located if located.startswith("donors[") else path
            raise SubmissionRejected(source, "validation_error", path, message) from exc
    return CheckedMetadata(model, tuple(dict.fromkeys(collected.messages)))


def check_submission_files(model: GrzSubmissionMetadata, files_dir: Path, *, source: str) -> int:
    """Check every listed file with BfArM's grz-check, as grzctl's ``validate`` does; return
    the total size in bytes.

    Per lab datum, as grz-cli's ``Submission.validate_files`` calls it: paired-end FASTQs (R1
    and R2 of one flowcell and lane) through ``grz_check.validate_fastq_paired``, other FASTQs
    of a single-end lab datum through ``validate_fastq`` (both with the mean read length of
    the lab datum's BfArM thresholds), BAMs through ``validate_bam``, everything else (VCF,
    BED, an unpaired FASTQ of a paired-end lab datum) through ``validate_raw``. The sha256
    grz-check computed and the file's size are compared with the metadata.

    Raises
    ------
    SubmissionRejected
        ``file_not_found`` (field ``….filePath``) if a file is missing or its path leaves
        ``files/``; ``validation_error`` for the first file whose sha256 (``….fileChecksum``)
        or size (``….fileSizeInBytes``) does not match, or whose content grz-check refuses
        (the file entry ``donors[i].labData[j].sequenceData.files[k]``, grz-check's message).
    """
    total = 0
    root = files_dir.resolve()
    for i, donor in enumerate(model.donors):
        for j, lab in enumerate(donor.lab_data):
            if lab.sequence_data is None:
                continue
            entries = lab.sequence_data.files
            where = [f"donors[{i}].labData[{j}].sequenceData.files[{k}]"
                     for k in range(len(entries))]
            paths = []
            for k, entry in enumerate(entries):
                path = (root / entry.file_path).resolve()
                if root not in path.parents or not path.is_file():
                    raise SubmissionRejected(source, "file_not_found", f"{where[k]}.filePath",
                                             f"{entry.file_path} not found under files/")
                paths.append(path)
            min_length = _get_min_mean_read_length(model, donor, lab)
            checked: dict[int, tuple[str | None, list[str]]] = {}
            for kind, ks in _grz_check_tasks(lab):
                checked.update(_run_grz_check(kind, ks, [paths[k] for k in ks], min_length))
            for k, entry in enumerate(entries):
                sha256, errors = checked[k]
                total += _compare_with_metadata(entry, paths[k], sha256, errors,
                                                where=where[k], source=source)
    return total


def _get_min_mean_read_length(model: GrzSubmissionMetadata, donor: Donor,
                              lab: LabDatum) -> int | None:
    """The mean read length BfArM's thresholds ask of a lab datum's reads (grz-cli's
    ``min_mean_read_length``); ``None`` where BfArM defines no thresholds (its model then only
    warns)."""
    from grz_pydantic_models.submission.metadata.v1 import MissingThresholdsException

    try:
        return model.determine_thresholds_for(donor, lab).mean_read_length
    except MissingThresholdsException:
        return None


def _grz_check_tasks(lab: LabDatum) -> list[tuple[str, list[int]]]:
    """grz-check's calls for a lab datum's files (their indices), as grz-cli groups them:
    R1/R2 of each flowcell and lane paired in listed order (paired-end layout only)."""
    files = lab.sequence_data.files if lab.sequence_data else []
    fastqs = [k for k, f in enumerate(files) if f.file_type == "fastq"]
    tasks: list[tuple[str, list[int]]] = []
    if lab.sequencing_layout == "paired-end":
        lanes: dict[tuple[Any, Any], list[int]] = {}
        for k in fastqs:
            lanes.setdefault((files[k].flowcell_id, files[k].lane_id), []).append(k)
        for ks in lanes.values():
            r1 = [k for k in ks if files[k].read_order == "R1"]
            r2 = [k for k in ks if files[k].read_order == "R2"]
            tasks += [("fastq_paired", [a, b]) for a, b in zip(r1, r2, strict=False)]
    else:
        tasks += [("fastq", [k]) for k in fastqs]
    tasks += [("bam", [k]) for k, f in enumerate(files) if f.file_type == "bam"]
    done = {k for _, ks in tasks for k in ks}
    return tasks + [("raw", [k]) for k in range(len(files)) if k not in done]


def _run_grz_check(kind: str, ks: list[int], paths: list[Path],
                   min_length: int | None) -> dict[int, tuple[str | None, list[str]]]:
    """sha256 (``None`` if grz-check computed none) and grz-check's errors per file index.

    Files are handed over memory-mapped (an empty one by path), as grz-cli does. grz-check
    raises ``OSError`` for some unreadable content (e.g. a truncated FASTQ of a pair); the
    message names R1 or R2, else it is the error of every file of the call.
    """
    import grz_check

    try:
        with ExitStack() as stack:
            sources: list[Any] = []
            for path in paths:
                if path.stat().st_size == 0:
                    sources.append(str(path))
                    continue
                handle = stack.enter_context(path.open("rb"))
                sources.append(stack.enter_context(
                    mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)))
            if kind == "fastq_paired":
                reports = list(grz_check.validate_fastq_paired(
                    sources[0], sources[1], min_mean_read_length=min_length))
            elif kind == "fastq":
                reports = [grz_check.validate_fastq(sources[0], min_mean_read_length=min_length)]
            elif kind == "bam":
                reports = [grz_check.validate_bam(sources[0])]
            else:
                reports = [grz_check.validate_raw(sources[0])]
    except OSError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        read = re.search(r"\bR([12])\b", message) if kind == "fastq_paired" else None
        blamed = [ks[int(read.group(1)) - 1]] if read else ks
        return {k: (None, [message] if k in blamed else []) for k in ks}
    return {k: (report.sha256 or None, list(report.errors))
            for k, report in zip(ks, reports, strict=True)}


def _compare_with_metadata(entry: File, path: Path, sha256: str | None, errors: list[str], *,
                           where: str, source: str) -> int:
    """The file's size after comparing grz-check's findings with its metadata entry.

    A file grz-check could not read has its sha256 computed by grz-check alone: a file that is
    not the one the metadata describes is a checksum error before it is a content error.
    """
    import grz_check

    if sha256 is None:
        sha256 = grz_check.calculate_checksum(str(path))
    if sha256.lower() != entry.file_checksum.lower():
        raise SubmissionRejected(source, "validation_error", f"{where}.fileChecksum",
                                 f"sha256 of {entry.file_path} does not match")
    size = path.stat().st_size
    if size != entry.file_size_in_bytes:
        raise SubmissionRejected(source, "validation_error", f"{where}.fileSizeInBytes",
                                 f"{entry.file_path} has {size} bytes, metadata says "
                                 f"{entry.file_size_in_bytes}")
    if errors:
        raise SubmissionRejected(source, "validation_error", where,
                                 f"{entry.file_path}: grz-check: {'; '.join(errors)}")
    return size


def get_index_library_type(model: GrzSubmissionMetadata) -> str:
    """The index donor's most expensive library type, as the Prüfbericht reports it.

    Examples
    --------
    >>> import importlib.resources, grz_pydantic_models_testing.example_metadata as ex
    >>> text = importlib.resources.files(ex).joinpath("wgs_trio", "v1.3.0.json").read_text()
    >>> get_index_library_type(validate_metadata_text(text, source="x").metadata)
    'wgs'
    """
    from grz_pydantic_models.pruefbericht import LibraryType

    types = {str(lab.library_type) for lab in model.index_donor.lab_data}
    try:
        return str(LibraryType.most_expensive(types))
    except ValueError:
        return "none"
