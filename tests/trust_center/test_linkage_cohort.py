"""A linkage map holds exactly the approved cohort's consented persons (genomic criteria).

The platform approves a genomic-only application for rare-disease *genomes* (criteria
``disease_types=("rare",)`` and ``library_types=("wgs",)``, both judged on the GRZ's dataset
attributes). A GRZ holds 18 datasets from two submissions (rare and oncological) with WGS and
WES libraries; the trust centre holds research consent for 12 of the persons and a denial for
6 (recorded after the GRZ's intake: the GRZ still keeps their datasets in its consented store).
The data service presents all 18. The map must hold exactly the persons that both the GRZ's
store (rare, WGS, consented store) and the trust centre's consents (research permit) put in the
cohort, computed here by SQL over the two stores, not with the selection code.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from genomlab import clock
from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.db import get_engine
from genomlab.genome_center import store as grz_store
from genomlab.genome_center.store import open_genome_center_ledger
from genomlab.messages import CohortCriteria
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.applications.entitlements import get_signed_approval
from genomlab.platform.applications.models import TERMS_OF_USE_VERSION, ApplicationForm
from genomlab.platform.applications.workflow import Workflow
from genomlab.trust_center import store as tc_store
from genomlab.trust_center.service import TrustCenter
from tests.conftest import write_config_file
from tests.trust_center.conftest import GRZ, Person, enrol


def submission_fields(inbox_id: str, disease_type: str, n_donors: int) -> dict[str, object]:
    return {"submitter_id": "260840108", "submission_month": "2026-05",
            "submission_type": "initial", "disease_type": disease_type, "coverage_type": "GKV",
            "library_type": "wgs", "submission_id": f"260840108_2026-05-01_{inbox_id}",
            "tan_hash": inbox_id * 16, "genomic_study_type": "single",
            "genomic_study_subtype": "tumor+germline" if disease_type == "oncological"
            else "germline-only", "n_donors": n_donors, "research_consented": True,
            "submission_size": 1000, "warnings": ""}


def deliver_to_grz(config: GenomlabConfig, persons: list[Person]) -> None:
    """Person ``i`` goes into the rare submission unless ``i % 3 == 2`` (oncological), with a
    WGS library if ``i`` is even, else WES; every dataset in the GRZ's consented store."""
    ledger = open_genome_center_ledger(config, GRZ)
    for inbox_id, disease in (("aaaa", "rare"), ("bbbb", "oncological")):
        mine = [(i, p) for i, p in enumerate(persons) if (i % 3 == 2) == (disease != "rare")]
        ledger.append("submission.received", {"inbox_id": inbox_id}, actor="grz")
        ledger.append("submission.validated", {"inbox_id": inbox_id, "fields": submission_fields(
            inbox_id, disease, len(mine))}, actor="grz")
        ledger.append("submission.pseudonymised", {"inbox_id": inbox_id, "donors": [
            {"donor_index": n, "relation": "index", "genome_pseudonym": p.genome,
             "research_consented": True, "mv_consented": False,
             "library_types": "wgs" if i % 2 == 0 else "wes", "store": "consented"}
            for n, (i, p) in enumerate(mine)]}, actor="grz")


def approve_rare_genomes(config: GenomlabConfig) -> str:
    """The platform approves a genomic-only application for rare-disease WGS genomes."""
    run_applications_demo(config)  # staff and team
    wf = Workflow(config)
    form = ApplicationForm(
        title="Rare-disease genomes", lay_summary="Which variants do rare diseases share?",
        scientific_abstract="Burden tests over whole genomes of rare-disease patients.",
        purposes=("research",), duo_permission="HMB", duo_modifiers=("PUB",),
        data_categories=("genomic",), clinical_fields=(),
        criteria=CohortCriteria(disease_types=("rare",), library_types=("wgs",)),
        duration_months=12, level="individual",
        individual_justification="Burden tests need individual genotypes; aggregates cannot.",
        ethics_vote_reference="EK Tübingen 004/2026BO1", accepted_terms=TERMS_OF_USE_VERSION,
        team=("tom",))
    application_id = wf.create_draft("alice", form)
    wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.request_committee_review("hanna", application_id, note="Standard review.")
    wf.record_vote("kurt", application_id, "approve", "Justified.")
    wf.approve("dora", application_id, valid_from=clock.today() - timedelta(days=1),
               note="Committee in favour.")
    return application_id


def expected_cohort(config: GenomlabConfig, tc: TrustCenter) -> set[str]:
    """The genome pseudonyms the approval selects, by SQL over the GRZ's and the trust
    centre's stores: rare submission, WGS library, consented store, research permit."""
    with get_engine(config.store_url("grz", GRZ)).connect() as conn:
        d, s = grz_store.donors, grz_store.submissions
        at_grz = {row.genome_pseudonym for row in conn.execute(
            select(d.c.genome_pseudonym, d.c.library_types).join(s, s.c.inbox_id == d.c.inbox_id)
            .where((d.c.store == "consented") & (s.c.disease_type == "rare")))
            if "wgs" in row.library_types.split(",")}
    with get_engine(config.store_url("trust_center")).connect() as conn:
        c = tc_store.consents
        permitted = set(conn.execute(select(c.c.person_id).where(
            (c.c.scope == "research") & (c.c.decision == "permit"))).scalars())
    consented = {tc.dataset_pseudonym(person, "genomic") for person in permitted}
    return at_grz & consented


@pytest.fixture
def home(config: GenomlabConfig) -> tuple[TrustCenter, str, list[Person], list[Person]]:
    tc = TrustCenter(config)  # in-process: asks this home's platform store and GRZ
    consented, denied = enrol(tc, 12), enrol(tc, 6, start=100, research=False)
    deliver_to_grz(config, consented + denied)
    return tc, approve_rare_genomes(config), consented, denied


def test_issue_linkage_map__genomic_cohort_holds_exactly_its_consented_persons(
        home: tuple[TrustCenter, str, list[Person], list[Person]]) -> None:
    tc, application_id, consented, denied = home
    config = tc.config
    everyone = consented + denied
    expected = expected_cohort(config, tc)
    in_criteria = {p.genome for i, p in enumerate(everyone) if i % 3 != 2 and i % 2 == 0}
    assert expected == in_criteria - {p.genome for p in denied}  # the SQL agrees with the set-up
    assert in_criteria & {p.genome for p in denied}  # a denied person meets the criteria
    linkage = tc.issue_linkage_map(get_signed_approval(config, application_id),
                                   actor="data_service",
                                   genome_pseudonyms=[p.genome for p in everyone])
    rows = list(linkage.rows())
    assert {genome for _, genome, _ in rows} == expected
    assert len(rows) == len(expected) == len({project for project, _, _ in rows})
    assert {clinical for _, _, clinical in rows} == {None}  # genomic data only
    assert linkage.n_excluded_no_consent == len(denied)
    assert linkage.n_outside_cohort == len(consented) - len(expected)
    issued = [e.payload for e in tc.ledger.events(type="linkage_map.issued")]
    assert [(p["n_rows"], p["n_requested"]) for p in issued] == [(len(expected), len(everyone))]


def test_linkage_map_issue__in_process_cli_presenting_everyone_gets_only_the_cohort(
        home: tuple[TrustCenter, str, list[Person], list[Person]], tmp_path: Path) -> None:
    """``genomlab trust-center linkage-map issue`` (no service, no cohort passed by anyone):
    a caller presenting all 18 persons gets the approved cohort's consented persons only."""
    tc, application_id, consented, denied = home
    config = tc.config
    everyone = consented + denied
    expected = expected_cohort(config, tc)
    approval = tmp_path / "approval.json"
    approval.write_text(get_signed_approval(config, application_id).model_dump_json())
    presented = tmp_path / "genomes.txt"
    presented.write_text("".join(f"{p.genome}\n" for p in everyone))
    out = tmp_path / "map.tsv"
    result = CliRunner().invoke(main, [
        "--config", str(write_config_file(config, tmp_path / "genomlab.toml")),
        "trust-center", "linkage-map", "issue", "--approval", str(approval),
        "--genome-pseudonyms", str(presented), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out, separator="\t")
    assert set(frame["genome_pseudonym"].to_list()) == expected
    assert frame.height == len(expected) < len(everyone) - len(denied)
    issued = [e.payload for e in tc.ledger.events(type="linkage_map.issued")]
    assert [(p["n_rows"], p["n_requested"], p["n_outside_cohort"]) for p in issued] == [
        (len(expected), len(everyone), len(consented) - len(expected))]
