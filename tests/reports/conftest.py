"""A home with ledger activity and schedules for run-due tests (fixed clock via ``now``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomlab.config import GenomlabConfig
from genomlab.platform.store import open_platform_ledger
from tests.airlock.conftest import project  # noqa: F401 - the approved-project fixture
from tools.make_notebook import make_notebook

REPO = Path(__file__).resolve().parents[2]
ACTIVITY = REPO / "notebooks" / "reports" / "platform_activity.ipynb"


def add_platform_events(config: GenomlabConfig, n: int) -> None:
    """Record ``n`` events in the platform's ledger (what the activity report counts)."""
    ledger = open_platform_ledger(config)
    with ledger.transaction() as tx:
        for i in range(n):
            tx.append("pruefbericht.refused", {"node_id": "GRZK00001",
                                               "reason": f"test refusal {i}"}, actor="operator")


def write_schedule(path: Path, *entries: dict[str, str]) -> Path:
    lines = []
    for entry in entries:
        lines.append("[[report]]")
        lines += [f'{key} = "{value}"' for key, value in entry.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def failing_notebook(tmp_path: Path) -> Path:
    path = tmp_path / "broken.ipynb"
    make_notebook(str(path), "config_json = None\noutput_dir = '.'",
                  "raise RuntimeError('source table missing')")
    return path
