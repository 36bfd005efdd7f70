"""``genomlab deploy setup`` as root on a demo home, attacked from researchers' OS accounts.

One set-up per module: the demo's first steps (every institution's folder, store, keys and
ledger, one approved project of alice and tom), a second approved project of bob, a release
folder in each workspace (stand-in files: a manifest and a table; the test is about who may open
them, not their content), throw-away OS accounts for alice, tom and bob, then ``deploy setup``.
Every account and group the module makes carries a random prefix and is deleted at the end,
also when a test fails.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url

from genomlab.config import GenomlabConfig
from genomlab.deploy.launch import get_service_instances
from genomlab.deploy.layout import get_account_name
from genomlab.institution import Institution, existing_institutions
from genomlab.services.runner import get_service_record_path
from tests.conftest import REPO, config_for
from tests.platform.conftest import make_form

TOOLS = ("useradd", "groupadd", "userdel", "groupdel", "runuser", "setpriv", "unshare")
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.sqlite_only,  # the files under test are SQLite stores
    pytest.mark.skipif(os.geteuid() != 0, reason="creates OS accounts and changes owners: "
                       "needs root (CI runs as root)"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS) or SYSTEM_PYTHON is None,
                       reason=f"needs {', '.join(TOOLS)} and /usr/bin/python3"),
]
GENOMLAB = str(Path(sys.executable).parent / "genomlab")
INSTITUTION_KINDS = ("trust_center", "platform", "grz", "kdk", "data_service", "airlock")
TRY_READ = """
import errno, json, os, sys
found = {}
for path in json.load(sys.stdin):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
        found[path] = "read"
    except OSError as exc:
        found[path] = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps(found))
"""


@dataclass
class Deployment:
    config: GenomlabConfig
    prefix: str
    researchers: dict[str, str]  # platform user -> OS account
    own_project: str  # alice's and tom's
    other_project: str  # bob's
    dry_run: str
    dry_run_changed: bool
    setup: str


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def _genomlab(config: GenomlabConfig, *args: str) -> str:
    env = {**os.environ, "GENOMLAB_HOME": str(config.home), "PYTHONPATH": str(REPO)}
    return _run(GENOMLAB, *args, env=env)


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Owner, group and mode of every entry under ``root``."""
    entries = [root, *root.rglob("*")]
    return {str(p): (p.lstat().st_uid, p.lstat().st_gid, p.lstat().st_mode) for p in entries}


def _approve_bobs_project(config: GenomlabConfig) -> str:
    from genomlab.platform.applications import Workflow

    wf = Workflow(config)
    wf.register_user("bfarm-admin", "bob", institution="Uni Köln", name="Bob")
    application_id = wf.create_draft("bob", make_form(team=()))
    project_id = wf.submit("bob", application_id)
    wf.assign_handler("hanna", application_id)
    wf.approve("dora", application_id)
    return project_id


def _write_release(config: GenomlabConfig, project: str) -> None:
    release = config.workspace_dir(project) / "release"
    (release / "clinical").mkdir(parents=True)
    (release / "manifest.json").write_text(json.dumps({"level": "individual",
                                                       "project_id": project}))
    (release / "clinical" / "persons.csv").write_text(f"s,sex\n{project}-P1,female\n")


def _delete_prefixed(prefix: str) -> None:
    """Safety net: remove every account and group of this run that still exists."""
    for user in [u.pw_name for u in pwd.getpwall() if u.pw_name.startswith(prefix)]:
        subprocess.run(["userdel", user], capture_output=True, check=False)
    for group in [g.gr_name for g in grp.getgrall() if g.gr_name.startswith(prefix)]:
        subprocess.run(["groupdel", group], capture_output=True, check=False)


def _demo_home(config: GenomlabConfig) -> str:
    """The demo's institutions (folders, stores, keys, ledgers) and approved project, without
    its Hail steps and its report step (papermill, not run under the shifted clock)."""
    from genomlab.demo import DemoContext, step_application, step_initialise_institutions
    from genomlab.ledgers import open_ledger

    context = DemoContext(config, master=None, use_hail=False)
    step_initialise_institutions(context)
    step_application(context)
    for kind in ("airlock", "reports"):
        institution = Institution(config, kind)
        open_ledger(institution)
        institution.keys().signing_key()
    assert context.project_id is not None
    return context.project_id


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    base = Path(tempfile.mkdtemp(prefix="genomlab-deploy-test-"))  # not pytest's 0700 tmp
    os.chmod(base, 0o711)
    prefix = f"genomlab-{secrets.token_hex(2)}-"
    config = config_for(base / "home")
    try:
        own = _demo_home(config)
        other = _approve_bobs_project(config)
        for project in (own, other):
            _write_release(config, project)
        for instance in get_service_instances(config):  # left by an earlier run as root
            record = get_service_record_path(config, instance)
            record.parent.mkdir(exist_ok=True)
            record.write_text('{"pid": 0}')
            record.with_suffix(".ca.pem").write_text("stale")
        researchers = {user: f"{prefix}r-{user}" for user in ("alice", "tom", "bob")}
        for account in researchers.values():
            _run("useradd", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin",
                 account)
        mapping = [f"--member-account={u}={a}" for u, a in researchers.items()]
        before = _snapshot(config.home)
        dry_run = _genomlab(config, "deploy", "setup", "--prefix", prefix, *mapping, "--dry-run")
        changed = _snapshot(config.home) != before or any(
            u.pw_name.startswith(prefix) and u.pw_name not in researchers.values()
            for u in pwd.getpwall())
        setup = _genomlab(config, "deploy", "setup", "--prefix", prefix, *mapping)
        yield Deployment(config, prefix, researchers, own, other, dry_run, changed, setup)
    finally:
        try:
            if (config.home / "deploy" / "state.json").exists():
                _genomlab(config, "deploy", "teardown")
        finally:
            _delete_prefixed(prefix)
            shutil.rmtree(base, ignore_errors=True)


def _try_read_as(account: str, paths: list[Path]) -> dict[str, str]:
    """Each path: ``read`` or the errno name, as ``account`` (runuser, the system Python)."""
    assert SYSTEM_PYTHON is not None
    done = subprocess.run(["runuser", "-u", account, "--", SYSTEM_PYTHON, "-c", TRY_READ],
                          input=json.dumps([str(p) for p in paths]), capture_output=True,
                          text=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _institution_entries(config: GenomlabConfig) -> list[Path]:
    folders = [i.directory for i in existing_institutions(config) if i.kind in INSTITUTION_KINDS]
    return [p for folder in folders for p in (folder, *sorted(folder.rglob("*")))]


def test_dry_run__prints_the_plan_and_changes_nothing(deployment: Deployment) -> None:
    assert not deployment.dry_run_changed
    for institution in existing_institutions(deployment.config):
        assert (f"create account       {get_account_name(deployment.prefix, institution)}"
                in deployment.dry_run)
    assert "nothing changed (--dry-run)" in deployment.dry_run


def test_setup__an_account_per_instance_owns_its_folder(deployment: Deployment) -> None:
    institutions = existing_institutions(deployment.config)
    assert {i.kind for i in institutions} >= set(INSTITUTION_KINDS)
    for institution in institutions:
        account = pwd.getpwnam(get_account_name(deployment.prefix, institution))
        assert account.pw_shell.endswith("nologin")
        assert account.pw_dir == str(institution.directory)
        for path in (institution.directory, *institution.directory.rglob("*")):
            info = path.lstat()
            assert (info.st_uid, info.st_gid) == (account.pw_uid, account.pw_gid), path
            assert stat.S_IMODE(info.st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_setup__a_researcher_can_read_no_file_of_any_institution(
        deployment: Deployment) -> None:
    entries = _institution_entries(deployment.config)
    stores = [p for p in entries if p.suffix == ".db"]
    assert len(stores) >= len(INSTITUTION_KINDS)
    for account in deployment.researchers.values():
        found = _try_read_as(account, entries)
        assert set(found.values()) == {"EACCES"}, {p: r for p, r in found.items()
                                                   if r != "EACCES"}


def test_setup__no_key_can_be_read(deployment: Deployment) -> None:
    keys = [p for i in existing_institutions(deployment.config) for folder in ("keys", "tls")
            for p in sorted((i.directory / folder).glob("*")) if p.is_file()]
    assert sum(p.name.endswith(".ed25519.pem") for p in keys) >= len(INSTITUTION_KINDS)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys)
    found = _try_read_as(deployment.researchers["alice"], keys)
    assert set(found.values()) == {"EACCES"}


def test_setup__own_projects_release_readable_and_another_projects_not(
        deployment: Deployment) -> None:
    config = deployment.config
    own = sorted((config.workspace_dir(deployment.own_project) / "release").rglob("*"))
    other = sorted((config.workspace_dir(deployment.other_project) / "release").rglob("*"))
    for user, mine, theirs in (("alice", own, other), ("tom", own, other),
                               ("bob", other, own)):
        found = _try_read_as(deployment.researchers[user], mine + theirs)
        assert {found[str(p)] for p in mine} == {"read"}, (user, found)
        assert {found[str(p)] for p in theirs} == {"EACCES"}, (user, found)


def test_services__answer_healthz_under_their_own_uid(deployment: Deployment) -> None:
    config = deployment.config
    instances = get_service_instances(config)
    assert instances, "no service kind to start"
    for institution in instances:
        record = json.loads(get_service_record_path(config, institution).read_text())
        uid = pwd.getpwnam(get_account_name(deployment.prefix, institution)).pw_uid
        status = Path(f"/proc/{record['pid']}/status").read_text()
        uids = next(line.split()[1:] for line in status.splitlines()
                    if line.startswith("Uid:"))
        assert uid != 0
        assert uids == [str(uid)] * 4
        context = ssl.create_default_context(cafile=record["ca"])
        with urllib.request.urlopen(record["url"] + "/healthz", context=context,
                                    timeout=10) as answer:
            assert answer.status == 200


def test_services__records_readable_by_other_services_not_by_researchers(
        deployment: Deployment) -> None:
    config = deployment.config
    published = [path for i in get_service_instances(config)
                 for path in (get_service_record_path(config, i),
                              get_service_record_path(config, i).with_suffix(".ca.pem"))]
    peer = get_account_name(deployment.prefix, Institution(config, "data_service"))
    assert set(_try_read_as(peer, published).values()) == {"read"}
    found = _try_read_as(deployment.researchers["alice"], published)
    assert set(found.values()) == {"EACCES"}


READ_KEY_ANCHORS = """
import json, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(json.dumps(db.execute("SELECT stream, payload FROM ledger_events "
                            "WHERE type = 'key.anchored' ORDER BY seq").fetchall()))
"""


def _anchored_keys(deployment: Deployment, institution: Institution) -> dict[str, str]:
    """The ``key.anchored`` fingerprints in ``institution``'s SQLite ledger, key -> fingerprint,
    read as the instance's own account (root would leave root-owned ``-shm`` files behind)."""
    assert SYSTEM_PYTHON is not None
    path = make_url(institution.store_url).database
    account = get_account_name(deployment.prefix, institution)
    done = subprocess.run(["runuser", "-u", account, "--", SYSTEM_PYTHON, "-c",
                           READ_KEY_ANCHORS, str(path)], capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    return {json.loads(payload)["key"]: json.loads(payload)["fingerprint"]
            for stream, payload in json.loads(done.stdout) if stream == "platform"}


def test_setup__anchors_the_trusted_keys_before_the_services_start(
        deployment: Deployment) -> None:
    """No ``genomlab ledger anchor`` ran on the demo home: the set-up anchors the platform's
    token and approval keys (from its signing keys) in every other institution's ledger before
    it starts the services (which refuse to start on a key never anchored)."""
    from genomlab.anchors import get_signing_key_fingerprint

    config = deployment.config
    lines = deployment.setup.splitlines()
    anchor = next(i for i, line in enumerate(lines) if line.startswith("anchor trusted keys"))
    start = next(i for i, line in enumerate(lines) if line.startswith("start services"))
    assert anchor < start, deployment.setup
    assert "anchor trusted keys" in deployment.dry_run
    platform = Institution(config, "platform")
    expected = {key: get_signing_key_fingerprint(platform, key) for key in ("oauth", "approval")}
    assert None not in expected.values()
    holders = [i for i in existing_institutions(config) if i.kind != "platform"]
    assert {i.kind for i in holders} >= {"trust_center", "grz", "kdk", "data_service", "airlock"}
    for holder in holders:
        assert _anchored_keys(deployment, holder) == expected, holder.name
    assert _anchored_keys(deployment, platform) == {}


def test_setup__a_second_run_changes_nothing(deployment: Deployment) -> None:
    config = deployment.config
    before = _snapshot(config.home)
    accounts = sorted((u.pw_name, u.pw_uid) for u in pwd.getpwall()
                      if u.pw_name.startswith(deployment.prefix))
    mapping = [f"--member-account={u}={a}" for u, a in deployment.researchers.items()]
    output = _genomlab(config, "deploy", "setup", "--prefix", deployment.prefix, *mapping)
    assert f"nothing to change: {config.home} is set up" in output
    assert _snapshot(config.home) == before
    assert accounts == sorted((u.pw_name, u.pw_uid) for u in pwd.getpwall()
                              if u.pw_name.startswith(deployment.prefix))


def test_teardown__deletes_the_accounts_it_made_and_gives_the_home_back(
        deployment: Deployment) -> None:
    config = deployment.config
    pids = [json.loads(get_service_record_path(config, i).read_text())["pid"]
            for i in get_service_instances(config)]
    _genomlab(config, "deploy", "teardown")
    left = sorted(u.pw_name for u in pwd.getpwall() if u.pw_name.startswith(deployment.prefix))
    assert left == sorted(deployment.researchers.values())  # the test's own, not setup's
    assert not [g.gr_name for g in grp.getgrall() if g.gr_name.startswith(deployment.prefix)
                and g.gr_name not in deployment.researchers.values()]
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert {(uid, gid) for uid, gid, _ in _snapshot(config.home).values()} == {(0, 0)}
    platform = Institution(config, "platform")
    assert platform.ledger().verify().ok
