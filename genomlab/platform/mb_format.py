"""The Meldebestätigung as hospitals and insurers receive it: BfArM's IBE string and its CSV.

BfArM delivers Meldebestätigungen to each hospital (LE) as a CSV with the header
``Vorgangsnummer;Meldebestaetigung``: the VN (the 64-hex TAN) and an IBE string

``IBE+<code>+<code>&<Leistungsdatum+Zähler>&<LE-ID>&<Datenknoten-ID>&<Typ>&<Indikation>&<Produkt>&``
``<Kostenträger>&<Art der Daten>&<Art der Sequenzierung>&<QC>+<Produkt>+<sha256 of the 11 fields>``

The layout is declared once, field by field, in :data:`MB_FIELDS`. It follows the public parsers
(read, not copied):

- okohlbacher/genomde_mbcheck @ f4bd8c6e: ``Meldebestaetigung.py`` lines 22–63 (code tables),
  74–84 (the eleven fields with their widths an10, n11, an9, an9, n1, a1, n1, n1, a1, n1, n1),
  404–466 (``parse_edifact_string``: ``IBE+`` prefix, ``+<Produkt>+<hash>`` trailer), 270–278
  (the hash is the sha256 of the ``&``-joined fields); ``Examples/*.csv`` (five real-format
  strings, each trailer hash checks out); ``Spec.md`` (the example
  ``A123456789&20240701001&260530103&KDKK00001&0&O&9&1&C&2&1``).
- MHH-Humangenetik/mvh_copy_mb @ dd1625e8: ``src/mvh_copy_mb/cli.py`` lines 95–130
  (``parse_meldebestaetigung``: the third ``+`` segment split at ``&``; index 4 Typ der Meldung,
  5 Indikationsbereich, 8 Art der Daten, 10 Ergebnis QC), 132–170 (a row is filed as
  ``QC_FAILED_`` unless QC is ``1``, as ``NO_INITIAL_`` unless Typ is ``0``), 195–214 (CSV read
  with a sniffed dialect, ``;`` as fallback; columns ``Vorgangsnummer`` and
  ``Meldebestaetigung``).

The Leistungsdatum is ``JJJJMMTT`` plus a three-digit running counter: the platform numbers the
Meldebestätigungen of one hospital on one day 001, 002, … (:func:`next_leistungsdatum`). The
Kostenträger codes are mbcheck's (1 GKV, 2 PKV, 3 PKV/Beihilfe, 4 other); BfArM's coverage types
map onto them in :data:`KOSTENTRAEGER_BY_COVERAGE` (BEI → 3 and the rest → 4 is this module's
reading, not confirmed from BfArM's document).

Examples
--------
>>> ibe = format_ibe_string(code="A123456789", leistungsdatum="20240701001",
...     submitter_id="260530103", data_node_id="KDKK00001", submission_type="initial",
...     disease_type="oncological", coverage_type="GKV", data_category="clinical",
...     library_type="wes", qc_passed=True)
>>> ibe.split("+")[2]
'A123456789&20240701001&260530103&KDKK00001&0&O&9&1&C&2&1'
>>> parse_ibe_string(ibe).fields["art_der_sequenzierung"]
'2'
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from genomlab.errors import ValidationFailed


@dataclass(frozen=True)
class MbField:
    """One ``&``-separated field of the Meldebestätigung: name, width, format and its codes."""

    name: str
    label: str
    width: int
    pattern: str
    codes: Mapping[str, str] = field(default_factory=dict)

    def check(self, value: str) -> str | None:
        """Why ``value`` does not fit this field, or None."""
        if len(value) != self.width or not re.fullmatch(self.pattern, value):
            return f"{value!r} is not {self.width} characters of {self.pattern}"
        if self.codes and value not in self.codes:
            return f"{value!r} is not one of {', '.join(self.codes)}"
        return None


MELDUNGSTYP = {"0": "Erstmeldung", "1": "Follow-Up", "2": "Nachmeldung", "3": "Korrektur",
               "9": "Test"}
INDIKATIONSBEREICH = {"O": "Onkologische Erkrankungen", "R": "Seltene Erkrankungen",
                      "H": "Hereditäres Tumorsyndrom"}
PRODUKTZUORDNUNG = {"9": "MV GenomSeq"}
KOSTENTRAEGER = {"1": "GKV", "2": "PKV", "3": "PKV/Beihilfe", "4": "Andere"}
ART_DER_DATEN = {"C": "Klinische Daten", "G": "Genomische Daten"}
ART_DER_SEQUENZIERUNG = {"0": "keine Sequenzierung", "1": "WGS", "2": "WES", "3": "Panel",
                         "4": "WGS long-read"}
QUALITAETSKONTROLLE = {"0": "nicht bestanden", "1": "bestanden"}

MB_FIELDS: tuple[MbField, ...] = (
    MbField("alphanumerischer_code", "Alphanumerischer Code", 10, r"[A-Za-z0-9]+"),
    MbField("leistungsdatum_zaehler", "Leistungsdatum + Zähler", 11, r"[0-9]+"),
    MbField("leistungserbringer_id", "Leistungserbringer-ID", 9, r"[A-Za-z0-9]+"),
    MbField("datenknoten_id", "Datenknoten-ID", 9, r"[A-Za-z0-9]+"),
    MbField("meldungstyp", "Typ der Meldung", 1, r"[0-9]", MELDUNGSTYP),
    MbField("indikationsbereich", "Indikationsbereich", 1, r"[A-Z]", INDIKATIONSBEREICH),
    MbField("produktzuordnung", "Produktzuordnung", 1, r"[0-9]", PRODUKTZUORDNUNG),
    MbField("kostentraeger", "Kostenträger", 1, r"[0-9]", KOSTENTRAEGER),
    MbField("art_der_daten", "Art der Daten", 1, r"[A-Z]", ART_DER_DATEN),
    MbField("art_der_sequenzierung", "Art der Sequenzierung", 1, r"[0-9]",
            ART_DER_SEQUENZIERUNG),
    MbField("qualitaetskontrolle", "Qualitätskontrolle", 1, r"[0-9]", QUALITAETSKONTROLLE),
)
"""The eleven fields in order (genomde_mbcheck ``Meldebestaetigung.py`` lines 74–84)."""

MB_FIELD_NAMES = tuple(f.name for f in MB_FIELDS)
CSV_COLUMNS = ("Vorgangsnummer", "Meldebestaetigung")
CSV_DELIMITER = ";"

MELDUNGSTYP_BY_SUBMISSION_TYPE = {"initial": "0", "followup": "1", "addition": "2",
                                  "correction": "3", "test": "9"}
INDIKATION_BY_DISEASE_TYPE = {"oncological": "O", "rare": "R", "hereditary": "H"}
KOSTENTRAEGER_BY_COVERAGE = {"GKV": "1", "PKV": "2", "BEI": "3"}
"""BfArM coverage type → Kostenträger code; any other coverage type is 4 (Andere)."""
SEQUENZIERUNG_BY_LIBRARY_TYPE = {"none": "0", "wgs": "1", "wes": "2", "panel": "3", "wgs_lr": "4"}
DATEN_BY_CATEGORY = {"clinical": "C", "genomic": "G"}
PRODUKT_MV_GENOMSEQ = "9"


@dataclass(frozen=True)
class ParsedMeldebestaetigung:
    """An IBE string taken apart: the leading id, the eleven fields and the trailer."""

    ibe_id: str
    fields: dict[str, str]
    trailer_produkt: str
    trailer_hash: str

    @property
    def mb_string(self) -> str:
        """The eleven fields joined with ``&`` (what the trailer hash covers)."""
        return "&".join(self.fields[name] for name in MB_FIELD_NAMES)

    @property
    def leistungsdatum(self) -> str:
        """The service date ``JJJJ-MM-TT``."""
        value = self.fields["leistungsdatum_zaehler"]
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}"

    @property
    def zaehler(self) -> int:
        """The running counter of the day."""
        return int(self.fields["leistungsdatum_zaehler"][8:])


def compute_mb_hash(mb_string: str) -> str:
    """sha256 hex of the ``&``-joined eleven fields (the IBE trailer's hash)."""
    return hashlib.sha256(mb_string.encode("ascii")).hexdigest()


def next_leistungsdatum(day: str, used: Iterable[str | None]) -> str:
    """``JJJJMMTT`` plus the next counter after the highest of ``used`` on that day.

    Examples
    --------
    >>> next_leistungsdatum("2025-07-01", ["20250701001", "20250630004", None])
    '20250701002'
    """
    stem = day.replace("-", "")
    counters = [int(value[8:]) for value in used if value and value.startswith(stem)]
    counter = max(counters, default=0) + 1
    if counter > 999:
        raise ValidationFailed(f"Leistungsdatum {stem}: field counter exceeds 999")
    return f"{stem}{counter:03d}"


def format_ibe_string(*, code: str, leistungsdatum: str, submitter_id: str, data_node_id: str,
                      submission_type: str, disease_type: str, coverage_type: str,
                      data_category: str, library_type: str, qc_passed: bool) -> str:
    """The IBE string for one confirmed Prüfbericht (BfArM's enum values in, codes out)."""
    values = {
        "alphanumerischer_code": code,
        "leistungsdatum_zaehler": leistungsdatum,
        "leistungserbringer_id": submitter_id,
        "datenknoten_id": data_node_id,
        "meldungstyp": MELDUNGSTYP_BY_SUBMISSION_TYPE[submission_type],
        "indikationsbereich": INDIKATION_BY_DISEASE_TYPE[disease_type],
        "produktzuordnung": PRODUKT_MV_GENOMSEQ,
        "kostentraeger": KOSTENTRAEGER_BY_COVERAGE.get(coverage_type, "4"),
        "art_der_daten": DATEN_BY_CATEGORY[data_category],
        "art_der_sequenzierung": SEQUENZIERUNG_BY_LIBRARY_TYPE[library_type],
        "qualitaetskontrolle": "1" if qc_passed else "0",
    }
    for mb_field in MB_FIELDS:
        problem = mb_field.check(values[mb_field.name])
        if problem:
            raise ValidationFailed(f"Meldebestätigung: field {mb_field.name}: {problem}")
    mb_string = "&".join(values[name] for name in MB_FIELD_NAMES)
    return f"IBE+{code}+{mb_string}+{PRODUKT_MV_GENOMSEQ}+{compute_mb_hash(mb_string)}"


def parse_ibe_string(ibe: str, *, source: str = "Meldebestätigung") -> ParsedMeldebestaetigung:
    """Take an IBE string apart field by field; :class:`ValidationFailed` names the bad field.

    The trailer hash must be the sha256 of the eleven fields.
    """
    parts = ibe.split("+")
    if len(parts) != 5 or parts[0] != "IBE":
        raise ValidationFailed(f"{source}: field Meldebestaetigung: expected "
                               "IBE+<id>+<fields>+<Produkt>+<hash>, got "
                               f"{len(parts)} '+' segments")
    _, ibe_id, mb_string, trailer_produkt, trailer_hash = parts
    values = mb_string.split("&")
    if len(values) != len(MB_FIELDS):
        raise ValidationFailed(f"{source}: field Meldebestaetigung: expected {len(MB_FIELDS)} "
                               f"'&' fields, got {len(values)}")
    for mb_field, value in zip(MB_FIELDS, values, strict=True):
        problem = mb_field.check(value)
        if problem:
            raise ValidationFailed(f"{source}: field {mb_field.name}: {problem}")
    if trailer_hash != compute_mb_hash(mb_string):
        raise ValidationFailed(f"{source}: field hash: does not match the sha256 of the fields")
    return ParsedMeldebestaetigung(ibe_id, dict(zip(MB_FIELD_NAMES, values, strict=True)),
                                   trailer_produkt, trailer_hash)


def format_mb_csv(rows: Sequence[tuple[str, str]]) -> str:
    """The hospital's CSV: header ``Vorgangsnummer;Meldebestaetigung``, one row per (VN, IBE)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


def parse_mb_csv(text: str, *, source: str) -> list[tuple[str, ParsedMeldebestaetigung]]:
    """Read a Meldebestätigung CSV (``;`` or ``,`` separated, as the public parsers accept).

    Returns (Vorgangsnummer, parsed IBE string) per row; a bad row raises
    :class:`ValidationFailed` naming ``source``, the row and the field.
    """
    first = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise ValidationFailed(f"{source}: header must be {delimiter.join(CSV_COLUMNS)}, "
                               f"got {first!r}")
    parsed = []
    for number, row in enumerate(reader, start=2):
        vn = row["Vorgangsnummer"] or ""
        if not re.fullmatch(r"[0-9a-fA-F]{64}", vn):
            raise ValidationFailed(f"{source}: row {number}: field Vorgangsnummer is not 64 hex")
        parsed.append((vn, parse_ibe_string(row["Meldebestaetigung"] or "",
                                            source=f"{source}: row {number}")))
    return parsed
