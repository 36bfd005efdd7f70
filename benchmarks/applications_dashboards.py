"""Benchmark: 10,000 data-use applications — dashboards' first screen and register export.

Run: ``.venv/bin/python benchmarks/applications_dashboards.py [--n 10000] [--repeats 3]``

Side by side in one run:

- register export (JSON and CSV) from the projection vs. the naive way: replay every ledger event
  into Python state on each request, then export (goal: < 1 s);
- the approvals queue's first page from the projection (indexed SQL, 50 rows) vs. replaying all
  events and rendering every row;
- time to first screen in headless Chromium (Debian's /usr/bin/chromium) of both Voila dashboards
  (goal: < 2 s), and of a naive approvals page that renders every row.

The machine is shared: figures are noisy, the ratios are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat

from genomlab.config import GenomlabConfig, load_config
from genomlab.dashboards.approvals import queue_table_html
from genomlab.dashboards.first_screen import get_voila_command, get_voila_environment
from genomlab.dashboards.register import register_table_html
from genomlab.platform.applications import ApplicationForm, DatasetTags, Role, Workflow
from genomlab.platform.applications.models import TERMS_OF_USE_VERSION
from genomlab.platform.applications.queries import QueuePage, get_queue_page
from genomlab.platform.applications.register import (
    RegisterPage,
    export_register,
    get_register_page,
)

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PREHEAT = ("--preheat_kernel=True", "--pool_size=1")
"""Voila runs the notebook before the visit; the page then only attaches to the kernel."""
PURPOSES = ("care", "quality_assurance", "evaluation", "research")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 11, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _form(i: int, applicant_team: tuple[str, ...]) -> ApplicationForm:
    purpose = PURPOSES[i % 4]
    topic = ("rare disease", "breast cancer", "epilepsy")[i % 3]
    return ApplicationForm(
        title=f"Study {i}: variant burden in {topic}",
        lay_summary="We study how often genetic variants explain disease in genomDE cases.",
        scientific_abstract="Burden tests on exome and genome data with clinical phenotypes.",
        purposes=(purpose,), duo_permission="HMB" if i % 2 else "DS",
        disease=None if i % 2 else "C50", duo_modifiers=("PUB",),
        data_categories=("genomic", "clinical"), clinical_fields=("diagnosis",),
        duration_months=12 + i % 24, ethics_vote_reference=f"EK {i}/2026",
        accepted_terms=TERMS_OF_USE_VERSION, team=applicant_team)


def generate(config: GenomlabConfig, n: int) -> tuple[float, int]:
    """``n`` applications in realistic states; returns (seconds, events)."""
    clock = Clock()
    wf = Workflow(config, clock=clock)
    wf.bootstrap_admin("root", institution="BfArM")
    applicants = [(f"r{k:03d}", f"Institut {k % 60:02d}") for k in range(300)]
    with wf.batch():
        for user, institution in applicants:
            wf.register_user("root", user, institution=institution)
        for name, role in [("hanna", Role.HANDLER), ("hugo", Role.HANDLER),
                           ("dora", Role.DECIDER), ("dieter", Role.DECIDER),
                           ("kurt", Role.COMMITTEE), ("klara", Role.COMMITTEE)]:
            wf.register_user("root", name, institution="BfArM")
            wf.grant_role("root", name, role)
        wf.tag_dataset("root", DatasetTags(dataset_id="grz-wgs", title="Genomes",
                                           data_category="genomic", duo_permission="HMB",
                                           duo_modifiers=("IRB",)))
        wf.tag_dataset("root", DatasetTags(dataset_id="kdk-clinical", title="Clinical",
                                           data_category="clinical", duo_permission="GRU"))
    started = time.perf_counter()
    for chunk in range(0, n, 500):
        with wf.batch():
            for i in range(chunk, min(n, chunk + 500)):
                clock.now += timedelta(minutes=45)
                user = applicants[i % len(applicants)][0]
                team = (applicants[(i + 1) % len(applicants)][0],)
                app = wf.create_draft(user, _form(i, team))
                kind = i % 20
                if kind == 0:
                    continue  # stays a draft
                wf.submit(user, app)
                if kind < 7:
                    continue  # waiting in the queue
                wf.assign_handler("hanna" if i % 2 else "hugo", app)
                if kind == 7:
                    wf.return_application("hanna" if i % 2 else "hugo", app, "Clarify fields.")
                elif kind < 10:
                    wf.request_committee_review("hanna" if i % 2 else "hugo", app)
                    wf.record_vote("kurt", app, "approve")
                elif kind < 13:
                    wf.reject("dora", app, "Not necessary for the research question.")
                else:
                    wf.approve("dieter", app)
                    if kind == 19:
                        wf.add_result(user, app, kind="publication", title=f"Paper {i}",
                                      reference=f"doi:10.5555/{i}")
    seconds = time.perf_counter() - started
    return seconds, wf.ledger.head()[0]


# --- naive baselines -------------------------------------------------------------------------

def replay_state(config: GenomlabConfig) -> dict[str, dict[str, Any]]:
    """The naive read model: fold every ledger event into dicts, on each request."""
    wf_ledger = Workflow(config).ledger
    users: dict[str, dict[str, str]] = {}
    apps: dict[str, dict[str, Any]] = {}
    for e in wf_ledger.events():
        p = e.payload
        if e.type == "platform.user.registered":
            users[p["user_id"]] = p
        elif e.type == "application.drafted":
            apps[p["application_id"]] = {"application_id": p["application_id"],
                                         "applicant": e.actor, "institution": p["institution"],
                                         "form": p["form"], "status": "draft",
                                         "status_changed_at": e.recorded_at, "results": [],
                                         "project_id": None, "handler": None, "n_votes": 0}
        elif e.type.startswith("application."):
            app = apps[p["application_id"]]
            kind = e.type.removeprefix("application.")
            if kind == "submitted":
                app.update(status="submitted", project_id=p["project_id"],
                           submitted_at=app.get("submitted_at") or e.recorded_at)
            elif kind == "handler_assigned":
                app.update(status="under_review", handler=p["handler"])
            elif kind == "vote_recorded":
                app["n_votes"] += 1
            elif kind == "result_added":
                app["results"].append(p)
            elif kind in ("returned", "approved", "rejected", "closed", "revoked", "expired"):
                app["status"] = kind
            app["status_changed_at"] = e.recorded_at
    return apps


def naive_export(config: GenomlabConfig, out: Path) -> int:
    apps = replay_state(config)
    entries = [{**a, **a["form"]} for a in apps.values() if a.get("submitted_at")]
    out.write_text(json.dumps(entries, ensure_ascii=False, indent=1))
    return len(entries)


def naive_register_html(config: GenomlabConfig) -> str:
    """Replay, build every entry, render them all."""
    apps = replay_state(config)
    entries = [{"project_id": a["project_id"], "application_id": a["application_id"],
                "title": a["form"]["title"], "lay_summary": a["form"]["lay_summary"],
                "applicant": a["applicant"], "institution": a["institution"],
                "authorised_users": list(a["form"]["team"]), "purposes": a["form"]["purposes"],
                "duo_permission": a["form"]["duo_permission"], "disease": a["form"]["disease"],
                "duo_modifiers": a["form"]["duo_modifiers"],
                "data_categories": a["form"]["data_categories"],
                "clinical_fields": a["form"]["clinical_fields"], "level": a["form"]["level"],
                "submitted_on": a["submitted_at"][:10], "status": a["status"],
                "decision": None, "decision_on": None, "valid_from": None, "valid_until": None,
                "results": [{"kind": r["kind"], "title": r["title"], "reference": r["reference"]}
                            for r in a["results"]]}
               for a in apps.values() if a.get("submitted_at")]
    return register_table_html(RegisterPage(entries, len(entries)))


def naive_queue_html(config: GenomlabConfig) -> str:
    apps = replay_state(config)
    now = datetime.now(UTC)
    rows = sorted(({**a, "title": a["form"]["title"], "purposes": ",".join(a["form"]["purposes"]),
                    "age_days": (now - datetime.fromisoformat(a["status_changed_at"])).days}
                   for a in apps.values()
                   if a["status"] in ("submitted", "returned", "under_review")),
                  key=lambda r: r["status_changed_at"])
    return queue_table_html(QueuePage(rows, len(rows), 0, len(rows)))


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``repeats`` calls, and the last value."""
    walls, cpus, value = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), value


# --- browser ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(notebook: Path, env: dict[str, str], log: Path,
          extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        get_voila_command(notebook, port, *extra), env=get_voila_environment({**os.environ, **env}),
        stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=tempfile.mkdtemp(prefix="voila-cwd-"))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "api/status", timeout=2)
            return proc, url
        except urllib.error.HTTPError:
            return proc, url  # it answers (the status route redirects to a 403): up
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise TimeoutError(f"voila did not start: {log.read_text()[-2000:]}")


def naive_notebook(directory: Path) -> Path:
    """The approvals notebook, but rendering every open application on one page."""
    nb = nbformat.read(REPO / "notebooks" / "approvals.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "show_approvals(" in cell.source:
            cell.source = cell.source.replace("user=user)", "user=user, page_size=1_000_000)")
    path = directory / "notebooks" / "approvals_all_rows.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def first_screen_seconds(browser: Any, url: str, selector: str, live: str, repeats: int,
                         pause: float = 0) -> tuple[list[float], list[float]]:
    """Per visit, seconds from navigation to the first table row (the server-rendered first
    screen) and to the live widgets' first row (``pause`` before each visit)."""
    first, interactive = [], []
    for _ in range(repeats):
        time.sleep(pause)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=180_000)
        page.wait_for_selector(selector, timeout=180_000)
        first.append(time.perf_counter() - started)
        page.wait_for_selector(live, timeout=180_000)
        interactive.append(time.perf_counter() - started)
        context.close()
    return first, interactive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--preheat-pause", type=float, default=20.0,
                        help="Seconds between visits so the preheated pool refills.")
    parser.add_argument("--home", default=None,
                        help="Work folder to keep; applications generated there are reused.")
    args = parser.parse_args()

    workdir = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="genomlab-bench-"))
    config = load_config(environ={"GENOMLAB_HOME": str(workdir / "home")})
    if (workdir / "home" / "platform").exists():
        print(f"reusing the applications under {workdir / 'home'}")
    else:
        seconds, events = generate(config, args.n)
        print(f"generated {args.n} applications ({events} ledger events) in {seconds:.1f} s "
              f"({events / seconds:.0f} events/s, signed and projected)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    rows = []
    naive = timed(lambda: naive_export(config, workdir / "naive.json"), 1)
    ours = timed(lambda: export_register(config, workdir / "register.json"), args.repeats)
    assert ours[2] == naive[2], (ours[2], naive[2])
    rows.append((f"register export JSON ({ours[2]} entries)", ours, naive))
    rows.append(("register export CSV", timed(
        lambda: export_register(config, workdir / "register.csv"), args.repeats), naive))
    rows.append(("approvals queue, first page (server side)",
                 timed(lambda: queue_table_html(get_queue_page(config)), args.repeats),
                 timed(lambda: naive_queue_html(config), 1)))
    rows.append(("register page, first page (server side)",
                 timed(lambda: register_table_html(get_register_page(config)), args.repeats),
                 timed(lambda: naive_register_html(config), 1)))
    print(f"\n{'measure (wall s / CPU s)':<44} {'genomlab':>15} {'naive':>15} {'ratio':>7}")
    for name, (wall, cpu, _), (n_wall, n_cpu, _) in rows:
        print(f"{name:<44} {wall:>7.3f}/{cpu:>6.3f} {n_wall:>7.3f}/{n_cpu:>6.3f} "
              f"{n_wall / wall:>6.1f}x")

    if not args.no_browser:
        from playwright.sync_api import sync_playwright

        env = {"GENOMLAB_HOME": str(config.home)}
        servers = []
        try:
            targets = [
                ("approvals dashboard (decider dora)", REPO / "notebooks" / "approvals.ipynb",
                 {**env, "JUPYTERHUB_USER": "dora"}, "table.genomlab-queue tbody tr:visible",
                 ".genomlab-approvals table.genomlab-queue tbody tr"),
                ("register page (public)", REPO / "notebooks" / "register.ipynb", env,
                 "table.genomlab-register tbody tr:visible",
                 ".genomlab-register-view table.genomlab-register tbody tr"),
                ("naive approvals: all open rows on one page", naive_notebook(workdir),
                 {**env, "JUPYTERHUB_USER": "dora"}, "table.genomlab-queue tbody tr:visible",
                 ".genomlab-approvals table.genomlab-queue tbody tr"),
            ]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                print(f"\n{'Chromium (Voila), median of visits':<58} {'first screen':>13} "
                      f"{'(max)':>6} {'live widgets':>13}")
                results = {}
                modes = [("fresh kernel per visit", (), 0.0),
                         ("preheated kernel pool", PREHEAT, args.preheat_pause)]
                for mode, extra, pause in modes:
                    for name, notebook, target_env, selector, live in targets:
                        log = workdir / f"{notebook.stem}-{len(extra)}.log"
                        proc, url = serve(notebook, target_env, log, extra)
                        servers.append(proc)
                        first_screen_seconds(browser, url, selector, live, 1, pause)  # warm up
                        times, live_times = first_screen_seconds(browser, url, selector, live,
                                                                 args.repeats, pause)
                        results[(mode, name)] = statistics.median(times)
                        print(f"{name + ', ' + mode:<58} {statistics.median(times):>12.2f}s "
                              f"{max(times):>5.2f}s {statistics.median(live_times):>12.2f}s")
                        proc.terminate()
                        proc.wait(15)
                browser.close()
            for mode, _, _ in modes:
                naive = results[(mode, "naive approvals: all open rows on one page")]
                ours = results[(mode, "approvals dashboard (decider dora)")]
                print(f"ratio naive/paginated approvals first screen, {mode}: "
                      f"{naive / ours:.1f}x")
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(15)
    if not args.home:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
