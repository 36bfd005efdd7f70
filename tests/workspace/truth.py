"""Scoring QC output against a synthetic world's ``truth.json`` (per fault kind)."""

from __future__ import annotations

import pandas as pd

#: fault kind in truth.json → reason in sample_qc.tsv
SAMPLE_FAULTS = {"low_call_rate": "call_rate", "contamination": "heterozygosity",
                 "sex_mismatch": "sex_mismatch", "swapped_trio": "mendel",
                 "ancestry_outlier": "ancestry_outlier"}
#: pair fault kind in truth.json → finding in relatedness.tsv
PAIR_FAULTS = {"duplicate": "duplicate", "cryptic_relatedness": "undeclared"}


def score(found: set, expected: set) -> tuple[float, float]:
    """(recall, precision); an empty set scores 1.0."""
    hit = len(found & expected)
    return (hit / len(expected) if expected else 1.0, hit / len(found) if found else 1.0)


def score_qc(truth: dict, sample_qc: pd.DataFrame, relatedness: pd.DataFrame) -> dict:
    """Recall and precision per fault kind: samples by reason, pairs by relatedness finding."""
    scores = {}
    reasons = sample_qc.set_index("sample")["reasons"].fillna("").str.split(";")
    for kind, reason in SAMPLE_FAULTS.items():
        found = {s for s, r in reasons.items() if reason in r}
        scores[kind] = score(found, set(truth["faults"][kind]))
    for kind, finding in PAIR_FAULTS.items():
        rows = relatedness[relatedness["finding"] == finding]
        found = {frozenset(p) for p in zip(rows["i"], rows["j"], strict=True)}
        scores[kind] = score(found, {frozenset(p) for p in truth["faults"][kind]})
    return scores
