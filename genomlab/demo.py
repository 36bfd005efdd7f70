"""``genomlab demo``: the main job, run on the embedded default (SQLite + local Spark).

It walks the platform's flow as far as genomlab implements it, step by step with progress, and
ends by printing where the outputs are and how to open JupyterLab and the dashboards. Each step
is idempotent: running the demo twice on the same home appends nothing it already did.

After the intake's set-up (BfArM approves the nodes, the hospitals register case numbers and
consents and send their KDK records) and the platform operator's set-up of its people (users,
roles, dataset tags, credentials files, the approval key) every institution runs as its own
``genomlab serve`` process on 127.0.0.1 (:func:`genomlab.deploy.launch.start_all_services`,
ports recorded in ``<home>/services/``), and the flow goes through them as a deployment's would:
the intake (each KDK's service takes in its inbox; on BfArM's tools the hospitals upload with
grz-cli into each GRZ's S3 inbox and each GRZ's service runs grzctl's pipeline and genomlab's
storing for its operator, with its own client to the trust-centre service, and grzctl submits
to the platform service), the application,
its review, the committee vote and the approval to the platform service, each person with their
own token; the researcher's feasibility query to the data service with her own token;
the linkage map from the trust-centre service with the data
service's client; the clinical fields from the KDK services; the GRZs' attributes, site counts
(the feasibility index) and the release's genotypes from the GRZ services (each starts Hail on
its first such request); the airlock request and both
checkers' reviews to the airlock service, each person with their own token. The services stop
when the demo ends. The data service's operator has the data service rebuild its feasibility
index from the node services. Still in the demo's process: the hospitals' and BfArM's set-up
before the services start (node approvals, case numbers, consents, the KDK inboxes), each GRZ
operator's grzctl set-up (its keys, grzctl's configuration, grz-db's schema) and the hospitals'
grz-cli uploads, the whole GRZ intake when BfArM's tools are missing (genomlab's old path), the
platform's user set-up, the release itself (the data service's operator job, with Hail; its
linkage map, clinical fields and genotypes come from the services) and the scheduled reports.
With ``--no-hail`` no service starts (as before: the intake,
which approves the nodes the services need, is skipped) and the application runs in-process.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from genomlab import clock
from genomlab.cli_context import CliContext, pass_cli
from genomlab.config import GenomlabConfig, NodeKind
from genomlab.errors import GenomlabError
from genomlab.hail_session import HailModule
from genomlab.home import clear_home, ensure_home
from genomlab.institution import Institution, existing_institutions

if TYPE_CHECKING:
    from genomlab.clients.data_service import TokenSource
    from genomlab.intake.official import OfficialTools

DEMO_NODES: dict[NodeKind, tuple[str, ...]] = {
    "grz": ("GRZK00001", "GRZTUE002"), "kdk": ("KDKTUE005", "KDKTUE002")}


REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORLD = REPO / "data_samples" / "world"
DEFAULT_SCHEDULE = REPO / "reports" / "schedule.toml"


@dataclass
class DemoContext:
    config: GenomlabConfig
    master: str | None
    use_hail: bool
    world: Path = DEFAULT_WORLD
    outputs: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    application_id: str | None = None
    project_id: str | None = None
    team: tuple[str, ...] = ()
    official_intake: bool | None = None
    """GRZ intake on BfArM's tools: ``None`` when installed, ``True`` required, ``False`` never."""
    official_tools: OfficialTools | None = None
    """BfArM's tools the GRZs run on in this run (:func:`step_intake` finds them; ``None``: the
    GRZs took their inputs in in-process before the services started)."""
    echo: Callable[[str], None] = click.echo
    services: ExitStack = field(default_factory=ExitStack)
    """Stops the services :func:`step_services` started (closed when the demo ends)."""
    serving: bool = False
    detailed_qc: dict[str, list[str]] = field(default_factory=dict)
    """The world submissions (``truth.json`` path) detailed QC ran on in this run: their failing
    metrics (``[]``: passed)."""

    def hail(self) -> HailModule:
        from genomlab.hail_session import init_hail

        return init_hail(self.config, master=self.master)


def step_initialise_institutions(ctx: DemoContext) -> None:
    """Give every institution its folder, keys and ledger (once)."""
    from genomlab.ledgers import open_ledger

    institutions = [Institution(ctx.config, kind) for kind in
                    ("platform", "trust_center", "data_service")]
    institutions += [Institution(ctx.config, kind, node)
                     for kind, nodes in DEMO_NODES.items() for node in nodes]
    for inst in institutions:
        ledger = open_ledger(inst)
        if ledger.head()[0] == 0:
            ledger.append("institution.initialised", {"institution": inst.name,
                                                      "store": inst.store_url.split("://")[0]},
                          actor="genomlab-demo")
    ctx.figures["institutions"] = str(len(institutions))
    from genomlab.platform.node_seed import seed_nodes

    added = seed_nodes(ctx.config, actor="genomlab-demo")  # the nodes BfArM's page lists
    if added:
        ctx.figures["nodes BfArM lists, registered"] = str(len(added))


QC_WORLD = "worlds/committed-with-reads"
"""Where in the home :func:`step_qc_world` writes the committed world with detailed-QC reads."""


def _find_official_with_qc(ctx: DemoContext) -> str | None:
    """Why the GRZs cannot run detailed QC in this run (``None``: they can)."""
    from genomlab.intake.official import find_official_tools

    if ctx.official_intake is False:
        return "official intake switched off"
    tools, missing = find_official_tools()
    if tools is None:
        return f"BfArM's tools missing: {'; '.join(missing)}"
    lacking = [t for t in ("fastp", "bwa", "samtools", "mosdepth") if shutil.which(t) is None]
    if lacking:
        return f"{', '.join(lacking)} not on PATH (.ci/setup --test-tools)"
    return None


def step_qc_world(ctx: DemoContext) -> None:
    """The committed world with detailed-QC reads, generated into the home (once).

    The committed ``data_samples/world`` has no reads (it stays small), so grzctl's selection
    for detailed QC could not be run. On the default world, when the GRZs run on BfArM's tools
    and Debian's QC tools are there, the demo generates the same world (``truth.json``'s seed,
    patients and variants) with ``detailed_qc_reads=True``: the same persons, genotypes,
    submissions and records, plus reads at the metadata's figures, three inflated submissions
    and two with WES / panel libraries (:func:`genomlab.samples.generate_world`). Written into a
    private temporary folder renamed into place; a later run reuses it.
    """
    from genomlab.samples import generate_world, load_truth

    if ctx.world.resolve() != DEFAULT_WORLD.resolve():
        return  # a world the user chose: its reads (if any) are used as they are
    why_not = _find_official_with_qc(ctx)
    if why_not is not None:
        ctx.echo(f"  note: the committed world (no reads) is used: {why_not}")
        return
    target = ctx.config.home / QC_WORLD
    if not (target / "truth.json").is_file():
        import tempfile

        truth = load_truth(DEFAULT_WORLD)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".world.", dir=target.parent))
        try:
            generate_world(tmp / "w", n_patients=int(truth["n_patients"]),
                           n_variants=int(truth["n_variants"]), seed=int(truth["seed"]),
                           detailed_qc_reads=True)
            shutil.rmtree(target, ignore_errors=True)  # a crash's partial copy, if any
            os.replace(tmp / "w", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    ctx.world = target
    ctx.figures["world"] = f"the committed world with detailed-QC reads ({target})"


def step_intake(ctx: DemoContext) -> None:
    """Before the services: BfArM approves the world's nodes, the hospitals register their case
    numbers and consents with the trust centre and send their KDK records into the KDKs' inboxes.

    The nodes take their inputs in once the services run (:func:`step_node_intake`): the
    approval gives each node the platform client its service needs
    (:func:`genomlab.deploy.launch.ensure_service_prerequisites`), and an institution's folder
    must exist for its service to start. Without BfArM's tools (``./.grzctl-venv``,
    ``.ci/setup``) genomlab's old GRZ intake runs here, in-process (the in-process trust centre
    and platform), with a warning naming what is missing; only the KDK records wait.
    """
    from genomlab.intake import run_world_intake
    from genomlab.intake.official import find_official_tools

    tools, missing = find_official_tools()
    if ctx.official_intake is False:
        tools, missing = None, ["switched off (official_intake=False)"]
    if tools is None and ctx.official_intake:
        raise GenomlabError(f"BfArM's GRZ tools missing: {'; '.join(missing)}")
    ctx.official_tools = tools
    if tools is None:
        ctx.echo(f"  warning: GRZ intake on genomlab's old in-process path, BfArM's tools are "
                 f"missing: {'; '.join(missing)} (.ci/setup installs them into .grzctl-venv)")
        ctx.figures["GRZ intake"] = "old in-process path (BfArM's tools missing)"
        results = run_world_intake(ctx.config, ctx.world, progress=lambda _msg: None,
                                   hail=ctx.hail, kdk=False)
        states: dict[str, int] = {}
        for summary in results.values():
            for state in getattr(summary, "states", {}).values():
                states[state] = states.get(state, 0) + 1
        ctx.figures["submissions by final state"] = ", ".join(
            f"{state} {n}" for state, n in sorted(states.items())) or "none"
    else:  # nodes, case numbers, consents, KDK inboxes; nobody takes anything in yet
        from genomlab.genome_center.intake import GenomeCenter
        from genomlab.intake import get_world_nodes

        run_world_intake(ctx.config, ctx.world, progress=lambda _msg: None, hail=ctx.hail,
                         grz=False, kdk=False)
        for grz in get_world_nodes(ctx.world, "grz"):
            GenomeCenter(ctx.config, grz)  # its store and keys, so that its service starts


def get_world_kdks(world: Path) -> list[str]:
    """The KDKs the world's hospitals send records to (``<world>/kdk/<KDK id>/``)."""
    return sorted(d.name for d in (world / "kdk").iterdir() if d.is_dir())


def step_node_intake(ctx: DemoContext) -> None:
    """The nodes take in what the hospitals sent, through the running services.

    Each node validates, exchanges the VN for its dataset pseudonym at the trust-centre service
    with its own OAuth client (the trust centre's ledger names that verified client), stores
    (genotypes into the GRZ's Hail MatrixTable) and reports a Prüfbericht to the platform
    service, which answers with a signed Meldebestätigung for the hospital. The GRZs run on
    BfArM's own tools (hospitals send with ``grz-cli submit`` into the GRZ's S3 inbox, grzctl
    takes them in and submits the Prüfbericht: :mod:`genomlab.intake.official`); each KDK's
    service takes in its inbox when its operator asks (``POST /api/intake/run``,
    :class:`genomlab.clients.nodes.NodeOperatorClient`), as ``genomlab kdk run-inbox`` does.
    """
    from genomlab.clients.nodes import NodeOperatorClient
    from genomlab.intake import get_inbox

    if not ctx.serving:
        raise GenomlabError("node intake: the services do not run (step_services starts them; "
                            "with --no-hail the intake is skipped)")
    if ctx.official_tools is not None:
        _run_official_grz_intake(ctx, ctx.official_tools)
    states: dict[str, int] = {}
    for node in get_world_kdks(ctx.world):
        if not get_inbox(ctx.config, "kdk", node).is_dir():
            continue  # nothing was ever sent to it: no service of it runs
        summary = NodeOperatorClient(ctx.config, "kdk", node,
                                     Institution(ctx.config, "kdk", node).directory).run_intake()
        for outcome in summary.get("records", {}).values():
            states[str(outcome["state"])] = states.get(str(outcome["state"]), 0) + 1
    ctx.figures["KDK intake"] = "through the KDK services, each with its own client" + (
        ": " + ", ".join(f"{state} {n}" for state, n in sorted(states.items())) if states
        else " (nothing waiting)")
    confirmations = sorted((ctx.config.home / "hospitals").glob("*/meldebestaetigungen/*"))
    ctx.figures["Meldebestätigungen issued"] = str(len(confirmations))
    ctx.outputs["Meldebestätigungen"] = ctx.config.home / "hospitals"


def _run_official_grz_intake(ctx: DemoContext, tools: OfficialTools) -> None:
    """The GRZ part of :func:`step_node_intake` on BfArM's tools, and its figures: each GRZ's
    pseudonyms from the trust-centre service with its own client, grzctl's Prüfberichte to the
    running platform service."""
    from genomlab.clients.oauth import get_service_endpoint
    from genomlab.intake.official import run_world_official_intake

    # one at a time: grz-db's should-qc answers depend on the order it is asked in, so two at a
    # time would select different submissions from run to run
    run = run_world_official_intake(ctx.config, ctx.world, tools=tools, hail=ctx.hail,
                                    platform=get_service_endpoint(ctx.config, "platform"),
                                    grz_services=True)
    outcomes = list(run.outcomes.values())
    ctx.figures["GRZ intake"] = ("BfArM's grz-cli + grzctl (S3 inbox on 127.0.0.1), each GRZ's "
                                 "own part in its service")
    by_outcome: dict[str, int] = {}
    for o in outcomes:
        key = f"refused by {o.refused_by}" if o.refused_by else f"grz-db {o.grzdb_state}"
        by_outcome[key] = by_outcome.get(key, 0) + 1
    ctx.figures["GRZ submissions by outcome"] = ", ".join(
        f"{k} {n}" for k, n in sorted(by_outcome.items()))
    states: dict[str, int] = {}
    for o in outcomes:
        if o.genomlab_state is not None:
            states[o.genomlab_state] = states.get(o.genomlab_state, 0) + 1
    ctx.figures["submissions by final state"] = ", ".join(
        f"{state} {n}" for state, n in sorted(states.items())) or "none"
    differ = []
    for grz, records in sorted(run.records.items()):  # as each GRZ's service answered
        finished = {sid for sid, r in records.items() if r.grzdb_state == "Finished"}
        confirmed = {sid for sid, r in records.items() if r.confirmation_id}
        if finished != confirmed:
            differ.append(f"{grz}: {len(finished ^ confirmed)} submission(s) differ")
    ctx.figures["grz-db agrees with genomlab"] = (
        "yes, submission by submission" if not differ else "no: " + "; ".join(differ))
    waiting = sum(1 for o in outcomes if o.should_qc and o.detailed_qc_failing is None
                  and o.refused_by is None and not o.earlier_run)
    ran = [o for o in outcomes if o.detailed_qc_failing is not None]
    ctx.detailed_qc = {o.path: list(o.detailed_qc_failing or []) for o in ran}
    if run.detailed_qc_missing is not None and waiting:
        ctx.echo(f"  note: {waiting} submission(s) selected by grzctl db should-qc await "
                 f"detailed QC ({run.detailed_qc_missing})")
        ctx.figures["detailed QC"] = (f"{waiting} selected submission(s) await detailed QC "
                                      f"({run.detailed_qc_missing})")
    elif ran:
        failed = sorted((o.submission_id or o.path, o.detailed_qc_failing or [])
                        for o in ran if o.detailed_qc_failing)
        ctx.figures["detailed QC"] = (
            f"{len(ran)} run (selected by grzctl db should-qc), {len(failed)} failed"
            + "".join(f"; {sid}: {', '.join(metrics)}" for sid, metrics in failed))


def step_platform_people(ctx: DemoContext) -> None:
    """The platform's operator and admin set up its people in-process, before any service runs:
    staff with their roles, the research team, the datasets' DUO tags, each person's credentials
    file (0600), and the platform's approval key, so that the services' start anchors its
    fingerprint with the trust centre before the first approval is signed."""
    from genomlab.platform.applications.demo import (
        DEMO_STAFF,
        DEMO_TEAM,
        get_demo_application,
        setup_demo_people,
    )
    from genomlab.platform.applications.store import APPROVAL_KEY
    from genomlab.platform.applications.workflow import Workflow
    from genomlab.platform.person_credentials import (
        ensure_embedded_credentials,
        get_operator_actor,
    )

    if get_demo_application(ctx.config) is None:
        wf = Workflow(ctx.config)
        with wf.batch():
            setup_demo_people(wf)
    people = ensure_embedded_credentials(ctx.config, [*DEMO_STAFF, *DEMO_TEAM],
                                         actor=get_operator_actor())
    Institution(ctx.config, "platform").keys().signing_key(APPROVAL_KEY)  # made on first use
    ctx.figures["person credentials"] = str(len(people))
    ctx.outputs["person credentials (0600)"] = ctx.config.home / "people"


def step_application(ctx: DemoContext) -> None:
    """A researcher applies; handler, committee and decider approve; the register lists it.

    With the services running each person acts through the platform service with their own
    token (the ledger's actor is the verified identity); with ``--no-hail`` no service runs
    and the workflow runs in this process."""
    from genomlab.platform.applications.demo import (
        file_demo_application,
        get_demo_application,
        run_applications_demo,
    )

    done = get_demo_application(ctx.config)
    if done is not None:
        app = done
    elif ctx.serving:
        from genomlab.clients.platform import PlatformPersonClient
        from genomlab.platform.person_credentials import (
            get_embedded_credentials_path,
            load_person_credentials,
        )

        def person(user: str) -> PlatformPersonClient:
            return PlatformPersonClient(ctx.config, load_person_credentials(
                get_embedded_credentials_path(ctx.config, user)))

        app = file_demo_application(person)
        ctx.figures["application workflow"] = "through the platform service, each person's token"
    else:
        step_platform_people(ctx)  # idempotent; a caller may run this step alone
        app = run_applications_demo(ctx.config)
        ctx.figures["application workflow"] = "in-process (no services without Hail)"
    ctx.application_id, ctx.project_id, ctx.team = app.application_id, app.project_id, app.team
    ctx.figures["approved application"] = f"{app.application_id} (project {app.project_id})"


def step_services(ctx: DemoContext) -> None:
    """Every institution instance becomes a ``genomlab serve`` process on 127.0.0.1."""
    from genomlab.deploy.launch import start_all_services, stop_services

    if not ctx.use_hail:  # every step that calls a service needs Spark (release, QC, airlock)
        ctx.figures["services"] = "not started (--no-hail: no step calls them)"
        return
    launched, seconds = start_all_services(ctx.config, announce=lambda _line: None)
    def stop() -> None:
        killed = stop_services(launched)
        ctx.figures["services stopped"] = (f"all {len(launched)} on SIGTERM" if not killed else
                                           f"killed after 20 s: {', '.join(killed)}")

    ctx.services.callback(stop)
    ctx.serving = True
    ctx.figures["services"] = f"{len(launched)} started in {seconds:.1f} s"
    ctx.outputs["service logs"] = ctx.config.home / "logs" / "services"


def get_person_tokens(ctx: DemoContext, user: str) -> TokenSource:
    """``user``'s tokens from their embedded credentials file (made by the application step)."""
    from genomlab.clients.data_service import load_person_tokens
    from genomlab.platform.person_credentials import get_embedded_credentials_path

    return load_person_tokens(ctx.config, get_embedded_credentials_path(ctx.config, user))


def step_release(ctx: DemoContext) -> None:
    """Feasibility (suppressed counts), then linkage and release into the project workspace."""
    from genomlab.data_service.demo import DataServiceCalls, run_data_service_demo

    if ctx.application_id is None:
        raise GenomlabError("no approved application to release")
    calls = None
    readers = ExitStack()  # the GRZ services' readers remove their downloads when closed
    if ctx.serving:
        from genomlab.clients.data_service import DataServiceClient, DataServiceOperatorClient
        from genomlab.clients.nodes import ATTRIBUTES_SCOPE, READ_SCOPE, get_node_service_readers
        from genomlab.clients.oauth import (
            BearerTokens,
            get_credentials_path,
            load_client_credentials,
        )
        from genomlab.clients.trust_center import TrustCenterClient

        own = load_client_credentials(
            get_credentials_path(Institution(ctx.config, "data_service").directory))
        grzs, kdks = get_node_service_readers(
            ctx.config, BearerTokens(ctx.config, own, f"{ATTRIBUTES_SCOPE} {READ_SCOPE}"))
        for reader in grzs:
            readers.enter_context(reader)
        calls = DataServiceCalls(
            feasibility=DataServiceClient(ctx.config, get_person_tokens(ctx, ctx.team[0]))
            .run_feasibility_query,
            linkage=TrustCenterClient.for_instance(ctx.config, "data_service"),
            clinical_nodes=kdks, genome_nodes=grzs,
            build_index=DataServiceOperatorClient(
                ctx.config, Institution(ctx.config, "data_service").directory
            ).build_feasibility_index)
    with readers:
        demo = run_data_service_demo(ctx.config, ctx.application_id, hl=ctx.hail(),
                                     user=ctx.team[0], calls=calls)
    manifest = demo.release.manifest
    counts = manifest["counts"]
    ctx.figures["release"] = (f"{counts['n_persons']} persons ({counts['n_excluded_no_consent']} "
                              f"excluded: no research consent), release {demo.release.release_id}")
    ctx.outputs["release (workspace)"] = demo.release.path


def step_cohort_qc(ctx: DemoContext) -> None:
    """Cohort QC on the release, as the researcher runs it in JupyterLab."""
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    assert ctx.project_id is not None
    workspace = ctx.config.workspace_dir(ctx.project_id)
    out = workspace / "qc"
    if not (out / "sample_qc.tsv").exists():
        panel = ctx.world / "reference_panel"  # stands in for gnomAD's published loadings
        run_cohort_qc(ctx.hail(), out, release=workspace / "release",
                      reference=panel if panel.is_dir() else None, config=ctx.config,
                      user=ctx.team[0])
    import polars as pl

    sample_qc = pl.read_csv(out / "sample_qc.tsv", separator="\t", columns=["sample", "pass"])
    passing = sample_qc.filter(pl.col("pass").cast(pl.String).str.to_lowercase() == "true").height
    ctx.figures["cohort QC"] = f"{passing} of {sample_qc.height} samples pass"
    ctx.outputs["cohort QC tables and plots"] = out


def step_airlock(ctx: DemoContext) -> None:
    """An aggregate output leaves the workspace: automatic checks, two output checkers."""
    import polars as pl

    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock.requests import record_review, submit_request

    assert ctx.project_id is not None
    workspace = ctx.config.workspace_dir(ctx.project_id)
    released = ctx.config.home / "airlock" / "released" / ctx.project_id
    if not released.exists():
        variant_qc = pl.read_csv(workspace / "qc" / "variant_qc.tsv", separator="\t",
                                 columns=["contig"])
        summary = (variant_qc.group_by("contig").agg(pl.len().alias("n_variants"))
                   .sort("contig"))
        (workspace / "outputs").mkdir(parents=True, exist_ok=True)
        summary.write_csv(workspace / "outputs" / "variants_per_contig.csv")
        # Small counts (chrY) fail the automatic minimum-cell check, which cannot know that
        # these count variant sites, not persons: the researcher justifies, two checkers decide.
        justification = "Counts of variant sites per chromosome, not of persons."
        reason = "Site counts per chromosome; no person-level information."
        if ctx.serving:  # each person through the airlock service with their own token
            from genomlab.clients.airlock import AirlockClient

            request = AirlockClient(ctx.config, get_person_tokens(ctx, ctx.team[0])) \
                .submit_request(ctx.project_id, ["variants_per_contig.csv"],
                                justification=justification)
            for checker in ("hanna", "otto"):
                AirlockClient(ctx.config, get_person_tokens(ctx, checker)).record_review(
                    request, "approve", reason)
        else:
            directory = PlatformDirectory(ctx.config)
            request = submit_request(ctx.config, directory, ctx.team[0], ctx.project_id,
                                     ["variants_per_contig.csv"], justification=justification)
            for checker in ("hanna", "otto"):
                record_review(ctx.config, directory, checker, request, "approve", reason)
    ctx.figures["airlock"] = f"{len(list(released.rglob('*.csv')))} file(s) released"
    ctx.outputs["released outputs"] = released


def step_reports(ctx: DemoContext) -> None:
    """The scheduled reports that are due run; public ones pass the disclosure gate or wait."""
    from genomlab.reports.runner import run_due_reports
    from genomlab.reports.schedule import load_schedule

    outcomes = run_due_reports(ctx.config, load_schedule(DEFAULT_SCHEDULE), clock.now(),
                               actor="genomlab-demo")
    ctx.figures["reports run now"] = ", ".join(f"{o.name}: {o.status}" for o in outcomes) or (
        "none due (already run for this slot)")
    ctx.outputs["reports"] = ctx.config.reports_dir


def step_verify_ledgers(ctx: DemoContext) -> None:
    """Anchor every institution's head with its partner, then verify every ledger with its
    public key and every anchor, and the platform's trusted key files against the fingerprints
    anchored with them."""
    from genomlab.anchors import anchor_heads, find_anchor_faults, find_key_faults

    ctx.figures["ledger heads anchored"] = str(len(anchor_heads(ctx.config)))
    bad = find_anchor_faults(ctx.config) + find_key_faults(ctx.config)
    total = 0
    for inst in existing_institutions(ctx.config):
        report = inst.ledger().verify()
        total += report.n_events
        if not report.ok:
            bad.append(f"{inst.name}: {report}")
    if bad:
        raise GenomlabError("ledger verification failed: " + "; ".join(bad))
    ctx.figures["ledger events verified"] = str(total)


STEPS: list[tuple[str, Callable[[DemoContext], None], bool]] = [
    # (title, step, needs Hail)
    ("institutions: folders, keys, ledgers", step_initialise_institutions, False),
    ("GRZ reads for detailed QC: the committed world with reads, in the home", step_qc_world,
     True),
    ("intake set-up: nodes approved, case numbers, consents, KDK inboxes", step_intake, True),
    ("platform people: staff, team, dataset tags, credentials", step_platform_people, False),
    ("services: every institution a process on 127.0.0.1", step_services, False),
    ("intake through the services: GRZ + KDK, trust centre, Prüfbericht, Meldebestätigung",
     step_node_intake, True),
    ("data-use application approved, register updated", step_application, False),
    ("data service: feasibility, linkage, release", step_release, True),
    ("workspace: cohort QC on Hail", step_cohort_qc, True),
    ("airlock: checks and two output checkers", step_airlock, True),
    ("scheduled reports", step_reports, False),
    ("verify all ledgers", step_verify_ledgers, False),
]


def run_demo(config: GenomlabConfig, *, master: str | None = None, use_hail: bool = True,
             world: Path = DEFAULT_WORLD, echo: Callable[[str], None] = click.echo,
             official_intake: bool | None = None) -> DemoContext:
    """Run every demo step in order; the CLI command and the tests call this.

    With ``use_hail=False`` the steps that need Spark are skipped (and said so).
    ``official_intake``: the GRZs on BfArM's tools when installed (``None``), always
    (``True``: an error if missing) or never (``False``).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    ctx = DemoContext(config, master, use_hail, world, official_intake=official_intake,
                      echo=echo)
    ensure_home(config.home)
    with ctx.services, Progress(TextColumn("{task.description}"), BarColumn(),
                                TimeElapsedColumn(), transient=True) as progress:
        task = progress.add_task("demo", total=len(STEPS))
        for title, step, needs_hail in STEPS:
            progress.update(task, description=title)
            started = time.perf_counter()
            if needs_hail and not use_hail:
                echo(f"  skip  {title}  (--no-hail)")
            else:
                step(ctx)
                echo(f"  done  {title}  ({time.perf_counter() - started:.1f} s)")
            progress.advance(task)
    return ctx


@click.command()
@click.option("--fresh", is_flag=True, help="Delete the home first (only a home genomlab created).")
@click.option("--master", default=None,
              help="Spark master for this run (default: spark.master of the configuration).")
@click.option("--no-hail", is_flag=True, help="Skip the steps that need Hail/Spark.")
@click.option("--world", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=DEFAULT_WORLD, show_default=True,
              help="Synthetic world to run on (genomlab samples generate makes others).")
@pass_cli
def demo(cli: CliContext, fresh: bool, master: str | None, no_hail: bool, world: Path) -> None:
    """Run the platform flow end to end on the embedded default and say where the results are.

    Uses the home of the configuration (GENOMLAB_HOME, default ./genomlab-home): SQLite stores,
    key files and Hail on local Spark. Safe to re-run; --fresh starts over.
    """
    config = cli.config
    if fresh:
        clear_home(config.home)
    click.echo(f"genomlab demo: home {config.home}")
    ctx = run_demo(config, master=master, use_hail=not no_hail, world=world)
    click.echo("\nResults")
    for name, figure in ctx.figures.items():
        click.echo(f"  {name}: {figure}")
    for name, path in ctx.outputs.items():
        click.echo(f"  {name}: {path}")
    click.echo(
        "\nWhere things are\n"
        f"  home (stores, keys, ledgers): {config.home}\n"
        "  verify every ledger:          .venv/bin/genomlab ledger verify\n"
        "  act as a person (their credentials, never a name):\n"
        f"    GENOMLAB_CREDENTIALS={config.home}/people/hanna/credentials.json "
        ".venv/bin/genomlab platform review queue --mine\n"
        "\nOpen them\n"
        f"  JupyterLab (as alice):  GENOMLAB_HOME={config.home} "
        f"GENOMLAB_CREDENTIALS={config.home}/people/alice/credentials.json "
        f".venv/bin/jupyter lab {REPO / 'notebooks'}\n"
        f"  dashboards (as hanna):  GENOMLAB_HOME={config.home} "
        f"GENOMLAB_CREDENTIALS={config.home}/people/hanna/credentials.json "
        ".venv/bin/genomlab dashboards serve "
        "approvals   (or register, airlock, platform, ledger_health)\n"
        "               then open http://127.0.0.1:8866/"
    )
