"""Runs the docstring examples of the genomlab package as tests (``pytest genomlab``).

Every module of ``genomlab/`` is collected like ``--doctest-modules`` would, and nothing else:
that option would also import the scripts under ``tests/`` (some write a home when imported).
Importing a genomlab module neither starts Spark nor touches the network
(``tests/test_package_imports.py``); an example that needs Hail carries ``# doctest: +SKIP``.
Examples run from the repository root, so they can name ``data_samples/`` and ``reports/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem, DoctestModule

REPO = Path(__file__).resolve().parent
PACKAGE = REPO / "genomlab"
RUN_BY_ALEMBIC_ONLY = {PACKAGE / "migrations" / "env.py"}  # reads alembic's migration context


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DoctestModule | None:
    if (file_path.suffix == ".py" and PACKAGE in file_path.parents
            and file_path not in RUN_BY_ALEMBIC_ONLY
            and not parent.config.option.doctestmodules):  # that option collects them itself
        return DoctestModule.from_parent(parent, path=file_path)
    return None


@pytest.fixture(autouse=True)
def _examples_run_from_the_repository(request: pytest.FixtureRequest,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(REPO)
