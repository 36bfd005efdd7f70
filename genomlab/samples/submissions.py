"""GRZ submissions of a world: ``metadata/metadata.json`` per BfArM's schema plus small files.

Each initial submission holds the index donor and sequenced relatives with lab data, QC values
(relatives may fall below the BfArM thresholds, which is only a warning), tiny paired FASTQ files
(reads of length 100), the submission's VCF (its donors, a subset of the world's sites; columns in
the donor order of ``metadata.json``, index first, named by sample id) and, for exome
libraries, a BED of target regions; checksums and sizes match the files written.
Follow-up submissions carry withdrawn research consents; corrections replace an initial
``coverageType`` of ``UNK`` by the real one.
Deliberately bad submissions (schema violation, checksum mismatch, reused tanG, coverage below
threshold) are listed in ``truth.json`` with the reason and the offending field.
"""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genomlab.samples.cohort import Cohort
from genomlab.samples.files import write_json
from genomlab.samples.paperwork import Paperwork
from genomlab.samples.qc_reads import (
    format_targets_bed,
    get_library_targets,
    make_captured_read_pairs,
    make_read_pairs,
)

SCHEMA_URL = "https://raw.githubusercontent.com/BfArM-MVH/MVGenomseq/refs/tags/v1.3.0/GRZ/grz-schema.json"
MII_POLICY_SYSTEM = "urn:oid:2.16.840.1.113883.3.1937.777.24.5.3"
#: MII broad-consent research codes that grz-pydantic-models evaluates (…24.5.3.1 and …24.5.3.8).
MII_RESEARCH_CODES = (("2.16.840.1.113883.3.1937.777.24.5.3.1", "PATDAT_erheben_speichern_nutzen"),
                      ("2.16.840.1.113883.3.1937.777.24.5.3.8",
                       "MDAT_wissenschaftlich_nutzen_EU_DSGVO_NIVEAU"))
BROAD_CONSENT_1_7_2 = "urn:oid:2.16.840.1.113883.3.1937.777.24.2.2079"
READ_LENGTH = 100
N_READ_PAIRS = 4
#: BfArM thresholds (grz-pydantic-models resources/thresholds.json) the generator respects.
WGS_GERMLINE_MIN_DEPTH = 30
WGS_GERMLINE_MIN_COVERAGE = 20
WGS_SOMATIC_MIN_COVERAGE = 30
#: BfArM's minimum coverage of captured libraries (germline, somatic) and the depth added to a
#: WGS-like draw for them (their ``meanDepthOfCoverage`` thresholds: 100 germline, 200 somatic).
CAPTURED_MIN_COVERAGE = {"germline": 30, "somatic": 100}
CAPTURED_EXTRA_DEPTH = 100.0


@dataclass(frozen=True)
class QcReads:
    """Detailed-QC reads (:mod:`genomlab.samples.qc_reads`): the reference they are drawn from
    and the seed of their own random streams (``default_rng([seed, 10, submission, lab
    datum])``, so the world's other bytes do not change)."""

    reference: bytes
    seed: int
    targeted: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Initial submissions (index) whose index donor has captured libraries: the germline and
    the somatic lab datum's ``libraryType`` (``wes`` or ``panel``); their BED is the lab datum's
    target windows (:func:`genomlab.samples.qc_reads.get_library_targets`)."""


#: Metrics an inflated submission over-reports (one each), with the true value it reads at.
INFLATED_METRICS = (("meanDepthOfCoverage", 26.0), ("percentBasesAboveQualityThreshold", 78.0),
                    ("targetedRegionsAboveMinCoverage", 0.6))


@dataclass
class SubmissionFiles:
    """Per-submission VCF text (bytes, uncompressed) and BED text, from the genotype pass."""

    vcf: dict[int, bytes]
    bed: bytes


def get_fhir_research_consent(patient_ref: str, signed: dt.date, permit: bool,
                              withdrawn: dt.date | None = None) -> dict:
    """An MII broad-consent FHIR ``Consent`` (root deny, nested research provisions).

    ``withdrawn`` ends the permit on that date and denies from then on.

    Examples
    --------
    >>> c = get_fhir_research_consent("Patient/x", dt.date(2025, 1, 2), True)
    >>> c["provision"]["type"], c["provision"]["provision"][0]["type"]
    ('deny', 'permit')
    """
    end = signed.replace(year=signed.year + 30)
    provisions = []
    for code, display in MII_RESEARCH_CODES:
        coding = [{"coding": [{"system": MII_POLICY_SYSTEM, "code": code, "display": display}]}]
        if withdrawn is None:
            provisions.append({"type": "permit" if permit else "deny", "code": coding,
                               "period": {"start": signed.isoformat(), "end": end.isoformat()}})
        else:
            provisions.append({"type": "deny", "code": coding,
                               "period": {"start": withdrawn.isoformat(), "end": end.isoformat()}})
    return {
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "research"}]},
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "57016-8"}]},
            {"coding": [{"system": "https://www.medizininformatik-initiative.de/fhir/modul-consent/"
                                   "CodeSystem/mii-cs-consent-consent_category",
                         "code": "2.16.840.1.113883.3.1937.777.24.2.184"}]}],
        "patient": {"reference": patient_ref},
        "dateTime": signed.isoformat(),
        "policy": [{"uri": BROAD_CONSENT_1_7_2}],
        "provision": {"type": "deny", "period": {"start": signed.isoformat(),
                                                 "end": end.isoformat()},
                      "provision": provisions},
    }


def get_research_consents(record: dict, patient_ref: str, as_of: dt.date) -> list[dict]:
    """``researchConsents`` of a donor as of a date (FHIR Consent, or a no-scope justification).

    Examples
    --------
    >>> rec = {"research_presentation_date": "2025-01-02", "research_consent": "missing",
    ...        "no_scope_justification": "patient unable to consent", "withdrawals": []}
    >>> get_research_consents(rec, "Patient/x", dt.date(2025, 3, 1))[0]["noScopeJustification"]
    'patient unable to consent'
    """
    presented = dt.date.fromisoformat(record["research_presentation_date"])
    entry: dict = {"schemaVersion": "2025.0.4", "presentationDate": presented.isoformat()}
    if record["research_consent"] == "missing":
        entry["noScopeJustification"] = record["no_scope_justification"]
        return [entry]
    withdrawn = [dt.date.fromisoformat(w["date"]) for w in record["withdrawals"]
                 if dt.date.fromisoformat(w["date"]) <= as_of]
    entry["scope"] = get_fhir_research_consent(
        patient_ref, presented, record["research_consent"] == "permit",
        withdrawn[0] if withdrawn else None)
    return [entry]


def get_mv_consent(record: dict) -> dict:
    """``mvConsent`` of a donor from its truth consent record.

    Examples
    --------
    >>> rec = {"mv_consent": {"presentation_date": "2025-01-02", "scopes": [
    ...     {"type": "permit", "date": "2025-01-02", "domain": "mvSequencing"}]}}
    >>> get_mv_consent(rec)["scope"][0]["domain"]
    'mvSequencing'
    """
    mv = record["mv_consent"]
    return {"presentationDate": mv["presentation_date"],
            "version": "Patient Info TE Consent MVGenomSeq vers01",
            "scope": [{"type": s["type"], "date": s["date"], "domain": s["domain"]}
                      for s in mv["scopes"]]}


def _file_entry(root: Path, rel: str, data: bytes, file_type: str, **extra: object) -> dict:
    path = root / "files" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"filePath": rel, "fileType": file_type, "checksumType": "sha256",
            "fileChecksum": hashlib.sha256(data).hexdigest(), "fileSizeInBytes": len(data),
            **extra}


BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
QUALITIES = np.frombuffer(b"FFFF:,", dtype=np.uint8)


def _fastq_pair(rng: np.random.Generator, name: str) -> tuple[bytes, bytes]:
    reads = []
    for mate in (1, 2):
        seqs = BASES[rng.integers(0, 4, (N_READ_PAIRS, READ_LENGTH))]
        quals = QUALITIES[rng.integers(0, 6, (N_READ_PAIRS, READ_LENGTH))]
        text = b"".join(b"@%s:%d %d:N:0:1\n%s\n+\n%s\n" % (name.encode(), r + 1, mate,
                                                             seqs[r].tobytes(), quals[r].tobytes())
                        for r in range(N_READ_PAIRS))
        reads.append(gzip.compress(text, mtime=0))
    return reads[0], reads[1]


def _lab_datum(rng: np.random.Generator, root: Path, donor_dir: str, *, somatic: bool,
               library: str, depth: float, sample_date: dt.date, vcf: bytes | None,
               bed: bytes, captured: bool = False) -> dict:
    flowcell = f"H{rng.integers(16**7):07X}"
    r1, r2 = _fastq_pair(rng, flowcell)
    kind = "tumor" if somatic else "normal"
    files = [
        _file_entry(root, f"{donor_dir}/{flowcell}_{kind}_L001_R1_001.fastq.gz", r1, "fastq",
                    readOrder="R1", readLength=READ_LENGTH, flowcellId=flowcell, laneId="1"),
        _file_entry(root, f"{donor_dir}/{flowcell}_{kind}_L001_R2_001.fastq.gz", r2, "fastq",
                    readOrder="R2", readLength=READ_LENGTH, flowcellId=flowcell, laneId="1"),
    ]
    if vcf is not None:
        files.append(_file_entry(root, f"{donor_dir}/{kind}.vcf.gz", vcf, "vcf"))
    if library in ("wes", "panel"):  # one BED per lab datum: a path of its own
        name = "targets.bed" if library == "wes" and not captured else f"{kind}_targets.bed"
        files.append(_file_entry(root, f"{donor_dir}/{name}", bed, "bed"))
    datum: dict[str, Any] = {
        "labDataName": "Tumor DNA" if somatic else "Blood DNA normal",
        "tissueOntology": {"name": "UBERON", "version": "2025-05-28"},
        "tissueTypeId": "UBERON:0000479" if somatic else "UBERON:0000178",
        "tissueTypeName": "tissue" if somatic else "blood",
        "sampleDate": sample_date.isoformat(),
        "sampleConservation": "ffpe" if somatic else "fresh-tissue",
        "sequenceType": "dna", "sequenceSubtype": "somatic" if somatic else "germline",
        "fragmentationMethod": "enzymatic", "libraryType": library,
        "libraryPrepKit": "Illumina DNA PCR-Free Prep" if library == "wgs"
        else "Twist Exome 2.0" if library == "wes" else "Twist Custom Panel",
        "libraryPrepKitManufacturer": "Illumina" if library == "wgs" else "Twist",
        "sequencerModel": "NovaSeq X Plus", "sequencerManufacturer": "Illumina",
        "kitName": "NovaSeq X Series 25B Reagent Kit", "kitManufacturer": "Illumina",
        "enrichmentKitManufacturer": "none" if library == "wgs" else "Twist",
        "enrichmentKitDescription": "none" if library == "wgs"
        else "Twist Exome 2.0" if library == "wes" else "Twist Custom Panel",
        "barcode": f"UDI{int(rng.integers(1, 385)):04d}",
        "sequencingLayout": "paired-end",
        "sequenceData": {
            "bioinformaticsPipelineName": "nf-core/sarek", "bioinformaticsPipelineVersion": "3.5.1",
            "referenceGenome": "GRCh38",
            "percentBasesAboveQualityThreshold": {"minimumQuality": 30,
                                                  "percent": round(float(rng.uniform(86, 95)), 1)},
            "meanDepthOfCoverage": round(depth, 1),
            "minCoverage": CAPTURED_MIN_COVERAGE["somatic" if somatic else "germline"]
            if captured else WGS_SOMATIC_MIN_COVERAGE if somatic else WGS_GERMLINE_MIN_COVERAGE,
            "targetedRegionsAboveMinCoverage": round(float(rng.uniform(0.85, 0.99)), 3),
            "nonCodingVariants": library == "wgs",
            "callerUsed": [{"name": "GATK HaplotypeCaller", "version": "4.6.1.0"}]
            + ([{"name": "Strelka", "version": "2.9.10"}] if somatic else []),
            "files": files,
        },
    }
    if somatic:
        datum["tumorCellCount"] = [{"count": int(rng.integers(30, 90)), "method": "pathology"}]
    return datum


def _submission_block(cohort: Cohort, paper: Paperwork, sub_i: int, kind: str,
                      tan_g: str, day: dt.date) -> dict:
    sub = cohort.submissions[sub_i]
    return {
        "submissionDate": day.isoformat(), "submissionType": kind, "tanG": tan_g,
        "localCaseId": paper.local_case_id[sub_i], "coverageType": paper.coverage_type[sub_i],
        "submitterId": sub.hospital_ik, "genomicDataCenterId": sub.grz,
        "clinicalDataNodeId": sub.kdk, "diseaseType": sub.disease_type,
        "genomicStudyType": sub.study_type,
        "genomicStudySubtype": "tumor+germline" if sub.disease_type == "oncological"
        else "germline-only",
        "labName": f"Synthetisches Genomlabor {sub.hospital_ik[-3:]}",
    }


def _pseudonym(cohort: Cohort, sample_i: int) -> str:
    s = cohort.samples[sample_i]
    return "index" if s.relation == "index" else s.sample


def _write_qc_reads(root: Path, datum: dict, qc: QcReads, stream: list[int],
                    true_values: dict[str, float]) -> None:
    """Replace a lab datum's FASTQ pair by detailed-QC reads at its reported figures (or at
    ``true_values``, an inflated one's) and update the files' checksums and sizes."""
    seq = datum["sequenceData"]
    figures = {"meanDepthOfCoverage": float(seq["meanDepthOfCoverage"]),
               "percentBasesAboveQualityThreshold":
                   float(seq["percentBasesAboveQualityThreshold"]["percent"]),
               "targetedRegionsAboveMinCoverage": float(seq["targetedRegionsAboveMinCoverage"]),
               **true_values}
    fastqs = [f for f in seq["files"] if f["fileType"] == "fastq"]
    rng = np.random.default_rng([qc.seed, 10, *stream])
    depth = figures["meanDepthOfCoverage"]
    q30 = figures["percentBasesAboveQualityThreshold"]
    fraction = figures["targetedRegionsAboveMinCoverage"]
    name = str(fastqs[0]["flowcellId"])
    if datum["libraryType"] == "wgs":
        reads = make_read_pairs(rng, qc.reference, depth=depth, percent_q30=q30,
                                target_fraction=fraction, name=name)
    else:  # a captured library on its own BED's windows
        reads = make_captured_read_pairs(rng, qc.reference,
                                         get_library_targets(datum["libraryType"]), depth=depth,
                                         percent_q30=q30, target_fraction=fraction, name=name)
    for entry, data in zip(fastqs, reads, strict=True):
        (root / "files" / entry["filePath"]).write_bytes(data)
        entry["fileChecksum"] = hashlib.sha256(data).hexdigest()
        entry["fileSizeInBytes"] = len(data)


def build_initial_metadata(rng: np.random.Generator, root: Path, cohort: Cohort,
                           paper: Paperwork, sub_i: int, mean_depth: np.ndarray,
                           files: SubmissionFiles, qc: QcReads | None = None,
                           inflate: tuple[str, float] | None = None) -> dict:
    """Write the files of initial submission ``sub_i`` under ``root`` and return its metadata.

    Examples
    --------
    See :func:`write_submissions`.
    """
    sub = cohort.submissions[sub_i]
    day = paper.submission_date[sub_i]
    donors = []
    for sample_i in sub.samples:
        s = cohort.samples[sample_i]
        record = paper.consents[sample_i]
        library = paper.library_type[sample_i]
        donor_dir = f"donor_{_pseudonym(cohort, sample_i)}"
        sampled = day - dt.timedelta(days=int(rng.integers(14, 60)))
        captured = (qc.targeted.get(sub_i) if qc is not None and s.relation == "index"
                    else None)
        germline = library if captured is None else captured[0]
        extra = 0.0 if captured is None else CAPTURED_EXTRA_DEPTH
        lab = [_lab_datum(rng, root, donor_dir, somatic=False, library=germline,
                          depth=float(mean_depth[sample_i]) + extra, sample_date=sampled,
                          vcf=files.vcf[sub_i] if s.relation == "index" else None,
                          bed=files.bed if captured is None
                          else format_targets_bed(get_library_targets(germline)),
                          captured=captured is not None)]
        if s.relation == "index" and sub.disease_type == "oncological":
            somatic = library if captured is None else captured[1]
            lab.append(_lab_datum(rng, root, donor_dir, somatic=True, library=somatic,
                                  depth=float(rng.uniform(105, 140)) + extra,
                                  sample_date=sampled, vcf=None,
                                  bed=files.bed if captured is None
                                  else format_targets_bed(get_library_targets(somatic)),
                                  captured=captured is not None))
        if qc is not None and s.relation == "index":  # the lab data BfArM's thresholds apply to
            for lab_i, datum in enumerate(lab):
                true = dict([inflate]) if inflate is not None and lab_i == 0 else {}
                _write_qc_reads(root, datum, qc, [sub_i, lab_i], true)
        donors.append({
            "donorPseudonym": _pseudonym(cohort, sample_i), "gender": s.reported_sex,
            "relation": s.relation, "mvConsent": get_mv_consent(record),
            "researchConsents": get_research_consents(
                record, f"Patient/{paper.arbeitsnummer[sample_i]}", day),
            "labData": lab})
    return {"$schema": SCHEMA_URL,
            "submission": _submission_block(cohort, paper, sub_i, "initial", paper.tan_g[sub_i],
                                            day),
            "donors": donors}


def _write_metadata(root: Path, metadata: dict) -> None:
    write_json(root / "metadata" / "metadata.json", metadata)


def _submission_id(ik: str, day: dt.date, tan_g: str) -> str:
    return f"{ik}_{day.isoformat()}_{hashlib.sha256(tan_g.encode()).hexdigest()[:8]}"


def _bad_copy(rng: np.random.Generator, out: Path, valid: dict, reason: str) -> dict:
    """A deliberately bad submission derived from a valid one; returns its truth entry."""
    meta = copy.deepcopy(valid["metadata"])
    src = out / valid["path"]
    tan = rng.bytes(32).hex() if reason != "reused_tanG" else meta["submission"]["tanG"]
    meta["submission"]["tanG"] = tan
    name = f"bad_{reason}_{hashlib.sha256(tan.encode() + reason.encode()).hexdigest()[:8]}"
    root = out / "submissions" / name
    _copy_files(src, root)
    index = next(d for d in meta["donors"] if d["relation"] == "index")
    seq = index["labData"][0]["sequenceData"]
    if reason == "schema_violation":
        meta["submission"]["genomicDataCenterId"] = "GRZ-UNKNOWN"
        field = "submission.genomicDataCenterId"
    elif reason == "checksum_mismatch":
        target = root / "files" / seq["files"][0]["filePath"]
        data = target.read_bytes()
        target.write_bytes(gzip.compress(gzip.decompress(data).replace(b"@", b"@X", 1), mtime=0))
        field = "donors[index].labData[0].sequenceData.files[0].fileChecksum"
    elif reason == "reused_tanG":
        later = dt.date.fromisoformat(meta["submission"]["submissionDate"]) + dt.timedelta(days=30)
        meta["submission"]["submissionDate"] = later.isoformat()
        field = "submission.tanG"
    else:
        seq["meanDepthOfCoverage"] = float(WGS_GERMLINE_MIN_DEPTH - 8)
        field = "donors[index].labData[0].sequenceData.meanDepthOfCoverage"
    _write_metadata(root, meta)
    return {"path": f"submissions/{name}", "reason": reason, "field": field,
            "derived_from": valid["submission_id"]}


def _copy_files(src: Path, dst: Path) -> None:
    for f in sorted((src / "files").rglob("*")):
        if f.is_file():
            target = dst / "files" / f.relative_to(src / "files")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes())


BAD_REASONS = ("schema_violation", "checksum_mismatch", "reused_tanG", "below_threshold_coverage")


def get_inflated(cohort: Cohort, paper: Paperwork) -> dict[int, tuple[str, float]]:
    """The initial submissions planted with inflated figures: the first (by date) of each of
    the first submitters (by IK), one metric of :data:`INFLATED_METRICS` each. A submitter's
    first submission of a month is always selected for detailed QC (grz-db ``should_qc``)."""
    first: dict[str, int] = {}
    for sub_i, sub in enumerate(cohort.submissions):
        best = first.get(sub.hospital_ik)
        if best is None or paper.submission_date[sub_i] < paper.submission_date[best]:
            first[sub.hospital_ik] = sub_i
    return {first[ik]: metric for ik, metric in zip(sorted(first), INFLATED_METRICS,
                                                     strict=False)}


#: The captured libraries (germline, somatic lab datum) of :func:`get_targeted`'s submissions.
TARGETED_LIBRARIES = (("wes", "wes"), ("wes", "panel"))


def get_targeted(cohort: Cohort, paper: Paperwork) -> dict[int, tuple[str, str]]:
    """Oncological initial submissions whose index donor has captured libraries, one of
    :data:`TARGETED_LIBRARIES` each: not inflated ones (:func:`get_inflated`), a submitter's
    first of its month before others (grz-db's ``should_qc`` selects those when a GRZ takes
    submissions in id order), then by index. BfArM defines WES and panel thresholds for
    ``tumor+germline`` studies only (panels: somatic only), hence oncological ones."""
    inflated = get_inflated(cohort, paper)
    first_of_month: set[int] = set()
    seen: dict[tuple[str, int, int], int] = {}
    for sub_i in sorted(range(len(cohort.submissions)),
                        key=lambda i: paper.submission_ids[i]):
        day = paper.submission_date[sub_i]
        key = (cohort.submissions[sub_i].hospital_ik, day.year, day.month)
        if key not in seen:
            seen[key] = sub_i
            first_of_month.add(sub_i)
    candidates = sorted((i for i, sub in enumerate(cohort.submissions)
                         if sub.disease_type == "oncological" and i not in inflated),
                        key=lambda i: (i not in first_of_month, i))
    return dict(zip(candidates, TARGETED_LIBRARIES, strict=False))


def write_submissions(rng: np.random.Generator, out: Path, cohort: Cohort, paper: Paperwork,
                      mean_depth: np.ndarray, files: SubmissionFiles,
                      qc: QcReads | None = None) -> None:
    """Write every submission (initial, follow-up, correction, bad) and fill the truth lists.

    With ``qc``, index donors' FASTQ pairs are detailed-QC reads (:func:`_write_qc_reads`) and
    :func:`get_inflated` plants inflated submissions, listed in ``paper.inflated_submissions``.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.samples import generate_world, load_truth
    >>> w = generate_world(Path(tempfile.mkdtemp()) / "w", n_patients=30, n_variants=1000)
    >>> bad = load_truth(w.out_dir)["bad_submissions"]
    >>> sorted({b["reason"] for b in bad}) == sorted(BAD_REASONS)
    True
    """
    written: list[dict[str, Any]] = []
    n_sub = len(cohort.submissions)
    corrected = set(range(0, n_sub, max(1, n_sub // 3))[:3])
    inflated = get_inflated(cohort, paper) if qc is not None else {}
    for sub_i, sub in enumerate(cohort.submissions):
        sid = paper.submission_ids[sub_i]
        root = out / "submissions" / sid
        meta = build_initial_metadata(rng, root, cohort, paper, sub_i, mean_depth, files, qc,
                                      inflated.get(sub_i))
        if sub_i in inflated:
            metric, true = inflated[sub_i]
            index = next(d for d in meta["donors"] if d["relation"] == "index")
            reported = index["labData"][0]["sequenceData"][metric]
            paper.inflated_submissions.append({
                "submission_id": sid, "path": f"submissions/{sid}",
                "field": f"donors[index].labData[0].sequenceData.{metric}",
                "reported": reported["percent"] if isinstance(reported, dict) else reported,
                "true": true})
        if sub_i in corrected:
            meta["submission"]["coverageType"] = "UNK"
        _write_metadata(root, meta)
        entry = {"submission_id": sid, "path": f"submissions/{sid}", "type": "initial",
                 "tan_g": paper.tan_g[sub_i], "local_case_id": paper.local_case_id[sub_i],
                 "hospital_ik": sub.hospital_ik, "grz": sub.grz, "kdk": sub.kdk,
                 "samples": [cohort.samples[i].sample for i in sub.samples],
                 "index_sample": cohort.samples[sub.index].sample,
                 "study_type": sub.study_type, "disease_type": sub.disease_type,
                 "qc_below_threshold_relatives": [
                     cohort.samples[i].sample for i in sub.samples
                     if cohort.samples[i].relation != "index"
                     and round(float(mean_depth[i]), 1) < WGS_GERMLINE_MIN_DEPTH
                     and paper.library_type[i] == "wgs"]}
        paper.submissions_truth.append(entry)
        written.append({**entry, "metadata": meta, "sub_i": sub_i})
    # Follow-ups: a later submission of the same case when a donor withdrew research consent.
    for item in written:
        sub_i = item["sub_i"]
        withdrawals = [w for i in cohort.submissions[sub_i].samples
                       for w in paper.consents[i]["withdrawals"]]
        if not withdrawals:
            continue
        day = max(dt.date.fromisoformat(w["date"]) for w in withdrawals) + dt.timedelta(days=7)
        _write_followup(rng, out, cohort, paper, item, "followup", day)
    # Corrections: the initial submission said coverageType UNK; the correction gives the real one.
    for item in written:
        if item["sub_i"] in corrected:
            day = paper.submission_date[item["sub_i"]] + dt.timedelta(days=21)
            _write_followup(rng, out, cohort, paper, item, "correction", day)
    candidates = [w for w in written if w["study_type"] == "single"
                  and w["disease_type"] == "rare"] or written
    for k, reason in enumerate(BAD_REASONS):
        paper.bad_submissions.append(_bad_copy(rng, out, candidates[k % len(candidates)], reason))


def _write_followup(rng: np.random.Generator, out: Path, cohort: Cohort, paper: Paperwork,
                    item: dict, kind: str, day: dt.date) -> None:
    sub_i = item["sub_i"]
    tan = rng.bytes(32).hex()
    meta = copy.deepcopy(item["metadata"])
    meta["submission"] = _submission_block(cohort, paper, sub_i, kind, tan, day)
    for donor, sample_i in zip(meta["donors"], cohort.submissions[sub_i].samples, strict=True):
        donor["researchConsents"] = get_research_consents(
            paper.consents[sample_i], f"Patient/{paper.arbeitsnummer[sample_i]}", day)
    sid = _submission_id(cohort.submissions[sub_i].hospital_ik, day, tan)
    _copy_files(out / item["path"], out / "submissions" / sid)
    _write_metadata(out / "submissions" / sid, meta)
    paper.submissions_truth.append({
        "submission_id": sid, "path": f"submissions/{sid}", "type": kind, "tan_g": tan,
        "local_case_id": item["local_case_id"], "hospital_ik": item["hospital_ik"],
        "grz": item["grz"], "kdk": item["kdk"], "samples": item["samples"],
        "index_sample": item["index_sample"], "study_type": item["study_type"],
        "disease_type": item["disease_type"], "follows": item["submission_id"],
        **({"corrects": {"field": "submission.coverageType", "from": "UNK",
                         "to": meta["submission"]["coverageType"]}}
           if kind == "correction" else {})})

