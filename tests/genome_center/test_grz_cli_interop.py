"""The world's submissions under BfArM's own ``grz-cli``, as hospitals send them (issue 17).

``grz-cli validate`` (metadata schema and thresholds from grz-pydantic-models, files with
grz-check) passes every good submission of ``truth.json`` and refuses each planted bad one for its
truth reason. ``grz-cli submit`` (validate, Crypt4GH-encrypt to the GRZ's key, upload) puts two
submissions into the GRZ's S3 inbox (moto on 127.0.0.1, :mod:`genomlab.genome_center.s3_inbox`),
where they lie as grz-cli lays them out and decrypt with the GRZ's secret key only.

The tools run from their own venv (``.ci/setup --test-tools`` makes ``.grzctl-venv``; or
``$PYTEST_GRZ_CLI`` names grz-cli, whose folder also holds ``crypt4gh``/``crypt4gh-keygen``).
grz-cli writes ``logs/`` and ``encrypted_files/`` into a submission folder, so each run works on a
copy. No store is opened: the PostgreSQL pass has nothing to add and skips this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from genomlab.genome_center.grz_tools import (
    Crypt4ghKeyPair,
    find_grz_tool,
    grz_cli_config,
    make_crypt4gh_keypair,
    run_grz_cli,
    write_grz_cli_config,
)
from genomlab.genome_center.s3_inbox import (
    VERSION_FILE_KEY,
    bundled_version_policy,
    start_local_inbox,
)

REPO = Path(__file__).resolve().parents[2]
WORLD = REPO / "data_samples" / "world"
TRUTH: dict[str, Any] = json.loads((WORLD / "truth.json").read_text())

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("PYTEST_POSTGRES")),
    reason="grz-cli interop opens no store: nothing to add in the PostgreSQL pass")

REFUSAL = {
    # reason -> what grz-cli's refusal must say (besides the field truth names)
    "schema_violation": ("Invalid metadata", "genomicDataCenterId"),
    "checksum_mismatch": ("File validation failed", "Checksum mismatch"),
    "below_threshold_coverage": ("Invalid metadata", "Mean depth of coverage",
                                 "below threshold"),
}
"""The bad submissions the hospital's tool refuses (a reused tanG is the GRZ's to find)."""


@pytest.fixture(scope="module")
def grz_bin() -> Path:
    """The folder of BfArM's tools (grz-cli, crypt4gh, crypt4gh-keygen, their python)."""
    grz_cli = find_grz_tool("grz-cli", [REPO], override=os.environ.get("PYTEST_GRZ_CLI"))
    if grz_cli is None:
        pytest.skip("BfArM's grz-cli is not installed: run .ci/setup --test-tools "
                    "(makes .grzctl-venv) or set PYTEST_GRZ_CLI")
    return grz_cli.parent


@pytest.fixture(scope="module")
def grz_keys(grz_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Crypt4ghKeyPair:
    """The GRZ's Crypt4GH key pair, made by crypt4gh-keygen into a GRZ key folder."""
    keys_dir = tmp_path_factory.mktemp("grz") / "keys"
    return make_crypt4gh_keypair(grz_bin / "crypt4gh-keygen", keys_dir)


def _good(submission_id: str) -> dict[str, Any]:
    return next(s for s in TRUTH["submissions"] if s["submission_id"] == submission_id)


def _copy(entry: dict[str, Any], into: Path) -> Path:
    target = into / Path(entry["path"]).name
    shutil.copytree(WORLD / entry["path"], target)
    return target


def _validate(grz_bin: Path, keys: Crypt4ghKeyPair, entry: dict[str, Any], hospital: dict[str, Any],
              into: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """``grz-cli validate`` on a copy of ``entry``, configured as ``hospital``'s submission."""
    folder = _copy(entry, into)
    config = write_grz_cli_config(
        into / f"{folder.name}.config.yaml",
        grz_cli_config(grz_id=hospital["grz"], submitter_id=hospital["hospital_ik"],
                       grz_public_key=keys.public_key_text()))
    started = time.monotonic()
    done = run_grz_cli(grz_bin / "grz-cli", "validate", folder, config)
    return done, time.monotonic() - started


def _errors(done: subprocess.CompletedProcess[str]) -> str:
    """grz-cli's output from its first ``[ERROR]`` line on (an error's details follow it)."""
    lines = (done.stderr + done.stdout).splitlines()
    first = next((i for i, line in enumerate(lines) if "[ERROR]" in line), len(lines))
    return "\n".join(lines[first:])


@pytest.mark.slow
def test_grz_cli_validate__every_good_world_submission_passes(
        grz_bin: Path, grz_keys: Crypt4ghKeyPair, tmp_path: Path) -> None:
    good = TRUTH["submissions"]
    assert len(good) >= 50
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda s: _validate(grz_bin, grz_keys, s, s, tmp_path), good))
    elapsed = time.monotonic() - started
    failed = {s["submission_id"]: _errors(done)[-600:]
              for s, (done, _) in zip(good, runs, strict=True) if done.returncode != 0}
    assert failed == {}
    for s, (done, _) in zip(good, runs, strict=True):
        assert "Validation finished!" in done.stderr, s["submission_id"]
    print(f"grz-cli validate: {len(good)} good submissions in {elapsed:.1f} s "
          f"(slowest {max(t for _, t in runs):.1f} s, 2 at a time)")


@pytest.mark.parametrize("reason", sorted(REFUSAL))
def test_grz_cli_validate__bad_world_submission_fails_for_its_reason(
        grz_bin: Path, grz_keys: Crypt4ghKeyPair, tmp_path: Path, reason: str) -> None:
    bad = next(b for b in TRUTH["bad_submissions"] if b["reason"] == reason)
    hospital = _good(bad["derived_from"])
    done, _ = _validate(grz_bin, grz_keys, bad, hospital, tmp_path)
    assert done.returncode != 0, f"{bad['path']}: grz-cli validate passed a {reason}"
    errors = _errors(done)
    for phrase in REFUSAL[reason]:
        assert phrase in errors, f"{bad['path']}: {phrase!r} not in grz-cli's refusal:\n{errors}"
    if reason == "checksum_mismatch":
        meta = json.loads((WORLD / bad["path"] / "metadata" / "metadata.json").read_text())
        first = meta["donors"][0]["labData"][0]["sequenceData"]["files"][0]["filePath"]
        assert f"{first}: Checksum mismatch!" in errors


def test_grz_cli_validate__reused_tang_is_not_the_hospital_tool_s_to_find(
        grz_bin: Path, grz_keys: Crypt4ghKeyPair, tmp_path: Path) -> None:
    # A hospital's grz-cli cannot know that a tanG was used before; the GRZ's grzctl (grz-db's
    # DuplicateTanGError) refuses the reuse. Until genomlab's GRZ runs on grzctl (issue 17, next
    # slice) genomlab's intake does (test_world_intake.py: duplicate_tang).
    bad = next(b for b in TRUTH["bad_submissions"] if b["reason"] == "reused_tanG")
    original = _good(bad["derived_from"])
    reused = json.loads((WORLD / bad["path"] / "metadata" / "metadata.json").read_text())
    assert reused["submission"]["tanG"] == original["tan_g"]
    done, _ = _validate(grz_bin, grz_keys, bad, original, tmp_path)
    assert done.returncode == 0, _errors(done)


def test_grz_cli_validate__another_grz_s_submission_is_refused(
        grz_bin: Path, grz_keys: Crypt4ghKeyPair, tmp_path: Path) -> None:
    entry = TRUTH["submissions"][0]
    other = next(s for s in TRUTH["submissions"] if s["grz"] != entry["grz"])
    done, _ = _validate(grz_bin, grz_keys, entry, {**entry, "grz": other["grz"]}, tmp_path)
    assert done.returncode != 0
    assert f"does not match genomic data center identifier in config ({other['grz']})" \
        in _errors(done)


def _decrypt(grz_bin: Path, secret_key: Path, data: bytes) -> subprocess.CompletedProcess[bytes]:
    """``crypt4gh decrypt --sk`` (the crypt4gh package, in BfArM's tool venv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("C4GH_")}
    return subprocess.run([str(grz_bin / "crypt4gh"), "decrypt", "--sk", str(secret_key)],
                          input=data, capture_output=True, timeout=120, env=env)


def _installed_version(grz_bin: Path, package: str) -> str:
    return subprocess.run([str(grz_bin / "python"), "-c", "import importlib.metadata as m; "
                           f"print(m.version({package!r}))"], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def _two_submissions_to_one_grz() -> list[dict[str, Any]]:
    """Two good initial submissions to the same GRZ from different hospitals, one with relatives."""
    initial = [s for s in TRUTH["submissions"] if s["type"] == "initial"]
    return next([family, single] for family in initial if len(family["samples"]) >= 3
                and family["disease_type"] == "oncological"
                for single in initial if single["grz"] == family["grz"]
                and len(single["samples"]) == 1 and single["hospital_ik"] != family["hospital_ik"])


@pytest.mark.slow
def test_grz_cli_submit__two_world_submissions_lie_encrypted_in_the_grz_inbox(
        grz_bin: Path, grz_keys: Crypt4ghKeyPair, tmp_path: Path) -> None:
    chosen = _two_submissions_to_one_grz()
    grz_id = chosen[0]["grz"]
    policy = bundled_version_policy(grz_bin / "python")
    other_keys = make_crypt4gh_keypair(grz_bin / "crypt4gh-keygen", tmp_path / "other", "inbox")
    with start_local_inbox(grz_id, version_policy=policy) as inbox:
        assert inbox.endpoint_url.startswith("http://127.0.0.1:")
        assert inbox.keys() == [VERSION_FILE_KEY]
        for entry in chosen:
            folder = _copy(entry, tmp_path)
            config = write_grz_cli_config(tmp_path / f"{entry['hospital_ik']}.yaml",
                                          inbox.hospital_config(entry["hospital_ik"], grz_keys))
            assert (config.stat().st_mode & 0o777) == 0o600
            started = time.monotonic()
            done = run_grz_cli(grz_bin / "grz-cli", "submit", folder, config)
            print(f"grz-cli submit {entry['submission_id']}: {time.monotonic() - started:.1f} s")
            assert done.returncode == 0, _errors(done)
            assert done.stdout.splitlines()[-2:] == [entry["submission_id"], "Submission finished!"]

        expected = {VERSION_FILE_KEY}
        files: dict[str, dict[str, Any]] = {}
        for entry in chosen:
            sid = entry["submission_id"]
            meta_path = WORLD / entry["path"] / "metadata" / "metadata.json"
            meta = json.loads(meta_path.read_text())
            expected |= {f"{sid}/metadata/metadata.json", f"{sid}/version"}
            for donor in meta["donors"]:
                for lab in donor["labData"]:
                    for f in lab["sequenceData"]["files"]:
                        expected.add(f"{sid}/files/{f['filePath']}.c4gh")
                        files[f"{sid}/files/{f['filePath']}.c4gh"] = {
                            **f, "local": WORLD / entry["path"] / "files" / f["filePath"]}
            # metadata as grz-cli lays it out: plain, byte for byte what the hospital validated
            assert inbox.read(f"{sid}/metadata/metadata.json") == meta_path.read_bytes()
            assert inbox.read(f"{sid}/version").decode() == _installed_version(grz_bin, "grz-cli")
        assert set(inbox.keys()) == expected
        assert len(files) >= 8

        for key, f in sorted(files.items()):
            blob = inbox.read(key)
            plain = f["local"].read_bytes()
            assert blob.startswith(b"crypt4gh"), key
            assert plain not in blob, key
            opened = _decrypt(grz_bin, grz_keys.secret_key, blob)
            assert opened.returncode == 0, (key, opened.stderr[-400:])
            assert opened.stdout == plain, key
            assert hashlib.sha256(opened.stdout).hexdigest() == f["fileChecksum"], key
        some_key, some = next(iter(sorted(files.items())))
        refused = _decrypt(grz_bin, other_keys.secret_key, inbox.read(some_key))
        assert refused.returncode != 0
        assert refused.stdout != some["local"].read_bytes()


def test_make_crypt4gh_keypair__made_once_secret_private(grz_bin: Path, tmp_path: Path) -> None:
    first = make_crypt4gh_keypair(grz_bin / "crypt4gh-keygen", tmp_path / "keys")
    secret, public = first.secret_key.read_bytes(), first.public_key_text()
    again = make_crypt4gh_keypair(grz_bin / "crypt4gh-keygen", tmp_path / "keys")
    assert again == first
    assert (again.secret_key.read_bytes(), again.public_key_text()) == (secret, public)
    assert public.startswith("-----BEGIN CRYPT4GH PUBLIC KEY-----")
    assert b"BEGIN CRYPT4GH PRIVATE KEY" in secret
    assert (first.secret_key.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["inbox.c4gh"]


def test_run_grz_cli__refuses_a_command_it_does_not_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="grz-cli command 'download'"):
        run_grz_cli(tmp_path / "grz-cli", "download", tmp_path, tmp_path / "c.yaml")
