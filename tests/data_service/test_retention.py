"""The end of the retention period removes a node's records everywhere (genomde.md § 8.6).

One module-wide copy of the session's world home. The GRZs keep each submission's month, so a
day 100 years after some of the world's submissions expires exactly the persons whose last
submission is older; the KDKs know only the day they received a record (the session's intake
ran at the real time), so a day far enough ahead expires them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from genomlab.clinical_node.intake import ClinicalNode
from genomlab.config import GenomlabConfig
from genomlab.data_service.index import load_feasibility_index
from genomlab.genome_center.erasure import get_expired_pseudonyms
from genomlab.genome_center.intake import GenomeCenter
from genomlab.intake.propagation import PropagationReport, apply_retention
from tests.conftest import copy_home
from tests.data_service.conftest import WorldHome

pytestmark = pytest.mark.hail

FIRST_DAY = date(2125, 12, 1)
"""100 years after December 2025: the world's submissions before it have expired."""
FAR_DAY = date(2300, 1, 1)


@dataclass
class Retention:
    config: GenomlabConfig
    expired: dict[str, set[str]]
    kept: dict[str, set[str]]
    n_genomes_before: int
    n_genomes_after: int
    n_records_after_first: int
    first: PropagationReport
    far: PropagationReport
    n_genomes_far: int
    n_clinical_far: int


def _stored(config: GenomlabConfig, grz: str, hl: Any) -> set[str]:
    center = GenomeCenter(config, grz)
    return {s for store_name in ("consented", "nonconsented")
            for path in center.get_batch_paths(store_name)
            for s in hl.read_matrix_table(path).s.collect()}


@pytest.fixture(scope="module")
def retention(world_home: WorldHome, hl: Any,
              tmp_path_factory: pytest.TempPathFactory) -> Retention:
    config = copy_home(world_home.home, tmp_path_factory.mktemp("retention") / "home")
    grzs = world_home.truth["institutions"]["grz"]
    kdks = world_home.truth["institutions"]["kdk"]
    before = {grz: _stored(config, grz, hl) for grz in grzs}
    expired = {grz: get_expired_pseudonyms(GenomeCenter(config, grz), "2025-12") & before[grz]
               for grz in grzs}
    n_genomes_before = load_feasibility_index(config).genome.height
    first = apply_retention(config, hl=hl, on=FIRST_DAY)
    kept = {grz: _stored(config, grz, hl) for grz in grzs}
    n_genomes_after = load_feasibility_index(config).genome.height
    n_records = sum(ClinicalNode(config, kdk).read_table("cases", store_name=store_name).height
                    for kdk in kdks for store_name in ("consented", "nonconsented"))
    far = apply_retention(config, hl=hl, on=FAR_DAY)
    index = load_feasibility_index(config)
    return Retention(config, expired, kept, n_genomes_before, n_genomes_after, n_records,
                     first, far, index.genome.height, index.clinical.height)


def test_apply_retention__expired_genomes_leave_every_store_and_the_index(
        retention: Retention) -> None:
    n_expired = sum(len(v) for v in retention.expired.values())
    assert 0 < n_expired < sum(len(v) + len(retention.kept[g])
                               for g, v in retention.expired.items())
    for grz, gone in retention.expired.items():
        assert not gone & retention.kept[grz], grz
        assert retention.first.genome_nodes[grz] == len(gone)
        assert not gone & {d["genome_pseudonym"]
                           for d in GenomeCenter(retention.config, grz).get_donors()}
    assert retention.n_genomes_after < retention.n_genomes_before


def test_apply_retention__records_received_recently_stay_until_their_time(
        retention: Retention) -> None:
    assert retention.n_records_after_first > 0
    assert sum(retention.first.clinical_nodes.values()) == 0
    assert sum(retention.far.clinical_nodes.values()) == retention.n_records_after_first
    assert retention.n_genomes_far == 0
    assert retention.n_clinical_far == 0
