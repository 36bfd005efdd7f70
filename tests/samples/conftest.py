"""Fixtures for the synthetic-world tests: one small generated world per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomlab.samples import generate_world, load_truth


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly generated 80-patient, 5,000-variant world (seed 7)."""
    out = tmp_path_factory.mktemp("world") / "w"
    generate_world(out, n_patients=80, n_variants=5000, seed=7)
    return out


@pytest.fixture(scope="session")
def truth(world: Path) -> dict:
    return load_truth(world)
