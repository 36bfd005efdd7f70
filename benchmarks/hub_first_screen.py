"""Benchmark: first-screen times behind the hub (JupyterHub 6, PAM, one server per person).

Run as root (it creates OS accounts with passwords, like ``tests/hub/test_hub_browser.py``,
whose set-up it reuses, and removes them at the end)::

    PYTHONPATH=$PWD .venv/bin/python -u benchmarks/hub_first_screen.py [--n 10000] [--repeats 2]

The platform gets ``--n`` more data-use applications (open ones in the decider's queue) before
the hub starts. Headless Chromium (Debian's /usr/bin/chromium) then measures, per page, the
seconds from navigation to what the person first sees:

- the hub's login page (its form);
- JupyterLab after signing in (the hub spawns the person's server: first visit), and again with
  the server running;
- the approvals dashboard (the decider; Voila in the decider's server, 10,000 applications):
  the server-rendered first screen (first queue row) and the live widgets, with a warm kernel
  of the server's pool (``genomlab.dashboards.kernel_pool``; ``--pause`` seconds before each
  visit let the pool refill) and, side by side, with a fresh kernel per visit
  (``?genomlab-kernel=fresh``: the way before the pool);
- the airlock dashboard (an output checker): the live view (it has no static first screen);
- the register: the Voila register dashboard in the decider's server, and the public
  ``/register`` page of the platform service (no sign-in, not behind the hub).

The machine is shared: figures are noisy. The issue's goal: the approvals dashboard's first
screen with 10,000 applications under 2 s behind the hub.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.applications_dashboards import CHROMIUM, Clock, _form
from genomlab.config import GenomlabConfig
from genomlab.platform.applications import Workflow
from tests.hub.test_hub_browser import CHECKERS, DECIDER, PASSWORDS, Hub, _sign_in, running_hub

APPROVALS = "table.genomlab-queue tbody tr"


def add_applications(n: int) -> Callable[[GenomlabConfig], None]:
    """``n`` applications by 300 applicants: a twentieth drafts, the rest submitted, a third of
    those assigned to the demo's handler."""

    def prepare(config: GenomlabConfig) -> None:
        started = time.perf_counter()
        clock = Clock()
        wf = Workflow(config, clock=clock)
        applicants = [f"bench{k:03d}" for k in range(300)]
        with wf.batch():
            for k, user in enumerate(applicants):
                wf.register_user("bfarm-admin", user, institution=f"Institut {k % 60:02d}")
        for chunk in range(0, n, 500):
            with wf.batch():
                for i in range(chunk, min(n, chunk + 500)):
                    clock.now += timedelta(minutes=45)
                    user = applicants[i % len(applicants)]
                    app = wf.create_draft(user, _form(i, ()))
                    if i % 20 == 0:
                        continue
                    wf.submit(user, app)
                    if i % 3 == 0:
                        wf.assign_handler("hanna", app)
        print(f"added {n} applications in {time.perf_counter() - started:.1f} s")

    return prepare


def visit(page: Any, url: str, *selectors: str) -> list[float]:
    """Seconds from navigation to each of ``selectors`` in turn."""
    started = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=180_000)
    seconds = []
    for selector in selectors:
        page.wait_for_selector(selector, timeout=180_000)
        seconds.append(time.perf_counter() - started)
    return seconds


def signed_in(browser: Any, hub: Hub, user: str) -> tuple[Any, Any, float]:
    """A context and page of ``user`` signed in through the hub's login page, and the seconds
    from submitting the form to JupyterLab's main area (the hub spawns their server)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, hub, user, PASSWORDS[user])
    started = time.perf_counter()
    page.wait_for_selector("#jp-main-dock-panel", timeout=180_000)
    return context, page, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pause", type=float, default=8.0,
                        help="seconds before each approvals visit (the pool refills)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates OS accounts and runs the hub")
    rows: list[tuple[str, list[float]]] = []
    base = Path(tempfile.mkdtemp(prefix="genomlab-hub-bench-", dir="/tmp"))
    try:
        measure(base, args, rows)
    finally:
        shutil.rmtree(base, ignore_errors=True)  # the home with its 10,000 applications
    print(f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"\n{'first screen behind the hub (s)':<62} {'median':>7} {'min':>7} {'max':>7}")
    for name, seconds in rows:
        print(
            f"{name:<62} {statistics.median(seconds):>7.2f} {min(seconds):>7.2f} "
            f"{max(seconds):>7.2f}"
        )


def measure(base: Path, args: argparse.Namespace, rows: list[tuple[str, list[float]]]) -> None:
    """Start the hub in ``base`` with ``args.n`` more applications; visit each page."""
    from playwright.sync_api import sync_playwright

    with running_hub(base, add_applications(args.n)) as hub, sync_playwright() as playwright:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        login = []
        for _ in range(args.repeats):
            context = browser.new_context()
            login += visit(context.new_page(), f"{hub.url}/hub/login", "#username_input")
            context.close()
        rows.append(("hub login page (form)", login))
        decider, page, spawn = signed_in(browser, hub, DECIDER)
        rows.append(("JupyterLab after sign-in (server spawned)", [spawn]))
        lab = [
            visit(page, f"{hub.url}/user/{DECIDER}/lab", "#jp-main-dock-panel")[0]
            for _ in range(args.repeats)
        ]
        rows.append(("JupyterLab, server running", lab))
        voila = f"{hub.url}/user/{DECIDER}/voila/render/genomlab-notebooks"
        ways = {"warm kernel": "", "fresh kernel per visit (before)": "?genomlab-kernel=fresh"}
        first: dict[str, list[float]] = {way: [] for way in ways}
        live: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.repeats):
            for way, query in ways.items():  # interleaved: both under the same load
                time.sleep(args.pause)
                a, b = visit(
                    page,
                    f"{voila}/approvals.ipynb{query}",
                    f"{APPROVALS}:visible",
                    f".genomlab-approvals {APPROVALS}",
                )
                first[way].append(a)
                live[way].append(b)
        for way in ways:
            rows.append((f"approvals first screen, {way} ({args.n} more apps)", first[way]))
            rows.append((f"approvals live widgets, {way}", live[way]))
        register = [
            visit(page, f"{voila}/register.ipynb", ".genomlab-register-view")[0]
            for _ in range(args.repeats)
        ]
        rows.append(("register dashboard (Voila, decider's server)", register))
        decider.close()
        checker, page, _ = signed_in(browser, hub, CHECKERS[0])
        airlock = [
            visit(
                page,
                f"{hub.url}/user/{CHECKERS[0]}/voila/render/genomlab-notebooks/airlock.ipynb",
                ".genomlab-airlock-file",
            )[0]
            for _ in range(args.repeats)
        ]
        rows.append(("airlock dashboard, live (output checker)", airlock))
        checker.close()
        public = browser.new_context(ignore_https_errors=True)  # the service's own test CA
        from genomlab.clients.oauth import get_service_endpoint

        register_url = f"{get_service_endpoint(hub.config, 'platform').url}/register"
        web = [visit(public.new_page(), register_url, "table")[0] for _ in range(args.repeats)]
        rows.append(("public register page (platform service, no sign-in)", web))
        public.close()
        browser.close()


if __name__ == "__main__":
    main()
