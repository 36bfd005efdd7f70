"""What the GRZ tests expect of the world intake (``world_intake`` is in tests/conftest.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig

EXPECTED_REASON = {"schema_violation": "validation_error", "checksum_mismatch": "validation_error",
                   "below_threshold_coverage": "validation_error",
                   "reused_tanG": "duplicate_tang"}
"""The GRZ's failure reason for each kind of bad submission of ``truth.json``."""


def get_any_donor_field(field: str) -> str:
    """A field path with the donor named by ``*`` (truth says ``donors[index]``, GRZ ``[0]``)."""
    return re.sub(r"donors\[[^\]]+\]", "donors[*]", field)


class HailStarted(Exception):
    """Raised by the Hail starter of a run that is to stop before genotypes are stored."""


def stop_at_hail() -> Any:
    """A Hail starter that stops the run where genotype storage would begin."""
    raise HailStarted


def refuse_hail() -> Any:
    """A Hail starter that fails the test: the run must end before genotype storage."""
    raise AssertionError("this run must not reach Hail")


@pytest.fixture
def world(config: GenomlabConfig, world_copy: Path) -> dict[str, Any]:
    """``truth.json`` of the world, its institutions registered in the test home."""
    from genomlab.intake import register_world_nodes

    register_world_nodes(config, world_copy, actor="test")
    return dict(json.loads((world_copy / "truth.json").read_text()))
