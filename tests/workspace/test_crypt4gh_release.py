"""Crypt4GH releases: no plaintext genotype on disk, members decrypt into their own scratch.

Hail-free: a staged release folder with a VCF-like genotype file and a Parquet table goes
through :func:`encrypt_release_tree` as the data service calls it; the entitlement-checked
:func:`open_release` decrypts it for a team member. The ciphertext is also read back with the
``crypt4gh`` package's own command line (``crypt4gh decrypt --sk``) to show the file is plain
Crypt4GH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, PermissionDenied
from genomlab.workspace import open_release
from genomlab.workspace.crypt4gh_release import (
    ENCRYPTED_NAME,
    KEY_DIR,
    SECRET_KEY,
    encrypt_release_tree,
    ensure_project_key,
)
from tests.conftest import config_for
from tests.platform.conftest import approve_application

VCF_LINE = b"chr7\t117559590\t.\tG\tA\t50\tPASS\t.\tGT:DP\t0/1:31\t1/1:28\t0/0:40\n"


def _release(tmp_path: Path) -> tuple[GenomlabConfig, str, Path]:
    config = config_for(tmp_path / "home")
    project, _ = approve_application(config)
    release = config.workspace_dir(project) / "release"
    (release / "genotypes.mt" / "rows").mkdir(parents=True)
    (release / "genotypes.mt" / "rows" / "part-00000").write_bytes(
        b"##fileformat=VCFv4.3\n" + VCF_LINE * 2000
    )
    (release / "clinical").mkdir()
    pl.DataFrame({"s": ["PP0001", "PP0002"], "sex": ["female", "male"]}).write_parquet(
        release / "clinical" / "persons.parquet"
    )
    (release / ".canonical").mkdir()  # what the genotype digest leaves in the staging folder
    encryption = encrypt_release_tree(release, ensure_project_key(config, project))
    manifest = {
        "release_id": "r1",
        "project_id": project,
        "level": "individual",
        "encryption": encryption,
    }
    (release / "manifest.json").write_text(json.dumps(manifest))
    return config, project, release


def test_encrypt_release_tree__no_plaintext_genotype_on_disk(tmp_path: Path) -> None:
    config, project, release = _release(tmp_path)
    assert sorted(p.name for p in release.iterdir()) == ["manifest.json", ENCRYPTED_NAME]
    stored = b"".join(p.read_bytes() for p in release.rglob("*") if p.is_file())
    assert VCF_LINE not in stored
    assert VCF_LINE[:24] not in stored
    assert b"PP0001" not in stored
    assert b"PAR1" not in stored
    assert (release / ENCRYPTED_NAME).read_bytes()[:8] == b"crypt4gh"  # the format's magic
    secret = config.workspace_dir(project) / KEY_DIR / SECRET_KEY
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.parent.stat().st_mode & 0o777 == 0o700


def test_open_release__member_decrypts_into_own_scratch_and_outsider_is_refused(
    tmp_path: Path,
) -> None:
    config, project, _ = _release(tmp_path)
    opened = open_release(project, user="tom", config=config)
    assert opened.path == config.workspace_dir(project) / "scratch" / "tom" / "release-r1"
    assert opened.path.parent.stat().st_mode & 0o777 == 0o700
    assert (opened.path / "genotypes.mt" / "rows" / "part-00000").read_bytes().count(
        VCF_LINE
    ) == 2000
    assert opened.read_clinical()["s"].to_list() == ["PP0001", "PP0002"]
    assert open_release(project, user="tom", config=config).path == opened.path  # once
    with pytest.raises(PermissionDenied, match="not on the approved team"):
        open_release(project, user="bob", config=config)
    assert not (config.workspace_dir(project) / "scratch" / "bob").exists()


def test_open_release__replaced_ciphertext_is_refused(tmp_path: Path) -> None:
    config, project, release = _release(tmp_path)
    data = bytearray((release / ENCRYPTED_NAME).read_bytes())
    data[-1] ^= 1
    (release / ENCRYPTED_NAME).write_bytes(bytes(data))
    with pytest.raises(GenomlabError, match=r"release\.tar\.c4gh: sha256 differs"):
        open_release(project, user="tom", config=config)
    assert not list((config.workspace_dir(project) / "scratch" / "tom").iterdir())


def test_encrypt_release_tree__readable_by_the_crypt4gh_command_line(tmp_path: Path) -> None:
    config, project, release = _release(tmp_path)
    secret = config.workspace_dir(project) / KEY_DIR / SECRET_KEY
    with (release / ENCRYPTED_NAME).open("rb") as source:
        done = subprocess.run(
            [sys.executable, "-m", "crypt4gh", "decrypt", "--sk", str(secret)],
            stdin=source,
            capture_output=True,
            check=False,
            env={**os.environ, "C4GH_PASSPHRASE": ""},
        )
    assert done.returncode == 0, done.stderr.decode()
    assert VCF_LINE in done.stdout
    assert b"genotypes.mt/rows/part-00000" in done.stdout


def test_open_release_folder__a_members_copy_is_checked_again_and_only_for_that_member(
    tmp_path: Path,
) -> None:
    from genomlab.workspace.release import open_release_folder

    config, project, _ = _release(tmp_path)
    copy = open_release(project, user="tom", config=config).path
    assert open_release_folder(copy, user="tom", config=config).path == copy
    with pytest.raises(PermissionDenied, match="not alice's copy"):
        open_release_folder(copy, user="alice", config=config)
    with pytest.raises(PermissionDenied, match="not on the approved team"):
        open_release_folder(copy, user="bob", config=config)
