"""The administrative side of a world: TANs, dates, library types, consents, identity inputs.

Consents follow the genomDE model: an mvConsent with the scopes ``mvSequencing``,
``reIdentification`` and ``caseIdentification`` (permit/deny, dated), and a research consent as an
MII broad-consent FHIR Consent (permit or deny) or missing with an allowed justification; some
research consents are withdrawn later (dated events in ``truth.json``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genomlab.samples.cohort import HOSPITALS, Cohort
from genomlab.samples.files import write_text

FIRST_SUBMISSION = dt.date(2025, 7, 1)
SUBMISSION_DAYS = 480
MV_DOMAINS = ("mvSequencing", "reIdentification", "caseIdentification")
NO_SCOPE_JUSTIFICATIONS = ("patient unable to consent", "patient refuses to sign consent",
                           "patient did not return consent documents",
                           "other patient-related reason")
COVERAGE_TYPES = {"GKV": 0.86, "PKV": 0.1, "BG": 0.02, "SEL": 0.02}


@dataclass
class Paperwork:
    """Per-submission and per-sample administrative draws of one world."""

    tan_g: list[str]
    submission_date: list[dt.date]
    submission_ids: list[str]
    coverage_type: list[str]
    local_case_id: list[str]
    library_type: list[str]
    research_consent: list[str]
    consents: list[dict]
    arbeitsnummer: list[str]
    kvnr: list[str]
    bad_submissions: list[dict] = field(default_factory=list)
    submissions_truth: list[dict] = field(default_factory=list)
    inflated_submissions: list[dict] = field(default_factory=list)


def get_kvnr_check_digit(letter: str, digits: str) -> int:
    """Check digit of a KVNR-like number (letter as 01–26, weights 1-2, digit sums, mod 10).

    Examples
    --------
    >>> get_kvnr_check_digit("A", "12345678")  # the commonly cited valid KVNR A123456780
    0
    """
    number = f"{ord(letter) - 64:02d}{digits}"
    total = 0
    for i, ch in enumerate(number):
        product = int(ch) * (1 if i % 2 == 0 else 2)
        total += product // 10 + product % 10
    return total % 10


def _day(rng: np.random.Generator, start: dt.date, days: int) -> dt.date:
    return start + dt.timedelta(days=int(rng.integers(days)))


def _consent_record(rng: np.random.Generator, person_id: str, sample: str, relation: str,
                    presented: dt.date) -> dict:
    mv_scopes = [{"domain": d, "type": "permit" if d == "mvSequencing" or rng.random() < 0.85
                  else "deny", "date": presented.isoformat()} for d in MV_DOMAINS]
    roll = rng.random()
    research = "permit" if roll < 0.78 else "deny" if roll < 0.9 else "missing"
    record: dict[str, Any] = {
        "person": person_id, "sample": sample, "relation": relation,
        "mv_consent": {"presentation_date": presented.isoformat(), "scopes": mv_scopes},
        "research_consent": research, "research_presentation_date": presented.isoformat(),
        "withdrawals": [],
    }
    if research == "missing":
        record["no_scope_justification"] = NO_SCOPE_JUSTIFICATIONS[
            int(rng.integers(len(NO_SCOPE_JUSTIFICATIONS)))]
    elif research == "permit" and rng.random() < 0.08:
        record["withdrawals"].append({
            "scope": "research", "date": _day(rng, presented + dt.timedelta(days=30), 300)
            .isoformat()})
    return record


def draw_paperwork(rng: np.random.Generator, cohort: Cohort) -> Paperwork:
    """Draw TANs, dates, coverage, library types, consents and identity inputs.

    Examples
    --------
    >>> from genomlab.samples.cohort import build_cohort
    >>> cohort = build_cohort(np.random.default_rng(0), 60)
    >>> paper = draw_paperwork(np.random.default_rng(1), cohort)
    >>> len(paper.tan_g[0]), paper.submission_ids[0][9]
    (64, '_')
    """
    tan_g, dates, ids, coverage, local = [], [], [], [], []
    cov_keys = list(COVERAGE_TYPES)
    for sub in cohort.submissions:
        tan = rng.bytes(32).hex()
        day = _day(rng, FIRST_SUBMISSION, SUBMISSION_DAYS)
        tan_g.append(tan)
        dates.append(day)
        ids.append(f"{sub.hospital_ik}_{day.isoformat()}_"
                   f"{hashlib.sha256(tan.encode()).hexdigest()[:8]}")
        coverage.append(cov_keys[int(rng.choice(len(cov_keys),
                                                p=list(COVERAGE_TYPES.values())))])
        local.append(f"FALL-{int(rng.integers(10**7, 10**8))}")
    library, research, consents, arbeit, kvnr = [], [], [], [], []
    for s in cohort.samples:
        # WGS throughout: BfArM's QC thresholds (grz-pydantic-models, checked by grz-cli
        # validate) define no germline-only WES, so the official tool refuses hereditary WES.
        library.append("wgs")
        presented = dates[s.submission] - dt.timedelta(days=int(rng.integers(20, 90)))
        person_id = cohort.persons[s.person].person_id
        record = _consent_record(rng, person_id, s.sample, s.relation, presented)
        research.append(record["research_consent"])
        consents.append(record)
        arbeit.append(f"AN-{s.hospital_ik[-4:]}-{int(rng.integers(10**9, 10**10))}")
        letter = chr(65 + int(rng.integers(26)))
        digits = f"{int(rng.integers(10**8)):08d}"
        kvnr.append(f"{letter}{digits}{get_kvnr_check_digit(letter, digits)}")
    return Paperwork(tan_g, dates, ids, coverage, local, library, research, consents, arbeit,
                     kvnr)


def write_identity_inputs(out: Path, cohort: Cohort, paper: Paperwork) -> None:
    """Per hospital: what the LE sends the trust centre (Arbeitsnummer, KVNR-like part)."""
    for ik, name in HOSPITALS:
        rows = ["arbeitsnummer\tkvnr_unchangeable\thospital_ik\thospital_name\tsample"]
        rows += [f"{paper.arbeitsnummer[i]}\t{paper.kvnr[i]}\t{ik}\t{name}\t{s.sample}"
                 for i, s in enumerate(cohort.samples) if s.hospital_ik == ik]
        write_text(out / "hospitals" / ik / "case_numbers_request.tsv", "\n".join(rows) + "\n")
