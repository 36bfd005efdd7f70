"""Node stores cannot be linked without the trust centre (issue 21, "Nothing lost, nothing leaked").

The trial joined ``grz_submissions`` and ``kdk_records`` on the hospital's IK, the submission
date and the case fields and linked every GRZ dataset to its KDK record. Here the whole
committed world goes through intake once; then every pair of node stores (GRZ×KDK, GRZ×GRZ,
KDK×KDK) is attacked with plain SQL and Parquet reads (:mod:`tests.genome_center.linkage`,
which documents the keys tried and the chance bound), and the world's truth counts the
correct links.
"""

from __future__ import annotations

import pytest

from genomlab.institution import Institution
from tests.conftest import WorldIntake
from tests.genome_center.linkage import (
    Store,
    find_strongest_linkage,
    get_grz_persons,
    get_kdk_persons,
    get_store_pairs,
    read_grz_rows,
    read_kdk_rows,
)

pytestmark = [pytest.mark.hail, pytest.mark.slow]


def _read_stores(world: WorldIntake) -> list[Store]:
    stores = []
    for node in world.truth["institutions"]["grz"]:
        rows = read_grz_rows(Institution(world.config, "grz", node).engine())
        stores.append(Store(node, "grz", rows, get_grz_persons(rows, world.truth)))
    for node in world.truth["institutions"]["kdk"]:
        institution = Institution(world.config, "kdk", node)
        rows = read_kdk_rows(institution.engine(), institution.directory)
        stores.append(Store(node, "kdk", rows, get_kdk_persons(rows, world.truth)))
    return stores


def test_node_stores__the_best_join_of_any_two_links_no_more_than_chance(
        world_intake: WorldIntake) -> None:
    stores = _read_stores(world_intake)
    assert sum(len(s.person) for s in stores if s.kind == "kdk") == 61  # the truth is known
    over = []
    for a, b in get_store_pairs(stores):
        found = find_strongest_linkage(a, b)
        if found.correct > found.bound:
            columns = ", ".join(f"{x}={y}" for x, y in found.key)
            over.append(f"{a.name}×{b.name}: {found.correct} of {found.linked} linked correctly "
                        f"on [{columns}]; random assignment within blocks: expected "
                        f"{found.expected:.1f}, 99.9 % bound {found.bound}")
    assert not over, "\n".join(over)
