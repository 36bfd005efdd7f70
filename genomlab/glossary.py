"""The German terms of the law that genomlab keeps, each explained once in English.

Operators, nodes and BfArM use these words (§ 64e SGB V, the Genomdatenverordnung and the
platform's specifications), so commands, files and columns keep them instead of inventing
translations. :data:`GLOSSARY` is the one source: ``genomlab --help`` shows it, ``genomlab
glossary`` lists it, and ``docs/glossary.md`` holds the same rows (a test compares them).
"""

from __future__ import annotations

GLOSSARY: tuple[tuple[str, str, str], ...] = (
    ("GRZ", "Genomrechenzentrum",
     "genome data centre: receives, checks and stores the sequence data of the model project"),
    ("KDK", "Klinischer Datenknoten",
     "clinical data node: receives, checks and stores the clinical data of the cases"),
    ("LE", "Leistungserbringer",
     "care provider (a hospital) that sequences a patient and submits the case"),
    ("Prüfbericht", "Prüfbericht",
     "test report: a node's report to the platform that a submission passed its checks"),
    ("Meldebestätigung", "Meldebestätigung",
     "submission confirmation: the platform's signed receipt to the LE that a case was "
     "reported (the LE bills with it)"),
    ("Vorgangsnummer", "Vorgangsnummer (VNg, VNk)",
     "case number from the trust centre per patient and node (g genomic, k clinical), "
     "exchanged at the node for its pseudonym"),
    ("tanG / tanC", "Transaktionsnummer genomisch / klinisch",
     "one-time pseudonymous id the LE generates for a submission to the GRZ (tanG) or KDK (tanC)"),
    ("Vertrauensstelle", "Vertrauensstelle",
     "trust centre: holds the link between identities and pseudonyms; the only place that can "
     "re-identify"),
    ("Arbeitsnummer", "Arbeitsnummer",
     "work number the trust centre releases to the treating LE for a re-identification or "
     "correction request"),
    ("Leistungsdatum", "Leistungsdatum",
     "date of service: the day the LE performed the sequencing (in the Meldebestätigung and "
     "the quarterly report)"),
    ("KVNR", "Krankenversichertennummer",
     "the patient's health insurance number; it never leaves the LE and the trust centre"),
    ("BfArM", "Bundesinstitut für Arzneimittel und Medizinprodukte",
     "federal institute that runs the platform (Plattformträger) and decides on data use"),
    ("Plattformträger", "Plattformträger", "platform operator: the body running genomDE (BfArM)"),
    ("Modellvorhaben", "Modellvorhaben Genomsequenzierung (§ 64e SGB V)",
     "the model project for genome sequencing in statutory health insurance"),
    ("Nutzungsbedingungen", "Nutzungsbedingungen",
     "terms of use a data-use applicant accepts with the application"),
    ("Ethikvotum", "Ethikvotum", "an ethics committee's vote on a research project"),
)
"""(term, German full form, English explanation), in the order a case meets them."""


def get_glossary_help() -> str:
    """The glossary as a click help section (``\\b`` keeps click from re-wrapping it).

    Examples
    --------
    >>> get_glossary_help().splitlines()[3]
    '  GRZ  Genomrechenzentrum: genome data centre: receives, checks and stores the sequence data of the model project'
    """  # noqa: E501
    lines = ["German terms of the law (also: genomlab glossary, docs/glossary.md):", "", "\b"]
    lines += [f"  {term}  {english}" if german == term else f"  {term}  {german}: {english}"
              for term, german, english in GLOSSARY]
    return "\n".join(lines)


def render_glossary_markdown() -> str:
    """The table of ``docs/glossary.md``.

    Examples
    --------
    >>> render_glossary_markdown().splitlines()[2]
    '| GRZ | Genomrechenzentrum | genome data centre: receives, checks and stores the sequence data of the model project |'
    """  # noqa: E501
    rows = ["| term | German | meaning in English |", "|---|---|---|"]
    rows += [f"| {term} | {german} | {english} |" for term, german, english in GLOSSARY]
    return "\n".join(rows) + "\n"
