"""One intake of the committed 60-patient world, shared by the GRZ tests of this package."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from tests.conftest import REPO, config_for

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


@dataclass
class WorldIntake:
    config: GenomlabConfig
    world: Path
    truth: dict[str, Any]
    results: dict[str, Any]


@pytest.fixture(scope="session")
def world_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of ``data_samples/world`` (tests never write into the repository)."""
    target = tmp_path_factory.mktemp("world") / "world"
    shutil.copytree(REPO / "data_samples" / "world", target)
    return target


@pytest.fixture(scope="session")
def world_intake(world_copy: Path, hl: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldIntake]:
    """The whole world through GRZ and KDK intake once (Hail from the session fixture)."""
    from genomlab.intake import run_world_intake

    config = config_for(tmp_path_factory.mktemp("intake") / "home")
    results = run_world_intake(config, world_copy, progress=lambda _m: None, hail=lambda: hl)
    truth = json.loads((world_copy / "truth.json").read_text())
    return WorldIntake(config, world_copy, truth, results)
