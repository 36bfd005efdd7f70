"""Trusted public keys checked against the fingerprints anchored in the truster's ledger.

An intruder swaps a public-key file another institution trusts: the platform's published token
key (``<home>/services/platform.token-key.pub.pem``) or its approval key
(``platform/keys/approval.pub.pem``), and signs tokens or approvals with the matching private
key. ``genomlab ledger anchor`` recorded each key's fingerprint (from the platform's signing key)
in the trusting institutions' ledgers; the loaders refuse a file that does not match, naming the
file, the expected and the found fingerprint:

1. a service started while the token key file is swapped does not start;
2. the in-process linkage path asks the platform whether the approval is its current one (an
   approval signed with a swapped key is refused even where no key was anchored);
3. the trust centre reads its approval key at every use, so a swap after its start is refused
   at the next request, and a swap before its start at the first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genomlab.anchors import anchor_trusted_keys
from genomlab.clients.oauth import ClientCredentials, get_credentials_path, save_client_credentials
from genomlab.clients.platform import get_published_token_key, load_platform_token_key
from genomlab.config import GenomlabConfig
from genomlab.errors import PermissionDenied
from genomlab.institution import Institution
from genomlab.keys import public_key_pem
from genomlab.ledgers import open_ledger
from genomlab.messages import (
    APPROVAL_KIND,
    REVOCATION_KIND,
    SignedDocument,
    sign_document,
    verify_document,
)
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.applications.entitlements import get_signed_approval
from genomlab.platform.applications.workflow import Workflow
from genomlab.services.runner import get_keys_trusted_at_start, get_service_record_path
from genomlab.trust_center.approvals import check_approval, platform_approval_key_path
from genomlab.trust_center.service import TrustCenter
from genomlab.trusted_keys import (
    TrustedKeyMismatch,
    TrustedKeyNotAnchored,
    compute_fingerprint,
    require_anchored_keys,
)
from tests.trust_center.conftest import Person, enrol

HOLDERS = (("trust_center", None), ("data_service", None), ("airlock", None),
           ("grz", "GRZK00001"))


def swap_public_key(path: Path) -> Ed25519PrivateKey:
    """Put an attacker's public key into ``path`` (as an intruder with write access could);
    the attacker's private key is returned."""
    attacker = Ed25519PrivateKey.generate()
    path.write_bytes(public_key_pem(attacker.public_key()))
    return attacker


def fingerprint_of(config: GenomlabConfig, key: str) -> str:
    return compute_fingerprint(Institution(config, "platform").keys().public_key(key))


@pytest.fixture
def unanchored(config: GenomlabConfig) -> GenomlabConfig:
    """A home whose platform has its token key (published) and approval key, with a trust
    centre, a data service, an airlock and a GRZ; ``genomlab ledger anchor`` never ran."""
    keys = Institution(config, "platform").keys()
    published = get_published_token_key(config)
    published.parent.mkdir(parents=True, exist_ok=True)
    published.write_bytes(keys.public_key_path("oauth").read_bytes())
    keys.signing_key("approval")
    for kind, node in HOLDERS:
        institution = Institution(config, kind, node)  # type: ignore[arg-type]
        open_ledger(institution).append("institution.initialised",
                                        {"institution": institution.name, "store": "sqlite"},
                                        actor="op")
    return config


@pytest.fixture
def anchored(unanchored: GenomlabConfig) -> GenomlabConfig:
    """The ``unanchored`` home (the platform's token key, published, and approval key; a trust
    centre, a data service, an airlock and a GRZ), the keys' fingerprints anchored."""
    config = unanchored
    pinned = anchor_trusted_keys(config)
    assert {(p.holder, p.key) for p in pinned} == {
        (Institution(config, kind, node).name, key)  # type: ignore[arg-type]
        for kind, node in HOLDERS for key in ("oauth", "approval")}
    assert anchor_trusted_keys(config) == []  # anchored once
    return config


# --- 1. a service started while the token key file is swapped -----------------------------------


def test_load_platform_token_key__swapped_published_key_refused_by_every_holder(
        anchored: GenomlabConfig) -> None:
    published = get_published_token_key(anchored)
    expected = fingerprint_of(anchored, "oauth")
    for kind, node in HOLDERS:  # the genuine file loads
        holder = Institution(anchored, kind, node)  # type: ignore[arg-type]
        assert compute_fingerprint(load_platform_token_key(anchored, trusted_by=holder)
                                   ) == expected
    attacker = swap_public_key(published)
    found = compute_fingerprint(attacker.public_key())
    for kind, node in HOLDERS:
        holder = Institution(anchored, kind, node)  # type: ignore[arg-type]
        with pytest.raises(TrustedKeyMismatch) as refused:
            load_platform_token_key(anchored, trusted_by=holder)
        assert str(refused.value) == (
            f"{published}: the platform's access-token key (oauth) is not the key anchored in "
            f"{holder.name}'s ledger (expected {expected}, found {found}); refused: the "
            "trusted key file was swapped")


def test_create_trust_center_app__does_not_start_with_a_swapped_token_key(
        anchored: GenomlabConfig) -> None:
    from genomlab.services.trust_center_api import create_trust_center_app

    save_client_credentials(get_credentials_path(Institution(anchored, "trust_center").directory),
                            ClientCredentials("vst-client", "s" * 43, "VSTRKI"))
    assert create_trust_center_app(anchored) is not None  # starts with the genuine key
    published = get_published_token_key(anchored)
    swap_public_key(published)
    with pytest.raises(TrustedKeyMismatch, match=f"^{published}: .*expected "
                       f"{fingerprint_of(anchored, 'oauth')}, found sha256:"):
        create_trust_center_app(anchored)


def test_for_service__data_service_does_not_start_with_a_swapped_token_key(
        anchored: GenomlabConfig) -> None:
    from genomlab.platform.access_tokens import DATA_SERVICE_AUDIENCE
    from genomlab.services.person_check import PersonCheck

    assert PersonCheck.for_service(anchored, "data_service", DATA_SERVICE_AUDIENCE) is not None
    swap_public_key(get_published_token_key(anchored))
    with pytest.raises(TrustedKeyMismatch, match="in data_service's ledger"):
        PersonCheck.for_service(anchored, "data_service", DATA_SERVICE_AUDIENCE)


# --- 2. the in-process linkage path asks the platform ---------------------------------------------


@pytest.fixture
def approved(config: GenomlabConfig, everyone_in_cohort: None
             ) -> tuple[GenomlabConfig, str, list[Person]]:
    """A real approval of the platform (the demo application, genomic and clinical data) and
    three enrolled, research-consenting persons (at no node's store: the cohort is every
    presented person, ``everyone_in_cohort``); no key anchored."""
    app = run_applications_demo(config)
    return config, app.application_id, enrol(TrustCenter(config), 3)


def forge_copy(approval: SignedDocument, key: Ed25519PrivateKey) -> SignedDocument:
    """The approval's body signed with ``key`` (a new team member slipped in)."""
    body = {**approval.body, "team": [*approval.body["team"], "mallory"]}
    return sign_document(APPROVAL_KIND, body, key)


def test_issue_linkage_map__in_process_approval_signed_after_a_key_swap_refused(
        approved: tuple[GenomlabConfig, str, list[Person]]) -> None:
    config, application_id, persons = approved
    tc = TrustCenter(config)  # in-process: the platform's store is asked
    genuine = get_signed_approval(config, application_id)
    assert len(tc.issue_linkage_map(genuine, actor="ds",
                                    genome_pseudonyms=[p.genome for p in persons])) == 3
    attacker = swap_public_key(platform_approval_key_path(config))
    forged = forge_copy(genuine, attacker)
    check_approval(forged, tc.platform_key, today=tc.today())  # the swap fools the signature
    with pytest.raises(PermissionDenied, match=f"^approval {application_id}: not the "
                       "platform's current approval"):
        tc.issue_linkage_map(forged, actor="ds", genome_pseudonyms=[p.genome for p in persons])
    assert len(list(tc.ledger.events(type="linkage_map.issued"))) == 1
    assert [e.payload["application_id"] for e in tc.ledger.events(type="linkage_map.refused")
            ] == [application_id]


def test_issue_linkage_map__in_process_revoked_at_the_platform_refused_without_being_told(
        approved: tuple[GenomlabConfig, str, list[Person]]) -> None:
    config, application_id, persons = approved
    tc = TrustCenter(config)
    approval = get_signed_approval(config, application_id)
    assert len(tc.issue_linkage_map(approval, actor="ds",
                                    genome_pseudonyms=[p.genome for p in persons])) == 3
    Workflow(config).revoke("dora", application_id, "Conditions breached.")
    with pytest.raises(PermissionDenied, match=f"^approval {application_id}: revoked at the "
                       "platform$"):
        tc.issue_linkage_map(approval, actor="ds", genome_pseudonyms=[p.genome for p in persons])
    assert list(tc.ledger.events(type="approval.revoked")) == []  # nobody told the trust centre


# --- 3. the trust centre's approval key is read at every use --------------------------------------


def forge_revocation(key: Ed25519PrivateKey) -> SignedDocument:
    return sign_document(REVOCATION_KIND, {"application_id": "APP-GDE-X", "project_id": "GDE-X",
                                           "revoked_at": "2026-06-01T00:00:00+00:00"}, key)


def test_platform_key__swap_after_start_refused_at_the_next_use(
        anchored: GenomlabConfig) -> None:
    tc = TrustCenter(anchored)
    expected = fingerprint_of(anchored, "approval")
    assert compute_fingerprint(tc.platform_key) == expected  # read once, genuine
    path = platform_approval_key_path(anchored)
    attacker = swap_public_key(path)
    with pytest.raises(TrustedKeyMismatch) as refused:
        tc.platform_key  # noqa: B018 (the property reads and checks the file)
    assert str(refused.value) == (
        f"{path}: the platform's approval key (approval) is not the key anchored in "
        f"trust_center's ledger (expected {expected}, found "
        f"{compute_fingerprint(attacker.public_key())}); refused: the trusted key file was "
        "swapped")
    with pytest.raises(TrustedKeyMismatch, match=f"^{path}: "):
        tc.receive_revocation(forge_revocation(attacker), actor="tc-operator")
    assert list(tc.ledger.events(type="approval.revoked")) == []


def test_platform_key__swap_before_start_refused_at_the_first_use(
        anchored: GenomlabConfig) -> None:
    path = platform_approval_key_path(anchored)
    attacker = swap_public_key(path)
    tc = TrustCenter(anchored)
    with pytest.raises(TrustedKeyMismatch, match=f"^{path}: "):
        tc.receive_revocation(forge_revocation(attacker), actor="tc-operator")
    assert list(tc.ledger.events(type="approval.revoked")) == []


# --- 4. trust on first anchoring: no anchor, no start ---------------------------------------------


def test_serve__a_service_with_no_anchored_key_refuses_to_start(
        unanchored: GenomlabConfig, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from genomlab.cli import main
    from tests.conftest import write_config_file

    config_file = write_config_file(unanchored, tmp_path / "genomlab.toml")
    tc_ledger = open_ledger(Institution(unanchored, "trust_center"))
    before = tc_ledger.head()
    result = CliRunner().invoke(main, ["--config", str(config_file), "serve", "trust-center",
                                       "--port", "0"])
    assert result.exit_code == 1, result.output
    assert (
        "trust_center: no fingerprint of the platform's access-token key (oauth), approval key "
        "(approval) is anchored in trust_center's ledger, so a swapped key file could not be "
        "detected; refusing to start: run `genomlab ledger anchor` as the operator first"
        in " ".join(result.output.split())), result.output
    assert open_ledger(Institution(unanchored, "trust_center")).head() == before
    assert not get_service_record_path(unanchored, Institution(unanchored, "trust_center")
                                       ).exists()
    result = CliRunner().invoke(main, ["--config", str(config_file), "serve", "grz", "--node",
                                       "GRZK00001", "--port", "0"])
    assert result.exit_code == 1, result.output
    assert "grz:GRZK00001: no fingerprint of the platform's access-token key (oauth) is" in (
        " ".join(result.output.split()))


def test_require_anchored_keys__passes_once_anchored_and_names_only_what_is_missing(
        unanchored: GenomlabConfig) -> None:
    tc = Institution(unanchored, "trust_center")
    assert get_keys_trusted_at_start(unanchored, tc) == ["oauth", "approval"]
    assert get_keys_trusted_at_start(unanchored, Institution(unanchored, "airlock")) == ["oauth"]
    assert get_keys_trusted_at_start(unanchored, Institution(unanchored, "platform")) == []
    open_ledger(tc).append("key.anchored", {"institution": "platform", "key": "oauth",
                                            "fingerprint": fingerprint_of(unanchored, "oauth")},
                           actor="ledger-anchor", stream="platform")
    with pytest.raises(TrustedKeyNotAnchored, match=r"^trust_center: no fingerprint of the "
                       r"platform's approval key \(approval\) is anchored"):
        require_anchored_keys(tc, ["oauth", "approval"])
    anchor_trusted_keys(unanchored)
    for kind, node in HOLDERS:
        holder = Institution(unanchored, kind, node)  # type: ignore[arg-type]
        require_anchored_keys(holder, get_keys_trusted_at_start(unanchored, holder))


# --- 5. deliberate rotation: recorded, re-anchored, the old key refused ---------------------------


def rotate(config: GenomlabConfig, tmp_path: Path, name: str) -> str:
    """``genomlab ledger rotate-key NAME --reason ...`` in ``config``'s home; its output."""
    from click.testing import CliRunner

    from genomlab.cli import main
    from genomlab.db import dispose_engines
    from tests.conftest import write_config_file

    dispose_engines()
    result = CliRunner().invoke(main, [
        "--config", str(write_config_file(config, tmp_path / "genomlab.toml")),
        "ledger", "rotate-key", name, "--reason", "yearly rotation"])
    assert result.exit_code == 0, result.output
    return result.output


def anchored_in(config: GenomlabConfig, key: str) -> dict[str, tuple[str, str]]:
    """Each holder's latest ``key.anchored`` of the platform's ``key``: (fingerprint,
    replaces)."""
    found = {}
    for kind, node in HOLDERS:
        holder = Institution(config, kind, node)  # type: ignore[arg-type]
        events = [e.payload for e in holder.ledger().events(type="key.anchored")
                  if e.payload["key"] == key]
        found[holder.name] = (events[-1]["fingerprint"], events[-1].get("replaces", ""))
    return found


def test_rotate_key__token_key_recorded_reanchored_old_key_and_its_tokens_refused(
        anchored: GenomlabConfig, tmp_path: Path) -> None:
    from genomlab.anchors import find_key_faults
    from genomlab.platform.access_tokens import (
        TRUST_CENTER_AUDIENCE,
        AccessTokenAuthority,
        InvalidToken,
        decode_access_token,
    )
    from genomlab.platform.oauth_clients import ClientIdentity

    old = fingerprint_of(anchored, "oauth")
    published = get_published_token_key(anchored)
    old_public = published.read_bytes()
    token = AccessTokenAuthority(anchored).issue(ClientIdentity(
        "ds-client", "DSGENOMLAB", "linkage:request", "2026-01-01T00:00:00+00:00"),
        "linkage:request")["access_token"]
    tc = Institution(anchored, "trust_center")
    assert decode_access_token(token, load_platform_token_key(anchored, trusted_by=tc),
                               audience=TRUST_CENTER_AUDIENCE)["client_id"] == "ds-client"
    output = rotate(anchored, tmp_path, "platform-token")
    new = fingerprint_of(anchored, "oauth")
    assert new != old
    assert f"platform's oauth key rotated: {old} -> {new}" in output
    rotated = [(e.actor, e.payload) for e in Institution(anchored, "platform").ledger().events(
        type="key.rotated")]
    assert len(rotated) == 1
    assert rotated[0][0].startswith("operator:")
    assert rotated[0][1] == {"key": "oauth", "old_fingerprint": old, "new_fingerprint": new,
                             "reason": "yearly rotation"}
    assert set(anchored_in(anchored, "oauth").values()) == {(new, old)}  # every holder
    assert set(anchored_in(anchored, "approval").values()) == {
        (fingerprint_of(anchored, "approval"), "")}  # the other key untouched
    for kind, node in HOLDERS:  # every service loads the new, published key
        holder = Institution(anchored, kind, node)  # type: ignore[arg-type]
        assert compute_fingerprint(load_platform_token_key(anchored, trusted_by=holder)) == new
    assert find_key_faults(anchored) == []
    with pytest.raises(InvalidToken, match="Signature verification failed"):
        decode_access_token(token, load_platform_token_key(anchored, trusted_by=tc),
                            audience=TRUST_CENTER_AUDIENCE)
    published.write_bytes(old_public)  # the old key put back: refused
    with pytest.raises(TrustedKeyMismatch, match=f"expected {new}, found {old}"):
        load_platform_token_key(anchored, trusted_by=tc)


def test_rotate_key__approval_key_old_approvals_stop_verifying(
        anchored: GenomlabConfig, tmp_path: Path) -> None:
    from genomlab.messages import SignatureError

    platform = Institution(anchored, "platform")
    old = fingerprint_of(anchored, "approval")
    old_public = platform_approval_key_path(anchored).read_bytes()
    approval = sign_document(APPROVAL_KIND, {"application_id": "APP-1", "project_id": "GDE-1"},
                             platform.keys().signing_key("approval"))
    tc = TrustCenter(anchored)
    verify_document(approval, tc.platform_key, kind=APPROVAL_KIND)  # genuine before
    rotate(anchored, tmp_path, "platform-approval")
    new = fingerprint_of(anchored, "approval")
    assert set(anchored_in(anchored, "approval").values()) == {(new, old)}  # every holder
    assert compute_fingerprint(tc.platform_key) == new  # read at use: the new key
    with pytest.raises(SignatureError):
        verify_document(approval, tc.platform_key, kind=APPROVAL_KIND)
    platform_approval_key_path(anchored).write_bytes(old_public)
    with pytest.raises(TrustedKeyMismatch, match=f"expected {new}, found {old}"):
        tc.platform_key  # noqa: B018 (the property reads and checks the file)


def test_anchor_trusted_keys__completes_a_rotation_stopped_before_the_reanchoring(
        anchored: GenomlabConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rotation stops after the record and the new key files (here: the re-anchoring
    fails): the holders refuse the new key until ``ledger anchor`` completes the recorded
    rotation; an unrecorded swap afterwards is still not anchored."""
    from genomlab import anchors

    old = fingerprint_of(anchored, "oauth")
    with monkeypatch.context() as patch:
        patch.setattr(anchors, "anchor_trusted_keys", lambda config: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            anchors.rotate_platform_key(anchored, "oauth", actor="operator:test", reason="due")
    new = fingerprint_of(anchored, "oauth")
    tc = Institution(anchored, "trust_center")
    with pytest.raises(TrustedKeyMismatch, match=f"expected {old}, found {new}"):
        load_platform_token_key(anchored, trusted_by=tc)
    assert {(a.holder, a.fingerprint, a.replaces) for a in anchors.anchor_trusted_keys(anchored)
            } == {(Institution(anchored, kind, node).name, new, old)  # type: ignore[arg-type]
                  for kind, node in HOLDERS}
    assert compute_fingerprint(load_platform_token_key(anchored, trusted_by=tc)) == new
    attacker = Ed25519PrivateKey.generate()  # a swapped pair, no key.rotated record
    keys = Institution(anchored, "platform").directory / "keys"
    (keys / "oauth.ed25519.pem").write_bytes(attacker.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert anchors.anchor_trusted_keys(anchored) == []
    assert set(anchored_in(anchored, "oauth").values()) == {(new, old)}


# --- 6. approvals in force signed again with a rotated approval key -----------------------------


def approve_another(config: GenomlabConfig) -> str:
    """A second approved application of the demo's staff and team (the demo's form again)."""
    from sqlalchemy import select

    from genomlab.platform.applications import projection as t
    from genomlab.platform.applications.demo import attach_demo_documents
    from genomlab.platform.applications.models import ApplicationForm
    from genomlab.platform.applications.store import read_platform

    with read_platform(config) as conn:
        form = ApplicationForm.model_validate_json(conn.execute(select(t.applications.c.form)
                                                                ).scalars().first())
    wf = Workflow(config)
    application_id = wf.create_draft("alice", form)
    attach_demo_documents(wf, "alice", application_id)
    wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.request_committee_review("hanna", application_id, note="Standard review.")
    wf.record_vote("kurt", application_id, "approve", "Justified.")
    wf.approve("dora", application_id, note="Committee in favour.")
    return application_id


def test_rotate_key__approval_key_signs_approvals_in_force_again_not_revoked_ones(
        approved: tuple[GenomlabConfig, str, list[Person]], tmp_path: Path) -> None:
    """``rotate-key platform-approval`` signs the approval in force again with the new key
    (``approval.resigned``): the trust centre issues the same cohort's linkage map for it and
    the data service's release check passes; the old document, and the revoked approval (not
    signed again), are refused; a second run signs nothing; every ledger verifies."""
    from click.testing import CliRunner

    from genomlab.anchors import resign_approvals
    from genomlab.cli import main
    from genomlab.data_service.release import verify_release_approval
    from genomlab.db import dispose_engines
    from genomlab.errors import GenomlabError
    from genomlab.messages import compute_document_digest
    from tests.conftest import write_config_file

    config, application_id, persons = approved
    revoked_id = approve_another(config)
    Workflow(config).revoke("dora", revoked_id, "Conditions breached.")
    anchor_trusted_keys(config)  # as every service start does: the holders trust the old key
    genomes = [p.genome for p in persons]
    before = get_signed_approval(config, application_id)
    revoked = get_signed_approval(config, revoked_id)
    first = TrustCenter(config).issue_linkage_map(before, actor="ds", genome_pseudonyms=genomes)
    old = fingerprint_of(config, "approval")
    output = rotate(config, tmp_path, "platform-approval")
    new = fingerprint_of(config, "approval")
    now = get_signed_approval(config, application_id)
    assert (now.body, now.key_id, before.key_id) == (before.body, new[7:23], old[7:23])
    events = list(Institution(config, "platform").ledger().events(type="approval.resigned"))
    assert [(e.actor.startswith("operator:"), e.stream, e.payload) for e in events] == [(
        True, application_id, {
            "application_id": application_id, "project_id": before.body["project_id"],
            "old_fingerprint": old, "new_fingerprint": new,
            "old_digest": compute_document_digest(before),
            "approval_digest": compute_document_digest(now),
            "approval": now.model_dump(mode="json")})]
    assert f"approval {application_id} ({before.body['project_id']}) signed again" in output
    assert "1 approval(s) in force signed again" in output
    assert get_signed_approval(config, revoked_id) == revoked  # not signed again
    dispose_engines()
    tc = TrustCenter(config)
    again = tc.issue_linkage_map(now, actor="ds", genome_pseudonyms=genomes)
    assert sorted(again.rows()) == sorted(first.rows())
    assert len(again) == 3
    assert verify_release_approval(config, application_id)[1].project_id == (
        before.body["project_id"])
    with pytest.raises(GenomlabError):  # the old document: superseded, old key
        tc.issue_linkage_map(before, actor="ds", genome_pseudonyms=genomes)
    with pytest.raises(PermissionDenied, match=f"^approval {revoked_id}: revoked at the "):
        tc.issue_linkage_map(revoked, actor="ds", genome_pseudonyms=genomes)
    with pytest.raises(GenomlabError):
        verify_release_approval(config, revoked_id)
    assert resign_approvals(config, actor="operator:test") == []  # done: nothing twice
    result = CliRunner().invoke(main, [
        "--config", str(write_config_file(config, tmp_path / "genomlab.toml")),
        "ledger", "verify", "--full"])
    assert result.exit_code == 0, result.output
    assert "BROKEN" not in result.output


def test_ledger_anchor__completes_a_rotation_stopped_before_the_approvals_were_signed_again(
        approved: tuple[GenomlabConfig, str, list[Person]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The approval-key rotation stops after the re-anchoring: the approval in force is still
    signed with the old key and refused; ``genomlab ledger anchor`` signs it again."""
    from click.testing import CliRunner

    from genomlab import anchors
    from genomlab.cli import main
    from genomlab.db import dispose_engines
    from genomlab.messages import SignatureError
    from tests.conftest import write_config_file

    config, application_id, persons = approved
    anchor_trusted_keys(config)
    before = get_signed_approval(config, application_id)
    with monkeypatch.context() as patch:
        patch.setattr(Workflow, "resign_approvals", lambda self, actor: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            anchors.rotate_platform_key(config, "approval", actor="operator:test", reason="due")
    assert get_signed_approval(config, application_id) == before
    tc = TrustCenter(config)
    with pytest.raises(SignatureError, match="signed by unknown key"):
        check_approval(before, tc.platform_key, today=tc.today())
    dispose_engines()
    result = CliRunner().invoke(main, [
        "--config", str(write_config_file(config, tmp_path / "genomlab.toml")), "ledger",
        "anchor"])
    assert result.exit_code == 0, result.output
    assert f"approval {application_id} ({before.body['project_id']}) signed again" in (
        result.output)
    now = get_signed_approval(config, application_id)
    assert now.body == before.body
    assert now != before
    assert len(tc.issue_linkage_map(now, actor="ds",
                                    genome_pseudonyms=[p.genome for p in persons])) == 3


# --- 7. a running service's trusted key file: rotations taken up, swaps refused -----------------


def test_trusted_key_file__takes_an_anchored_rotation_keeps_the_key_on_a_swap(
        anchored: GenomlabConfig) -> None:
    """In-process, what a service holds (``tests/services/test_key_rotation_service.py`` runs
    it in real services): the rotated key is taken at the next use; a swapped file is refused
    and the anchored key stays; once the anchored key is not in the file either, none is
    trusted (the error names the file)."""
    from genomlab.anchors import rotate_platform_key
    from genomlab.clients.platform import watch_platform_token_key
    from genomlab.trusted_keys import TrustedKeyFile

    tc = Institution(anchored, "trust_center")
    held = watch_platform_token_key(anchored, trusted_by=tc)
    assert isinstance(held, TrustedKeyFile)
    assert compute_fingerprint(held.current()) == fingerprint_of(anchored, "oauth")
    first = rotate_platform_key(anchored, "oauth", actor="operator:test", reason="due")
    assert compute_fingerprint(held.current()) == first.new
    published = get_published_token_key(anchored)
    genuine = published.read_bytes()
    attacker = swap_public_key(published)
    assert compute_fingerprint(held.current(key_id="0" * 16)) == first.new  # kept
    published.write_bytes(genuine)
    assert compute_fingerprint(held.current()) == first.new
    second = rotate_platform_key(anchored, "oauth", actor="operator:test", reason="again")
    published.write_bytes(public_key_pem(attacker.public_key()))  # swapped over the rotation
    with pytest.raises(TrustedKeyMismatch, match=f"^{published}: .*expected {second.new}, "
                       f"found {compute_fingerprint(attacker.public_key())}"):
        held.current()
    published.write_bytes(public_key_pem(Institution(anchored, "platform").keys()
                                         .public_key("oauth")))
    assert compute_fingerprint(held.current()) == second.new
