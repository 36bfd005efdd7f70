"""What the GRZ tests expect of the world intake (``world_intake`` is in tests/conftest.py)."""

from __future__ import annotations

import re

EXPECTED_REASON = {"schema_violation": "validation_error", "checksum_mismatch": "validation_error",
                   "below_threshold_coverage": "validation_error",
                   "reused_tanG": "duplicate_tang"}
"""The GRZ's failure reason for each kind of bad submission of ``truth.json``."""


def get_any_donor_field(field: str) -> str:
    """A field path with the donor named by ``*`` (truth says ``donors[index]``, GRZ ``[0]``)."""
    return re.sub(r"donors\[[^\]]+\]", "donors[*]", field)
