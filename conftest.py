"""Runs the docstring examples of the genomlab package as tests (``pytest genomlab``).

Every module of ``genomlab/`` is collected like ``--doctest-modules`` would, and nothing else:
that option would also import the scripts under ``tests/`` (some write a home when imported).
Importing a genomlab module neither starts Spark nor touches the network
(``tests/test_package_imports.py``); an example that needs Hail carries ``# doctest: +SKIP``.
Examples run from the repository root, so they can name ``data_samples/`` and ``reports/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem, DoctestModule

from tests.shards import SHARD_VARIABLE, get_shard, parse_shard

REPO = Path(__file__).resolve().parent
PACKAGE = REPO / "genomlab"
RUN_BY_ALEMBIC_ONLY = {PACKAGE / "migrations" / "env.py"}  # reads alembic's migration context
NOTEBOOK_EXAMPLES = {"genomlab.reports.runner.run_report"}
"""Examples that execute a notebook with papermill: marked ``notebook`` like such tests (the
shifted-clock pass leaves them out, since a kernel under faketime does not start)."""


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DoctestModule | None:
    if (file_path.suffix == ".py" and PACKAGE in file_path.parents
            and file_path not in RUN_BY_ALEMBIC_ONLY
            and not parent.config.option.doctestmodules):  # that option collects them itself
        return DoctestModule.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, DoctestItem) and item.name in NOTEBOOK_EXAMPLES:
            item.add_marker(pytest.mark.notebook)
    shard = os.environ.get(SHARD_VARIABLE)
    if shard:  # tests/shards.py: this pass runs one share of the files
        index, count = parse_shard(shard)
        shares = [get_shard(item.path, REPO, count) for item in items]
        config.hook.pytest_deselected(
            items=[item for item, share in zip(items, shares, strict=True) if share != index])
        items[:] = [item for item, share in zip(items, shares, strict=True) if share == index]


@pytest.fixture(autouse=True)
def _examples_run_from_the_repository(request: pytest.FixtureRequest,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(REPO)
