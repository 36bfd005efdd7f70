"""The official intake against a GRZ's own S3 named in ``genomlab.toml`` (issue 17).

The test plays the GRZ's operator: it starts an S3 server of its own on 127.0.0.1 (moto's server
mode, standing in for the GRZ's Ceph or MinIO), creates the inbox and the two archive buckets,
publishes grz-cli's version policy and writes a 0600 credentials file; ``genomlab.toml`` names
that S3 for one GRZ. Two good submissions of the committed world: one a hospital uploaded
before (as a run killed after grz-cli's upload leaves it: the inbox outlives the run), one
the intake sends. :func:`run_world_official_intake` must start no S3 of its own, upload and
archive into the operator's buckets and clean the inbox; grzctl's decrypted work folders must
be gone afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import load_config
from genomlab.genome_center.grz_tools import (
    make_crypt4gh_keypair,
    run_grz_cli,
    write_grz_cli_config,
)
from genomlab.genome_center.s3_inbox import VERSION_FILE_KEY, Inbox, bundled_version_policy
from genomlab.institution import Institution
from genomlab.intake.official import find_official_tools, run_world_official_intake
from tests.conftest import REPO

WORLD = REPO / "data_samples" / "world"

pytestmark = [
    pytest.mark.hail, pytest.mark.slow, pytest.mark.tools,
    pytest.mark.timeout(600),
    pytest.mark.skipif(bool(os.environ.get("PYTEST_POSTGRES")),
                       reason="grz-db is SQLite; nothing to add for PostgreSQL"),
]


def _two_good(truth: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two good initial single-sample submissions to the same GRZ."""
    small = [s for s in truth["submissions"] if s["type"] == "initial" and len(s["samples"]) == 1]
    first = small[0]
    second = next(s for s in small[1:] if s["grz"] == first["grz"])
    return first, second


def test_run_world_official_intake__uses_the_grzs_own_s3_from_genomlab_toml(
        tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    tools, missing = find_official_tools([REPO], environ={
        "GENOMLAB_GRZ_CLI": os.environ.get("PYTEST_GRZ_CLI", ""),
        "GENOMLAB_GRZCTL": os.environ.get("PYTEST_GRZCTL", "")})
    if tools is None:
        if os.environ.get("CI"):
            pytest.fail(f"official intake tools missing under CI: {'; '.join(missing)}")
        pytest.skip(f"not installed: {'; '.join(missing)} (.ci/setup --test-tools)")
    from moto.server import ThreadedMotoServer

    truth = json.loads((WORLD / "truth.json").read_text())
    early, sent = _two_good(truth)
    grz = early["grz"]

    # --- the operator: the GRZ's S3, its buckets, version policy and credentials -----------
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    request.addfinalizer(server.stop)
    host, port = server.get_host_and_port()
    tag = secrets.token_hex(4)  # moto's buckets are process-wide
    buckets = {"inbox": f"grz-own-inbox-{tag}", "consented": f"grz-own-consented-{tag}",
               "non_consented": f"grz-own-non-consented-{tag}"}
    access_key, secret = f"OP{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30)
    operator = Inbox(grz_id=grz, endpoint_url=f"http://{host}:{port}", bucket=buckets["inbox"],
                     access_key=access_key, secret=secret)
    s3 = operator.client()
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=buckets["inbox"], Key=VERSION_FILE_KEY,
                  Body=bundled_version_policy(tools.bin_dir / "python").encode())
    credentials = tmp_path / "grz-s3.toml"
    credentials.touch(mode=0o600)
    credentials.write_text(f'access_key = "{access_key}"\nsecret_key = "{secret}"\n')
    toml = tmp_path / "genomlab.toml"
    toml.write_text(f"""
[grz_s3.{grz}]
endpoint_url = "{operator.endpoint_url}"
inbox_bucket = "{buckets['inbox']}"
archive_consented_bucket = "{buckets['consented']}"
archive_non_consented_bucket = "{buckets['non_consented']}"
credentials_file = "{credentials}"
""")
    config = load_config(toml, environ={"GENOMLAB_HOME": str(tmp_path / "home")})
    assert config.grz_s3[grz].inbox_bucket == buckets["inbox"]

    # --- a hospital uploaded `early` before (a run killed after grz-cli's upload) -----------
    grz_dir = Institution(config, "grz", grz).directory
    keys = make_crypt4gh_keypair(tools.bin_dir / "crypt4gh-keygen", grz_dir / "keys")
    hospital = write_grz_cli_config(tmp_path / "early.yaml",
                                    operator.hospital_config(early["hospital_ik"], keys))
    copy = tmp_path / "early"
    shutil.copytree(WORLD / early["path"], copy)
    uploaded = run_grz_cli(tools.grz_cli, "submit", copy, hospital)
    assert uploaded.returncode == 0, uploaded.stderr[-2000:]

    # --- the intake: no S3 of genomlab's own -------------------------------------------------
    def no_local_s3(*args: object, **kwargs: object) -> None:
        raise AssertionError("genomlab started an S3 server of its own")

    monkeypatch.setattr("genomlab.genome_center.s3_inbox.start_local_inbox", no_local_s3)
    monkeypatch.setattr(ThreadedMotoServer, "start", no_local_s3)
    hl = request.getfixturevalue("hl")
    started = time.monotonic()
    run = run_world_official_intake(config, WORLD, tools=tools, hail=lambda: hl,
                                    paths=[early["path"], sent["path"]], detailed_qc=False)
    steps = {o.path: {k: round(v, 1) for k, v in o.steps.items()} for o in run.outcomes.values()}
    print(f"\nofficial intake on the GRZ's own S3: {time.monotonic() - started:.1f} s "
          f"({ {k: round(v, 1) for k, v in run.seconds.items()} }); steps {steps}")

    sids = {early["submission_id"], sent["submission_id"]}
    for entry in (early, sent):
        o = run.outcomes[entry["path"]]
        assert o.submission_id == entry["submission_id"]
        assert o.refused_by is None, o.reason
        assert o.grzdb_state == "Finished", o
        assert o.genomlab_state in ("finished", "qc_selected"), o
        assert o.confirmation_id
    assert "grz-cli submit" not in run.outcomes[early["path"]].steps  # found in the inbox
    assert run.outcomes[sent["path"]].steps["grz-cli submit"] > 0  # sent by the intake

    # grzctl and the hospitals were configured with the operator's S3 and key
    written = json.loads((grz_dir / "grzctl" / "grzctl.yaml").read_text())
    inboxes = [le["inbox_buckets"]["inbox"] for le in written["leistungserbringer"].values()]
    assert {(i["endpoint_url"], i["bucket"], i["access_key"]) for i in inboxes} == {
        (operator.endpoint_url, buckets["inbox"], access_key)}
    assert {name: a["s3"]["bucket"] for name, a in written["archives"].items()} == {
        "consented": buckets["consented"], "non_consented": buckets["non_consented"]}
    assert secret not in toml.read_text()

    # the operator's S3: archived (Crypt4GH), the inbox cleaned, the version policy kept
    archived = {name: sorted(o["Key"] for o in s3.list_objects_v2(Bucket=buckets[name])
                             .get("Contents", []))
                for name in ("consented", "non_consented")}
    for sid in sids:
        keys_of = [k for name in archived for k in archived[name] if k.startswith(f"{sid}/")]
        assert f"{sid}/metadata/metadata.json" in keys_of, archived
        files = [k for k in keys_of if k.startswith(f"{sid}/files/")]
        assert files, keys_of
        assert all(k.endswith(".c4gh") for k in files), keys_of
        bucket = next(buckets[n] for n in archived if files[0] in archived[n])
        body = s3.get_object(Bucket=bucket, Key=files[0])["Body"].read()
        assert body[:8] == b"crypt4gh", files[0]  # re-encrypted to the archive's key
    inbox_keys = operator.keys()
    assert inbox_keys == sorted([VERSION_FILE_KEY, *(f"{sid}/{rest}" for sid in sids
                                                     for rest in ("cleaned",
                                                                  "metadata/metadata.json"))])
    assert all(operator.read(f"{sid}/metadata/metadata.json") == b"" for sid in sids)

    # grzctl's decrypted work folders are gone
    work = grz_dir / "grzctl" / "work"
    assert not work.exists() or list(work.rglob("*")) == []
