"""A GenDV § 5 correction at a GRZ replaces the person's genotypes instead of adding a second
column (or, as before, being dropped because the person was stored already).

The committed world sends corrections (``type: correction`` in truth.json) of earlier
submissions; after the session's world intake, each corrected person is in exactly one batch
column, the one of the correction, and the superseded submission's donor rows point at no batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from genomlab.genome_center.intake import GenomeCenter
from genomlab.genome_center.store import PROJECTION
from genomlab.ledger import projection_matches
from tests.conftest import WorldIntake

pytestmark = pytest.mark.hail


def test_store_genotypes__correction_replaces_the_persons_genotypes(
        world_intake: WorldIntake, hl: Any) -> None:
    corrections = [s for s in world_intake.truth["submissions"] if s["type"] == "correction"]
    assert corrections
    checked = 0
    for sub in corrections:
        grz = GenomeCenter(world_intake.config, sub["grz"])
        inbox = Path(sub["path"]).name
        if grz.get_item(inbox) is None or grz.get_item(inbox).state == "error":
            continue
        donors = grz.get_donors()
        columns: dict[str, list[str]] = {}
        for store_name in ("consented", "nonconsented"):
            for path in grz.get_batch_paths(store_name):
                for s in hl.read_matrix_table(path).s.collect():
                    columns.setdefault(s, []).append(Path(path).stem)
        for mine in (d for d in donors if d["inbox_id"] == inbox and d["batch_id"]):
            pseudonym = mine["genome_pseudonym"]
            assert columns[pseudonym] == [mine["batch_id"]], pseudonym
            others = [d for d in donors if d["genome_pseudonym"] == pseudonym
                      and d["inbox_id"] != inbox]
            assert others, "the correction corrects an earlier submission of the person"
            assert all(d["batch_id"] is None for d in others)
            checked += 1
        assert projection_matches(grz.ledger, PROJECTION) == []
    assert checked >= 1


def test_store_genotypes__later_correction_compacts_the_older_batch(
        world_intake: WorldIntake, hl: Any, tmp_path: Path) -> None:
    import csv
    import json
    import secrets
    import shutil

    from genomlab.intake import get_case_book, run_grz_intake
    from genomlab.trust_center.service import TrustCenter
    from tests.conftest import copy_home

    config = copy_home(world_intake.config.home, tmp_path / "home")
    sub = next(s for s in world_intake.truth["submissions"]
               if s["type"] == "correction" and len(s["samples"]) == 1)
    identity = {}
    for tsv in sorted((world_intake.world / "hospitals").glob("*/case_numbers_request.tsv")):
        with tsv.open(newline="") as handle:
            identity.update({r["sample"]: r for r in csv.DictReader(handle, delimiter="\t")})
    person = identity[sub["index_sample"]]
    tan_g = secrets.token_hex(32)  # the LE's TAN is the case number (one number, issue 18)
    TrustCenter(config).register_case_numbers(
        kvnr=person["kvnr_unchangeable"], arbeitsnummer=person["arbeitsnummer"],
        le_ik=person["hospital_ik"], le_name=person["hospital_name"],
        actor=f"le:{person['hospital_ik']}", genomic=tan_g, submission_type="correction")
    get_case_book(config, person["hospital_ik"]).add({tan_g: person["arbeitsnummer"]})
    folder = tmp_path / f"{Path(sub['path']).name}-again"
    shutil.copytree(world_intake.world / sub["path"], folder)
    metadata = folder / "metadata" / "metadata.json"
    raw = json.loads(metadata.read_text())
    raw["submission"]["tanG"] = tan_g
    metadata.write_text(json.dumps(raw))

    grz = GenomeCenter(config, sub["grz"])
    [before] = [d for d in grz.get_donors() if d["inbox_id"] == Path(sub["path"]).name]
    summary = run_grz_intake(config, [folder], node_id=sub["grz"], progress=lambda _m: None,
                             hail=lambda: hl)[sub["grz"]]
    assert summary.states[folder.name] != "error", summary.errors
    donors = grz.get_donors()
    [now] = [d for d in donors if d["inbox_id"] == folder.name]
    assert now["genome_pseudonym"] == before["genome_pseudonym"]
    columns = [Path(path).stem for store_name in ("consented", "nonconsented")
               for path in grz.get_batch_paths(store_name)
               for s in hl.read_matrix_table(path).s.collect()
               if s == now["genome_pseudonym"]]
    assert columns == [now["batch_id"]]
    older = [d["batch_id"] for d in donors if d["genome_pseudonym"] == now["genome_pseudonym"]
             and d["inbox_id"] != folder.name]
    assert older  # the original and the world's correction
    assert set(older) == {None}
    compacted = [e.payload for e in grz.ledger.events() if e.type == "genotypes.batch_compacted"]
    assert [(p["old_batch_id"], p["reason"]) for p in compacted] == [
        (before["batch_id"], "correction")]
    store_dir = Path(grz.get_batch_paths(now["store"])[0]).parent
    assert not (store_dir / f"{before['batch_id']}.mt").exists()
    assert projection_matches(grz.ledger, PROJECTION) == []
