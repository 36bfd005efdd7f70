"""The world's GRZ submissions through BfArM's own tools (issue 17): the official intake path.

A composition root like :mod:`genomlab.intake`: it plays the world's hospitals (LEs) with
``grz-cli`` and runs each GRZ on ``grzctl`` (:class:`GrzctlPipeline`), with the platform's BfArM
Prüfbericht API as an HTTPS service on 127.0.0.1 and the trust centre in this process.

:func:`run_world_official_intake`, per GRZ of the world:

1. the GRZ's S3: its own (Ceph, MinIO) if ``genomlab.toml`` names one (``[grz_s3.<GRZ>]``,
   :func:`open_configured_s3`: inbox and archive buckets as configured, checked, nothing
   started), else moto on 127.0.0.1 (:func:`start_local_inbox`; its bucket and the two archive
   buckets get a fresh name per run: moto keeps buckets process-wide); the GRZ's
   Crypt4GH inbox key and the archives' keys (``<GRZ>/keys``), the GRZ's OAuth client at the
   platform (``<GRZ>/platform-client.json``, issued once and reused) and grzctl's set-up
   (:meth:`GrzctlPipeline.set_up`, ``<GRZ>/grzctl``);
2. every good submission of ``truth.json`` for the GRZ: its hospital sends a copy
   (``<home>/hospitals/<IK>/sent/<folder>``) with ``grz-cli submit`` (validate with grz-check,
   encrypt, upload); then :meth:`GrzctlPipeline.run` over them (download … archive, detailed QC
   for what ``should-qc`` selects when the world has reads and the tools are installed,
   genomlab's stores, grzctl's Prüfbericht → Meldebestätigung filed for the hospital, clean);
3. then the planted bad submissions (``truth.json`` → ``bad_submissions``, to the GRZ of the
   submission each derives from), sent the same way after the good ones (a reused tanG is a
   later submission): one that ``grz-cli submit`` refuses (its validation) never leaves the
   hospital, and the refusal with grz-cli's message is its outcome; one it uploads goes through
   grzctl like any other, which refuses it (``download``: grz-db's duplicate tanG;
   ``validate``).

**Who runs a GRZ's own part** (:class:`GrzRunner`): by default this process
(:class:`LocalGrzRunner`, the tests' and ``genomlab samples``' path); with ``grz_services`` each
GRZ's running service (:class:`ServiceGrzRunner`, ``make demo``): this process plays the
hospitals (grz-cli) and does each GRZ operator's set-up (keys, grzctl's configuration, grz-db's
schema, :meth:`GrzctlPipeline.set_up`, which also writes ``genomlab-pipeline.json`` for the
service), then asks the GRZ's service with the operator credential (``POST /api/intake/run``
``{"submission_ids": [...]}``; ``GET /api/intake/records``). The service loads the set-up
(:func:`load_grzctl_pipeline`), runs the pipeline with its own client to the trust centre
and its own Hail, files each Meldebestätigung for its hospital and answers the outcomes; its
submissions' records come from ``GET /api/intake/records``
(:mod:`genomlab.genome_center.grzctl_operator`); this process opens
neither the GRZ's genomlab store nor its grz-db past the set-up's schema upgrade.

The platform service starts once, only if a GRZ has something to send, and stops at the end, as
do the inboxes. A rerun on the same home takes only what grz-db does not hold as finished or
refused and what grz-cli has not refused as it is (``<home>/hospitals/<IK>/sent/<folder>.
refused.json`` notes the metadata's digest and grz-cli's message); a local inbox of a previous
run is gone with its process, so the rest is sent again and the pipeline resumes it (a GRZ's own
inbox keeps what was uploaded: that is not sent again, grz-cli would refuse it). It issues no
second client and starts no service when nothing is left: running it twice appends nothing the
first run did (starting the platform service anchors the ledgers' heads). KDK intake is not
here (:func:`genomlab.intake.run_world_intake` with ``grz=False``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, ValidationFailed
from genomlab.genome_center.grz_tools import (
    find_grz_tool,
    make_crypt4gh_keypair,
    run_grz_cli,
    write_grz_cli_config,
)
from genomlab.genome_center.grzctl_operator import (
    FAILED_STATES,
    SubmissionRecord,
    get_submission_records,
    outcome_from_json,
    outcome_to_json,
    record_from_json,
    record_to_json,
)
from genomlab.genome_center.grzctl_pipeline import (
    FINAL_REFUSALS,
    PIPELINE_SETTINGS,
    DetailedQcSetting,
    GrzctlPipeline,
    PipelineRun,
    PruefberichtApi,
    SubmissionOutcome,
)
from genomlab.hail_session import HailModule
from genomlab.institution import Institution

if TYPE_CHECKING:
    from genomlab.clients.oauth import ServiceEndpoint
    from genomlab.messages import PseudonymService

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_TOOLS = ("grz-cli", "grzctl")
TOOL_OVERRIDES = {"grz-cli": "GENOMLAB_GRZ_CLI", "grzctl": "GENOMLAB_GRZCTL"}
"""Environment variables that name an installed tool outside ``./.grzctl-venv``."""
ACTOR = "genomlab-intake"


@dataclass(frozen=True)
class OfficialTools:
    """BfArM's tools as installed: ``grz-cli`` and ``grzctl`` (their folder also holds
    ``crypt4gh-keygen`` and the tools' ``python``)."""

    grz_cli: Path
    grzctl: Path

    @property
    def bin_dir(self) -> Path:
        return self.grz_cli.parent


def find_official_tools(roots: Collection[Path] = (REPO,),
                        environ: Mapping[str, str] | None = None,
                        ) -> tuple[OfficialTools | None, list[str]]:
    """The installed tools, or ``None`` and what is missing (each named with where it was
    looked for: ``<root>/.grzctl-venv/bin``, ``$GENOMLAB_GRZ_CLI`` / ``$GENOMLAB_GRZCTL``, PATH).
    """
    env = os.environ if environ is None else environ
    found = {name: find_grz_tool(name, list(roots), override=env.get(TOOL_OVERRIDES[name]))
             for name in OFFICIAL_TOOLS}
    missing = [f"{name} (not in {', '.join(str(r / '.grzctl-venv' / 'bin') for r in roots)}, "
               f"${TOOL_OVERRIDES[name]} or PATH)" for name, path in found.items() if path is None]
    if missing:
        return None, missing
    return OfficialTools(grz_cli=found["grz-cli"], grzctl=found["grzctl"]), []  # type: ignore[arg-type]


def find_detailed_qc(world: Path) -> tuple[DetailedQcSetting | None, str | None]:
    """Detailed QC for the world's submissions, or ``None`` and why not: it needs the world's
    reads (``detailed_qc/reference.fa`` and ``targets.bed``: ``genomlab samples generate
    --detailed-qc-reads``) and Debian's fastp, bwa, samtools and mosdepth on PATH (each GRZ's
    pipeline then finds them itself, :func:`genomlab.genome_center.detailed_qc.find_qc_tools`).
    """
    reference = world / "detailed_qc" / "reference.fa"
    targets = world / "detailed_qc" / "targets.bed"
    if not (reference.is_file() and targets.is_file()):
        return None, (f"{world}: no detailed-QC reads ({reference.relative_to(world)}, "
                      f"{targets.relative_to(world)}; genomlab samples generate "
                      "--detailed-qc-reads)")
    missing = [t for t in ("fastp", "bwa", "samtools", "mosdepth") if shutil.which(t) is None]
    if missing:
        return None, (f"{', '.join(missing)} not on PATH (.ci/setup --test-tools installs them "
                      "from Debian)")
    return DetailedQcSetting(reference, targets), None


@dataclass
class OfficialOutcome:
    """One world submission on the official path, comparable to its ``truth.json`` entry."""

    path: str
    """The world folder (``truth.json``'s ``path``)."""
    grz: str
    hospital: str
    planted: str | None = None
    """The truth reason of a planted bad submission (``None``: a good one)."""
    submission_id: str | None = None
    """grz-cli's id (``<submitter>_<date>_<sha256(tanG)[:8]>``); ``None`` if its metadata gives
    none."""
    refused_by: str | None = None
    """``grz-cli submit`` (the hospital's validation), ``grzctl download`` (grz-db),
    ``grzctl validate`` or ``detailed QC``; ``None``: accepted."""
    reason: str | None = None
    """The refusing tool's message."""
    steps: dict[str, float] = field(default_factory=dict)
    """Seconds per step: ``grz-cli submit`` and grzctl's (:class:`SubmissionOutcome`)."""
    grzdb_state: str | None = None
    genomlab_state: str | None = None
    confirmation_id: str | None = None
    should_qc: bool | None = None
    detailed_qc_failing: list[str] | None = None
    """The failing metrics of a detailed QC that ran (``[]``: passed; ``None``: not run)."""
    earlier_run: bool = False
    """Finished or refused by an earlier run on this home (nothing sent again)."""


@dataclass
class OfficialIntake:
    """What :func:`run_world_official_intake` did: per world path its outcome, per GRZ its
    pipeline (grz-db stays queryable), why detailed QC did not run (``None``: it could) and
    seconds per phase."""

    outcomes: dict[str, OfficialOutcome] = field(default_factory=dict)
    pipelines: dict[str, GrzctlPipeline] = field(default_factory=dict)
    detailed_qc_missing: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    """``set-up`` (world registrations, platform service, inboxes, grzctl), ``grz-cli``
    (hospitals sending), ``grzctl + genomlab`` (the pipeline runs), ``whole``."""
    batches: list[str] = field(default_factory=list)
    """genomlab's Hail batches written by this run."""
    records: dict[str, dict[str, SubmissionRecord]] = field(default_factory=dict)
    """Per GRZ its submissions' records at the end (grz-db's and genomlab's state, the
    Meldebestätigung): in this process from its stores, or as the GRZ's service answers."""


def file_confirmation(config: GenomlabConfig, data: bytes, body: dict[str, Any]) -> None:
    """The hospital files its Meldebestätigung and, if complete, deletes the TAN."""
    from genomlab.intake import get_case_book

    folder = config.home / "hospitals" / str(body["submitter_id"]) / "meldebestaetigungen"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{body['confirmation_id']}.json"
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    if body["complete"]:
        get_case_book(config, str(body["submitter_id"])).delete_tan(str(body["tan"]))


def get_submission_ids(tools_python: Path, folders: Collection[Path]) -> dict[Path, str | None]:
    """grz-pydantic-models' submission id of each folder's metadata (``None`` where the
    metadata does not validate), in one run of the tools' Python."""
    script = ("import json, sys\n"
              "from grz_pydantic_models.submission.metadata import GrzSubmissionMetadata as M\n"
              "out = {}\n"
              "for path in json.loads(sys.stdin.read()):\n"
              "    try:\n"
              "        out[path] = M.model_validate_json(open(path, 'rb').read()).submission_id\n"
              "    except Exception:\n"
              "        out[path] = None\n"
              "print(json.dumps(out))\n")
    paths = [str(folder / "metadata" / "metadata.json") for folder in folders]
    done = subprocess.run([str(tools_python), "-c", script], input=json.dumps(paths),
                          capture_output=True, text=True, check=True)
    ids = json.loads(done.stdout)
    return {folder: ids[path] for folder, path in zip(folders, paths, strict=True)}


@dataclass
class _Sent:
    entry: dict[str, Any]
    folder: Path
    outcome: OfficialOutcome


def _get_grz_entries(truth: dict[str, Any], world: Path
                     ) -> dict[str, list[tuple[dict[str, Any], str | None]]]:
    """Per GRZ its submissions in sending order (good ones by id, then the planted bad ones),
    each with its truth reason (``None``: good)."""
    by_id = {s["submission_id"]: s for s in truth["submissions"]}
    grzs: dict[str, list[tuple[dict[str, Any], str | None]]] = {}
    for sub in sorted(truth["submissions"], key=lambda s: s["submission_id"]):
        grzs.setdefault(sub["grz"], []).append(({**sub}, None))
    for bad in truth["bad_submissions"]:
        origin = by_id[bad["derived_from"]]
        grzs.setdefault(origin["grz"], []).append((
            {**bad, "grz": origin["grz"], "hospital_ik": origin["hospital_ik"]}, bad["reason"]))
    return grzs


def run_world_official_intake(
        config: GenomlabConfig, world: Path, *, tools: OfficialTools,
        hail: Callable[[], HailModule], paths: Collection[str] | None = None,
        detailed_qc: DetailedQcSetting | bool = True, parallel: int = 1,
        progress: Callable[[str], None] = lambda _message: None,
        pseudonyms: Callable[[str], PseudonymService] | None = None,
        platform: ServiceEndpoint | None = None, grz_services: bool = False) -> OfficialIntake:
    """The world's GRZ submissions through grz-cli → S3 inbox → grzctl → genomlab (see the
    module docstring); returns per submission what happened.

    ``paths`` restricts the run to those world folders (``truth.json``'s ``path`` values);
    ``detailed_qc``: ``True`` runs it when :func:`find_detailed_qc` finds reads and tools,
    ``False`` never, or a setting. ``hail`` starts Hail (only if genotypes are stored).
    ``pseudonyms`` gives each GRZ (by id) its link to the trust centre (default: the home's
    trust centre in-process; the demo passes the trust-centre service's client with the GRZ's
    own OAuth client); ``platform`` a running platform service grzctl submits the Prüfberichte
    to (default: one started for this run). With ``grz_services`` each GRZ's own part runs in
    its running service (``genomlab serve grz``), asked by its operator
    (:class:`ServiceGrzRunner`): this process plays the hospitals and sets grzctl up, the
    service downloads, checks, stores and reports, with its own client to the trust centre
    (``pseudonyms`` and ``hail`` are then not used for it).
    """
    from genomlab.intake import (
        get_pseudonym_service,
        record_world_consents,
        register_world_nodes,
        request_world_case_numbers,
    )

    started = time.monotonic()
    truth = json.loads((world / "truth.json").read_text())
    register_world_nodes(config, world, actor=ACTOR)
    request_world_case_numbers(config, world)
    record_world_consents(config, world)
    result = OfficialIntake()
    if detailed_qc is True:
        setting, result.detailed_qc_missing = find_detailed_qc(world)
    elif detailed_qc is False:
        setting, result.detailed_qc_missing = None, "detailed QC switched off"
    else:
        setting = detailed_qc
    grzs = _get_grz_entries(truth, world)
    wanted = None if paths is None else set(paths)
    folders = [world / e["path"] for entries in grzs.values() for e, _ in entries
               if wanted is None or e["path"] in wanted]
    ids = get_submission_ids(tools.bin_dir / "python", folders)
    hospitals = sorted({h["ik"] for h in truth["institutions"]["hospitals"]})
    todo: dict[str, list[_Sent]] = {}
    for grz, entries in sorted(grzs.items()):
        pipeline = None if grz_services else _get_existing_pipeline(config, grz, tools, setting)
        known = (ServiceGrzRunner(config, grz).get_records() if grz_services
                 else {} if pipeline is None else get_submission_records(config, pipeline))
        for entry, planted in entries:
            if wanted is not None and entry["path"] not in wanted:
                continue
            folder = world / entry["path"]
            outcome = OfficialOutcome(entry["path"], grz, entry["hospital_ik"], planted,
                                      ids[folder])
            result.outcomes[entry["path"]] = outcome
            sid = outcome.submission_id
            if sid is not None and sid in known and _is_final(known[sid], outcome):
                continue
            if _was_refused_by_hospital(config, entry, folder, outcome):
                continue
            todo.setdefault(grz, []).append(_Sent(entry, folder, outcome))
        if pipeline is not None:
            result.pipelines[grz] = pipeline
    if todo:
        with (nullcontext(platform) if platform is not None else _platform_api(config)
              ) as service:
            result.seconds["set-up"] = time.monotonic() - started
            for grz, sent in sorted(todo.items()):
                progress(f"{grz}: {len(sent)} submission(s) through grz-cli and grzctl")
                link = (None if grz_services else get_pseudonym_service(config)
                        if pseudonyms is None else pseudonyms(grz))

                def runner(set_up: GrzctlPipeline, grz: str = grz,
                           link: PseudonymService | None = link) -> GrzRunner:
                    if link is None:
                        return ServiceGrzRunner(config, grz)
                    return LocalGrzRunner(config, set_up, hail=hail, parallel=parallel,
                                          pseudonyms=link)

                pipeline = _run_grz(config, grz, sent, tools=tools, hospitals=hospitals,
                                    service=service, setting=setting, result=result,
                                    runner=runner)
                if not grz_services:
                    result.pipelines[grz] = pipeline
    else:
        result.seconds["set-up"] = time.monotonic() - started
    _fill_from_records(config, result, grz_services=grz_services)
    result.seconds["whole"] = time.monotonic() - started
    return result


def _get_existing_pipeline(config: GenomlabConfig, grz: str, tools: OfficialTools,
                           setting: DetailedQcSetting | None) -> GrzctlPipeline | None:
    """The GRZ's grzctl as an earlier run set it up (grz-db only: its inbox is gone)."""
    from genomlab.genome_center.grz_tools import S3Target

    folder = Institution(config, "grz", grz).directory / "grzctl"
    if not (folder / "grzctl.yaml").is_file():
        return None
    written = json.loads((folder / "grzctl.yaml").read_text())
    api = written["pruefbericht"]
    return GrzctlPipeline(tools.grzctl, folder / "grzctl.yaml", folder / "work", grz_id=grz,
                          inbox=S3Target("http://127.0.0.1:9", "gone", "gone", "gone"),
                          pruefbericht=PruefberichtApi(api["authorization_url"],
                                                       api["api_base_url"], api["client_id"],
                                                       api["client_secret"]),
                          detailed_qc=setting)


def _get_refusal_record(config: GenomlabConfig, entry: dict[str, Any]) -> Path:
    """Where the hospital notes grz-cli's refusal of a world folder (beside its sent copy)."""
    return (config.home / "hospitals" / entry["hospital_ik"] / "sent"
            / f"{Path(entry['path']).name}.refused.json")


def _get_metadata_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "metadata" / "metadata.json").read_bytes()).hexdigest()


def _was_refused_by_hospital(config: GenomlabConfig, entry: dict[str, Any], folder: Path,
                             outcome: OfficialOutcome) -> bool:
    """Whether grz-cli refused this folder, as it is now, in an earlier run (then ``outcome``
    says so and it is not sent again: the same metadata would be refused again)."""
    record = _get_refusal_record(config, entry)
    if not record.is_file():
        return False
    saved = json.loads(record.read_text())
    if saved.get("metadata_sha256") != _get_metadata_digest(folder):
        return False  # the hospital changed it since: send it again
    outcome.refused_by, outcome.reason = "grz-cli submit", str(saved["reason"])
    outcome.earlier_run = True
    return True


def _is_final(record: SubmissionRecord, outcome: OfficialOutcome) -> bool:
    """Whether the GRZ holds the submission as finished or refused for good (then ``outcome``
    says so and nothing is sent again)."""
    if record.grzdb_state == "Finished":
        outcome.earlier_run = True
        return True
    if record.grzdb_state not in FAILED_STATES or record.failure_reason not in FINAL_REFUSALS:
        return False
    reason = str(record.failure_reason)
    outcome.refused_by = {"duplicate_tang": "grzctl download",
                          "duplicate_initial": "grzctl download",
                          "validation_error": "grzctl validate",
                          "detailed_qc_error": "detailed QC"}[reason]
    outcome.reason = f"{reason}: {json.dumps(record.failure_data)}"
    outcome.grzdb_state = record.grzdb_state
    outcome.earlier_run = True
    return True


@contextmanager
def _platform_api(config: GenomlabConfig) -> Iterator[Any]:
    """``genomlab serve platform`` (BfArM's Prüfbericht API over HTTPS on 127.0.0.1) for the
    block; its log in ``<home>/platform/official-intake-service.log``."""
    from genomlab.services.process import running_service

    log = Institution(config, "platform").directory / "official-intake-service.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with running_service(config, "platform", log=log,
                         env={"PYTHONPATH": os.pathsep.join(
                             p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
                         ) as service:
        yield service


def _get_client(config: GenomlabConfig, grz: str) -> tuple[str, str]:
    """The GRZ's OAuth client at the platform: saved in ``<GRZ>/platform-client.json`` (0600)
    when issued, reused afterwards."""
    from genomlab.clients.oauth import (
        ClientCredentials,
        get_credentials_path,
        load_client_credentials,
        save_client_credentials,
    )
    from genomlab.platform.oauth_clients import issue_client

    path = get_credentials_path(Institution(config, "grz", grz).directory)
    if path.is_file():
        saved = load_client_credentials(path)
        return saved.client_id, saved.client_secret
    issued = issue_client(config, grz, actor=ACTOR)
    save_client_credentials(path, ClientCredentials(issued.client_id, issued.client_secret, grz))
    return issued.client_id, issued.client_secret


def _run_grz(config: GenomlabConfig, grz: str, sent: list[_Sent], *, tools: OfficialTools,
             hospitals: list[str], service: Any, setting: DetailedQcSetting | None,
             runner: Callable[[GrzctlPipeline], GrzRunner],
             result: OfficialIntake) -> GrzctlPipeline:
    from genomlab.genome_center.s3_inbox import (
        bundled_version_policy,
        has_upload,
        open_configured_s3,
        start_local_inbox,
    )

    seconds = result.seconds
    started = time.monotonic()
    grz_dir = Institution(config, "grz", grz).directory
    keygen = tools.bin_dir / "crypt4gh-keygen"
    inbox_keys = make_crypt4gh_keypair(keygen, grz_dir / "keys")
    archive_keys = {name: make_crypt4gh_keypair(keygen, grz_dir / "keys", f"archive-{name}")
                    for name in ("consented", "non_consented")}
    client_id, client_secret = _get_client(config, grz)
    with ExitStack() as stack:
        own = open_configured_s3(config, grz)  # the GRZ's S3 in genomlab.toml, checked
        if own is not None:
            inbox = own.inbox
            archives = {name: (own.archive_buckets[name], pair.public_key)
                        for name, pair in archive_keys.items()}
        else:  # a local moto; its buckets are process-wide: a new name per run
            tag = secrets.token_hex(4)
            inbox = stack.enter_context(start_local_inbox(
                grz, version_policy=bundled_version_policy(tools.bin_dir / "python"),
                bucket=f"{grz.lower()}-inbox-{tag}"))
            archives = {}
            for name, pair in archive_keys.items():
                bucket = f"{grz.lower()}-archive-{name.replace('_', '-')}-{tag}"
                inbox.client().create_bucket(Bucket=bucket)
                archives[name] = (bucket, pair.public_key)
        api = PruefberichtApi(token_url=service.url + "/oauth2/token",
                              api_base_url=service.url + "/api/pruefbericht",
                              client_id=client_id, client_secret=client_secret,
                              ca_file=service.ca)
        pipeline = GrzctlPipeline.set_up(tools.grzctl, grz_dir / "grzctl", grz_id=grz,
                                         submitters=hospitals, inbox=inbox.target(),
                                         inbox_keys=inbox_keys, archives=archives,
                                         pruefbericht=api, detailed_qc=setting)
        grz_runner = runner(pipeline)
        configs = {le: write_grz_cli_config(config.home / "hospitals" / le / "grz-cli"
                                            / f"{grz}.yaml", inbox.hospital_config(le, inbox_keys))
                   for le in sorted({s.entry["hospital_ik"] for s in sent})}
        seconds["set-up"] = seconds.get("set-up", 0.0) + time.monotonic() - started
        # initial submissions first, then follow-ups and corrections (their case is grz-db's
        # and genomlab's by then), then the planted bad ones (a reused tanG comes after its
        # original); each round one pipeline run
        good = [s for s in sent if s.outcome.planted is None]
        for batch in ([s for s in good if s.entry.get("type") == "initial"],
                      [s for s in good if s.entry.get("type") != "initial"],
                      [s for s in sent if s.outcome.planted is not None]):
            started = time.monotonic()
            # an inbox that outlives a run (the GRZ's own S3) may hold what an earlier, killed
            # run uploaded: grz-cli refuses to upload it again, the pipeline resumes it
            uploaded = [s for s in batch
                        if (not inbox.is_local and s.outcome.submission_id is not None
                            and has_upload(inbox, s.outcome.submission_id))
                        or _send(config, s, tools, configs, ca_bundle=inbox.ca_bundle)]
            seconds["grz-cli"] = seconds.get("grz-cli", 0.0) + time.monotonic() - started
            if not uploaded:
                continue
            started = time.monotonic()
            run = grz_runner.run([str(s.outcome.submission_id) for s in uploaded])
            seconds["grzctl + genomlab"] = (seconds.get("grzctl + genomlab", 0.0)
                                            + time.monotonic() - started)
            result.batches += run.batches
            for s in uploaded:
                _take(s.outcome, run.outcomes[str(s.outcome.submission_id)])
    return pipeline


def _send(config: GenomlabConfig, sent: _Sent, tools: OfficialTools,
          configs: dict[str, Path], *, ca_bundle: str | None = None) -> bool:
    """The hospital sends a copy of the world folder with ``grz-cli submit``; whether it was
    uploaded (else the outcome holds grz-cli's refusal)."""
    le = sent.entry["hospital_ik"]
    copy = config.home / "hospitals" / le / "sent" / sent.folder.name
    if copy.exists():
        shutil.rmtree(copy)  # an earlier run's copy, with grz-cli's logs and encrypted files
    copy.parent.mkdir(parents=True, exist_ok=True)
    for folder in (copy.parent.parent.parent, copy.parent.parent, copy.parent):
        folder.chmod(0o700)  # <home>/hospitals/<IK>/sent: the hospitals' own
    from genomlab.intake import _copy_owner_only  # the package's own helper

    _copy_owner_only(sent.folder, copy)
    started = time.monotonic()
    done = run_grz_cli(tools.grz_cli, "submit", copy, configs[le], ca_bundle=ca_bundle)
    sent.outcome.steps["grz-cli submit"] = time.monotonic() - started
    shutil.rmtree(copy / "encrypted_files", ignore_errors=True)  # uploaded, or refused
    for path in copy.rglob("*"):  # grz-cli's logs, written with its own umask
        path.chmod(0o700 if path.is_dir() else 0o600)
    if done.returncode == 0:
        return True
    lines = (done.stderr + done.stdout).splitlines()
    first = next((i for i, line in enumerate(lines) if "ERROR" in line), 0)
    sent.outcome.refused_by = "grz-cli submit"
    sent.outcome.reason = "\n".join(lines[first:])
    record = _get_refusal_record(config, sent.entry)
    tmp = record.with_name(f".{record.name}.tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(json.dumps({"metadata_sha256": _get_metadata_digest(sent.folder),
                               "reason": sent.outcome.reason}))
    os.replace(tmp, record)
    return False


def _take(outcome: OfficialOutcome, ran: SubmissionOutcome) -> None:
    outcome.steps.update(ran.steps)
    outcome.should_qc = ran.should_qc
    if ran.detailed_qc is not None:
        outcome.detailed_qc_failing = list(ran.detailed_qc.failing)
    if ran.refused is not None:
        outcome.refused_by = {"download": "grzctl download", "validate": "grzctl validate",
                              "detailed_qc": "detailed QC"}.get(str(ran.refused_at),
                                                                  f"grzctl {ran.refused_at}")
        outcome.reason = ran.refused


def _fill_from_records(config: GenomlabConfig, result: OfficialIntake, *,
                       grz_services: bool = False) -> None:
    """grz-db's latest state and genomlab's state and confirmation of each outcome, from each
    GRZ's records (``result.records``: in this process, or as the GRZ's service answers)."""
    grzs = (sorted({o.grz for o in result.outcomes.values()}) if grz_services
            else sorted(result.pipelines))
    for grz in grzs:
        records = (ServiceGrzRunner(config, grz).get_records() if grz_services
                   else get_submission_records(config, result.pipelines[grz],
                                               failures=False))  # states suffice here
        result.records[grz] = records
        for outcome in result.outcomes.values():
            if outcome.grz != grz or outcome.submission_id is None:
                continue
            record = records.get(outcome.submission_id)
            outcome.grzdb_state = None if record is None else record.grzdb_state
            if record is not None and record.genomlab_state is not None:
                outcome.genomlab_state = record.genomlab_state
                outcome.confirmation_id = record.confirmation_id


# --- who runs a GRZ's own part ------------------------------------------------------------


@dataclass(frozen=True)
class GrzRun:
    """One pipeline run of a GRZ as its caller sees it: each submission's outcome and the
    genomlab Hail batches written."""

    outcomes: dict[str, SubmissionOutcome]
    batches: list[str]


class GrzRunner(Protocol):
    """Who runs a GRZ's own part of the official intake (grzctl's steps, genomlab's stores,
    the Prüfbericht): this process (:class:`LocalGrzRunner`) or the GRZ's running service
    (:class:`ServiceGrzRunner`)."""

    def run(self, submission_ids: list[str]) -> GrzRun:
        """``submission_ids`` (uploaded to the GRZ's inbox) through the GRZ's pipeline."""

    def get_records(self) -> dict[str, SubmissionRecord]:
        """Every submission the GRZ holds, by submission id."""


class LocalGrzRunner:
    """The GRZ's pipeline in this process, with ``pseudonyms`` as its trust-centre link."""

    def __init__(self, config: GenomlabConfig, pipeline: GrzctlPipeline, *,
                 hail: Callable[[], HailModule], parallel: int,
                 pseudonyms: PseudonymService) -> None:
        self.config, self.pipeline = config, pipeline
        self.hail, self.parallel, self.pseudonyms = hail, parallel, pseudonyms

    def run(self, submission_ids: list[str] | None) -> GrzRun:
        """``submission_ids`` through the pipeline (``None``: the whole inbox)."""
        ran = self.pipeline.run(
            self.config, self.pseudonyms, hail=self.hail, submission_ids=submission_ids,
            on_confirmation=lambda data, body: file_confirmation(self.config, data, body),
            parallel=self.parallel)
        return _grz_run(ran)

    def get_records(self) -> dict[str, SubmissionRecord]:
        return get_submission_records(self.config, self.pipeline)


class ServiceGrzRunner:
    """The GRZ's running service (``genomlab serve grz --node GRZ``) runs the pipeline its
    operator set up, asked with the operator credential in the GRZ's folder
    (:class:`genomlab.clients.nodes.NodeOperatorClient`); nothing of the GRZ's stores is opened
    here."""

    def __init__(self, config: GenomlabConfig, grz: str) -> None:
        from genomlab.clients.nodes import NodeOperatorClient

        self.client = NodeOperatorClient(config, "grz", grz,
                                         Institution(config, "grz", grz).directory)

    def run(self, submission_ids: list[str]) -> GrzRun:
        answer = self.client.run_intake(submission_ids)
        if answer.get("chain") != "grzctl":
            raise GenomlabError(f"{self.client.service}: ran {answer.get('chain')!r}, not the "
                                "grzctl pipeline its operator set up")
        return GrzRun({sid: outcome_from_json(o) for sid, o in answer["outcomes"].items()},
                      [str(b) for b in answer["batches"]])

    def get_records(self) -> dict[str, SubmissionRecord]:
        answer = self.client.get_intake_records()
        return {sid: record_from_json(r) for sid, r in answer["records"].items()}


def _grz_run(ran: PipelineRun) -> GrzRun:
    return GrzRun(dict(ran.outcomes),
                  [] if ran.summary is None else [str(b) for b in ran.summary.batches])


# --- the GRZ service's side -----------------------------------------------------------------


def load_grzctl_pipeline(config: GenomlabConfig, grz: str) -> GrzctlPipeline | None:
    """The grzctl pipeline GRZ ``grz``'s operator set up (``<GRZ>/grzctl``), ``None`` if none."""
    folder = Institution(config, "grz", grz).directory / "grzctl"
    if not (folder / PIPELINE_SETTINGS).is_file():
        return None
    try:
        return GrzctlPipeline.load(folder)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc


def get_operator_submission_ids(body: Any) -> list[str] | None:
    """The ``submission_ids`` of an operator's intake request (``None``: the whole inbox)."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ValidationFailed("intake request: body: expected a JSON object")
    ids = body.get("submission_ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise ValidationFailed("intake request: field submission_ids: expected a list of "
                               "submission ids")
    return ids


def run_grzctl_for_operator(config: GenomlabConfig, grz: str, body: Any, *,
                            pseudonyms: PseudonymService,
                            hail: Callable[[], HailModule]) -> dict[str, Any] | None:
    """What the GRZ's service does for its operator's ``POST /api/intake/run`` when grzctl is
    set up (``None`` if not: then genomlab's own intake runs): the pipeline over the request's
    submission ids, each Meldebestätigung filed for its hospital; the JSON answer."""
    pipeline = load_grzctl_pipeline(config, grz)
    if pipeline is None:
        return None
    ran = LocalGrzRunner(config, pipeline, hail=hail, parallel=1, pseudonyms=pseudonyms).run(
        get_operator_submission_ids(body))
    return {"chain": "grzctl",
            "outcomes": {sid: outcome_to_json(o) for sid, o in ran.outcomes.items()},
            "batches": ran.batches}


def get_grzctl_records_for_operator(config: GenomlabConfig, grz: str) -> dict[str, Any]:
    """The GRZ service's answer to ``GET /api/intake/records``: ``chain`` (``grzctl``, or
    ``None`` when grzctl is not set up) and every submission's record."""
    pipeline = load_grzctl_pipeline(config, grz)
    if pipeline is None:
        return {"chain": None, "records": {}}
    return {"chain": "grzctl", "records": {
        sid: record_to_json(r) for sid, r in get_submission_records(config, pipeline).items()}}
