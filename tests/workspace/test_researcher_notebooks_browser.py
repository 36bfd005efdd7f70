"""A researcher's day in JupyterLab: Run All on each researcher notebook of a fresh demo home.

One set-up for the module: a copy of the home of the session's demo run (``demo_run`` in
tests/conftest.py, one run shared with tests/test_demo.py's whole-flow test, on the session's
Hail), one JupyterLab server on 127.0.0.1 serves a copy of the researcher notebooks (autosave
never touches the repository) to the project member ``alice`` (her credentials file,
``$GENOMLAB_CREDENTIALS``), and Chromium clicks Run > Run All Cells without editing a cell. The
cohort QC notebook shows the QC the demo already ran on the release (Hail's heavy work once);
the association notebook starts Hail itself. Each kernel is shut down after its notebook, so no
two kernel JVMs run at once (the session's Hail JVM stays up beside them, as in the CI pass).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from genomlab.config import GenomlabConfig
from tests.conftest import NOTEBOOKS, DemoRun, free_port, wait_for_http
from tests.html_tables import parse_html_tables

# the first test here may run the session's demo in its set-up (≈ 11 minutes, as for
# tests/test_demo.py's whole-flow test): the same time limit
pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.hail, pytest.mark.slow,
              pytest.mark.timeout(3600)]

RESEARCHER_NOTEBOOKS = ("feasibility.ipynb", "cohort_qc.ipynb", "association.ipynb")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front, not restored tabs
TEXTS = "es => es.map(e => e.textContent)"  # innerText is empty for cells scrolled out of view
MEMBER = "alice"  # the demo application's applicant (genomlab.platform.applications.demo)


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    log: Path
    config: GenomlabConfig
    project: str

    @property
    def workspace(self) -> Path:
        return self.config.workspace_dir(self.project)


@pytest.fixture(scope="module")
def lab(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("researcher-day")
    config = demo_run.copy  # the session's demo home as the run left it; the notebooks write here
    # the demo gives each demo person a credentials file under <home>/people/<user>/
    env = {**os.environ, "GENOMLAB_HOME": str(config.home),
           "GENOMLAB_CREDENTIALS": str(config.home / "people" / MEMBER / "credentials.json")}
    project = demo_run.result.project_id
    assert project is not None, "\n".join(demo_run.said)
    served = base / "notebooks"
    served.mkdir()
    for name in RESEARCHER_NOTEBOOKS:
        shutil.copy(NOTEBOOKS / name, served / name)
    port, token = free_port(), secrets.token_hex(16)
    log_path = base / "jupyterlab.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--allow-root",
             "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={served}", "--LabApp.news_url=",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            env={**env, "JUPYTER_CONFIG_DIR": str(base / "jupyter-config")}, cwd=base,
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=120,
                      process=server, log=log_path)
        yield Lab(f"http://127.0.0.1:{port}", token, log_path, config, project)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _shut_down_kernels(lab: Lab) -> None:
    """Stop every kernel of the server (its JVM with it) through the REST API."""
    url = f"{lab.url}/api/kernels?token={lab.token}"
    for kernel in json.loads(urllib.request.urlopen(url, timeout=10).read()):
        request = urllib.request.Request(
            f"{lab.url}/api/kernels/{kernel['id']}?token={lab.token}", method="DELETE")
        urllib.request.urlopen(request, timeout=60)


@dataclass(frozen=True)
class Shown:
    """What the notebook shows after Run All: output texts, tables and images."""

    text: str
    tables: list[pd.DataFrame]
    n_images: int
    errors: list[str]
    prompts: list[str]


def run_all(page: Any, lab: Lab, name: str, *, timeout_s: float = 420) -> Shown:
    """Open ``name``, Run > Run All Cells, wait until every code cell has run; what it shows."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")  # reset: no earlier tabs
    page.wait_for_selector(f"{PANEL} .jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function(  # the status bar's "Python 3 (ipykernel) | Idle": connected
        "() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent"
        " || '')", timeout=120_000, polling=500)
    prompt = f"{PANEL} .jp-CodeCell .jp-InputArea-prompt"
    started = f"""() => [...document.querySelectorAll('{prompt}')]
                     .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
    for _ in range(6):  # a click before the kernel's session is connected is dropped: again
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count():  # e.g. "Select Kernel": accept the notebook's own (python3)
            dialog.first.click()
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator("li[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_function(started, timeout=15_000, polling=500)
            break
        except Exception:  # Playwright's TimeoutError: try once more
            page.keyboard.press("Escape")
    finished = f"""() => {{
            const prompts = [...document.querySelectorAll('{prompt}')];
            const done = prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            const failed = !!document.querySelector(
                "{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                && !prompts.some(p => p.textContent.includes('*'));
            return done || failed;
        }}"""
    try:  # every code cell ran, or one failed and the rest will not
        page.wait_for_function(finished, timeout=timeout_s * 1000, polling=1000)
    except Exception as error:  # say what the page showed
        page.screenshot(path=str(lab.log.with_name(f"{name}.png")))
        prompts = page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt").evaluate_all(TEXTS)
        shown = page.locator(f"{PANEL} .jp-OutputArea-output").evaluate_all(TEXTS)
        raise AssertionError(f"{name} did not finish: prompts {prompts}, outputs {shown}, "
                             f"server log {lab.log.read_text()[-3000:]}") from error
    outputs = page.locator(f"{PANEL} .jp-OutputArea-output")
    errors = list(page.locator(
        f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).evaluate_all(TEXTS))
    html = page.locator(f"{PANEL} .jp-OutputArea-output table").evaluate_all(
        "ts => ts.map(t => t.outerHTML)")
    tables = [table for text in html for table in parse_html_tables(text)]
    prompts = page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt").evaluate_all(TEXTS)
    return Shown("\n".join(outputs.evaluate_all(TEXTS)), tables,
                 page.locator(f"{PANEL} .jp-OutputArea-output img").count(), errors, prompts)


def _check_clean(shown: Shown) -> None:
    assert all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in shown.prompts), shown.prompts
    assert shown.errors == [], shown.errors
    for word in ("Traceback", "Error", "WARN", "Exception"):
        assert word not in shown.text, shown.text
    assert all(len(table) > 0 for table in shown.tables), shown.tables


def _check_context(shown: Shown, lab: Lab) -> None:
    assert f"Project {lab.project}, member {MEMBER}, entitled until 20" in shown.text
    assert "NPOA (DUO:0000044): population origins or ancestry research prohibited" in shown.text
    assert "Outputs leave the workspace only through the airlock" in shown.text
    assert "re-identify" in shown.text


def test_researcher_notebooks__run_all_on_a_fresh_demo_home(lab: Lab, page: Any) -> None:
    feasibility = run_all(page, lab, "feasibility.ipynb", timeout_s=120)
    _shut_down_kernels(lab)
    _check_clean(feasibility)
    _check_context(feasibility, lab)
    assert any({"node", "count"} <= set(t.columns) for t in feasibility.tables)

    qc = run_all(page, lab, "cohort_qc.ipynb", timeout_s=240)
    _shut_down_kernels(lab)
    _check_clean(qc)
    _check_context(qc, lab)
    sample_qc = pd.read_csv(lab.workspace / "qc" / "sample_qc.tsv", sep="\t",
                            true_values=["true"], false_values=["false"])
    failing = sample_qc[~sample_qc["pass"].astype(bool)]
    assert len(failing) > 0
    assert f"{len(sample_qc)} samples, {len(failing)} fail QC" in qc.text
    shown = next(t for t in qc.tables if "heterozygosity_rate" in t.columns)
    assert shown["sample"].tolist() == failing["sample"].tolist()
    assert qc.n_images == 4  # call rate, heterozygosity, PCA, kinship

    association = run_all(page, lab, "association.ipynb", timeout_s=420)
    _shut_down_kernels(lab)
    _check_clean(association)
    _check_context(association, lab)
    assert "Phenotype ICD10GM:G40: diagnosis ICD-10-GM G40*" in association.text
    assert association.n_images == 2  # Manhattan, QQ
    # the DUO terms carry NPOA: no Fst or frequencies by ancestry group by default
    assert "Not run: the data use terms forbid population origins" in association.text
    assert not any("fst" in t.columns or "ancestry_group" in t.columns
                   for t in association.tables)
    results = pd.read_csv(lab.workspace / "analysis" / "association" / "association.tsv",
                          sep="\t")
    top = next(t for t in association.tables if "p_value" in t.columns)
    assert len(top) > 0
    if results["p_value"].notna().any():  # p-values shown in scientific notation
        assert all(re.fullmatch(r"\d\.\d\de[-+]\d\d", str(p)) for p in top["p_value"])
        assert float(top["p_value"].iloc[0]) == pytest.approx(results["p_value"].min(),
                                                              rel=0.01)
    else:  # a null model that does not converge is said in words, not as a traceback
        summary = (lab.workspace / "analysis" / "association" / "summary.txt").read_text()
        assert "could not be fitted" in summary
        assert "could not be fitted" in association.text


def test_association__planted_effect_found_or_cohort_too_small(lab: Lab) -> None:
    """G40 (the demo's default phenotype) carries no planted effect in the world, so the
    notebook must find no genome-wide hit and say what the cohort could detect; a planted HPO
    effect would be found only above its ``expected_detectable_at_n``."""
    truth = json.loads((NOTEBOOKS.parent / "data_samples" / "world" / "truth.json").read_text())
    planted = {a["phenotype"] for a in truth["associations"]}
    assert not any(p.startswith("ICD10GM:") or re.fullmatch(r"[A-Z]\d\d.*", p) for p in planted)
    out = lab.workspace / "analysis" / "association"
    results = pd.read_csv(out / "association.tsv", sep="\t")
    summary = (out / "summary.txt").read_text()
    n_samples = int(re.search(r"ICD10GM:G40: (\d+) samples", summary).group(1))  # type: ignore[union-attr]
    assert not (results["p_value"] < 5e-8).any()  # no genome-wide hit (NA: not fitted)
    detectable = re.search(r"([\d.e+]+) at allele frequency 0\.4", summary)
    assert detectable is not None, summary
    assert "too small" in summary
    # the smallest planted binary effect (OR 4-6) needs hundreds of samples; this cohort's
    # detectable odds ratio at the planted allele frequency is far larger
    smallest = min(a["expected_detectable_at_n"] for a in truth["associations"]
                   if a["phenotype"].startswith("HP:"))
    assert n_samples < smallest
    assert float(detectable.group(1)) > max(a["odds_ratio"] for a in truth["associations"]
                                            if "odds_ratio" in a)
