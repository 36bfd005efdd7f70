"""Key files and signed documents."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from genomlab.keys import FileKeyProvider, key_id
from genomlab.messages import SignatureError, SignedDocument, sign_document, verify_document


def _make_key(directory: str, out: multiprocessing.Queue) -> None:
    out.put(key_id(FileKeyProvider(directory).public_key()))


def test_file_key_provider__files_are_private_and_stable(tmp_path: Path) -> None:
    keys = FileKeyProvider(tmp_path / "keys")
    first = keys.secret("pseudonym-master")
    assert keys.secret("pseudonym-master") == first
    assert len(first) == 32
    keys.signing_key()
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    for name in ("pseudonym-master.secret", "ledger.ed25519.pem"):
        assert (tmp_path / "keys" / name).stat().st_mode & 0o777 == 0o600


def test_file_key_provider__concurrent_first_use_yields_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_make_key, args=(str(tmp_path / "k"), out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    ids = {out.get(timeout=60) for _ in procs}
    for proc in procs:
        proc.join()
    assert len(ids) == 1


def test_verify_document__any_altered_byte_is_refused(tmp_path: Path) -> None:
    key = FileKeyProvider(tmp_path).signing_key("approval")
    doc = sign_document("approval", {"project_id": "GDE-1", "team": ["a", "b"]}, key)
    assert verify_document(doc, key.public_key(), kind="approval")["project_id"] == "GDE-1"
    wire = doc.model_dump_json()
    for position in range(len(wire)):
        altered = wire[:position] + chr(ord(wire[position]) ^ 1) + wire[position + 1:]
        try:
            forged = SignedDocument.model_validate_json(altered)
        except ValueError:
            continue  # no longer a document at all
        if forged == doc:
            continue  # e.g. whitespace-equivalent JSON
        with pytest.raises(SignatureError):
            verify_document(forged, key.public_key(), kind="approval")


def test_verify_document__wrong_kind_and_foreign_key_are_refused(tmp_path: Path) -> None:
    key = FileKeyProvider(tmp_path / "a").signing_key("approval")
    other = FileKeyProvider(tmp_path / "b").signing_key("approval")
    doc = sign_document("approval", {"x": 1}, key)
    with pytest.raises(SignatureError, match="expected a 'revocation'"):
        verify_document(doc, key.public_key(), kind="revocation")
    with pytest.raises(SignatureError, match="unknown key"):
        verify_document(doc, other.public_key(), kind="approval")
