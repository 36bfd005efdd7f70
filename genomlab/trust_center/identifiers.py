"""Identity inputs a hospital (LE) sends to the trust centre, validated at the door.

- the unchangeable part of the KVNR (§ 290 SGB V): one letter and nine digits, the last a check
  digit (letter as its two-digit alphabet position, then the first eight digits, weighted 1, 2, 1,
  2, …; the digit sums of the products added up, modulo 10);
- the Arbeitsnummer: the LE's own case label, at most 40 characters (GenDV § 4, genomde.md § 8.2);
- the LE's Institutionskennzeichen (IK): nine digits.

Examples
--------
>>> normalise_kvnr("a123456780")
'A123456780'
>>> kvnr_check_digit("A12345678")
0
"""

from __future__ import annotations

import re

from genomlab.errors import ValidationFailed

ARBEITSNUMMER_MAX_LENGTH = 40  # GenDV § 4 / genomde.md § 8.2
_KVNR = re.compile(r"^[A-Z][0-9]{9}$")
_IK = re.compile(r"^[0-9]{9}$")


def kvnr_check_digit(first_nine: str) -> int:
    """The check digit of a KVNR whose letter and first eight digits are ``first_nine``.

    Examples
    --------
    >>> kvnr_check_digit("X00000000")
    0
    """
    digits = f"{ord(first_nine[0].upper()) - ord('A') + 1:02d}{first_nine[1:9]}"
    total = 0
    for position, digit in enumerate(digits):
        product = int(digit) * (1 if position % 2 == 0 else 2)
        total += product // 10 + product % 10
    return total % 10


def normalise_kvnr(value: str) -> str:
    """The KVNR's unchangeable part in upper case; raises if its format or check digit is wrong.

    Examples
    --------
    >>> normalise_kvnr(" x000000000 ")
    'X000000000'
    """
    kvnr = value.strip().upper()
    if not _KVNR.match(kvnr):
        raise ValidationFailed("identity request: field kvnr: expected one letter and nine digits")
    if kvnr_check_digit(kvnr[:9]) != int(kvnr[9]):
        raise ValidationFailed("identity request: field kvnr: check digit does not match")
    return kvnr


def check_arbeitsnummer(value: str) -> str:
    """The Arbeitsnummer unchanged if it is 1–40 printable characters.

    Examples
    --------
    >>> check_arbeitsnummer("LE-2026-0042")
    'LE-2026-0042'
    """
    if not 0 < len(value) <= ARBEITSNUMMER_MAX_LENGTH or not value.isprintable():
        raise ValidationFailed(
            "identity request: field arbeitsnummer: expected 1–"
            f"{ARBEITSNUMMER_MAX_LENGTH} printable characters"
        )
    return value


def check_ik(value: str) -> str:
    """The Institutionskennzeichen unchanged if it is nine digits.

    Examples
    --------
    >>> check_ik("260840108")
    '260840108'
    """
    if not _IK.match(value):
        raise ValidationFailed(f"field le_ik: expected nine digits, got {value!r}")
    return value
