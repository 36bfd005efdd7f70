"""The GRZ's genotype batches are recorded relative to the home, so a moved home finds them."""

from __future__ import annotations

import shutil
from pathlib import Path

from genomlab.config import GenomlabConfig
from genomlab.genome_center.intake import GenomeCenter
from tests.conftest import copy_home

NODE = "GRZK00001"


def test_get_batch_paths__resolve_in_the_home_they_are_read_in(config: GenomlabConfig,
                                                               tmp_path: Path) -> None:
    from genomlab.home import get_home_relative

    grz = GenomeCenter(config, NODE)
    batch = grz.institution.directory / "genotypes" / "consented" / "batch-0001.mt"
    stored = get_home_relative(config.home, batch)
    assert stored == f"grz/{NODE}/genotypes/consented/batch-0001.mt"
    grz.ledger.append("genotypes.batch_stored", {
        "batch_id": "batch-0001", "store": "consented", "path": stored, "n_samples": 1,
        "samples": [["inbox-1", "p1"]]}, actor="grz")
    assert grz.get_batch_paths("consented") == [str(batch)]

    moved = copy_home(config.home, tmp_path / "moved")
    shutil.rmtree(config.home)
    assert GenomeCenter(moved, NODE).get_batch_paths("consented") == [
        str(moved.home / "grz" / NODE / "genotypes" / "consented" / "batch-0001.mt")]
