"""People sign in through JupyterHub (root): real OS accounts, the hub's own login page, each
person's server under their own uid, approvals and airlock releases behind the hub.

One hub for the module (``genomlab hub start`` on free loopback ports, PAM, LocalProcessSpawner
as root). The set-up creates four OS accounts with passwords (a researcher entitled to an
approved project with an output waiting in the airlock, a decider, two output checkers), a file
in another project's workspace (the hub closes each workspace to all but its project's group
before a server starts; nothing here sets their modes), the platform, airlock and data services
(they hold the signing keys and own their stores: the platform's and the airlock's folders stay
root's, 0700, as in a real deployment; the dashboards in people's servers read the queue, the
applications and the release requests through the services and send approvals, reviews and
feasibility queries to them, all with the person's token; the researcher's kernel cannot open
either store), and a Python every account may run
(:mod:`tests.hub.people_python`); the teardown stops the hub and the services, ends the
accounts' processes and removes the accounts. :func:`running_hub` is the set-up
(``benchmarks/hub_first_screen.py`` uses it too). Every browser request outside the hub's
address is blocked and recorded, and the tests assert
none was attempted.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from genomlab.airlock.directory import PlatformDirectory
from genomlab.airlock.requests import (
    get_outputs_dir,
    get_released_dir,
    get_request_detail,
    open_airlock_ledger,
    submit_request,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError
from genomlab.hub.hub_config import find_proxy
from genomlab.institution import Institution
from genomlab.platform.access_tokens import TOKEN_KEY
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.applications.models import Role
from genomlab.platform.applications.queries import get_application_detail
from genomlab.platform.person_credentials import (
    ensure_embedded_credentials,
    get_embedded_credentials_path,
)
from genomlab.services.process import running_service
from tests.conftest import REPO, config_for, free_port, write_config_file
from tests.hub.people_python import get_people_python_environment, make_people_python
from tests.hub.tcp_probe import recording_tcp_server
from tests.platform.conftest import make_form
from tests.services.people import save_service_client

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="the hub starts servers as root under "
        "people's OS accounts; the test creates OS accounts",
    ),
]
# $HUB_TEST_ACCOUNT_TAG (a-z, 0-9, up to 6): a suffix of the OS account names, so that two runs
# on one machine (the set-up removes its accounts first) do not remove each other's accounts
# (not GENOMLAB_*: genomlab's configuration refuses unknown GENOMLAB_ variables)
TAG = os.environ.get("HUB_TEST_ACCOUNT_TAG", "")
if not re.fullmatch(r"[a-z0-9]{0,6}", TAG):
    raise ValueError(f"HUB_TEST_ACCOUNT_TAG={TAG!r}: up to 6 of a-z, 0-9")
RESEARCHER, DECIDER = f"glhrita{TAG}", f"glhdieter{TAG}"
CHECKERS = (f"glhute{TAG}", f"glhotto{TAG}")
GROUP_PREFIX = f"genomlab-glh{TAG}-"  # the hub's project groups: genomlab-glh<tag>-p-<project>
PASSWORDS = {
    RESEARCHER: "Rita-pw-4711",
    DECIDER: "Dieter-pw-4712",
    CHECKERS[0]: "Ute-pw-4713",
    CHECKERS[1]: "Otto-pw-4714",
}
UNDER_REVIEW = "Penetrance of BRCA1 variants behind the hub"
OUTPUT, OUTPUT_TEXT = "carriers_by_region.csv", "region,n\nNorth,41\nSouth,38\n"
OTHERS_FILE = "others_cohort.tsv"  # in another project's workspace
DATA_SERVICE_NODE = "DSTEST01"  # the data service's own platform client
WORLD_GENOTYPES = REPO / "data_samples" / "world" / "genotypes"


@dataclass
class Hub:
    url: str
    config: GenomlabConfig
    base: Path
    state: Path
    log: Path
    project_id: str
    application_id: str
    other_project_id: str
    request_id: str


@dataclass
class Guarded:
    """A browser page whose requests may reach only the hub's address."""

    page: Any
    blocked: list[str] = field(default_factory=list)


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _remove_accounts() -> None:
    for user in PASSWORDS:
        try:
            uid = pwd.getpwnam(user).pw_uid
        except KeyError:
            continue
        for process in psutil.process_iter(["uids"]):
            if process.info["uids"] and process.info["uids"].real == uid:
                process.kill()
        subprocess.run(["userdel", "-r", user], capture_output=True)
        subprocess.run(["ip", "netns", "delete", f"genomlab-{user}"], capture_output=True)
    for group in grp.getgrall():  # the project groups the hub made
        if group.gr_name.startswith(GROUP_PREFIX + "p-"):
            subprocess.run(["groupdel", group.gr_name], capture_output=True)


def _create_accounts() -> None:
    _remove_accounts()  # left over by an interrupted run
    for user in PASSWORDS:
        _run("useradd", "--create-home", "--shell", "/bin/bash", user)
    subprocess.run(
        ["chpasswd"],
        input="".join(f"{u}:{p}\n" for u, p in PASSWORDS.items()),
        text=True,
        check=True,
        capture_output=True,
    )


def _fill_other_workspace(config: GenomlabConfig, other: str) -> None:
    """A file in another project's workspace; the hub (not this set-up) closes it to the
    researcher (:mod:`genomlab.hub.workspaces`)."""
    others = config.workspace_dir(other)
    others.mkdir(parents=True, exist_ok=True)
    (others / OTHERS_FILE).write_text("sample\tvariant\nS1\tchr1:100:A:G\n")


def _submit_output(config: GenomlabConfig, project_id: str) -> str:
    """The researcher's aggregate table, submitted to the airlock (two checkers must approve)."""
    outputs = get_outputs_dir(config, project_id)
    outputs.mkdir(parents=True)
    (outputs / OUTPUT).write_text(OUTPUT_TEXT)
    return submit_request(config, PlatformDirectory(config), RESEARCHER, project_id, [OUTPUT])


def _set_up_platform(config: GenomlabConfig) -> tuple[str, str, str]:
    demo = run_applications_demo(config)
    wf = Workflow(config)
    with wf.batch():
        wf.register_user(
            "bfarm-admin", RESEARCHER, institution="Universität Hub", name="Rita Researcher"
        )
        wf.register_user("bfarm-admin", DECIDER, institution="BfArM", name="Dieter Decider")
        wf.grant_role("bfarm-admin", DECIDER, Role.DECIDER)
        for checker in CHECKERS:
            wf.register_user("bfarm-admin", checker, institution="BfArM", name=checker.title())
            wf.grant_role("bfarm-admin", checker, Role.OUTPUT_CHECKER)
        approved = wf.create_draft(RESEARCHER, make_form(title="Hub researcher's project", team=()))
        project_id = wf.submit(RESEARCHER, approved)
        wf.assign_handler("hanna", approved)
        wf.request_decision("hanna", approved, "approve", "Complete.")
        wf.approve("dora", approved, note="Recommendation followed.")
        pending = wf.create_draft("alice", make_form(title=UNDER_REVIEW))
        wf.submit("alice", pending)
        wf.assign_handler("hanna", pending)
        wf.request_decision("hanna", pending, "approve", "Complete; recommend approval.")
    ensure_embedded_credentials(config, list(PASSWORDS), actor="bfarm-operator")
    assert demo.project_id != project_id
    return project_id, pending, demo.project_id


RELEASE_WRITER = """
import sys
from pathlib import Path
import pandas as pd
from genomlab.config import load_config
from genomlab.hail_session import init_hail
from genomlab.workspace.io import import_vcf_to_mt, read_samples_tsv

config, release, world = load_config(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
hl = init_hail(config, master="local[2]")
import_vcf_to_mt(hl, world / "cohort.vcf.bgz", release / "genotypes.mt", n_partitions=2)
info = read_samples_tsv(world / "samples.tsv")
(release / "clinical").mkdir()
pd.DataFrame({"s": info.index, "sex": info["reported_sex"]}).to_parquet(
    release / "clinical" / "persons.parquet")
"""


def build_researcher_feasibility_index(config: GenomlabConfig) -> None:
    """The data service's feasibility index of two hand-built KDKs (no Hail), what the
    researcher's feasibility notebook asks the data service about."""
    from genomlab.data_service.index import build_feasibility_index
    from tests.data_service.reported_nodes import INDEXED_ON, make_clinical_world

    build_feasibility_index(config, [], make_clinical_world(), on=INDEXED_ON)


def _wait_for_login_page(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    """Until the hub itself answers (the proxy answers 404/503 before the hub's route)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hub exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"hub not ready after {timeout} s: {log.read_text()[-3000:]}")


@contextmanager
def running_hub(
    base: Path, prepare: Callable[[GenomlabConfig], None] | None = None
) -> Iterator[Hub]:
    """The accounts, the platform with its roles, the platform and airlock services and the hub
    in ``base`` (0755, under /tmp); ``prepare`` may add to the platform before people's access
    is set. Stops everything and removes the accounts at the end (``base`` is kept)."""
    base.chmod(0o755)
    process = None
    services = ExitStack()
    # what this set-up builds for the people's accounts (their Python copy, the shared store)
    # must be readable by them, whatever umask earlier tests left in this process (genomlab's
    # CLI sets 077 for what it writes)
    previous_umask = os.umask(0o022)
    try:
        _create_accounts()
        python = make_people_python(base / "python")
        config = config_for(base / "home")
        project_id, application_id, other_project_id = _set_up_platform(config)
        if prepare is not None:
            prepare(config)
        request_id = _submit_output(config, project_id)
        # people reach their workspaces, the services' records and the configuration through
        # the home; the platform's and the airlock's folders stay the services' own (root's)
        config.home.chmod(0o755)
        _fill_other_workspace(config, other_project_id)
        # the services hold the signing keys; people act through them with their own tokens
        (config.home / "services").mkdir()
        (config.home / "services").chmod(0o755)  # opening the home set umask 077 again
        save_service_client(config, "airlock", "AIRLOCK")
        save_service_client(config, "data_service", DATA_SERVICE_NODE)
        Institution(config, "platform").keys().signing_key(TOKEN_KEY)
        for kind in ("platform", "airlock", "data_service"):
            services.enter_context(
                running_service(
                    config, kind, log=base / f"{kind}.log", env={"PYTHONPATH": str(REPO)}
                )
            )
        toml = write_config_file(config, base / "genomlab.toml")
        toml.chmod(0o644)
        port, state, log = free_port(), base / "hub", base / "hub.log"
        env_options = [
            f"--server-env={k}={v}"
            for k, v in {**get_people_python_environment(python), "PYTHONPATH": str(REPO)}.items()
        ]
        command = [
            sys.executable,
            "-m",
            "genomlab.cli",
            "--config",
            str(toml),
            "hub",
            "start",
            f"--port={port}",
            f"--hub-port={free_port()}",
            f"--proxy-api-port={free_port()}",
            f"--service-port={free_port()}",
            "--group-sync-seconds=1",
            f"--group-prefix={GROUP_PREFIX}",
            f"--state-dir={state}",
            f"--server-python={python}",
            *env_options,
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        _wait_for_login_page(f"{url}/hub/login", process, log, timeout=90)
        print(f"hub answers after {time.monotonic() - started:.1f} s")
        yield Hub(
            url, config, base, state, log, project_id, application_id, other_project_id, request_id
        )
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)  # the hub stops every server it started
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        services.close()
        _remove_accounts()
        os.umask(previous_umask)


@pytest.fixture(scope="module")
def release_writer() -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Hail writes the genotypes and clinical table of the researcher's project release (the
    committed world, 114 samples x 5,000 variants) in a process of its own while the hub
    starts (:func:`researcher_release` waits for it); the JVM exits with it."""
    folder = Path(tempfile.mkdtemp(prefix="genomlab-hub-release-", dir="/tmp"))
    (folder / "release").mkdir()
    toml = write_config_file(config_for(folder / "home"), folder / "genomlab.toml")
    with (folder / "writer.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", RELEASE_WRITER, str(toml), str(folder / "release"),
             str(WORLD_GENOTYPES)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)},
            start_new_session=True,
        )
    try:
        yield process, folder
    finally:
        if process.poll() is None:  # its session: the JVM with it
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def researcher_release(hub: Hub, release_writer: tuple[subprocess.Popen[bytes], Path]) -> Path:
    """The researcher's project release as the data service leaves it: Crypt4GH-encrypted to
    the project's key (``manifest.json`` + ``release.tar.c4gh``), all of it, the key included,
    the researcher's (their project's workspace is theirs)."""
    from genomlab.workspace.crypt4gh_release import (
        KEY_DIR,
        encrypt_release_tree,
        ensure_project_key,
    )

    process, folder = release_writer
    started = time.monotonic()
    if process.wait(timeout=900) != 0:
        raise RuntimeError(f"release writer failed: {(folder / 'writer.log').read_text()[-3000:]}")
    print(f"waited {time.monotonic() - started:.1f} s for the release writer")
    workspace = hub.config.workspace_dir(hub.project_id)
    release = workspace / "release"
    shutil.move(folder / "release", release)
    encryption = encrypt_release_tree(release, ensure_project_key(hub.config, hub.project_id))
    (release / "manifest.json").write_text(
        json.dumps({"level": "individual", "release_id": "hub-r1", "encryption": encryption})
    )
    account = pwd.getpwnam(RESEARCHER)
    for top in (release, workspace / KEY_DIR):
        for path in [top, *top.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
    return release


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory,
    release_writer: tuple[subprocess.Popen[bytes], Path],
) -> Iterator[Hub]:
    try:
        find_proxy()
    except NotFoundError as exc:
        if os.environ.get("CI"):  # `.ci/setup --test-tools` installs the proxy: never skip in CI
            pytest.fail(f"{exc} (CI must run the hub tests)")
        pytest.skip(str(exc))
    base = Path(tempfile.mkdtemp(prefix="genomlab-hub-", dir="/tmp"))
    try:
        with running_hub(base, prepare=build_researcher_feasibility_index) as hub:
            yield hub
    finally:
        kept = tmp_path_factory.mktemp("hub-kept")  # the logs and the screenshots
        for path in [*base.glob("*.log"), *base.glob("*.png")]:
            shutil.copy2(path, kept / path.name)
        print(f"hub logs and screenshots kept in {kept}")
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def _guarded_context(browser: Any, hub: Hub) -> Iterator[Guarded]:
    """A fresh browser context (no hub cookie) whose requests may reach only the hub."""
    own = urlsplit(hub.url)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    guard = Guarded(context.new_page())

    def route(request_route: Any) -> None:
        parts = urlsplit(request_route.request.url)
        if (parts.scheme, parts.hostname, parts.port) in (
            ("http", "127.0.0.1", own.port),
            ("ws", "127.0.0.1", own.port),
        ):
            request_route.continue_()
        else:
            guard.blocked.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    try:
        yield guard
    finally:
        context.close()


@pytest.fixture
def guarded(browser: Any, hub: Hub) -> Iterator[Guarded]:
    with _guarded_context(browser, hub) as guard:
        yield guard


def _sign_in(page: Any, hub: Hub, user: str, password: str) -> None:
    """Through the hub's own login page, by its labelled fields."""
    page.goto(f"{hub.url}/hub/login", timeout=60_000)
    page.locator("#username_input").wait_for(timeout=30_000)
    page.get_by_label("Username:").fill(user)
    page.get_by_label("Password:", exact=True).fill(password)
    page.locator("#login_submit").click()


def _server_processes(user: str) -> list[psutil.Process]:
    uid = pwd.getpwnam(user).pw_uid
    found = []
    for process in psutil.process_iter(["cmdline", "uids"]):
        cmdline = process.info["cmdline"] or []
        if "jupyterhub.singleuser" in cmdline and process.info["uids"].real == uid:
            found.append(process)
    return found


def test_hub__wrong_password_is_refused_on_the_login_page(hub: Hub, guarded: Guarded) -> None:
    _sign_in(guarded.page, hub, RESEARCHER, "not-the-password")
    error = guarded.page.wait_for_selector(".login_error", timeout=60_000)
    assert "Invalid username or password" in error.inner_text()
    assert urlsplit(guarded.page.url).path == "/hub/login"
    assert _server_processes(RESEARCHER) == []
    assert guarded.blocked == []


def test_hub__researcher_signs_in_and_their_server_runs_under_their_account(
    hub: Hub, guarded: Guarded
) -> None:
    page = guarded.page
    _sign_in(page, hub, RESEARCHER, PASSWORDS[RESEARCHER])
    page.wait_for_url(f"**/user/{RESEARCHER}/lab**", timeout=120_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    page.screenshot(path=str(hub.base / "researcher-lab.png"))
    account = pwd.getpwnam(RESEARCHER)
    [server] = _server_processes(RESEARCHER)
    assert server.uids().real == server.uids().effective == account.pw_uid
    assert server.gids().real == account.pw_gid
    environment = server.environ()
    credentials = Path(account.pw_dir) / ".genomlab" / "credentials.json"
    assert environment["GENOMLAB_CREDENTIALS"] == str(credentials)
    assert environment["JUPYTERHUB_USER"] == RESEARCHER
    # the person's credentials file, in their account, readable by them only
    info = credentials.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (account.pw_uid, 0o600)
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    issued = get_embedded_credentials_path(hub.config, RESEARCHER)
    assert json.loads(credentials.read_text()) == json.loads(issued.read_text())
    assert (Path(account.pw_dir) / "genomlab-notebooks" / "approvals.ipynb").is_file()
    # the platform's role records became the hub's groups
    with sqlite3.connect(hub.state / "jupyterhub.sqlite") as db:
        members = set(
            db.execute(
                "SELECT g.name FROM groups g JOIN user_group_map m ON m.group_id = g.id "
                "JOIN users u ON u.id = m.user_id WHERE u.name = ?",
                (RESEARCHER,),
            )
        )
    assert members == {("researcher",), (f"project-{hub.project_id}",)}
    # from inside the server: its own hub token says who calls; a claimed name changes nothing
    token = environment["JUPYTERHUB_API_TOKEN"]
    answer = httpx.get(
        f"{hub.url}/services/genomlab-people/",
        params={"user": DECIDER},
        headers={
            "Authorization": f"token {token}",
            "X-Jupyterhub-User": DECIDER,
            "Jupyterhub-User": DECIDER,
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == RESEARCHER
    assert answer.json()["platform_groups"] == sorted(["researcher", f"project-{hub.project_id}"])
    # the approvals dashboard in the researcher's own server: only what the role allows
    page.goto(
        f"{hub.url}/user/{RESEARCHER}/voila/render/genomlab-notebooks/approvals.ipynb",
        timeout=120_000,
    )
    page.wait_for_selector(".genomlab-approvals", timeout=120_000)
    assert page.inner_text(".genomlab-who") == f"Signed in as {RESEARCHER} (applicant only)"
    assert hub.application_id not in page.inner_text(".genomlab-approvals")
    assert UNDER_REVIEW not in page.content()
    assert page.locator(".genomlab-action-approve").count() == 0
    page.screenshot(path=str(hub.base / "researcher-approvals.png"), full_page=True)
    anonymous = httpx.get(
        f"{hub.url}/services/genomlab-people/", headers={"X-Jupyterhub-User": DECIDER}, timeout=30
    )
    assert anonymous.status_code == 302  # to the hub's sign-in, nobody is assumed
    assert guarded.blocked == []


PROBE = """
import json, os, traceback
from genomlab.clients.data_service import load_person_tokens
from genomlab.clients.oauth import get_service_endpoint
from genomlab.config import load_config
from genomlab.errors import GenomlabError
from genomlab.platform.person_session import open_person_session

os.environ["JUPYTERHUB_USER"] = os.environ["GENOMLAB_LOCAL_USER"] = DECIDER
config = load_config()
found = {"user": os.environ["JUPYTERHUB_USER"]}
try:
    open_person_session(config).act("review.approve", APPLICATION, {"note": "forged"})
    found["session"] = "approved"
except GenomlabError as exc:
    found["session"] = f"{type(exc).__name__}: {exc}"
except Exception:
    found["session"] = traceback.format_exc()
try:
    with get_service_endpoint(config, "platform").http() as http:
        answer = http.post(
            f"/api/applications/{APPLICATION}/approve",
            json={"note": "forged", "user": DECIDER, "actor": DECIDER},
            headers={**load_person_tokens(config).headers(), "X-Jupyterhub-User": DECIDER},
        )
    found["http"] = [answer.status_code, answer.text]
except Exception:
    found["http"] = [0, traceback.format_exc()]
for what, read in [("list", lambda: os.listdir(config.workspace_dir(OTHER))),
                   ("read", lambda: open(config.workspace_dir(OTHER) / OTHERS_FILE).read()),
                   ("own", lambda: sorted(os.listdir(config.workspace_dir(MINE)))),
                   ("platform_db", lambda: open(config.home / "platform" / "platform.db",
                                                "rb").read(16)),
                   ("airlock_db", lambda: open(config.home / "airlock" / "airlock.db",
                                               "rb").read(16))]:
    try:
        found[what] = read()
    except OSError as exc:
        found[what] = f"{type(exc).__name__}: {exc.strerror}"
print(json.dumps(found))
"""


def _run_in_kernel(hub: Hub, user: str, code: str, timeout: float = 120) -> list[str]:
    """Start a kernel in ``user``'s server through the Jupyter server API (with the server's
    own hub token: as that user), run ``code``, return its stdout and error texts."""
    from websockets.sync.client import connect

    [server] = _server_processes(user)
    token = server.environ()["JUPYTERHUB_API_TOKEN"]
    api = f"{hub.url}/user/{user}/api/kernels"
    auth = {"Authorization": f"token {token}"}  # a header: the server wants no XSRF then
    kernel = httpx.post(api, headers=auth, json={"name": "python3"}, timeout=60)
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]
    msg_id = secrets.token_hex(8)
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": user,
            "session": secrets.token_hex(8),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
        },
    }
    texts: list[str] = []
    ws_url = api.replace("http://", "ws://") + f"/{kernel_id}/channels"
    try:
        with connect(ws_url, additional_headers=auth, open_timeout=60) as ws:
            ws.send(json.dumps(request))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                content = message["content"]
                if message["msg_type"] == "stream":
                    texts.append(content["text"])
                elif message["msg_type"] == "error":
                    texts.append("\n".join(content["traceback"]))
                elif message["msg_type"] == "status" and content["execution_state"] == "idle":
                    return texts
        raise AssertionError(f"kernel of {user} did not finish: {texts}")
    finally:
        httpx.delete(f"{api}/{kernel_id}", headers=auth, timeout=60)


def test_hub__researcher_s_kernel_claiming_the_decider_is_refused_and_sees_only_its_workspace(
    hub: Hub, guarded: Guarded
) -> None:
    """From inside the researcher's server: ``$JUPYTERHUB_USER`` set to the decider changes
    nothing (the platform service answers 403 to the researcher's token), and another
    project's workspace is closed to the researcher's account."""
    _sign_in(guarded.page, hub, RESEARCHER, PASSWORDS[RESEARCHER])
    guarded.page.wait_for_url(f"**/user/{RESEARCHER}/lab**", timeout=120_000)
    code = (
        f"DECIDER, APPLICATION, OTHER, MINE, OTHERS_FILE = {DECIDER!r}, "
        f"{hub.application_id!r}, {hub.other_project_id!r}, {hub.project_id!r}, "
        f"{OTHERS_FILE!r}\n{PROBE}"
    )
    texts = _run_in_kernel(hub, RESEARCHER, code)
    found = json.loads(texts[-1])
    assert found["user"] == DECIDER
    assert found["session"].startswith("PermissionDenied: "), found
    assert RESEARCHER in found["session"], found  # the refusal names who asked, and why
    status, body = found["http"]
    assert status == 403, found
    assert RESEARCHER in body, body
    assert found["list"] == found["read"] == "PermissionError: Permission denied", found
    # the platform's and the airlock's stores are the services' own: the dashboards read
    # through the services, the researcher's account cannot open either store
    assert found["platform_db"] == found["airlock_db"] == "PermissionError: Permission denied", (
        found)
    assert found["own"] == ["outputs"], found
    detail = get_application_detail(hub.config, hub.application_id)
    assert detail.row["status"] == "under_review"  # nothing was approved
    assert guarded.blocked == []


EGRESS_PROBE = """
import json, socket
from genomlab.clients.oauth import get_service_endpoint
from genomlab.config import load_config

found = {"devices": sorted(name for _, name in socket.if_nameindex())}
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
    found["test_server"] = "connected"
except OSError as exc:
    found["test_server"] = f"{type(exc).__name__}: {exc.strerror}"
endpoint = get_service_endpoint(load_config(), "platform")
with endpoint.http() as http:  # the recorded URL and CA, unchanged
    answer = http.get("/healthz")
found["healthz"] = [endpoint.url, answer.status_code, answer.json()]
print(json.dumps(found))
"""


def _netns_inode(path: str | Path) -> int:
    return os.stat(path).st_ino


def test_hub__researcher_s_server_reaches_genomlab_services_only(
    hub: Hub, guarded: Guarded
) -> None:
    """From inside the researcher's kernel a test server on this machine's loopback (not a
    genomlab service) cannot be reached, while the platform service answers over its recorded
    URL and CA: the server runs in a network namespace of its own with only a loopback, and
    the hub's forwarder admits genomlab's ports. Nothing outside this machine is contacted."""
    import socket

    _sign_in(guarded.page, hub, RESEARCHER, PASSWORDS[RESEARCHER])
    guarded.page.wait_for_url(f"**/user/{RESEARCHER}/lab**", timeout=120_000)
    [server] = _server_processes(RESEARCHER)
    netns = Path("/run/netns") / f"genomlab-{RESEARCHER}"
    assert _netns_inode(f"/proc/{server.pid}/ns/net") == _netns_inode(netns)
    assert _netns_inode(netns) != _netns_inode("/proc/self/ns/net")
    with recording_tcp_server() as (port, accepted):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # it listens
        deadline = time.monotonic() + 5
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(accepted) == 1, accepted
        texts = _run_in_kernel(hub, RESEARCHER, f"PORT = {port}\n{EGRESS_PROBE}")
        time.sleep(0.5)
        assert len(accepted) == 1, accepted  # nothing from the kernel arrived
    found = json.loads(texts[-1])
    assert found["devices"] == ["lo"], found
    assert found["test_server"] == "ConnectionRefusedError: Connection refused", found
    url, status, body = found["healthz"]
    assert url.startswith("https://127.0.0.1:"), found
    assert (status, body) == (200, {"status": "ok", "service": "platform"}), found
    assert guarded.blocked == []


def test_hub__each_project_workspace_belongs_to_its_project_group(
    hub: Hub, guarded: Guarded
) -> None:
    """Set by the hub before a server starts (not by this module's set-up): the project's
    group holds exactly its entitled members with an account here, the workspace is 3770."""
    _sign_in(guarded.page, hub, RESEARCHER, PASSWORDS[RESEARCHER])
    guarded.page.wait_for_url(f"**/user/{RESEARCHER}/lab**", timeout=120_000)
    for project, members in ((hub.project_id, [RESEARCHER]), (hub.other_project_id, [])):
        workspace = hub.config.workspace_dir(project)
        group = grp.getgrgid(workspace.stat().st_gid)
        assert group.gr_name == f"{GROUP_PREFIX}p-{project.lower()}"
        assert sorted(group.gr_mem) == members
        assert stat.S_IMODE(workspace.stat().st_mode) == 0o3770
        assert workspace.stat().st_mode & stat.S_IRWXO == 0
    others = hub.config.workspace_dir(hub.other_project_id) / OTHERS_FILE
    assert stat.S_IMODE(others.stat().st_mode) & 0o007 == 0
    assert stat.S_IMODE(hub.config.workspace_dir(hub.project_id).parent.stat().st_mode) == 0o711


def test_hub__decider_approves_in_the_approvals_dashboard_behind_the_hub(
    hub: Hub, guarded: Guarded
) -> None:
    page = guarded.page
    _sign_in(page, hub, DECIDER, PASSWORDS[DECIDER])
    page.wait_for_url(f"**/user/{DECIDER}/lab**", timeout=120_000)
    started = time.monotonic()
    page.goto(
        f"{hub.url}/user/{DECIDER}/voila/render/genomlab-notebooks/approvals.ipynb", timeout=120_000
    )
    page.wait_for_selector(".genomlab-approvals", timeout=120_000)
    print(f"approvals dashboard behind the hub: live after {time.monotonic() - started:.1f} s")
    assert page.title() == "Data-use applications: review · genomlab"
    assert page.inner_text(".genomlab-who") == f"Signed in as {DECIDER} (decider)"
    queue = page.inner_text(".genomlab-approvals")
    assert hub.application_id in queue
    assert UNDER_REVIEW in queue
    page.select_option(
        ".genomlab-open select", label=f"{hub.application_id} · under_review · {UNDER_REVIEW}"
    )
    page.wait_for_selector(".genomlab-action-approve", timeout=60_000)
    page.screenshot(path=str(hub.base / "decider-approvals.png"), full_page=True)
    assert get_application_detail(hub.config, hub.application_id).row["status"] == "under_review"
    page.fill(".genomlab-reason textarea", "Recommendation followed behind the hub.")
    page.click(".genomlab-action-approve")
    page.click(".genomlab-confirm-approve", timeout=60_000)
    done = page.wait_for_selector(".genomlab-ok, .genomlab-error", timeout=120_000).inner_text()
    assert done == f"Approve: {hub.application_id} is now approved", done
    page.screenshot(path=str(hub.base / "decider-approved.png"), full_page=True)
    assert page.locator(".genomlab-action-approve").count() == 0  # nothing left to approve
    # the approval is in the platform's store, by the decider, signed by the platform service
    detail = get_application_detail(hub.config, hub.application_id)
    assert detail.row["status"] == "approved"
    approvals = [h for h in detail.history if h["type"] == "approved"]
    assert [h["actor"] for h in approvals] == [DECIDER], detail.history
    [server] = _server_processes(DECIDER)
    assert server.uids().real == pwd.getpwnam(DECIDER).pw_uid
    # a hub service learns who is calling through the hub's OAuth flow (the browser's cookie)
    page.goto(f"{hub.url}/services/genomlab-people/", timeout=60_000)
    who = json.loads(page.inner_text("body"))
    assert who["name"] == DECIDER
    assert who["platform_groups"] == ["decider"]
    assert guarded.blocked == []


def _airlock_file_box(page: Any, name: str) -> Any:
    return page.locator(f".genomlab-airlock-file:has(.genomlab-airlock-name:text-is('{name}'))")


def test_hub__two_output_checkers_release_a_file_through_the_airlock_behind_the_hub(
    hub: Hub, browser: Any
) -> None:
    """Each checker signs in through the hub's login page in a browser of their own and
    approves the researcher's file in the airlock dashboard of their own server; the second
    approval releases it."""
    messages = []
    for checker in CHECKERS:
        with _guarded_context(browser, hub) as guard:
            page = guard.page
            _sign_in(page, hub, checker, PASSWORDS[checker])
            page.wait_for_url(f"**/user/{checker}/lab**", timeout=120_000)
            page.goto(
                f"{hub.url}/user/{checker}/voila/render/genomlab-notebooks/airlock.ipynb",
                timeout=120_000,
            )
            page.wait_for_selector(".genomlab-airlock-file", timeout=120_000)
            assert page.title() == "Airlock: output checking · genomlab"
            who = page.inner_text(".genomlab-airlock-user")
            assert who == f"Signed in as {checker} (output checker)"
            box = _airlock_file_box(page, OUTPUT)
            assert "Disclosure checks: pass" in box.inner_text()
            assert box.locator(".genomlab-airlock-approve").count() == 1
            page.screenshot(path=str(hub.base / f"checker-{checker}-airlock.png"), full_page=True)
            box.locator(".genomlab-airlock-reason textarea").fill(f"{checker}: 41 and 38 people")
            box.locator(".genomlab-airlock-approve").click()
            message = page.wait_for_selector(
                f".genomlab-airlock-message p:has-text('{OUTPUT}:')", timeout=120_000
            ).inner_text()
            messages.append(message)
            page.screenshot(path=str(hub.base / f"checker-{checker}-decided.png"), full_page=True)
            box = _airlock_file_box(page, OUTPUT)  # decided: the decision instead of buttons
            assert box.locator(".genomlab-airlock-mine").inner_text() == "You decided: Approve"
            assert box.locator(".genomlab-airlock-approve").count() == 0
            assert f"{checker}: Approve" in box.inner_text()
            [server] = _server_processes(checker)
            assert server.uids().real == pwd.getpwnam(checker).pw_uid
            assert guard.blocked == []
    assert messages == [
        f"{OUTPUT}: Approve recorded; {hub.request_id} is partially_reviewed",
        f"{OUTPUT}: Approve recorded; {hub.request_id} is released",
    ]
    # the airlock's store and ledger: released by the second checker, the file copied out
    detail = get_request_detail(hub.config, hub.request_id)
    assert detail.request["status"] == "released"
    [file] = detail.files
    assert sorted((d["reviewer"], d["decision"]) for d in file["decisions"]) == sorted(
        (c, "approve") for c in CHECKERS
    )
    released = get_released_dir(hub.config, hub.project_id) / hub.request_id / OUTPUT
    assert released.read_text() == OUTPUT_TEXT
    ledger = open_airlock_ledger(hub.config)
    events = [e for e in ledger.events() if e.type == "airlock.request.released"]
    assert [(e.actor, e.payload["request_id"]) for e in events] == [(CHECKERS[1], hub.request_id)]


def _hub_groups_of(hub: Hub, user: str) -> set[str]:
    with sqlite3.connect(hub.state / "jupyterhub.sqlite") as db:
        return {
            name
            for (name,) in db.execute(
                "SELECT g.name FROM groups g JOIN user_group_map m ON m.group_id = g.id "
                "JOIN users u ON u.id = m.user_id WHERE u.name = ?",
                (user,),
            )
        }


def _wait_for_groups(hub: Hub, user: str, expected: set[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _hub_groups_of(hub, user) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _hub_groups_of(hub, user) == expected


def test_hub__groups_follow_the_platform_s_role_records_while_running(hub: Hub) -> None:
    wf = Workflow(hub.config)
    _wait_for_groups(hub, DECIDER, {"decider"})
    wf.grant_role("bfarm-admin", DECIDER, Role.OUTPUT_CHECKER)
    _wait_for_groups(hub, DECIDER, {"decider", "output-checker"})
    wf.withdraw_role("bfarm-admin", DECIDER, Role.OUTPUT_CHECKER)
    _wait_for_groups(hub, DECIDER, {"decider"})


def _warm_visits(hub: Hub) -> list[str]:
    """The kernel ids of dashboard visits that took a warm kernel, from the servers' logs."""
    marker = "genomlab: dashboard visit uses warm kernel "
    return [line.split(marker)[1].split()[0] for line in hub.log.read_text().splitlines()
            if marker in line]


def test_hub__dashboard_visits_take_warm_kernels_of_the_person_s_own_server(
    hub: Hub, browser: Any
) -> None:
    """Each visit of the approvals dashboard takes a warm kernel (imports only) from the pool of
    the visitor's own server and binds it then: the first screen and the live widgets show the
    visitor (the queue in the first screen), and the researcher's visit after the decider's
    shows nothing of the decider."""
    for user, roles in [(DECIDER, "decider"), (RESEARCHER, "applicant only")]:
        with _guarded_context(browser, hub) as guard:
            page = guard.page
            _sign_in(page, hub, user, PASSWORDS[user])
            page.wait_for_url(f"**/user/{user}/lab**", timeout=120_000)
            before = _warm_visits(hub)
            page.goto(
                f"{hub.url}/user/{user}/voila/render/genomlab-notebooks/approvals.ipynb",
                wait_until="commit",
                timeout=120_000,
            )
            first = page.wait_for_selector(".genomlab-first-screen .genomlab-who",
                                           state="attached", timeout=120_000)
            assert first.text_content() == f"Signed in as {user} ({roles})"
            page.wait_for_selector(".genomlab-approvals .genomlab-who", timeout=120_000)
            assert page.inner_text(".genomlab-approvals .genomlab-who") == (
                f"Signed in as {user} ({roles})")
            assert page.locator(".genomlab-first-screen table.genomlab-queue").count() == 1
            if user == RESEARCHER:  # only what the role allows, nothing of the decider's visit
                applicants = page.locator(".genomlab-approvals td.applicant").all_inner_texts()
                assert set(applicants) <= {RESEARCHER}
                assert DECIDER not in page.content()
            page.screenshot(path=str(hub.base / f"warm-{user}-approvals.png"), full_page=True)
            [kernel_id] = _warm_visits(hub)[len(before):]
            # the warm kernel was one of the visitor's own server, running under their account
            [server] = _server_processes(user)
            token = server.environ()["JUPYTERHUB_API_TOKEN"]
            kernels = httpx.get(f"{hub.url}/user/{user}/api/kernels",
                                headers={"Authorization": f"token {token}"}, timeout=30)
            assert kernel_id in {k["id"] for k in kernels.json()}
            uid = pwd.getpwnam(user).pw_uid
            children = server.children(recursive=True)
            assert children, "no kernel in the server"
            assert {child.uids().real for child in children} == {uid}
            assert guard.blocked == []


FEASIBILITY_FILTERS = ["NCIT:C16576", "diseaseType:rare"]  # women (NCIT), rare disease
NOTEBOOK_RUNS = """
import json, time
from pathlib import Path
import papermill
notebooks, runs = Path.home() / "genomlab-notebooks", Path.home() / "notebook-runs"
runs.mkdir(exist_ok=True)
seconds = {}
for name, parameters in [("feasibility.ipynb", {"filters": FILTERS}),
                         ("cohort_qc.ipynb", {})]:
    started = time.monotonic()
    papermill.execute_notebook(str(notebooks / name), str(runs / name), parameters=parameters,
                               kernel_name="python3", cwd=str(runs), progress_bar=False,
                               execution_timeout=600)
    seconds[name] = round(time.monotonic() - started, 1)
print(json.dumps(seconds))
"""


def test_hub__researcher_runs_the_feasibility_and_cohort_qc_notebooks_in_their_server(
    hub: Hub, researcher_release: Path, guarded: Guarded
) -> None:
    """Signed in through the hub, the researcher runs genomlab's feasibility and cohort QC
    notebooks (papermill in a kernel of their own server, under their account): the data
    service answers the feasibility query and records it under the researcher's verified
    identity; the cohort QC runs Hail on the project's encrypted release in the member's
    scratch and writes its tables into the project's workspace."""
    import pandas as pd

    from genomlab.data_service.store import open_data_service_ledger
    from tests.data_service.reported_nodes import count_per_node, make_clinical_world
    from tests.notebook_outputs import get_output_tables, get_png_outputs, get_printed_lines

    _sign_in(guarded.page, hub, RESEARCHER, PASSWORDS[RESEARCHER])
    guarded.page.wait_for_url(f"**/user/{RESEARCHER}/lab**", timeout=120_000)
    account = pwd.getpwnam(RESEARCHER)
    ledger = open_data_service_ledger(hub.config)
    answered_before = [e for e in ledger.events() if e.type == "feasibility.answered"]
    texts = _run_in_kernel(hub, RESEARCHER, f"FILTERS = {FEASIBILITY_FILTERS!r}\n{NOTEBOOK_RUNS}",
                           timeout=900)
    try:
        seconds = json.loads(texts[-1])
    except (IndexError, ValueError):
        raise AssertionError(f"the notebooks did not run: {''.join(texts)[-5000:]}") from None
    print(f"notebooks in the researcher's server (s): {seconds}")
    runs = Path(account.pw_dir) / "notebook-runs"
    # feasibility: the data service's answer, recorded under the researcher's verified identity
    feasibility = runs / "feasibility.ipynb"
    assert feasibility.stat().st_uid == account.pw_uid  # written by the researcher's kernel
    printed = "\n".join(get_printed_lines(feasibility))
    assert f"Project {hub.project_id}, member {RESEARCHER}, entitled until" in printed, printed
    [table] = get_output_tables(feasibility)
    shown = {  # polars shows strings quoted
        str(node).strip('"'): str(count).strip('"')
        for node, count in zip(table["node"], table["count"], strict=True)
    }
    expected = count_per_node(  # rare disease, women: 30 per KDK
        make_clinical_world(), lambda row: (row["sex"], row["disease_type"]) == ("female", "rare")
    )
    assert shown == {
        **{node: str(count) for node, count in expected.items()},
        "total": str(sum(expected.values())),
    }
    answered = [e for e in open_data_service_ledger(hub.config).events()
                if e.type == "feasibility.answered"]
    [event] = answered[len(answered_before):]
    assert (event.actor, event.payload["user"]) == (RESEARCHER, RESEARCHER)
    assert event.payload["total"] == sum(expected.values())
    # cohort QC: Hail under the researcher's account on the decrypted release in their scratch
    qc = runs / "cohort_qc.ipynb"
    [steps] = [line for line in get_printed_lines(qc) if line.startswith("QC steps (s):")]
    print(steps)  # it ran the QC in the researcher's kernel (none was there to show)
    qc_dir = hub.config.workspace_dir(hub.project_id) / "qc"
    sample_qc = pd.read_csv(qc_dir / "sample_qc.tsv", sep="\t", keep_default_na=False,
                            true_values=["true"], false_values=["false"])
    assert (qc_dir / "sample_qc.tsv").stat().st_uid == account.pw_uid
    truth = json.loads((WORLD_GENOTYPES.parent / "truth.json").read_text())
    assert len(sample_qc) == len(truth["samples"])
    flagged = set(sample_qc.loc[sample_qc["reasons"].str.contains("sex_mismatch"), "sample"])
    assert flagged == set(truth["faults"]["sex_mismatch"])
    low = set(sample_qc.loc[sample_qc["reasons"].str.contains("call_rate"), "sample"])
    assert low == set(truth["faults"]["low_call_rate"])
    failing = sample_qc[~sample_qc["pass"].astype(bool)]
    assert 0 < len(failing) < len(sample_qc)
    assert f"{len(sample_qc)} samples, {len(failing)} fail QC" in get_printed_lines(qc)
    shown_failing = next(t for t in get_output_tables(qc) if "heterozygosity_rate" in t.columns)
    assert shown_failing["sample"].tolist() == failing["sample"].tolist()
    assert len(get_png_outputs(qc)) == 4  # call rate, heterozygosity, PCA, kinship
    scratch = hub.config.workspace_dir(hub.project_id) / "scratch" / RESEARCHER
    assert (scratch / "release-hub-r1" / "genotypes.mt").is_dir()  # decrypted for the member
    assert (scratch / "hail.log").stat().st_uid == account.pw_uid
    assert guarded.blocked == []
