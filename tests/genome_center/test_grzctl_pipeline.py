"""The GRZ on BfArM's grzctl / grz-db (issue 17, second slice).

One shared set-up: a home with the world's institutions, case numbers and consents; the platform
as its HTTPS service (BfArM's Prüfbericht API); the GRZ's moto inbox with two archive buckets;
two good submissions sent with ``grz-cli submit`` and one planted checksum-mismatch submission
(``grz-cli encrypt`` + ``upload``: a hospital that skipped validation) in the inbox; then
:class:`GrzctlPipeline` over the inbox: grzctl download, decrypt, validate, should-qc, encrypt,
archive, genomlab's stores (Hail), grzctl's Prüfbericht, Meldebestätigung, clean.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.crashpoints import CRASHPOINT_ENV
from genomlab.genome_center import genotypes
from genomlab.genome_center.grz_tools import (
    find_grz_tool,
    make_crypt4gh_keypair,
    run_grz_cli,
    write_grz_cli_config,
)
from genomlab.genome_center.grzctl_pipeline import (
    GrzctlPipeline,
    PipelineRun,
    PruefberichtApi,
)
from genomlab.genome_center.intake import GenomeCenter, tan_digest
from genomlab.genome_center.s3_inbox import Inbox, bundled_version_policy, start_local_inbox
from genomlab.genome_center.store import PROJECTION
from genomlab.institution import Institution, existing_institutions
from genomlab.ledger import Ledger, projection_matches
from genomlab.platform.confirmations import (
    get_confirmation_public_key_pem,
    tan_hash,
    verify_confirmation_bytes,
)
from genomlab.platform.node_projection import confirmations_table
from genomlab.platform.oauth_clients import IssuedClient, issue_client
from genomlab.platform.quarterly import compute_node_activity
from genomlab.platform.store import read_platform
from tests.conftest import REPO, config_for
from tests.genome_center.grzctl_runner import file_confirmation, write_spec

WORLD = REPO / "data_samples" / "world"
TRUTH: dict[str, Any] = json.loads((WORLD / "truth.json").read_text())

pytestmark = [
    pytest.mark.hail, pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("PYTEST_POSTGRES")),
                       reason="grzctl pipeline: grz-db is SQLite; nothing to add for PostgreSQL"),
]


@dataclass
class Setting:
    config: GenomlabConfig
    grz: str
    client: IssuedClient
    inbox: Inbox
    pipeline: GrzctlPipeline
    good: list[dict[str, Any]]
    bad: dict[str, Any]
    bad_id: str
    submit_seconds: dict[str, float]
    inbox_before: list[str]
    run: PipelineRun
    run_seconds: float
    base: Path
    world: Path
    grz_cli: Path
    hospital_configs: dict[str, Path]
    spare: dict[str, Any]
    hl: Any
    service: Any


def _meta(entry: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads((WORLD / entry["path"] / "metadata" / "metadata.json").read_text()))


def _chosen() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The planted checksum mismatch, two small good initial submissions to its GRZ and a
    third one (the SIGKILL test's, sent later)."""
    bad = next(b for b in TRUTH["bad_submissions"] if b["reason"] == "checksum_mismatch")
    origin = next(s for s in TRUTH["submissions"] if s["submission_id"] == bad["derived_from"])
    good = [s for s in TRUTH["submissions"] if s["grz"] == origin["grz"]
            and s["type"] == "initial" and len(s["samples"]) == 1
            and s["submission_id"] != origin["submission_id"]]
    return good[:2], bad, good[2]


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Iterator[Setting]:
    grz_cli = find_grz_tool("grz-cli", [REPO], override=os.environ.get("PYTEST_GRZ_CLI"))
    grzctl = find_grz_tool("grzctl", [REPO], override=os.environ.get("PYTEST_GRZCTL"))
    if grz_cli is None or grzctl is None:
        pytest.skip("BfArM's grz-cli/grzctl are not installed: run .ci/setup --test-tools "
                    "(makes .grzctl-venv) or set PYTEST_GRZ_CLI and PYTEST_GRZCTL")
    hl = request.getfixturevalue("hl")  # Spark only once the tools are there
    from genomlab.intake import (
        record_world_consents,
        register_world_nodes,
        request_world_case_numbers,
    )
    from genomlab.services.process import running_service

    base = tmp_path_factory.mktemp("grzctl")
    world = base / "world"
    shutil.copytree(WORLD, world)
    config = config_for(base / "home")
    register_world_nodes(config, world, actor="test")
    request_world_case_numbers(config, world)
    record_world_consents(config, world)
    good, bad, spare = _chosen()
    grz = good[0]["grz"]
    client = issue_client(config, grz, actor="bfarm-op")
    tools = grz_cli.parent
    grz_dir = Institution(config, grz).directory
    inbox_keys = make_crypt4gh_keypair(tools / "crypt4gh-keygen", grz_dir / "keys")
    archive_keys = {name: make_crypt4gh_keypair(tools / "crypt4gh-keygen", base / "archive",
                                                name) for name in ("consented", "non_consented")}
    with running_service(config, "platform", log=base / "platform.log",
                         env={"PYTHONPATH": str(REPO)}) as service, \
            start_local_inbox(grz, version_policy=bundled_version_policy(
                tools / "python")) as inbox:
        archives = {}
        for name, pair in archive_keys.items():
            bucket = f"{grz.lower()}-archive-{name.replace('_', '-')}"
            inbox.client().create_bucket(Bucket=bucket)
            archives[name] = (bucket, pair.public_key)
        submit_seconds: dict[str, float] = {}
        hospital_configs = {
            le: write_grz_cli_config(base / "sent" / f"{le}.yaml",
                                     inbox.hospital_config(le, inbox_keys))
            for le in sorted({e["hospital_ik"] for e in [*good, spare]})}
        for entry in good:
            folder = base / "sent" / entry["submission_id"]
            shutil.copytree(world / entry["path"], folder)
            hospital = hospital_configs[entry["hospital_ik"]]
            started = time.monotonic()
            done = run_grz_cli(grz_cli, "submit", folder, hospital)
            submit_seconds[entry["submission_id"]] = time.monotonic() - started
            assert done.returncode == 0, done.stderr[-2000:]
        le = str(_meta(bad)["submission"]["submitterId"])
        bad_id = _plant(inbox, tools, inbox_keys.public_key, world / bad["path"],
                        version=inbox.read(f"{_sid(good[0])}/version"))
        api = PruefberichtApi(token_url=service.url + "/oauth2/token",
                              api_base_url=service.url + "/api/pruefbericht",
                              client_id=client.client_id, client_secret=client.client_secret,
                              ca_file=service.ca)
        submitters = sorted({e["hospital_ik"] for e in [*good, spare]} | {le})
        pipeline = GrzctlPipeline.set_up(grzctl, grz_dir / "grzctl", grz_id=grz,
                                         submitters=submitters, inbox=inbox.target(),
                                         inbox_keys=inbox_keys, archives=archives,
                                         pruefbericht=api)
        inbox_before = pipeline.list_inbox()
        started = time.monotonic()
        run = pipeline.run(config, _trust_centre(config), hail=lambda: hl,
                           on_confirmation=lambda data, body: file_confirmation(config, data, body),
                           parallel=2)
        run_seconds = time.monotonic() - started
        steps = {sid: {k: round(v, 1) for k, v in o.steps.items()}
                 for sid, o in run.outcomes.items()}
        print(f"\ngrzctl pipeline run: {run_seconds:.1f} s, genomlab part "
              f"{run.genomlab_seconds:.1f} s, grz-cli submit {submit_seconds}, steps {steps}")
        yield Setting(config, grz, client, inbox, pipeline, good, bad, bad_id, submit_seconds,
                      inbox_before, run, run_seconds, base, world, grz_cli, hospital_configs,
                      spare, hl, service)


def _plant(inbox: Inbox, tools: Path, grz_public_key: Path, folder: Path, *,
           version: bytes) -> str:
    """Put ``folder`` into the inbox in grz-cli's layout without grz-cli (which validates
    first): a hospital whose tool skipped validation. Files are Crypt4GH-encrypted with the
    ``crypt4gh`` command to the GRZ's public key. Returns the submission id."""
    meta_bytes = (folder / "metadata" / "metadata.json").read_bytes()
    meta = json.loads(meta_bytes)
    sid = subprocess.run(
        [str(tools / "python"), "-c", "import sys; from grz_pydantic_models.submission.metadata"
         " import GrzSubmissionMetadata as M; "
         "print(M.model_validate_json(sys.stdin.read()).submission_id)"],
        input=meta_bytes.decode(), capture_output=True, text=True, check=True).stdout.strip()
    client = inbox.client()
    for donor in meta["donors"]:
        for lab in donor["labData"]:
            for f in lab["sequenceData"]["files"]:
                plain = (folder / "files" / f["filePath"]).read_bytes()
                sealed = subprocess.run([str(tools / "crypt4gh"), "encrypt", "--recipient_pk",
                                         str(grz_public_key)], input=plain, capture_output=True,
                                        check=True).stdout
                client.put_object(Bucket=inbox.bucket, Key=f"{sid}/files/{f['filePath']}.c4gh",
                                  Body=sealed)
    client.put_object(Bucket=inbox.bucket, Key=f"{sid}/version", Body=version)
    client.put_object(Bucket=inbox.bucket, Key=f"{sid}/metadata/metadata.json", Body=meta_bytes)
    return sid


def count_events(ledger: Ledger, event_type: str, key: str) -> Counter[Any]:
    """How often each ``payload[key]`` occurs in ``ledger``'s events of ``event_type``."""
    return Counter(str(e.payload[key]) for e in ledger.events(type=event_type))


def _trust_centre(config: GenomlabConfig) -> Any:
    from genomlab.intake import get_pseudonym_service

    return get_pseudonym_service(config)


def _sid(entry: dict[str, Any]) -> str:
    return str(entry["submission_id"])


def test_grzctl_pipeline__good_submissions_reach_the_stores_and_get_meldebestaetigung(
        setting: Setting) -> None:
    s = setting
    assert s.inbox_before == sorted([*map(_sid, s.good), s.bad_id])
    center = GenomeCenter(s.config, s.grz)
    for entry in s.good:
        outcome = s.run.outcomes[_sid(entry)]
        assert outcome.refused is None, outcome.refused
        assert outcome.genomlab_state in ("finished", "qc_selected"), outcome
        assert outcome.grzdb_state == "Finished", outcome
        row = center.get_item(_sid(entry))
        assert row is not None
        assert row.confirmation_id == outcome.confirmation_id
        donors = [d for d in center.get_donors() if d["inbox_id"] == _sid(entry)]
        assert donors
        assert all(d["batch_id"] for d in donors)
        tan = _meta(entry)["submission"]["tanG"]
        with read_platform(s.config) as conn:
            confirmed = conn.execute(select(confirmations_table).where(
                confirmations_table.c.tan_hash == tan_hash(tan))).one()
        assert confirmed.confirmation_id == outcome.confirmation_id
        assert (confirmed.node_id, confirmed.qc_passed) == (s.grz, True)
        events = [e for e in Institution(s.config, "platform").ledger().events()
                  if e.type == "pruefbericht.confirmed"
                  and e.payload["confirmation_id"] == outcome.confirmation_id]
        assert [e.actor for e in events] == [s.client.client_id]  # once, by grzctl's client
        filed = (s.config.home / "hospitals" / entry["hospital_ik"] / "meldebestaetigungen"
                 / f"{outcome.confirmation_id}.json")
        assert filed.is_file()
    # grzctl clean: files deleted, metadata emptied (kept against a re-upload), marked cleaned;
    # the refused submission stays as sent; a new run finds only that one
    left = s.inbox.keys()
    for entry in s.good:
        assert [k for k in left if k.startswith(f"{_sid(entry)}/")] == [
            f"{_sid(entry)}/cleaned", f"{_sid(entry)}/metadata/metadata.json"]
        assert s.inbox.read(f"{_sid(entry)}/metadata/metadata.json") == b""
    assert any(k.startswith(f"{s.bad_id}/files/") for k in left)
    assert s.pipeline.list_inbox() == [s.bad_id]
    per_submission = s.run_seconds / len(s.run.outcomes)
    steps = [{k: round(v, 1) for k, v in o.steps.items()} for o in s.run.outcomes.values()]
    sent = ", ".join(f"{t:.1f}" for t in s.submit_seconds.values())
    print(f"grzctl pipeline: {len(s.run.outcomes)} submissions in {s.run_seconds:.1f} s "
          f"({per_submission:.1f} s each; genomlab's in-process part "
          f"{s.run.genomlab_seconds:.1f} s; grz-cli submit {sent} s); steps {steps}")


def test_grzctl_pipeline__checksum_mismatch_is_refused_by_grzctl_validate_and_not_stored(
        setting: Setting) -> None:
    s = setting
    outcome = s.run.outcomes[s.bad_id]
    assert outcome.refused is not None
    assert "Checksum mismatch" in outcome.refused
    meta = _meta(s.bad)
    first = meta["donors"][0]["labData"][0]["sequenceData"]["files"][0]["filePath"]
    assert first in outcome.refused
    assert outcome.grzdb_state == "Reported"  # its failing Prüfbericht, after the error
    record = s.pipeline.get_submission(s.bad_id)
    assert record is not None
    error = [st for st in record["states"] if st["state"] == "Error"]
    assert error, record["states"]
    assert error[-1]["failure_reason"] == "validation_error", record["states"]
    assert record["basic_qc_passed"] is not True
    assert outcome.genomlab_state is None
    center = GenomeCenter(s.config, s.grz)
    assert center.get_item(s.bad_id) is None
    assert all(d["inbox_id"] != s.bad_id for d in center.get_donors())
    tan = meta["submission"]["tanG"]
    assert all(r["tan_hash"] != tan_digest(tan) for r in center.get_submissions())
    with read_platform(s.config) as conn:  # reported as failing basic QC, through grzctl
        confirmed = conn.execute(select(confirmations_table).where(
            confirmations_table.c.tan_hash == tan_hash(tan))).one_or_none()
    assert confirmed is not None
    assert confirmed.qc_passed is False


def test_grzctl_pipeline__no_decrypted_file_stays_in_grzctls_work_folder(
        setting: Setting) -> None:
    """After the run the work folder holds nothing of the finished or the refused submission;
    a finished or refused submission's folder that a killed run left (``grzctl.finished``: grz-db
    ``Finished``, not yet deleted) is swept by the next run, a folder grz-db does not know is
    not touched."""
    s = setting
    assert s.pipeline.work.is_dir()  # grzctl downloaded and decrypted there
    assert sorted(s.pipeline.work.rglob("*")) == []
    left = {sid: s.pipeline.work / sid / "files" / "index.vcf.gz"
            for sid in (_sid(s.good[0]), s.bad_id, "not-in-grz-db")}
    for path in left.values():
        path.parent.mkdir(parents=True)
        path.write_bytes(b"decrypted")
    s.pipeline.run(s.config, _trust_centre(s.config), hail=lambda: s.hl, submission_ids=[])
    assert sorted(p.name for p in s.pipeline.work.iterdir()) == ["not-in-grz-db"]
    shutil.rmtree(s.pipeline.work / "not-in-grz-db")
    assert s.pipeline.remove_work_folder(_sid(s.good[0])) is False  # idempotent


def test_grzctl_pipeline__grz_db_agrees_with_genomlab_submission_by_submission(
        setting: Setting) -> None:
    s = setting
    center = GenomeCenter(s.config, s.grz)
    mine = {r["inbox_id"]: r for r in center.get_submissions()}
    records = {r["id"]: r for r in s.pipeline.list_submissions()}
    assert set(records) == {*map(_sid, s.good), s.bad_id}
    assert set(mine) == set(map(_sid, s.good))
    for sid, row in mine.items():
        shown = s.pipeline.get_submission(sid)
        assert shown is not None
        entry = next(e for e in s.good if _sid(e) == sid)
        assert shown["tan_g"] == records[sid]["tan_g"] == _meta(entry)["submission"]["tanG"]
        assert tan_digest(shown["tan_g"]) == row["tan_hash"]
        for key in ("submitter_id", "submission_type", "disease_type", "coverage_type",
                    "basic_qc_passed"):
            assert str(shown[key]).lower() == str(row[key]).lower(), (sid, key)
        assert shown["data_node_id"] == s.grz
        states = [st["state"] for st in shown["states"]]
        done = [st for st in states if st.endswith("ed") or st == "Finished"]
        assert done == ["Downloaded", "Decrypted", "Validated", "Encrypted", "Archived",
                        "Reported", "Cleaned", "Finished"], states
        assert {st["data_steward_signature"] for st in shown["states"]} == {"Verified"}, states
        assert records[sid]["latest_state"]["state"] == "Finished"
        assert row["submission_id"] == sid
        assert row["confirmation_id"]
        assert row["selected_for_qc"] is not None
        assert bool(row["selected_for_qc"]) is (shown["selected_for_qc"] is True), sid  # grz-db's


def test_grzctl_report_quarterly__tables_match_the_platforms_monitoring_counts(
        setting: Setting, tmp_path: Path) -> None:
    """``grzctl report quarterly`` on grz-db, compared with what the platform saw.

    grzctl buckets a submission by its upload date (``submission_uploaded_date``: the inbox's
    ``LastModified`` of its metadata, i.e. today for this test's uploads), the platform's
    monitoring (:func:`genomlab.platform.quarterly.compute_node_activity`) by the Prüfbericht's
    ``submissionDate`` (the metadata's, here the world's past dates). The two agree per quarter
    only when a hospital uploads in the quarter of its submission date, so the report is run for
    every quarter that holds an upload and the counts are compared over those quarters.

    Compared (both sides have them): submissions (grzctl's ``number_of_submissions_total`` =
    the platform's ``confirmations`` = its ``genomic`` ones: every grz-db submission gets one
    Prüfbericht, a refused one ``dataQualityCheckPassed: false``), per submitter too; basic QC
    passed and failed (grzctl's dataset table ``data_quality_check_passed`` = the platform's
    ``qc_passed``, ``confirmations - qc_passed``) and so ``qc_pass_rate``; end-to-end tests
    (grzctl's ``number_of_end-to-end_tests`` = the platform's confirmations of
    ``submissionType`` test); and submission by submission the dataset table's submitter,
    submission type, disease type, coverage type and basic-QC verdict = the platform's
    confirmation of that tanG.

    Only grzctl has: single/duo/trio (the Prüfbericht carries no study type), passed end-to-end
    tests, detailed QC failed (``number_of_failed_qcs``) and the detailed-QC table (the platform
    receives no detailed-QC result), MV and research consent revocations (index / not index)
    and deletions (change requests), sequence type, library type of the index, consents and
    study subtype per dataset. Only the platform has: the Prüfberichte it refused
    (``refused``), KDK confirmations (``clinical``).
    """
    s = setting
    records = {}
    for listed in s.pipeline.list_submissions():
        shown = s.pipeline.get_submission(str(listed["id"]))
        assert shown is not None
        records[str(listed["id"])] = shown
    quarters = sorted({(int(day[:4]), (int(day[5:7]) - 1) // 3 + 1) for day in (
        str(r["submission_uploaded_date"]) for r in records.values())})
    overview: list[dict[str, str]] = []
    datasets: list[dict[str, str]] = []
    for year, quarter in quarters:
        tables = s.pipeline.report_quarterly(year, quarter, tmp_path / f"{year}-Q{quarter}")
        for row in [*tables["overview"], *tables["datasets"]]:
            assert (row["genomicDataCenterId"], row["year"], row["quarter"]) == (
                s.grz, str(year), str(quarter)), row
        overview += tables["overview"]
        datasets += tables["datasets"]
        assert tables["detailed_qc"] == []  # detailed QC is not run yet
    assert sorted(r["submission_id"] for r in datasets) == sorted(records)

    with read_platform(s.config) as conn:
        confirmed = {c.tan_hash: c for c in conn.execute(select(confirmations_table).where(
            confirmations_table.c.node_id == s.grz)).all()}
    assert len(confirmed) == len(records)
    for row in datasets:  # submission by submission
        mine = confirmed[tan_hash(records[row["submission_id"]]["tan_g"])]
        assert (row["submitterId"], row["submissionType"], row["diseaseType"],
                row["coverageType"], row["data_quality_check_passed"]) == (
            mine.submitter_id, mine.submission_type, mine.disease_type, mine.coverage_type,
            "yes" if mine.qc_passed else "no"), row["submission_id"]

    activity = compute_node_activity(s.config, period="quarter").filter(
        pl.col("node_id") == s.grz)
    total = sum(int(r["number_of_submissions_total"]) for r in overview)
    passed = sum(r["data_quality_check_passed"] == "yes" for r in datasets)
    assert total == len(records) == activity["confirmations"].sum() == activity["genomic"].sum()
    assert sum(int(r[f"number_of_submissions_{t}"]) for r in overview
               for t in ("single", "duo", "trio")) == total
    assert passed == activity["qc_passed"].sum()
    assert total - passed == sum(not c.qc_passed for c in confirmed.values()) > 0
    assert passed / total == pytest.approx(activity["qc_passed"].sum()
                                           / activity["confirmations"].sum())
    per_submitter = Counter(c.submitter_id for c in confirmed.values())
    assert {r["submitterId"]: int(r["number_of_submissions_total"]) for r in overview} == dict(
        per_submitter)
    tests = sum(c.submission_type == "test" for c in confirmed.values())
    assert sum(int(r["number_of_end-to-end_tests"]) for r in overview) == tests


CRASH_POINTS = ("grzctl.downloaded", "grzctl.decrypted", "grz.batch_written",
                "grzctl.pruefbericht_submitted")
"""Where the SIGKILL test kills the pipeline, in order, each run a rerun of the one before:
after grzctl's download (encrypted files, nothing decrypted), after its decrypt (not validated),
in genomlab's ingest (the Hail batch written, not indexed) and after grzctl submitted the
Prüfbericht (its Meldebestätigung not fetched). The pipeline has more points
(``grz.pseudonymised``, ``grzctl.confirmed``, ``grzctl.cleaned``); each kill costs a rerun
with its own tool and Spark start-ups (about 60 s under load), so the test takes the issue's
three steps and the hand-over to the platform."""
GRZDB_STEPS = ["Downloaded", "Decrypted", "Validated", "Encrypted", "Archived", "Reported",
               "Cleaned", "Finished"]


def _run_pipeline_process(s: Setting, spec: Path, crashpoint: str | None
                          ) -> subprocess.CompletedProcess[str]:
    """The pipeline in a process of its own (``tests/genome_center/grzctl_runner.py``)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(CRASHPOINT_ENV, None)
    if crashpoint is not None:
        env[CRASHPOINT_ENV] = crashpoint
    return subprocess.run([sys.executable, "-m", "tests.genome_center.grzctl_runner",
                           str(spec)], env=env, text=True, capture_output=True, timeout=1800,
                          check=False)


@pytest.mark.sigkill  # real subprocess kills, waited for with a timeout
def test_grzctl_pipeline__killed_in_download_decrypt_and_ingest_rerun_stores_once(
        setting: Setting) -> None:
    """A third submission, sent with ``grz-cli submit``, is run by the pipeline in a process of
    its own that is SIGKILLed at each of :data:`CRASH_POINTS` in turn, then run to the end."""
    s = setting
    sid, entry = _sid(s.spare), s.spare
    folder = s.base / "sent" / sid
    shutil.copytree(s.world / entry["path"], folder)
    sent = run_grz_cli(s.grz_cli, "submit", folder, s.hospital_configs[entry["hospital_ik"]])
    assert sent.returncode == 0, sent.stderr[-2000:]
    spec = write_spec(s.base / "crash-run.json", home=s.config.home, pipeline=s.pipeline,
                      submission_ids=[sid])
    seconds: dict[str, float] = {}
    for point in CRASH_POINTS:
        assert s.service.process.poll() is None, (  # the platform service (BfArM's API) is up
            f"before {point}: the platform service ended with {s.service.process.returncode}: "
            f"{s.service.log.read_text(errors='replace')[-2000:]}")
        started = time.monotonic()
        killed = _run_pipeline_process(s, spec, point)
        seconds[point] = round(time.monotonic() - started, 1)
        assert killed.returncode == -signal.SIGKILL, (
            f"{point}: not killed there (exit {killed.returncode}): {killed.stderr[-3000:]}")
    started = time.monotonic()
    done = _run_pipeline_process(s, spec, None)
    seconds["complete"] = round(time.monotonic() - started, 1)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\nkilled at each point, then completed (seconds per run): {seconds}")
    outcome = json.loads(done.stdout.strip().splitlines()[-1])[sid]
    assert outcome["grzdb_state"] == "Finished", outcome
    meta = _meta(entry)
    tan = meta["submission"]["tanG"]

    # genomlab's stores: one submission row, its donors once, each genotype column once
    center = GenomeCenter(s.config, s.grz)
    rows = [r for r in center.get_submissions() if r["tan_hash"] == tan_digest(tan)]
    assert [r["inbox_id"] for r in rows] == [sid]
    assert rows[0]["state"] in ("finished", "qc_selected"), rows[0]
    assert rows[0]["confirmation_id"] == outcome["confirmation_id"]
    donors = [d for d in center.get_donors() if d["inbox_id"] == sid]
    assert len(donors) == len(meta["donors"])
    assert all(d["batch_id"] for d in donors), donors
    columns: list[str] = []
    for store_name in genotypes.STORES:
        for path in center.get_batch_paths(store_name):
            columns += s.hl.read_matrix_table(path).s.collect()
    assert len(columns) == len(set(columns)), "a genotype column stored twice"
    assert {d["genome_pseudonym"] for d in donors} <= set(columns)
    for event_type in ("submission.validated", "submission.pseudonymised",
                       "submission.stored", "submission.qc_sampled"):
        assert count_events(center.ledger, event_type, "inbox_id")[sid] == 1, event_type
    assert projection_matches(center.ledger, PROJECTION) == []
    for institution in existing_institutions(s.config):
        assert institution.ledger().verify().ok, institution.name

    # the platform: confirmed once, by grzctl's client; the hospital holds that confirmation
    with read_platform(s.config) as conn:
        confirmed = conn.execute(select(confirmations_table).where(
            confirmations_table.c.tan_hash == tan_hash(tan))).all()
    assert [(c.confirmation_id, c.qc_passed) for c in confirmed] == [
        (outcome["confirmation_id"], True)]
    platform = Institution(s.config, "platform").ledger()
    assert count_events(platform, "pruefbericht.confirmed", "tan_hash")[tan_hash(tan)] == 1
    filed = s.config.home / "hospitals" / entry["hospital_ik"] / "meldebestaetigungen"
    assert (filed / f"{outcome['confirmation_id']}.json").is_file()
    pem = get_confirmation_public_key_pem(s.config)
    of_tan = [p.name for p in filed.iterdir()
              if str(verify_confirmation_bytes(p.read_bytes(), pem)["tan"]).lower() == tan.lower()]
    assert of_tan == [f"{outcome['confirmation_id']}.json"]

    # grz-db: one record, every step reached, ends Finished once, every entry signed
    assert [r["id"] for r in s.pipeline.list_submissions()].count(sid) == 1
    shown = s.pipeline.get_submission(sid)
    assert shown is not None
    states = [st["state"] for st in shown["states"]]
    assert [st for st in GRZDB_STEPS if st in states] == GRZDB_STEPS, states
    assert states.count("Finished") == states.count("Cleaned") == 1, states
    assert states[-1] == "Finished", states
    assert shown["tan_g"] == tan
    assert {st["data_steward_signature"] for st in shown["states"]} == {"Verified"}, states
    # grzctl's work folder: nothing decrypted left after the resumed run
    assert not (s.pipeline.work / sid).exists()
    # the inbox: cleaned once (files deleted, metadata emptied)
    left = s.inbox.keys()
    assert [k for k in left if k.startswith(f"{sid}/")] == [
        f"{sid}/cleaned", f"{sid}/metadata/metadata.json"]
