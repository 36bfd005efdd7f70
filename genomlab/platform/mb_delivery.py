"""The per-hospital Meldebestätigung CSV, as BfArM delivers it to a hospital (LE).

The platform does not keep the VN (GenDV § 6(5)), so the CSV is made from the signed
Meldebestätigungen filed for the hospital (``<home>/hospitals/<IK>/meldebestaetigungen/*.json``):
each is verified with the platform's public key, then written as one row
``Vorgangsnummer;Meldebestaetigung`` (the TAN and the IBE string), ordered by Leistungsdatum and
counter. The layout is :mod:`genomlab.platform.mb_format`'s.
"""

from __future__ import annotations

import os
from pathlib import Path

from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.messages import SignatureError
from genomlab.platform.confirmations import (
    get_confirmation_public_key_pem,
    verify_confirmation_bytes,
)
from genomlab.platform.mb_format import format_mb_csv, parse_ibe_string


def get_hospital_confirmation_dir(config: GenomlabConfig, submitter_id: str) -> Path:
    """Where the Meldebestätigungen of hospital ``submitter_id`` (its IK) are filed."""
    return config.home / "hospitals" / submitter_id / "meldebestaetigungen"


def get_hospital_mb_csv(config: GenomlabConfig, submitter_id: str) -> str:
    """The Meldebestätigung CSV of hospital ``submitter_id``.

    Raises :class:`NotFoundError` if nothing was filed for it and :class:`ValidationFailed`
    naming the file if one does not verify.
    """
    folder = get_hospital_confirmation_dir(config, submitter_id)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise NotFoundError(f"hospital {submitter_id}: no Meldebestätigungen under {folder}")
    pem = get_confirmation_public_key_pem(config)
    rows = []
    for path in files:
        try:
            body = verify_confirmation_bytes(path.read_bytes(), pem)
        except SignatureError as exc:
            raise ValidationFailed(f"{path}: {exc}") from exc
        parsed = parse_ibe_string(body["ibe_string"], source=str(path))
        rows.append((parsed.fields["leistungsdatum_zaehler"], str(body["tan"]),
                     str(body["ibe_string"])))
    return format_mb_csv([(vn, ibe) for _, vn, ibe in sorted(rows)])


def write_hospital_mb_csv(config: GenomlabConfig, submitter_id: str,
                          out: Path | None = None) -> Path:
    """Write :func:`get_hospital_mb_csv`, whole or not at all, to ``out`` (default
    ``<home>/hospitals/<IK>/Meldebestaetigungen_<IK>.csv``)."""
    text = get_hospital_mb_csv(config, submitter_id)
    default = f"Meldebestaetigungen_{submitter_id}.csv"
    target = out or config.home / "hospitals" / submitter_id / default
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target
