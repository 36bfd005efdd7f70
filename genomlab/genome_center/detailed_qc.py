"""Detailed QC of a submission that ``grzctl db should-qc`` selected (issue 17).

The steps of BfArM's GRZ_QC_Workflow for short-read DNA, per lab datum of a donor:

1. read QC: ``fastp`` on each FASTQ pair (``--dont_eval_duplication``: the duplication
   estimate, unused here, costs about 3 s of memory set-up per run); the percentage of bases
   at or above the quality threshold is ``q<threshold>_bases / total_bases`` of fastp's
   ``before_filtering`` summary, summed over the pairs;
2. alignment: ``bwa mem`` (Debian's bwa; bwa-mem2 is not packaged) of fastp's output against the
   GRZ's reference, ``samtools sort`` + ``index``;
3. coverage: ``mosdepth --by <target BED>`` (the lab datum's own BED file when it has one, as
   WES and panel lab data must; else the GRZ's); the mean depth of coverage is mosdepth's
   ``total`` mean for WGS (the whole genome) and ``total_region`` for WES and panels; the
   fraction of target regions whose mean coverage is at least the threshold's ``minCoverage``;
4. comparison (:func:`compare_metric`) with the lab datum's metadata under BfArM's rule as
   grzctl 5.1.2 applies it (``grzctl db submission recompute-qc``, GRZ_QC_Workflow >= 4.0.0): a
   metric fails when the computed value is below BfArM's threshold; a deviation of more than
   ``PCT_DEV_CUTOFF`` (10) percent between the provided and the computed value, relative to the
   computed one, is flagged (status ``DEVIATION``) without failing. The submission passes when
   every computed value meets its threshold.

Thresholds come from grz-pydantic-models (``determine_thresholds_for``, per genomic study
subtype, library type and sequence subtype: WGS, WES and panels differ; only index donors have
them, as in grzctl's ``_metadata_lab_data``), and only index donors' lab data are run here: for
any other donor the required value is 0, so its lab data cannot fail. Results are written as the
workflow's ``report.csv`` (:func:`write_report_csv`), the file ``grzctl db submission
populate-qc`` reads into grz-db's ``detailed_qc_results``.

The tools come from Debian (``.ci/setup --test-tools``). Debian 12's mosdepth opens ``libhts.so``
at run time, which only ``libhts-dev`` provides; :func:`find_qc_tools` gives mosdepth a private
folder with that name linked to the installed ``libhts.so.3`` instead.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QC_WORKFLOW_VERSION = "genomlab-grzqc-1"
"""What grz-db records as ``qc_workflow_version`` for genomlab's run of the workflow's steps."""

QC_METRICS = ("meanDepthOfCoverage", "percentBasesAboveQualityThreshold",
              "targetedRegionsAboveMinCoverage")
"""The three metrics, by their metadata field names."""


class DetailedQcError(RuntimeError):
    """A detailed-QC step failed; the message names the submission, the lab datum and the step."""


@dataclass(frozen=True)
class QcTools:
    """The executables, and the environment mosdepth runs in."""

    fastp: str
    bwa: str
    samtools: str
    mosdepth: str
    mosdepth_env: dict[str, str]


def find_qc_tools(private: Path) -> QcTools:
    """The Debian tools on ``PATH`` (``DetailedQcError`` naming a missing one); ``private`` is
    a folder for mosdepth's ``libhts.so`` link (see the module docstring)."""
    found = {name: shutil.which(name) for name in ("fastp", "bwa", "samtools", "mosdepth")}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        raise DetailedQcError(f"detailed QC needs {', '.join(missing)} on PATH "
                              f"(.ci/setup --test-tools installs them from Debian)")
    env = dict(os.environ)
    libs = sorted(Path("/usr/lib").glob("*/libhts.so.3")) + sorted(Path("/usr/lib").glob(
        "libhts.so.3"))
    if libs and not any(p.with_name("libhts.so").exists() for p in libs):
        private.mkdir(parents=True, exist_ok=True)
        link = private / "libhts.so"
        if not link.exists():
            tmp = private / f".libhts.so.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(libs[0])
            os.replace(tmp, link)
        env["LD_LIBRARY_PATH"] = ":".join(p for p in (str(private),
                                                      env.get("LD_LIBRARY_PATH")) if p)
    return QcTools(str(found["fastp"]), str(found["bwa"]), str(found["samtools"]),
                   str(found["mosdepth"]), env)


@dataclass(frozen=True)
class MetricCheck:
    """One metric of one lab datum: computed, provided (metadata), required (BfArM)."""

    measured: float
    provided: float | None
    required: float
    deviation: float | None
    meets_threshold: bool
    passed_qc: bool

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL`` (below the threshold) or ``DEVIATION`` (flagged, not failing)."""
        if not self.meets_threshold:
            return "FAIL"
        return "PASS" if self.passed_qc else "DEVIATION"


def compare_metric(measured: float, provided: float | None, required: float, *,
                   cutoff: float = 10.0) -> MetricCheck:
    """BfArM's comparison of a computed with a provided metric (grzctl's ``_recompute_metric``).

    ``deviation`` is ``(measured - provided) / measured * 100`` (negative when the lab reported
    more than was measured), ``None`` when ``provided`` is missing or 0 or ``measured`` is 0.

    Examples
    --------
    >>> compare_metric(26.0, 35.6, 30.0).status
    'FAIL'
    >>> c = compare_metric(30.0, 33.0, 30.0); (c.status, round(c.deviation, 6))
    ('PASS', -10.0)
    >>> compare_metric(30.0, 33.1, 30.0).status
    'DEVIATION'
    """
    meets = measured >= required
    if provided is None or provided == 0 or measured == 0:
        return MetricCheck(measured, provided, required, None, meets, meets)
    deviation = (measured - provided) / measured * 100
    return MetricCheck(measured, provided, required, deviation, meets,
                       meets and abs(deviation) <= cutoff)


@dataclass
class LabDatumQc:
    """Detailed QC of one lab datum (``sample_id`` as GRZ_QC_Workflow names it)."""

    sample_id: str
    donor_pseudonym: str
    lab_data_name: str
    library_type: str
    sequence_subtype: str
    genomic_study_subtype: str
    quality_threshold: float
    min_coverage: float
    metrics: dict[str, MetricCheck]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        """Metrics whose computed value is below BfArM's threshold."""
        return [name for name, check in self.metrics.items() if not check.meets_threshold]


@dataclass
class SubmissionQc:
    """Detailed QC of a submission: its lab data's results; passed when none fails."""

    submission_id: str
    lab_data: list[LabDatumQc]

    @property
    def passed(self) -> bool:
        return not self.failing

    @property
    def failing(self) -> list[str]:
        """``<sample id>.<metric>`` of every metric below its threshold."""
        return [f"{lab.sample_id}.{name}" for lab in self.lab_data for name in lab.failing]

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds per step, summed over the lab data."""
        total: dict[str, float] = {}
        for lab in self.lab_data:
            for step, value in lab.seconds.items():
                total[step] = total.get(step, 0.0) + value
        return total


def _run(cmd: Sequence[str], what: str, *, env: dict[str, str] | None = None,
         stdout: Any = subprocess.PIPE) -> None:
    # no timeout=: subprocess waits with time.sleep, which libfaketime breaks (CI's
    # shifted-clock pass)
    done = subprocess.run(list(cmd), stdout=stdout, stderr=subprocess.PIPE, env=env,
                          stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace")[-800:]
        raise DetailedQcError(f"{what}: {Path(cmd[0]).name} exit {done.returncode}: {err}")


def prepare_reference(tools: QcTools, reference: Path, work: Path) -> Path:
    """A copy of ``reference`` in ``work/reference`` with its bwa index (made once; built in a
    private temporary folder renamed into place, so a crash leaves none or a whole one, and of
    two racing builders one wins)."""
    import tempfile

    folder = work / "reference"
    fasta = folder / "reference.fa"
    if not (folder / "reference.fa.bwt").exists():
        work.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".reference.", dir=work))
        try:
            shutil.copyfile(reference, tmp / "reference.fa")
            _run([tools.bwa, "index", str(tmp / "reference.fa")], f"{reference}: bwa index")
            if not (folder / "reference.fa.bwt").exists():
                shutil.rmtree(folder, ignore_errors=True)  # a crash's leftover without index
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return fasta


def _thresholds(meta: Any, donor: Any, lab: Any, what: str) -> Any:
    """BfArM's thresholds for the lab datum's (study subtype, library type, sequence subtype):
    WGS, WES and panels differ (e.g. WES germline depth 100, panel somatic minimum coverage
    100). A combination BfArM defines none for is a ``DetailedQcError`` naming it."""
    from grz_pydantic_models.submission.metadata.v1 import MissingThresholdsException

    try:
        return meta.determine_thresholds_for(donor, lab)
    except MissingThresholdsException:
        raise DetailedQcError(
            f"{what}: BfArM defines no thresholds for genomicStudySubtype "
            f"{meta.submission.genomic_study_subtype}, libraryType {lab.library_type}, "
            f"sequenceSubtype {lab.sequence_subtype} (grz-pydantic-models thresholds.json)"
        ) from None


def run_detailed_qc(submission_dir: Path, reference: Path, targets: Path, work: Path,
                    tools: QcTools, *, threads: int = 1,
                    index_dir: Path | None = None) -> SubmissionQc:
    """Detailed QC of the submission in ``submission_dir`` (grz-cli's layout: ``metadata/
    metadata.json``, ``files/``) against the GRZ's ``reference`` FASTA and ``targets`` BED
    (a lab datum's own BED file, if it has one, takes its place); intermediate files in ``work``,
    the indexed reference in ``index_dir/reference`` (default ``work``; shared by runs).
    """
    from grz_pydantic_models.submission.metadata import GrzSubmissionMetadata

    meta_path = submission_dir / "metadata" / "metadata.json"
    meta = GrzSubmissionMetadata.model_validate_json(meta_path.read_text(encoding="utf-8"))
    sid = submission_dir.name
    fasta = prepare_reference(tools, reference, index_dir or work)
    results = []
    for donor_i, donor in enumerate(meta.donors):
        if str(donor.relation) != "index":
            continue
        for lab_i, lab in enumerate(donor.lab_data):
            if lab.sequence_data is None:
                continue
            sample_id = f"{donor.relation}{donor_i}_{lab.sequence_subtype}{lab_i}"
            thresholds = _thresholds(meta, donor, lab, f"{sid}: {sample_id}")
            results.append(_run_lab_datum(
                submission_dir, sid, sample_id, donor, lab, thresholds,
                str(meta.submission.genomic_study_subtype), fasta, targets,
                work / sample_id, tools, threads))
    return SubmissionQc(sid, results)


def _run_lab_datum(submission_dir: Path, sid: str, sample_id: str, donor: Any, lab: Any,
                   thresholds: Any, study_subtype: str, fasta: Path, targets: Path, out: Path,
                   tools: QcTools, threads: int) -> LabDatumQc:
    what = f"{sid}: {sample_id}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    seq = lab.sequence_data
    pairs: dict[tuple[str, str], dict[str, Path]] = {}
    bed = targets
    for f in seq.files:
        path = submission_dir / "files" / f.file_path
        if str(f.file_type) == "fastq":
            pairs.setdefault((str(f.flowcell_id), str(f.lane_id)), {})[str(f.read_order)] = path
        elif str(f.file_type) == "bed":
            bed = path
    if not pairs:
        raise DetailedQcError(f"{what}: no FASTQ files in the metadata")
    seconds = {"fastp": 0.0, "bwa": 0.0, "mosdepth": 0.0, "comparison": 0.0}
    quality = float(thresholds.percent_bases_above_quality_threshold.quality_threshold)
    total = above = 0
    trimmed: list[tuple[Path, Path]] = []
    for k, (_, pair) in enumerate(sorted(pairs.items())):
        if set(pair) != {"R1", "R2"}:
            raise DetailedQcError(f"{what}: FASTQ pair {sorted(pair)} is not R1 + R2")
        started = time.monotonic()
        report = out / f"fastp{k}.json"
        o1, o2 = out / f"trimmed{k}_R1.fastq.gz", out / f"trimmed{k}_R2.fastq.gz"
        _run([tools.fastp, "-i", str(pair["R1"]), "-I", str(pair["R2"]), "-o", str(o1),
              "-O", str(o2), "--json", str(report), "--html", str(out / f"fastp{k}.html"),
              "--thread", str(threads), "--dont_eval_duplication"], f"{what}: fastp")
        before = json.loads(report.read_text())["summary"]["before_filtering"]
        key = f"q{int(quality)}_bases"
        if key not in before:
            raise DetailedQcError(f"{what}: {report}: fastp reports no {key}")
        total += int(before["total_bases"])
        above += int(before[key])
        trimmed.append((o1, o2))
        seconds["fastp"] += time.monotonic() - started
    started = time.monotonic()
    bams = []
    for k, (o1, o2) in enumerate(trimmed):
        sam = out / f"aligned{k}.sam"
        with sam.open("wb") as handle:
            _run([tools.bwa, "mem", "-t", str(threads), "-R",
                  f"@RG\\tID:{sample_id}.{k}\\tSM:{sample_id}", str(fasta), str(o1), str(o2)],
                 f"{what}: bwa mem", stdout=handle)
        bam = out / f"aligned{k}.bam"
        _run([tools.samtools, "sort", "-@", str(max(0, threads - 1)), "-o", str(bam), str(sam)],
             f"{what}: samtools sort")
        sam.unlink()
        bams.append(bam)
    bam = out / "aligned.bam"
    if len(bams) == 1:
        os.replace(bams[0], bam)
    else:
        _run([tools.samtools, "merge", "-f", "-o", str(bam), *map(str, bams)],
             f"{what}: samtools merge")
    _run([tools.samtools, "index", str(bam)], f"{what}: samtools index")
    seconds["bwa"] = time.monotonic() - started
    started = time.monotonic()
    prefix = out / "mosdepth"
    _run([tools.mosdepth, "--no-per-base", "--by", str(bed), "-t", str(threads), str(prefix),
          str(bam)], f"{what}: mosdepth", env=tools.mosdepth_env)
    summary = read_mosdepth_summary(Path(f"{prefix}.mosdepth.summary.txt"))
    regions = read_region_means(Path(f"{prefix}.regions.bed.gz"))
    seconds["mosdepth"] = time.monotonic() - started
    started = time.monotonic()
    library = str(lab.library_type)
    depth_key = "total" if library.startswith("wgs") else "total_region"
    if depth_key not in summary:
        raise DetailedQcError(f"{what}: mosdepth summary has no '{depth_key}' row")
    min_cov = float(thresholds.targeted_regions_above_min_coverage.min_coverage)
    measured = {
        "meanDepthOfCoverage": summary[depth_key],
        "percentBasesAboveQualityThreshold": 100.0 * above / total if total else 0.0,
        "targetedRegionsAboveMinCoverage":
            sum(m >= min_cov for m in regions) / len(regions) if regions else 0.0,
    }
    provided = {
        "meanDepthOfCoverage": seq.mean_depth_of_coverage,
        "percentBasesAboveQualityThreshold": seq.percent_bases_above_quality_threshold.percent,
        "targetedRegionsAboveMinCoverage": seq.targeted_regions_above_min_coverage,
    }
    required = {
        "meanDepthOfCoverage": float(thresholds.mean_depth_of_coverage),
        "percentBasesAboveQualityThreshold":
            float(thresholds.percent_bases_above_quality_threshold.percent_bases_above),
        "targetedRegionsAboveMinCoverage":
            float(thresholds.targeted_regions_above_min_coverage.fraction_above),
    }
    metrics = {name: compare_metric(measured[name], provided[name], required[name])
               for name in QC_METRICS}
    seconds["comparison"] = time.monotonic() - started
    return LabDatumQc(sample_id, str(donor.donor_pseudonym), str(lab.lab_data_name), library,
                      str(lab.sequence_subtype), study_subtype, quality, min_cov, metrics,
                      seconds)


def read_mosdepth_summary(path: Path) -> dict[str, float]:
    """``chrom`` → ``mean`` of a ``*.mosdepth.summary.txt``."""
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["chrom"]: float(row["mean"])
                for row in csv.DictReader(handle, delimiter="\t")}


def read_region_means(path: Path) -> list[float]:
    """The per-region mean coverage (4th column) of mosdepth's ``*.regions.bed.gz``."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [float(line.split("\t")[3]) for line in handle if line.strip()]


REPORT_COLUMNS = (
    "sampleId", "donorPseudonym", "labDataName", "libraryType", "sequenceSubtype",
    "genomicStudySubtype", "qualityControlStatus",
    "meanDepthOfCoverage", "meanDepthOfCoverageProvided", "meanDepthOfCoverageRequired",
    "meanDepthOfCoverageDeviation", "meanDepthOfCoverageQCStatus",
    "percentBasesAboveQualityThreshold", "qualityThreshold",
    "percentBasesAboveQualityThresholdProvided", "percentBasesAboveQualityThresholdRequired",
    "percentBasesAboveQualityThresholdDeviation", "percentBasesAboveQualityThresholdQCStatus",
    "targetedRegionsAboveMinCoverage", "minCoverage", "targetedRegionsAboveMinCoverageProvided",
    "targetedRegionsAboveMinCoverageRequired", "targetedRegionsAboveMinCoverageDeviation",
    "targetedRegionsAboveMinCoverageQCStatus", "grzQcWorkflowVersion")
"""GRZ_QC_Workflow's ``report.csv`` columns, as grzctl's ``QCReportRow`` reads them."""


def format_report_csv(result: SubmissionQc, version: str = QC_WORKFLOW_VERSION) -> str:
    """The workflow's ``report.csv`` text for ``result`` (one row per lab datum)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for lab in result.lab_data:
        row: list[Any] = [lab.sample_id, lab.donor_pseudonym, lab.lab_data_name,
                          lab.library_type, lab.sequence_subtype, lab.genomic_study_subtype,
                          "FAIL" if lab.failing else "PASS"]
        for name in QC_METRICS:
            check = lab.metrics[name]
            row += [check.measured]
            if name == "percentBasesAboveQualityThreshold":
                row += [lab.quality_threshold]
            elif name == "targetedRegionsAboveMinCoverage":
                row += [lab.min_coverage]
            row += [check.provided if check.provided is not None else 0.0, check.required,
                    check.deviation if check.deviation is not None else 0.0, check.status]
        writer.writerow([*row, version])
    return buf.getvalue()


def write_report_csv(result: SubmissionQc, path: Path,
                     version: str = QC_WORKFLOW_VERSION) -> Path:
    """Write :func:`format_report_csv` to ``path`` (temp + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(format_report_csv(result, version), encoding="utf-8")
    os.replace(tmp, path)
    return path
