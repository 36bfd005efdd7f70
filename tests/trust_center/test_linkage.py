"""Linkage maps: consent, approvals, unlinkability between projects and between node kinds."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.db import dispose_engines
from genomlab.errors import PermissionDenied
from genomlab.genome_center.store import open_genome_center_ledger
from genomlab.institution import Institution
from genomlab.keys import load_public_key
from genomlab.ledger import projection_matches
from genomlab.messages import APPROVAL_KIND, SignatureError, SignedDocument, sign_document
from genomlab.trust_center.key_material import DATASET_PREFIX, DATASET_PSEUDONYM_PATTERN
from genomlab.trust_center.pseudonyms import compute_pseudonyms, derive_key
from genomlab.trust_center.service import LinkageMap, TrustCenter, verify_linkage_map
from tests.conftest import config_for, copy_home
from tests.trust_center.conftest import (
    GRZ,
    LE_IK,
    Person,
    PlatformWord,
    enrol,
    get_stored_bytes,
)

SignGrant = Callable[..., SignedDocument]


@pytest.fixture(scope="module")
def cohort_template(tmp_path_factory: pytest.TempPathFactory
                    ) -> tuple[Path, list[Person], list[Person]]:
    """A home with 40 persons who consented to research and 8 who denied it, built once."""
    home = tmp_path_factory.mktemp("tc-cohort") / "home"
    cfg = config_for(home)
    tc = TrustCenter(cfg)
    Institution(cfg, "platform").keys().signing_key("approval")
    consented, denied = enrol(tc, 40), enrol(tc, 8, start=100, research=False)
    dispose_engines()  # closes the connections, so the WAL is checkpointed into the file
    return home, consented, denied


@pytest.fixture
def config(cohort_template: tuple[Path, list[Person], list[Person]],
           tmp_path: Path) -> GenomlabConfig:
    """A fresh copy of the cohort home for each test (overrides the shared ``config``)."""
    return copy_home(cohort_template[0], tmp_path / "home")  # SQLite files or PostgreSQL schemas


@pytest.fixture
def cohort(cohort_template: tuple[Path, list[Person], list[Person]]
           ) -> tuple[list[Person], list[Person]]:
    return cohort_template[1], cohort_template[2]


def _bits(names: list[str]) -> np.ndarray:
    raw = b"".join(bytes.fromhex(n.split("-", 1)[1]) for n in names)
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).reshape(len(names), -1)


def _by_genome(linkage: LinkageMap) -> dict[str, str]:
    return {g: p for p, g, _ in linkage.rows()}


def test_issue_linkage_map__consented_persons_with_both_pseudonyms(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant) -> None:
    consented, denied = cohort
    everyone = consented + denied
    linkage = tc.issue_linkage_map(sign_grant(), actor="data_service",
                                   genome_pseudonyms=[p.genome for p in everyone[:30]],
                                   clinical_pseudonyms=[p.clinical for p in everyone[25:]])
    assert len(linkage) == 40
    assert linkage.n_excluded_no_consent == 8
    assert linkage.n_unknown == 0
    pairs = {(g, k) for _, g, k in linkage.rows()}
    assert pairs == {(p.genome, p.clinical) for p in consented}
    assert all(p.startswith("PP1-") for p, _, _ in linkage.rows())
    frame = linkage.to_polars()
    assert frame.height == 40
    assert frame["genome_pseudonym"].null_count() == 0


def test_issue_linkage_map__unknown_pseudonyms_are_counted_not_linked(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant) -> None:
    consented, _ = cohort
    forged = "GDP1-" + "5a" * 16
    linkage = tc.issue_linkage_map(sign_grant(), actor="data_service",
                                   genome_pseudonyms=[consented[0].genome, forged])
    assert len(linkage) == 1
    assert linkage.n_unknown == 1


def test_issue_linkage_map__two_projects_share_no_value_and_no_relation(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant) -> None:
    consented, _ = cohort
    genomes = [p.genome for p in consented]
    a = _by_genome(tc.issue_linkage_map(sign_grant("GDE-A"), actor="ds", genome_pseudonyms=genomes))
    b = _by_genome(tc.issue_linkage_map(sign_grant("GDE-B"), actor="ds", genome_pseudonyms=genomes))
    pa, pb = [a[g] for g in genomes], [b[g] for g in genomes]
    assert not set(pa) & set(pb)
    xa, xb = _bits(pa), _bits(pb)
    xor = {row.tobytes() for row in np.packbits(xa ^ xb, axis=1)}
    assert len(xor) == len(genomes)  # no fixed XOR mask
    ints_a = [int(p[4:], 16) for p in pa]
    ints_b = [int(p[4:], 16) for p in pb]
    assert len({(y - x) % 2**128 for x, y in zip(ints_a, ints_b, strict=True)}) == len(genomes)
    agreement = (xa == xb).mean()
    assert abs(agreement - 0.5) < 4 * np.sqrt(0.25 / xa.size)
    ranks_a, ranks_b = np.argsort(np.argsort(ints_a)), np.argsort(np.argsort(ints_b))
    assert abs(np.corrcoef(ranks_a, ranks_b)[0, 1]) < 4 / np.sqrt(len(genomes))


def test_compute_pseudonyms__projects_independent_at_scale(tc: TrustCenter) -> None:
    ids = np.random.default_rng(3).integers(0, 256, size=(200_000, 16), dtype=np.uint8)
    pa = compute_pseudonyms(tc.secrets.project_key("GDE-A", 1), ids,
                            prefix="PP1-").astype(str).tolist()
    pb = compute_pseudonyms(tc.secrets.project_key("GDE-B", 1), ids,
                            prefix="PP1-").astype(str).tolist()
    assert not set(pa) & set(pb)
    xa, xb = _bits(pa[:20_000]), _bits(pb[:20_000])
    per_position = (xa == xb).mean(axis=0)  # each of the 128 bit positions agrees ~half the time
    assert np.abs(per_position - 0.5).max() < 5 * np.sqrt(0.25 / len(xa))
    assert abs((xa == xb).mean() - 0.5) < 4 * np.sqrt(0.25 / xa.size)


def test_grz_side__cannot_derive_clinical_pseudonyms(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant) -> None:
    consented, _ = cohort
    grz = open_genome_center_ledger(tc.config, GRZ)
    grz.append("submission.received", {"inbox_id": "s1"}, actor="grz")
    grz.append("submission.pseudonymised", {"inbox_id": "s1", "donors": [  # all it ever gets
        {"donor_index": i, "relation": "index", "genome_pseudonym": person.genome,
         "research_consented": True, "mv_consented": False, "library_types": "wgs",
         "store": "consented"} for i, person in enumerate(consented)]}, actor="grz")
    linkage = tc.issue_linkage_map(sign_grant(), actor="ds",
                                   genome_pseudonyms=[p.genome for p in consented])
    key_dir = tc.config.institution_dir("trust_center") / "keys"
    secret_values = [p.read_bytes() for p in key_dir.glob("*.secret")]
    derived = [tc.secrets.dataset_key("genomic"), tc.secrets.dataset_key("clinical"),
               tc.secrets.project_key("GDE-2026-001", 1)]
    needles = [form for value in secret_values + derived
               for form in (value, value.hex().encode(), base64.b64encode(value))]
    outside = [p for p in tc.config.home.rglob("*") if p.is_file()
               and not p.is_relative_to(tc.config.institution_dir("trust_center"))]
    assert any(p.is_relative_to(Institution(tc.config, "grz", GRZ).directory) for p in outside)
    contents = {str(path): path.read_bytes() for path in outside}
    contents["GRZ store"] = get_stored_bytes(grz.engine)
    assert any(person.genome.encode() in contents["GRZ store"] for person in consented)
    for where, content in contents.items():
        assert not any(needle in content for needle in needles), where
    genome, clinical = _bits([p.genome for p in consented]), _bits([p.clinical for p in consented])
    project = _bits([p for p, _, _ in linkage.rows()])
    assert len({r.tobytes() for r in np.packbits(genome ^ clinical, axis=1)}) == len(consented)
    assert abs((genome == clinical).mean() - 0.5) < 4 * np.sqrt(0.25 / genome.size)
    assert abs((project == clinical[:len(project)]).mean() - 0.5) < 4 * np.sqrt(0.25 / genome.size)
    assert tc.secrets.dataset_key("genomic") != tc.secrets.dataset_key("clinical")
    assert derive_key(tc.secrets.dataset_key("genomic"), "dataset/clinical/v1") != \
        tc.secrets.dataset_key("clinical")


def test_issue_linkage_map__revoked_approval_gets_no_map(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant,
        sign_revocation: Callable[..., SignedDocument]) -> None:
    consented, _ = cohort
    grant = sign_grant("GDE-R")
    assert len(tc.issue_linkage_map(grant, actor="ds", genome_pseudonyms=[consented[0].genome]))
    tc.receive_revocation(sign_revocation("APP-GDE-R", "GDE-R"), actor="tc-operator")
    with pytest.raises(PermissionDenied, match="revoked"):
        tc.issue_linkage_map(grant, actor="ds", genome_pseudonyms=[consented[0].genome])
    refused = [e.payload for e in tc.ledger.events(type="linkage_map.refused")]
    assert refused[-1]["application_id"] == "APP-GDE-R"


@pytest.mark.parametrize(("window", "match"), [
    ((-400, -1), "expired"),
    ((10, 400), "valid only from"),
])
def test_issue_linkage_map__approval_out_of_date_gets_no_map(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant,
        window: tuple[int, int], match: str) -> None:
    consented, _ = cohort
    today = clock.today()
    grant = sign_grant(valid_from=(today + timedelta(days=window[0])).isoformat(),
                       valid_until=(today + timedelta(days=window[1])).isoformat())
    with pytest.raises(PermissionDenied, match=match):
        tc.issue_linkage_map(grant, actor="ds", genome_pseudonyms=[consented[0].genome])
    assert len(list(tc.ledger.events(type="linkage_map.issued"))) == 0
    assert len(list(tc.ledger.events(type="linkage_map.refused"))) == 1


def test_issue_linkage_map__forged_approval_is_refused(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant,
        platform_word: PlatformWord) -> None:
    """Refused first because the platform does not name it its current approval, and, were
    the platform's word fooled into naming it, still by its signature (defence in depth)."""
    consented, _ = cohort
    genuine = sign_grant("GDE-F")
    altered = SignedDocument(kind=genuine.kind, body={**genuine.body, "project_id": "GDE-X"},
                             key_id=genuine.key_id, signature=genuine.signature)
    impostor = Ed25519PrivateKey.generate()
    self_signed = sign_document(APPROVAL_KIND, genuine.body, impostor)
    claimed_key = SignedDocument(kind=genuine.kind, body=genuine.body, key_id=genuine.key_id,
                                 signature=self_signed.signature)
    for forged in (altered, self_signed, claimed_key):
        with pytest.raises(PermissionDenied, match="not the platform's current approval"):
            tc.issue_linkage_map(forged, actor="ds", genome_pseudonyms=[consented[0].genome])
    for forged in (altered, self_signed, claimed_key):
        platform_word.declare_current(forged)
        with pytest.raises(SignatureError):
            tc.issue_linkage_map(forged, actor="ds", genome_pseudonyms=[consented[0].genome])
    assert len(list(tc.ledger.events(type="linkage_map.refused"))) == 6
    assert len(list(tc.ledger.events(type="linkage_map.issued"))) == 0


def test_issue_linkage_map__data_categories_limit_the_columns(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant) -> None:
    consented, _ = cohort
    clinical_only = sign_grant("GDE-C", data_categories=["clinical"])
    with pytest.raises(PermissionDenied, match="genomic data are not in its scope"):
        tc.issue_linkage_map(clinical_only, actor="ds", genome_pseudonyms=[consented[0].genome])
    linkage = tc.issue_linkage_map(clinical_only, actor="ds",
                                   clinical_pseudonyms=[p.clinical for p in consented[:5]])
    assert len(linkage) == 5
    assert {g for _, g, _ in linkage.rows()} == {None}


def test_withdraw_research_consent__excluded_later_and_projects_listed(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant) -> None:
    consented, _ = cohort
    genomes = [p.genome for p in consented]
    first = _by_genome(tc.issue_linkage_map(sign_grant("GDE-W"), actor="ds",
                                            genome_pseudonyms=genomes))
    leaving = consented[0]
    notice = tc.withdraw_research_consent(kvnr=leaving.kvnr, le_ik=LE_IK, actor="le")
    assert notice.projects == (("GDE-W", first[leaving.genome]),)
    again = tc.issue_linkage_map(sign_grant("GDE-W"), actor="ds", genome_pseudonyms=genomes)
    other = tc.issue_linkage_map(sign_grant("GDE-V"), actor="ds", genome_pseudonyms=genomes)
    for linkage in (again, other):
        assert leaving.genome not in {g for _, g, _ in linkage.rows()}
        assert len(linkage) == len(consented) - 1
        assert linkage.n_excluded_no_consent == 1
    events = list(tc.ledger.events(type="consent.withdrawn"))
    assert events[0].payload["notified_projects"] == ["GDE-W"]


def test_rotate_keys__old_pseudonyms_stay_resolvable(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant) -> None:
    consented, _ = cohort
    genomes = [p.genome for p in consented[:10]]
    v1 = _by_genome(tc.issue_linkage_map(sign_grant("GDE-K"), actor="ds",
                                         genome_pseudonyms=genomes))
    assert tc.rotate_keys(actor="key-custodian") == 2
    pinned = _by_genome(tc.issue_linkage_map(sign_grant("GDE-K"), actor="ds",
                                             genome_pseudonyms=genomes))
    assert pinned == v1  # a served project keeps its version until re-keyed
    fresh = tc.issue_linkage_map(sign_grant("GDE-N"), actor="ds", genome_pseudonyms=genomes)
    assert all(p.startswith("PP2-") for p, _, _ in fresh.rows())
    assert tc.rekey_project("GDE-K", actor="key-custodian") == 2
    v2 = _by_genome(tc.issue_linkage_map(sign_grant("GDE-K"), actor="ds",
                                         genome_pseudonyms=genomes))
    assert all(v2[g].startswith("PP2-") and v2[g] != v1[g] for g in genomes)
    with tc.ledger.engine.connect() as conn:
        for g in genomes:
            assert tc.resolve_project_pseudonym(conn, "GDE-K", v1[g]) == \
                tc.resolve_project_pseudonym(conn, "GDE-K", v2[g])
    fingerprints = [e.payload["fingerprint"] for e in tc.ledger.events(type="keys.rotated")]
    assert len(fingerprints) == 1
    assert len(fingerprints[0]) == 16
    assert projection_matches(tc.ledger, tc.projection) == []
    assert tc.ledger.verify().ok


def test_linkage_map__project_pseudonyms_carry_no_dataset_pseudonym(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant,
        tmp_path: Path) -> None:
    consented, _ = cohort
    linkage = tc.issue_linkage_map(sign_grant(), actor="ds",
                                   genome_pseudonyms=[p.genome for p in consented])
    release = tmp_path / "release.tsv"  # what a workspace would receive: project pseudonyms only
    release.write_text("\n".join(p for p, _, _ in linkage.rows()))
    text = release.read_text()
    dataset_values = {p.genome[5:] for p in consented} | {p.clinical[5:] for p in consented}
    assert not any(prefix in text for prefix in DATASET_PREFIX.values())
    assert not any(value in text for value in dataset_values)
    assert DATASET_PSEUDONYM_PATTERN.search(text) is None
    assert DATASET_PSEUDONYM_PATTERN.search(f"x,{consented[0].clinical},y") is not None


def test_verify_linkage_map__receipt_detects_altered_rows(
        tc: TrustCenter, cohort: tuple[list[Person], list[Person]], sign_grant: SignGrant) -> None:
    consented, _ = cohort
    linkage = tc.issue_linkage_map(sign_grant(), actor="ds",
                                   genome_pseudonyms=[p.genome for p in consented[:6]])
    pem = tc.config.institution_dir("trust_center") / "keys" / "linkage-map.pub.pem"
    public_key = load_public_key(pem.read_bytes())
    verify_linkage_map(linkage, public_key)
    swapped = linkage.genome_pseudonyms.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    with pytest.raises(SignatureError, match="do not match"):
        verify_linkage_map(dataclasses.replace(linkage, genome_pseudonyms=swapped), public_key)
    issued = next(tc.ledger.events(type="linkage_map.issued"))
    assert issued.payload["digest"] == linkage.receipt.body["digest"]


@pytest.mark.parametrize(("purposes", "n_rows", "n_excluded"), [
    (["quality_assurance"], 5, 0),
    (["evaluation"], 5, 0),
    (["evaluation", "research"], 3, 2),
    (["research"], 3, 2),
])
def test_issue_linkage_map__research_consent_needed_only_for_research(
        tc: TrustCenter, sign_grant: SignGrant, purposes, n_rows, n_excluded) -> None:
    """§ 64e (6), (9): quality assurance and evaluation release persons without research
    consent; any research purpose excludes them. The applied rule is in the ledger."""
    people = enrol(tc, 3) + enrol(tc, 2, start=3, research=False)
    linkage = tc.issue_linkage_map(sign_grant("GDE-2026-007", purposes=purposes),
                                   actor="data_service",
                                   genome_pseudonyms=[p.genome for p in people])
    assert (len(linkage), linkage.n_excluded_no_consent) == (n_rows, n_excluded)
    issued = list(tc.ledger.events(type="linkage_map.issued"))[-1].payload
    assert issued["consent_rule"].count("§ 64e") == len(purposes)
