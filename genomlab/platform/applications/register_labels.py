"""Plain words for the public register, German first with English: statuses, purposes, DUO
terms, ICD-10-GM codes and reported results.

The register is published by a German authority for the public, so every code a reader meets is
shown in words (``DS`` → "Forschung zu einer bestimmten Krankheit / disease specific research";
``C50`` → "Bösartige Neubildung der Brustdrüse [Mamma] / Malignant neoplasm of breast"), with the
code beside it for those who look it up. English DUO labels come from ``duo.json`` (EBISPOT/DUO);
the German ones are genomlab's translations. ICD-10-GM titles come from the small subset in
``icd10gm_labels.json`` (its ``source`` names the BfArM classification it was taken from).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

from genomlab.platform.applications.duo import get_duo_terms

STATUS_WORDS: dict[str, tuple[str, str]] = {
    "submitted": ("eingereicht", "submitted"),
    "returned": ("zur Überarbeitung zurückgegeben", "returned for changes"),
    "under_review": ("in Prüfung", "under review"),
    "approved": ("genehmigt", "approved"),
    "rejected": ("abgelehnt", "rejected"),
    "closed": ("abgeschlossen", "closed"),
    "revoked": ("widerrufen", "revoked"),
    "expired": ("abgelaufen", "expired"),
}
PURPOSE_WORDS: dict[str, tuple[str, str]] = {
    "care": ("Verbesserung der Versorgung", "improving care"),
    "quality_assurance": ("Qualitätssicherung", "quality assurance"),
    "evaluation": ("Evaluation des Modellvorhabens", "evaluation of the model project"),
    "research": ("wissenschaftliche Forschung", "scientific research"),
}
LEVEL_WORDS: dict[str, tuple[str, str]] = {
    "aggregated": ("aggregierte Daten", "aggregated data"),
    "individual": ("pseudonymisierte Einzeldaten", "pseudonymised individual records"),
}
RESULT_WORDS: dict[str, tuple[str, str]] = {
    "publication": ("Veröffentlichung", "publication"),
    "report": ("Bericht", "report"),
    "dataset": ("Datensatz", "dataset"),
    "software": ("Software", "software"),
}
DUO_GERMAN: dict[str, str] = {
    "NRES": "keine Einschränkung",
    "GRU": "allgemeine Forschung",
    "HMB": "Gesundheits-, medizinische oder biomedizinische Forschung",
    "DS": "Forschung zu einer bestimmten Krankheit",
    "POA": "nur Forschung zu Abstammung und Bevölkerungsherkunft",
    "IRB": "Ethikvotum erforderlich",
    "PUB": "Veröffentlichung erforderlich",
    "COL": "Zusammenarbeit erforderlich",
    "GS": "geografische Einschränkung",
    "GSO": "nur genetische Studien",
    "TS": "zeitlich begrenzte Nutzung",
    "US": "auf bestimmte Nutzer beschränkt",
    "PS": "auf ein bestimmtes Projekt beschränkt",
    "IS": "auf bestimmte Einrichtungen beschränkt",
    "NPU": "nur gemeinnützige Einrichtungen",
    "NCU": "nur nicht kommerzielle Nutzung",
    "NPUNCU": "nur gemeinnützige, nicht kommerzielle Nutzung",
    "MOR": "Veröffentlichungssperrfrist",
    "RTN": "Rückgabe der Ergebnisse an die Datenquelle",
    "RS": "forschungsspezifische Einschränkungen",
    "NMDS": "keine allgemeine Methodenforschung",
    "CC": "Nutzung für die klinische Versorgung",
    "NPOA": "Forschung zu Abstammung und Bevölkerungsherkunft ausgeschlossen",
}
"""German words for every DUO code of ``duo.json`` (genomlab's translation)."""

_AIRLOCK_REFERENCE = re.compile(r"^airlock:(?P<request>\S+)(?P<files>(\s+\S+#sha256=[0-9a-f]+)*)$")


def get_words(table: dict[str, tuple[str, str]], code: str) -> str:
    """``German / English`` for a code of ``table``; the code itself when unknown.

    Examples
    --------
    >>> get_words(STATUS_WORDS, "approved")
    'genehmigt / approved'
    >>> get_words(STATUS_WORDS, "unheard_of")
    'unheard_of'
    """
    words = table.get(code)
    return f"{words[0]} / {words[1]}" if words else code


def get_duo_words(code: str) -> str:
    """A DUO code in plain words, German first, the code and its id after.

    Examples
    --------
    >>> for part in get_duo_words("NPOA").split(" / "):
    ...     print(part)
    Forschung zu Abstammung und Bevölkerungsherkunft ausgeschlossen
    population origins or ancestry research prohibited (NPOA, DUO:0000044)
    """
    term = get_duo_terms().get(code)
    if term is None:
        return code
    return f"{DUO_GERMAN.get(code, term.label)} / {term.label} ({code}, {term.id})"


@cache
def get_icd10gm_labels() -> dict[str, tuple[str, str]]:
    """The shipped ICD-10-GM subset: code → (German title, English title)."""
    text = (resources.files("genomlab.platform.applications")
            .joinpath("icd10gm_labels.json").read_text(encoding="utf-8"))
    return {code: (de, en) for code, (de, en) in json.loads(text)["labels"].items()}


def get_icd_words(code: str) -> str:
    """An ICD-10-GM code in words (the code's own title, else its three-character category's).

    Examples
    --------
    >>> get_icd_words("C50")
    'Bösartige Neubildung der Brustdrüse [Mamma] / Malignant neoplasm of breast (ICD-10-GM C50)'
    >>> get_icd_words("C50.9")  # not in the subset: its category's title
    'Bösartige Neubildung der Brustdrüse [Mamma] / Malignant neoplasm of breast (ICD-10-GM C50.9)'
    >>> get_icd_words("Z99.9")
    'ICD-10-GM Z99.9'
    """
    labels = get_icd10gm_labels()
    found = labels.get(code) or labels.get(code[:3])
    if found is None:
        return f"ICD-10-GM {code}"
    return f"{found[0]} / {found[1]} (ICD-10-GM {code})"


def describe_result_reference(reference: str) -> tuple[str | None, str]:
    """A result's link target (``https://`` URL or DOI) and its reference in plain words.

    Outputs released through the airlock are recorded by request and file hashes; the public
    reads which files left and when, not the hashes.

    Examples
    --------
    >>> describe_result_reference("doi:10.1000/xyz")
    ('https://doi.org/10.1000/xyz', 'DOI 10.1000/xyz')
    >>> href, words = describe_result_reference("airlock:AR-000001 a.csv#sha256=" + "ab" * 32)
    >>> href, words.split(" / ")[1]
    (None, 'outputs released through the airlock: a.csv (AR-000001)')
    >>> describe_result_reference("javascript:alert(1)")
    (None, 'javascript:alert(1)')
    """
    if reference.lower().startswith("doi:"):
        doi = reference[4:].strip()
        return f"https://doi.org/{doi}", f"DOI {doi}"
    if reference.startswith("https://doi.org/"):
        return reference, f"DOI {reference.removeprefix('https://doi.org/')}"
    if reference.startswith("https://"):
        return reference, reference
    match = _AIRLOCK_REFERENCE.match(reference.strip())
    if match:
        names = [part.split("#", 1)[0] for part in match["files"].split()]
        return None, ("über die Airlock freigegebene Ergebnisse / outputs released through the "
                      f"airlock: {', '.join(names)} ({match['request']})")
    return None, reference
