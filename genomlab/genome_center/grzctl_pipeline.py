"""The GRZ on BfArM's ``grzctl`` and ``grz-db`` (issue 17, second slice).

BfArM's ``grzctl`` (in its own venv, :mod:`genomlab.genome_center.grz_tools`; genomlab never
imports it) does the GRZ's bookkeeping; grz-db (SQLite under the GRZ's folder) is the submission
record. For each submission in the GRZ's S3 inbox :class:`GrzctlPipeline` runs:

1. ``grzctl db submission add`` (once), ``grzctl download`` (metadata populated into grz-db),
   ``grzctl decrypt`` (the GRZ's Crypt4GH secret key), ``grzctl validate`` (basic QC; a refused
   submission is ``Error`` in grz-db, reason and message in its state log, and nothing reaches
   genomlab's stores); a download that grz-db refuses (:data:`DOWNLOAD_REFUSALS`: a reused
   tanG, a second initial of a case) is that submission's refusal, not a failed run;
2. ``grzctl db should-qc`` (grz-db's selection for detailed QC); a selected submission gets
   detailed QC when the pipeline has a :class:`DetailedQcSetting`
   (:mod:`genomlab.genome_center.detailed_qc`: fastp, bwa, mosdepth, BfArM's comparison):
   grz-db ``QCing``, the workflow's ``report.csv`` into grz-db (``db submission populate-qc``),
   ``detailed_qc_passed`` set (``db submission modify``), then ``QCed``; a failing one gets
   grzctl's failing Prüfbericht (``--fail``, ``dataQualityCheckPassed: false``) and grz-db
   ``Error``/``detailed_qc_error`` naming the failing metrics, and does not reach genomlab;
   then ``grzctl encrypt`` + ``grzctl archive`` (re-encrypted to the consented or
   non-consented archive's key, into that archive bucket);
3. genomlab's own part, fed from grzctl's decrypted folder ``<work>/<submission id>/``:
   :meth:`genomlab.genome_center.intake.GenomeCenter.submit` (pseudonym exchange with the trust
   centre, the Hail genotype store and the consent-scoped stores) on grzctl's grz-db (read:
   the detailed-QC selection is grzctl's ``should-qc`` answer), whose reporter is grzctl's:
   ``grzctl pruefbericht generate from-submission-dir`` (checked field by field against
   genomlab's own Prüfbericht) and ``grzctl pruefbericht submit`` to the platform's BfArM API
   (token URL + upload URL, the GRZ's OAuth client). grzctl 5.1.2 drops the API's answer, so the
   Meldebestätigung is fetched by uploading the same Prüfbericht once more (the platform answers
   an identical Prüfbericht with the confirmation it already issued, appending nothing),
   verified, and handed to the caller's ``on_confirmation`` (the hospital's side);
4. ``grzctl clean`` (the inbox copy removed) and ``grzctl db submission update … finished``;
5. the submission's work folder ``<work>/<submission id>/`` (grzctl's decrypted files) deleted:
   decrypted genomic data does not stay at rest once a submission is finished or refused
   (:meth:`GrzctlPipeline.remove_work_folder`). A run first deletes what a killed run left of
   finished or finally refused submissions (:meth:`GrzctlPipeline.sweep_work`); any other
   submission's folder is downloaded and decrypted afresh when it resumes.

A run resumes where a killed one stopped (see :meth:`GrzctlPipeline.run`); the crash points
(:mod:`genomlab.crashpoints`) ``grzctl.downloaded``, ``grzctl.decrypted``,
``grzctl.pruefbericht_submitted``, ``grzctl.confirmed``, ``grzctl.cleaned`` and
``grzctl.finished`` (with genomlab's own ``grz.*`` points inside the ingest) let a test kill it
between the steps.

A refused submission's failing Prüfbericht (``dataQualityCheckPassed: false``) goes through
``grzctl pruefbericht generate --fail`` + ``submit`` as well.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genomlab.crashpoints import crashpoint
from genomlab.genome_center.grz_tool_runner import run_grz_tool
from genomlab.genome_center.grz_tools import LOOPBACK_NO_PROXY, Crypt4ghKeyPair, S3Target

if TYPE_CHECKING:
    from genomlab.config import GenomlabConfig
    from genomlab.genome_center.detailed_qc import QcTools, SubmissionQc
    from genomlab.genome_center.intake import IntakeSummary
    from genomlab.hail_session import HailModule
    from genomlab.messages import PseudonymService

GRZCTL_AUTHOR = "genomlab-grz"
"""The grz-db author that signs this GRZ's state changes (no whitespace, grz-db's rule)."""


DOWNLOAD_REFUSALS = ("duplicate_tang", "duplicate_initial")
"""grz-db's failure reasons for a download that refuses the submission (its metadata's tanG is
taken, or its case has a QC-passed initial): a result, not a failure of the run."""


PIPELINE_SETTINGS = "genomlab-pipeline.json"
"""Beside ``grzctl.yaml``: what :meth:`GrzctlPipeline.load` needs to run the set-up pipeline."""


FINAL_REFUSALS = ("duplicate_tang", "duplicate_initial", "validation_error", "detailed_qc_error")
"""grz-db failure reasons that end a submission for good (nothing of it is processed again)."""


class GrzctlFailed(RuntimeError):
    """A grzctl command that must succeed did not; the message names the command and its error."""


@dataclass(frozen=True)
class PruefberichtApi:
    """Where grzctl submits Prüfberichte: the platform's token and API URL (HTTPS), the GRZ's
    OAuth client, and the CA file that verifies the platform's certificate (``None``: system)."""

    token_url: str
    api_base_url: str
    client_id: str
    client_secret: str
    ca_file: Path | None = None


@dataclass(frozen=True)
class DbAuthor:
    """The grz-db author key (ed25519, OpenSSH, encrypted: grz-db always asks a passphrase),
    its passphrase and its ``known_public_keys`` line."""

    private_key: Path
    passphrase: str
    known_public_key: str


def make_db_author(folder: Path, name: str = GRZCTL_AUTHOR) -> DbAuthor:
    """The author key that signs the GRZ's grz-db entries, made once in ``folder`` (key and
    passphrase file 0600; the passphrase is written first, so a crash leaves no key without it).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_file = folder / f"{name}.ed25519"
    secret_file = folder / f"{name}.passphrase"
    if not key_file.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        _write_private(secret_file, secrets.token_urlsafe(32).encode())
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(secret_file.read_bytes()))
        _write_private(key_file, pem)
    passphrase = secret_file.read_text(encoding="ascii")
    loaded = serialization.load_ssh_private_key(key_file.read_bytes(),
                                                password=passphrase.encode())
    public = loaded.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                              serialization.PublicFormat.OpenSSH).decode()
    return DbAuthor(key_file, passphrase, f"{public} {name}")


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def grzctl_config(*, grz_id: str, submitters: Sequence[str], inbox: S3Target,
                  inbox_keys: Crypt4ghKeyPair, archives: dict[str, tuple[str, Path]],
                  database_url: str, author: DbAuthor, pruefbericht: PruefberichtApi,
                  author_name: str = GRZCTL_AUTHOR) -> dict[str, Any]:
    """grzctl's configuration (``GrzctlConfig``) of GRZ ``grz_id``.

    ``submitters``: the hospitals (LE ids) that upload into ``inbox`` (one inbox, named
    ``inbox``); ``archives``: ``consented``/``non_consented`` → (bucket, Crypt4GH public key
    file), on the inbox's S3 endpoint.
    """
    s3 = {"endpoint_url": inbox.endpoint_url, "access_key": inbox.access_key,
          "secret": inbox.secret, "region_name": inbox.region_name,
          "use_ssl": inbox.endpoint_url.startswith("https:")}
    return {
        "identifiers": {"grz": grz_id},
        "leistungserbringer": {le: {"inbox_buckets": {"inbox": {
            **s3, "bucket": inbox.bucket, "private_key_path": str(inbox_keys.secret_key)}}}
            for le in submitters},
        "archives": {name: {"s3": {**s3, "bucket": bucket}, "public_key_path": str(public)}
                     for name, (bucket, public) in archives.items()},
        "db": {"database_url": database_url,
               "author": {"name": author_name, "private_key_path": str(author.private_key),
                          "private_key_passphrase": author.passphrase},
               "known_public_keys": [author.known_public_key]},
        "pruefbericht": {"authorization_url": pruefbericht.token_url,
                         "api_base_url": pruefbericht.api_base_url,
                         "client_id": pruefbericht.client_id,
                         "client_secret": pruefbericht.client_secret},
    }


@dataclass(frozen=True)
class DetailedQcSetting:
    """What detailed QC needs: the GRZ's reference FASTA and target BED (GRZ_QC_Workflow's
    reference files), the tools (``None``: found on ``PATH`` at the first run) and threads."""

    reference: Path
    targets: Path
    tools: QcTools | None = None
    threads: int = 1


@dataclass
class SubmissionOutcome:
    """What the pipeline did with one submission: grzctl's steps (seconds each), the state grz-db
    holds at the end, grz-db's should-qc answer, the detailed QC result (if run), genomlab's
    state and the confirmation id."""

    submission_id: str
    steps: dict[str, float] = field(default_factory=dict)
    grzdb_state: str | None = None
    refused: str | None = None
    refused_at: str | None = None
    """Which step refused: ``download`` (grz-db: a reused tanG or a second initial),
    ``validate`` (grzctl's basic QC) or ``detailed_qc``."""
    should_qc: bool | None = None
    detailed_qc: SubmissionQc | None = None
    genomlab_state: str | None = None
    confirmation_id: str | None = None


@dataclass
class PipelineRun:
    """One run over the inbox: per submission id its outcome; genomlab's intake summary."""

    outcomes: dict[str, SubmissionOutcome] = field(default_factory=dict)
    summary: IntakeSummary | None = None
    genomlab_seconds: float = 0.0


class GrzctlPipeline:
    """Drive ``grzctl`` for GRZ ``grz_id`` (config file ``config_file``, work folder ``work``)."""

    def __init__(self, grzctl: Path, config_file: Path, work: Path, *, grz_id: str,
                 inbox: S3Target, pruefbericht: PruefberichtApi,
                 detailed_qc: DetailedQcSetting | None = None) -> None:
        self.grzctl = grzctl
        self.config_file = config_file
        self.work = work
        self.grz_id = grz_id
        self.inbox = inbox
        self.api = pruefbericht
        self.detailed_qc = detailed_qc

    @classmethod
    def set_up(cls, grzctl: Path, folder: Path, *, grz_id: str, submitters: Sequence[str],
               inbox: S3Target, inbox_keys: Crypt4ghKeyPair,
               archives: dict[str, tuple[str, Path]],
               pruefbericht: PruefberichtApi,
               detailed_qc: DetailedQcSetting | None = None) -> GrzctlPipeline:
        """Write grzctl's configuration into ``folder`` (the GRZ's grzctl folder: grz-db as
        ``grz-db.sqlite``, the author key, ``work/``) and initialise grz-db."""
        folder.mkdir(parents=True, exist_ok=True)
        author = make_db_author(folder / "keys")
        config = grzctl_config(grz_id=grz_id, submitters=submitters, inbox=inbox,
                               inbox_keys=inbox_keys, archives=archives,
                               database_url=f"sqlite:///{folder / 'grz-db.sqlite'}?timeout=60",
                               author=author, pruefbericht=pruefbericht)
        config_file = folder / "grzctl.yaml"
        tmp = config_file.with_name(f".{config_file.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2, sort_keys=True)  # JSON is YAML
        os.replace(tmp, config_file)
        pipeline = cls(grzctl, config_file, folder / "work", grz_id=grz_id, inbox=inbox,
                       pruefbericht=pruefbericht, detailed_qc=detailed_qc)
        pipeline.grzctl_run("db", "upgrade")
        pipeline.save_settings()
        return pipeline

    def save_settings(self) -> Path:
        """Write what :meth:`load` needs besides grzctl's own configuration (the grzctl
        executable, the inbox's S3 target, the platform's CA, the detailed-QC files) to
        ``<folder>/genomlab-pipeline.json`` (0600: it names the inbox's access key), so the
        GRZ's service runs the pipeline its operator set up."""
        qc = self.detailed_qc
        settings = {
            "grzctl": str(self.grzctl), "grz_id": self.grz_id, "work": str(self.work),
            "inbox": asdict(self.inbox),
            "pruefbericht": {**asdict(self.api), "ca_file": None if self.api.ca_file is None
                             else str(self.api.ca_file)},
            "detailed_qc": None if qc is None else {
                "reference": str(qc.reference), "targets": str(qc.targets),
                "threads": qc.threads}}
        path = self.config_file.parent / PIPELINE_SETTINGS
        _write_private(path, json.dumps(settings, indent=2, sort_keys=True).encode())
        return path

    @classmethod
    def load(cls, folder: Path) -> GrzctlPipeline:
        """The pipeline set up in ``folder`` (the GRZ's ``grzctl`` folder) by :meth:`set_up`.

        Raises
        ------
        FileNotFoundError
            ``folder`` holds no set-up (no ``genomlab-pipeline.json``).
        ValueError
            The settings file is not what :meth:`save_settings` writes (naming the field).
        """
        path = folder / PIPELINE_SETTINGS
        settings = json.loads(path.read_text(encoding="utf-8"))
        try:
            qc = settings["detailed_qc"]
            api = settings["pruefbericht"]
            return cls(Path(settings["grzctl"]), folder / "grzctl.yaml", Path(settings["work"]),
                       grz_id=str(settings["grz_id"]), inbox=S3Target(**settings["inbox"]),
                       pruefbericht=PruefberichtApi(**{
                           **api, "ca_file": None if api["ca_file"] is None
                           else Path(api["ca_file"])}),
                       detailed_qc=None if qc is None else DetailedQcSetting(
                           Path(qc["reference"]), Path(qc["targets"]),
                           threads=int(qc["threads"])))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: field {exc}: not a pipeline set-up") from exc

    # --- running grzctl -----------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """grzctl's environment: no AWS profile, no user config, no proxy for loopback, the
        platform's CA for the Prüfbericht API."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "C4GH_", "GRZ_"))}
        env["XDG_CONFIG_HOME"] = str(self.config_file.parent / ".xdg")
        no_proxy = ",".join(p for p in (env.get("NO_PROXY"), LOOPBACK_NO_PROXY) if p)
        env["NO_PROXY"] = env["no_proxy"] = no_proxy
        if self.api.ca_file is not None:
            env["REQUESTS_CA_BUNDLE"] = str(self.api.ca_file)
        if self.inbox.ca_bundle is not None:  # the GRZ's S3 (boto3 reads it)
            env["AWS_CA_BUNDLE"] = self.inbox.ca_bundle
        return env

    def grzctl_process(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``grzctl --config <file> <args>``, finished (a failing command is a result); run by
        grzctl's fork server (:mod:`genomlab.genome_center.grz_tool_runner`)."""
        # no timeout=: subprocess waits with time.sleep, which libfaketime breaks (CI's
        # shifted-clock pass); the callers' tests bound the time instead
        return run_grz_tool(self.grzctl, ["--config", str(self.config_file), *args],
                            env=self.env())

    def grzctl_run(self, *args: str) -> str:
        """Like :meth:`grzctl_process`, but raises :class:`GrzctlFailed`; returns stdout."""
        done = self.grzctl_process(*args)
        if done.returncode != 0:
            raise GrzctlFailed(f"grzctl {' '.join(args)}: exit {done.returncode}: "
                               f"{get_grzctl_errors(done)[-1500:]}")
        return done.stdout

    # --- grz-db -------------------------------------------------------------------------

    def get_submission(self, submission_id: str) -> dict[str, Any] | None:
        """grz-db's record of ``submission_id`` (``grzctl db submission show --json``)."""
        done = self.grzctl_process("db", "submission", "show", submission_id, "--json")
        if done.returncode != 0:
            return None
        shown: dict[str, Any] = json.loads(done.stdout)
        return shown

    def list_submissions(self) -> list[dict[str, Any]]:
        """Every submission grz-db holds (``grzctl db list --json``)."""
        out = self.grzctl_run("db", "list", "--json", "--limit", "1000000")
        listed: list[dict[str, Any]] = json.loads(out) if out.strip() else []  # empty: no line
        return listed

    def get_failure_reason(self, submission_id: str) -> str | None:
        """grz-db's ``failure_reason`` of the submission's latest ``Error`` state (``None``:
        unknown to grz-db, or no error recorded)."""
        shown = self.get_submission(submission_id)
        errors = [st for st in (shown or {}).get("states", []) if st.get("state") == "Error"]
        return str(errors[-1].get("failure_reason")) if errors else None

    def get_states(self) -> dict[str, str | None]:
        """Per submission id the latest state grz-db holds (one ``grzctl db list``)."""
        return {str(r["id"]): (r.get("latest_state") or {}).get("state")
                for r in self.list_submissions()}

    # --- the inbox ----------------------------------------------------------------------

    def list_inbox(self) -> list[str]:
        """Submission ids with metadata in the inbox (grz-cli's ``<id>/metadata/metadata.json``)
        that ``grzctl clean`` has not marked ``<id>/cleaned`` (it keeps an emptied metadata file
        so the id cannot be uploaded again)."""
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=self.inbox.endpoint_url,
                              aws_access_key_id=self.inbox.access_key,
                              aws_secret_access_key=self.inbox.secret,
                              region_name=self.inbox.region_name, config=Config(proxies={}),
                              verify=self.inbox.ca_bundle)
        found, cleaned = set(), set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.inbox.bucket):
            for obj in page.get("Contents", []):
                sid, _, rest = obj["Key"].partition("/")
                if rest == "metadata/metadata.json":
                    found.add(sid)
                elif rest == "cleaned":
                    cleaned.add(sid)
        return sorted(found - cleaned)

    # --- grzctl's work folders -----------------------------------------------------------

    def remove_work_folder(self, submission_id: str) -> bool:
        """Delete ``<work>/<submission id>/`` (grzctl's downloaded, decrypted and re-encrypted
        files, the Prüfbericht written there); whether there was one. Idempotent; a deletion cut
        short by a kill is finished by the next run's :meth:`sweep_work`."""
        folder = self.work / submission_id
        if folder.parent != self.work or submission_id in ("", ".", ".."):
            raise ValueError(f"{submission_id!r}: not a submission id (work folder {folder})")
        if not folder.exists() and not folder.is_symlink():
            return False
        if folder.is_symlink() or not folder.is_dir():
            folder.unlink()
        else:
            shutil.rmtree(folder)
        return True

    def sweep_work(self, states: dict[str, str | None]) -> list[str]:
        """Delete the work folders of submissions that grz-db (``states``: id → latest state)
        holds as ``Finished`` or refused for good (an ``Error`` of :data:`FINAL_REFUSALS`): what
        a run killed before :meth:`remove_work_folder` left. Returns the ids swept."""
        if not self.work.is_dir():
            return []
        swept = []
        for folder in sorted(self.work.iterdir()):
            sid = folder.name
            state = states.get(sid)
            if state == "Finished" or (state in ("Error", "Reported")
                                       and self.get_failure_reason(sid) in FINAL_REFUSALS):
                self.remove_work_folder(sid)
                swept.append(sid)
        return swept

    # --- the pipeline -------------------------------------------------------------------

    def run(self, config: GenomlabConfig, service: PseudonymService, *,
            hail: Callable[[], HailModule],
            submission_ids: Sequence[str] | None = None,
            on_confirmation: ConfirmationSink | None = None,
            parallel: int = 1) -> PipelineRun:
        """Take ``submission_ids`` (default: the whole inbox) through grzctl and genomlab;
        each Meldebestätigung goes to ``on_confirmation`` (the hospital's side). grzctl's steps
        up to the archive run for ``parallel`` submissions at a time (grz-db's SQLite waits up
        to 60 s for a lock: ``?timeout=60``).

        Resuming after a crash (each step is redone or skipped, never repeated in effect):
        a submission grz-db holds as ``Finished`` is left alone; ``Cleaned`` (killed before
        ``finished``) only gets ``finished``, and the default ids include these although the
        inbox no longer lists them; one whose Meldebestätigung genomlab has recorded (killed
        before ``clean``) only gets ``clean`` + ``finished``; any other starts again at
        ``download --force`` (a half-downloaded folder is removed first) and genomlab's intake
        resumes by its ledger; a Prüfbericht grzctl submitted before the kill is submitted
        again, and the platform answers it with the confirmation it issued the first time."""
        from genomlab.genome_center.grz_record import GrzDb
        from genomlab.genome_center.intake import GenomeCenter

        run = PipelineRun()
        known = self.get_states()
        self.sweep_work(known)
        center = GenomeCenter(config, self.grz_id)
        if submission_ids is not None:
            ids = list(submission_ids)
        else:
            ids = sorted({*self.list_inbox(),
                          *(sid for sid, state in known.items() if state == "Cleaned")})
        for sid in ids:
            run.outcomes[sid] = SubmissionOutcome(sid)
        to_finish = [sid for sid in ids if known.get(sid) == "Cleaned"]
        to_clean = [sid for sid in ids if known.get(sid) not in ("Cleaned", "Finished")
                    and (row := center.get_item(sid)) is not None
                    and row.confirmation_id is not None]
        to_receive = [sid for sid in ids if known.get(sid) not in ("Cleaned", "Finished")
                      and sid not in to_clean]
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            folders = list(pool.map(lambda sid: self._receive(sid, run.outcomes[sid],
                                                              known=sid in known), to_receive))
        admitted = {sid: folder for sid, folder in zip(to_receive, folders, strict=True)
                    if folder is not None}
        if admitted:
            started = time.monotonic()
            run.summary = center.submit(  # grz-db's selection is grzctl's should-qc answer
                list(admitted.values()), service,
                reporter=self.make_reporter(config, admitted, on_confirmation), hail=hail,
                grz_db=GrzDb.from_grzctl_config(self.config_file))
            run.genomlab_seconds = time.monotonic() - started
        for sid in [*admitted, *to_clean, *to_finish]:
            row = center.get_item(sid)
            outcome = run.outcomes[sid]
            outcome.genomlab_state = None if row is None else row.state
            outcome.confirmation_id = None if row is None else row.confirmation_id
            if outcome.confirmation_id is None:
                continue
            crashpoint("grzctl.confirmed")  # genomlab done, the inbox not yet cleaned
            if sid not in to_finish:
                self._step(outcome, "clean", "clean", "--submission-id", sid,
                           "--yes-i-really-mean-it")
                crashpoint("grzctl.cleaned")  # cleaned, grz-db not yet Finished
            self._step(outcome, "finished", "db", "submission", "update", sid, "finished")
            crashpoint("grzctl.finished")  # grz-db Finished, the work folder not yet deleted
            self.remove_work_folder(sid)
        for sid, outcome in run.outcomes.items():
            if outcome.refused is not None:  # refused and reported: nothing more to do with it
                self.remove_work_folder(sid)
        states = self.get_states()
        for sid, outcome in run.outcomes.items():
            outcome.grzdb_state = states.get(sid)
        return run

    def _step(self, outcome: SubmissionOutcome, name: str, *args: str) -> str:
        started = time.monotonic()
        try:
            return self.grzctl_run(*args)
        finally:
            outcome.steps[name] = time.monotonic() - started

    def _receive(self, sid: str, outcome: SubmissionOutcome, *, known: bool) -> Path | None:
        """grzctl's steps up to the archive; the decrypted folder, or ``None`` if refused."""
        folder = self.work / sid
        if not known:
            self._step(outcome, "add", "db", "submission", "add", sid)
        if (folder / "encrypted_files").exists() and not (folder / "files").exists():
            shutil.rmtree(folder)  # a download cut short: start it again
        self.work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        done = self.grzctl_process("download", "--submission-id", sid,
                                   "--output-dir", str(folder), "--force")
        outcome.steps["download"] = time.monotonic() - started
        if done.returncode != 0:
            reason = self.get_failure_reason(sid)
            if reason not in DOWNLOAD_REFUSALS:  # not a refusal: the run cannot go on
                raise GrzctlFailed(f"grzctl download --submission-id {sid}: exit "
                                   f"{done.returncode}: {get_grzctl_errors(done)[-1500:]}")
            outcome.refused = f"{reason}: {get_grzctl_errors(done)}"
            outcome.refused_at = "download"
            return None
        crashpoint("grzctl.downloaded")  # encrypted files here, none decrypted
        self._step(outcome, "decrypt", "decrypt", "--submission-dir", str(folder), "--force")
        crashpoint("grzctl.decrypted")  # decrypted, not validated
        submitter = sid.split("_", 1)[0]
        started = time.monotonic()
        done = self.grzctl_process("validate", "--submission-dir", str(folder),
                                   "--submitter-id", submitter, "--force")
        outcome.steps["validate"] = time.monotonic() - started
        if done.returncode != 0:
            outcome.refused = get_grzctl_errors(done)
            outcome.refused_at = "validate"
            self._report_refusal(sid, folder, outcome)
            return None
        answer = self._step(outcome, "should_qc", "db", "should-qc", sid).strip()
        outcome.should_qc = answer == "true"
        if outcome.should_qc and self.detailed_qc is not None \
                and not self.run_detailed_qc(sid, folder, outcome):
            return None
        self._step(outcome, "encrypt", "encrypt", "--submission-dir", str(folder), "--force")
        self._step(outcome, "archive", "archive", "--submission-dir", str(folder))
        return folder

    def run_detailed_qc(self, sid: str, folder: Path, outcome: SubmissionOutcome) -> bool:
        """Detailed QC of the decrypted submission ``folder``, recorded in grz-db (``QCing``,
        ``populate-qc`` of the workflow's ``report.csv`` kept in ``<grzctl>/detailed_qc/<id>/``,
        ``detailed_qc_passed``, ``QCed``). A failing submission is reported (grzctl's failing
        Prüfbericht) and left ``Error``/``detailed_qc_error``; returns whether it passed."""
        from genomlab.genome_center.detailed_qc import (
            find_qc_tools,
            run_detailed_qc,
            write_report_csv,
        )

        setting = self.detailed_qc
        assert setting is not None
        out = self.config_file.parent / "detailed_qc" / sid
        tools = setting.tools or find_qc_tools(self.config_file.parent / "detailed_qc" / "lib")
        self._step(outcome, "qcing", "db", "submission", "update", sid, "QCing")
        started = time.monotonic()
        try:
            result = run_detailed_qc(folder, setting.reference, setting.targets, out / "work",
                                     tools, threads=setting.threads,
                                     index_dir=self.config_file.parent / "detailed_qc")
        finally:
            outcome.steps["detailed_qc"] = time.monotonic() - started
        outcome.detailed_qc = result
        report = write_report_csv(result, out / "report.csv")
        shutil.rmtree(out / "work", ignore_errors=True)  # BAMs and trimmed reads: not kept
        self._step(outcome, "populate_qc", "db", "submission", "populate-qc", sid, str(report),
                   "--no-confirm")
        self._step(outcome, "detailed_qc_passed", "db", "submission", "modify", sid,
                   "detailed_qc_passed", "true" if result.passed else "false")
        if result.passed:
            self._step(outcome, "qced", "db", "submission", "update", sid, "QCed")
            return True
        outcome.refused = f"detailed QC failed: {', '.join(result.failing)}"
        outcome.refused_at = "detailed_qc"
        self._report_refusal(sid, folder, outcome)
        self._step(outcome, "error", "db", "submission", "update", sid, "error",
                   "--failure-reason", "detailed_qc_error",
                   "--data", json.dumps({"failing": result.failing}))
        return False

    def _report_refusal(self, sid: str, folder: Path, outcome: SubmissionOutcome) -> None:
        """A refused submission's Prüfbericht, ``dataQualityCheckPassed: false`` (grzctl's)."""
        done = self.grzctl_process("pruefbericht", "generate", "from-submission-dir",
                                   str(folder), "--fail")
        if done.returncode != 0:  # metadata that gives no Prüfbericht: nothing to report
            return
        report_file = folder / "pruefbericht.json"
        report_file.write_text(done.stdout)
        self._step(outcome, "pruefbericht_submit", "pruefbericht", "submit",
                   "--pruefbericht-file", str(report_file), "--submission-id", sid)

    def make_reporter(self, config: GenomlabConfig, folders: dict[str, Path],
                      on_confirmation: ConfirmationSink | None = None,
                      ) -> Callable[[dict[str, Any]], str]:
        """genomlab's reporter on grzctl: grzctl's Prüfbericht (equal to genomlab's, else
        :class:`GrzctlFailed`) submitted by grzctl; returns the Meldebestätigung's id."""
        by_tan: dict[str, str] = {}
        for sid, folder in folders.items():
            meta = json.loads((folder / "metadata" / "metadata.json").read_text())
            by_tan[str(meta["submission"]["tanG"])] = sid

        def report(pruefbericht: dict[str, Any]) -> str:
            sid = by_tan[pruefbericht["SubmittedCase"]["tan"]]
            folder = folders[sid]
            generated = json.loads(self.grzctl_run("pruefbericht", "generate",
                                                   "from-submission-dir", str(folder)))
            differ = sorted(k for k in set(generated["SubmittedCase"])
                            | set(pruefbericht["SubmittedCase"])
                            if generated["SubmittedCase"].get(k)
                            != pruefbericht["SubmittedCase"].get(k))
            if differ:
                raise GrzctlFailed(f"{sid}: grzctl's Prüfbericht differs from genomlab's in "
                                   f"SubmittedCase.{', SubmittedCase.'.join(differ)}")
            report_file = folder / "pruefbericht.json"
            report_file.write_text(json.dumps(generated))
            self.grzctl_run("pruefbericht", "submit", "--pruefbericht-file", str(report_file),
                            "--submission-id", sid)
            crashpoint("grzctl.pruefbericht_submitted")  # the confirmation not yet fetched
            return fetch_meldebestaetigung(config, self.api, generated, on_confirmation)

        return report

    # --- grzctl's quarterly report ---------------------------------------------------------

    def report_quarterly(self, year: int, quarter: int, out_dir: Path
                         ) -> dict[str, list[dict[str, str]]]:
        """``grzctl report quarterly --with-submission-ids`` for the quarter into ``out_dir``
        (made if missing), read back by :func:`read_grzctl_quarterly`."""
        out_dir.mkdir(parents=True, exist_ok=True)
        self.grzctl_run("report", "quarterly", "--year", str(year), "--quarter", str(quarter),
                        "--outdir", str(out_dir), "--with-submission-ids")
        return read_grzctl_quarterly(out_dir, self.grz_id, year, quarter)


GRZCTL_QUARTERLY_FILES = {"overview": "1-Gesamtübersicht", "datasets": "2-Infos_zu_Datensätzen",
                          "detailed_qc": "3-Detailprüfung"}
"""The tables of ``grzctl report quarterly`` (``<name>_<GRZ>_<quarter>_<year>.tsv``): per
(GRZ, submitter) the counts; per submission one row (index donor); the detailed-QC findings."""


def read_grzctl_quarterly(folder: Path, grz_id: str, year: int, quarter: int
                          ) -> dict[str, list[dict[str, str]]]:
    """The three tables ``grzctl report quarterly`` wrote into ``folder``, rows as dicts of the
    header's columns (text as written). Raises ``ValueError`` naming the file and line of a row
    whose width differs from its header's."""
    import csv

    tables: dict[str, list[dict[str, str]]] = {}
    for key, name in GRZCTL_QUARTERLY_FILES.items():
        path = folder / f"{name}_{grz_id}_{quarter}_{year}.tsv"
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            header = next(reader)
            rows = []
            for line, cells in enumerate(reader, start=2):
                if len(cells) != len(header):
                    raise ValueError(f"{path}: line {line}: {len(cells)} cells, the header has "
                                     f"{len(header)}")
                rows.append(dict(zip(header, cells, strict=True)))
        tables[key] = rows
    return tables


ConfirmationSink = Callable[[bytes, dict[str, Any]], None]
"""Takes a verified Meldebestätigung (its file bytes and body) to the hospital: the composition
root's part (the GRZ holds no hospital's case book), e.g. filing it and deleting the TAN."""


def fetch_meldebestaetigung(config: GenomlabConfig, api: PruefberichtApi,
                            pruefbericht: dict[str, Any],
                            on_confirmation: ConfirmationSink | None = None) -> str:
    """The Meldebestätigung of a Prüfbericht grzctl submitted: the same Prüfbericht uploaded
    again (the platform answers it with the confirmation already issued), its signature checked
    with the platform's key, handed to ``on_confirmation``. Returns the confirmation id."""
    import httpx

    from genomlab.ledger import canonical_json
    from genomlab.platform.confirmations import (
        get_confirmation_public_key_pem,
        verify_confirmation_bytes,
    )

    verify: Any = True
    if api.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(api.ca_file))
    with httpx.Client(verify=verify, timeout=60, trust_env=False) as http:
        grant = http.post(api.token_url, data={"grant_type": "client_credentials",
                                               "client_id": api.client_id,
                                               "client_secret": api.client_secret})
        grant.raise_for_status()
        answer = http.post(api.api_base_url.rstrip("/") + "/upload", json=pruefbericht,
                           headers={"Authorization": f"bearer {grant.json()['access_token']}"})
        answer.raise_for_status()
    data = canonical_json(answer.json()).encode()  # the file form of a Meldebestätigung
    body = verify_confirmation_bytes(data, get_confirmation_public_key_pem(config))
    if on_confirmation is not None:
        on_confirmation(data, body)
    return str(body["confirmation_id"])


def get_grzctl_errors(done: subprocess.CompletedProcess[str]) -> str:
    """grzctl's output from its first ``ERROR`` line on (the details follow it)."""
    lines = (done.stderr + done.stdout).splitlines()
    first = next((i for i, line in enumerate(lines) if "ERROR" in line), 0)
    return "\n".join(lines[first:])
