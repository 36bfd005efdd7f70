"""``genomlab deploy setup`` / ``teardown``: compare the layout with the machine, then act.

:func:`compute_plan` lists only what differs (a re-run of a finished set-up lists nothing, and
changes nothing); ``--dry-run`` prints that list. :func:`apply_plan` runs it and records in
``<home>/deploy/state.json`` (root only) what it created, so that :func:`teardown` deletes only
accounts and groups the deployment made, and gives the home back to its former owner.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genomlab.config import GenomlabConfig
from genomlab.deploy import system
from genomlab.deploy.launch import (
    Launched,
    RunAs,
    ensure_service_prerequisites,
    get_missing_service_prerequisites,
    get_running_record,
    get_service_instances,
    start_service,
    stop_services,
    wait_until_ready,
)
from genomlab.deploy.layout import Layout, TreeRule
from genomlab.errors import GenomlabError, ValidationFailed
from genomlab.platform.person_credentials import get_operator_actor
from genomlab.services.process import _pause

STATE_FOLDER = "deploy"
"""``<home>/deploy/``: the set-up's state and the services' logs (root only, 0700)."""


@dataclass(frozen=True)
class Step:
    """One change the set-up makes; ``run`` makes it."""

    action: str
    target: str
    detail: str
    run: Callable[[], None] = field(compare=False, repr=False)

    def describe(self) -> str:
        return f"{self.action:<20} {self.target}  {self.detail}".rstrip()


def get_state_path(config: GenomlabConfig) -> Path:
    return config.home / STATE_FOLDER / "state.json"


def read_state(config: GenomlabConfig) -> dict[str, Any]:
    """What earlier set-ups recorded (empty when none ran)."""
    path = get_state_path(config)
    return json.loads(path.read_text()) if path.exists() else {}


def write_state(config: GenomlabConfig, state: Mapping[str, Any]) -> None:
    path = get_state_path(config)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _remember(config: GenomlabConfig, key: str, name: str) -> None:
    state = read_state(config)
    state[key] = sorted({*state.get(key, []), name})
    write_state(config, state)


def _account_steps(config: GenomlabConfig, layout: Layout) -> list[Step]:
    steps = []
    for instance in layout.instances:
        if system.get_uid(instance.account) is None:
            def create(i: Any = instance) -> None:
                system.create_service_account(i.account, i.folder,
                                              f"genomlab {i.institution.name.replace(':', ' ')}")
                _remember(config, "created_accounts", i.account)
            steps.append(Step("create account", instance.account,
                              f"system user, no login, home {instance.folder}", create))
    return steps


def _prerequisite_step(config: GenomlabConfig, layout: Layout) -> Step | None:
    """The services' prerequisites (:func:`ensure_service_prerequisites`), each file then given
    to the account that will replace or read it: the published token key to the platform's
    (it republishes at every start), the trust centre's credentials to the trust centre's."""
    missing = get_missing_service_prerequisites(config)
    if not missing:
        return None
    owners = {i.folder: i.account for i in layout.instances}
    platform = layout.account_of("platform")

    def make() -> None:
        made = ensure_service_prerequisites(config, actor=get_operator_actor())
        for path in made:  # the key: the platform's; a client: the instance's in whose folder
            owner = platform if path.parent.name == "services" else owners.get(path.parent)
            uid = system.get_uid(owner) if owner else None
            if uid is not None:
                os.chown(path, uid, -1)

    return Step("prepare services", ", ".join(str(p) for p in missing),
                "platform token key (published 0644), each service's own platform client (0600)",
                make)


def _anchor_step(config: GenomlabConfig, layout: Layout, *, keys_pending: bool) -> Step | None:
    """Anchor the platform's trusted keys in every other institution's ledger
    (:func:`genomlab.anchors.anchor_trusted_keys`, from the platform's signing keys) before any
    service starts: a service refuses to start on a key never anchored in its ledger.
    ``keys_pending``: the prerequisite step will make the token key (so anchoring is due
    although nothing is missing yet). Root writes the holders' stores here, so the owners and
    modes of the tree are set again right after (a later tree step is then a no-op)."""
    from genomlab.anchors import anchor_trusted_keys, get_missing_key_anchors

    missing = get_missing_key_anchors(config)
    if not missing and not keys_pending:
        return None

    def anchor() -> None:
        from genomlab.db import dispose_engines

        anchor_trusted_keys(config)
        dispose_engines()  # root holds no store open while the owners are set again
        for rule in layout.get_tree_rules():
            if rule.root.exists() and system.count_tree_changes(rule):
                system.apply_tree(rule)

    holders = sorted({m.holder for m in missing})
    return Step("anchor trusted keys", ", ".join(holders) or "every service instance",
                "the platform's token and approval key fingerprints, in each holder's ledger",
                anchor)


def _group_step(config: GenomlabConfig, group: str, members: tuple[str, ...],
                why: str) -> Step | None:
    members = tuple(sorted(members))
    current = system.get_group_members(group)
    if current == members:
        return None
    if current is None:
        def create() -> None:
            system.create_group(group, members)
            _remember(config, "created_groups", group)
        return Step("create group", group, f"{why}; members: {', '.join(members) or 'none'}",
                    create)
    return Step("set group members", group, f"{', '.join(current) or 'none'} -> "
                f"{', '.join(members) or 'none'}",
                lambda: system.replace_group_members(group, members))


def _tree_steps(layout: Layout) -> list[Step]:
    steps = []
    services = layout.home / "services"
    if not services.exists():
        steps.append(Step("create folder", str(services), "service records",
                          lambda: services.mkdir(mode=0o700)))
    for rule in layout.get_tree_rules():
        count = (system.count_tree_changes(rule) if rule.root.exists()
                 else int(rule.root == services))
        if count:
            def run(r: TreeRule = rule) -> None:
                system.apply_tree(r)
            modes = (f"file {rule.file_mode:04o}" if rule.root.is_file() else
                     f"folders {rule.dir_mode:04o}"
                     + (f" files {rule.file_mode:04o}" if rule.recursive else ""))
            steps.append(Step("set owner and modes", str(rule.root),
                              f"{count} entr{'y' if count == 1 else 'ies'} -> "
                              f"{rule.owner or '(owner kept)'}:{rule.group or '(group kept)'} "
                              f"{modes}", run))
    return steps


def get_run_as(layout: Layout, account: str) -> RunAs:
    """The ids a service of ``account`` runs with: its own group and the services group."""
    uid, gid = system.get_uid(account), system.get_gid(account)
    services = system.get_gid(layout.services_group)
    if uid is None or gid is None or services is None:
        raise GenomlabError(f"account {account} or group {layout.services_group} missing")
    return RunAs(uid, gid, (services,), layout.home / STATE_FOLDER / "view")


def _service_step(config: GenomlabConfig, layout: Layout, environ: Mapping[str, str],
                  timeout: float) -> Step | None:
    accounts = {i.institution.name: i.account for i in layout.instances}
    wanted = [i for i in get_service_instances(config) if i.name in accounts]
    stopped = [i for i in wanted
               if get_running_record(config, i, system.get_uid(accounts[i.name])) is None]
    if not stopped:
        return None

    def start() -> None:
        logs = config.home / STATE_FOLDER / "logs"
        launched: list[Launched] = []
        try:
            for institution in stopped:
                account = accounts[institution.name]
                launched.append(start_service(
                    config, institution, log=logs / f"{account}.log", environ=environ,
                    run_as=get_run_as(layout, account), detach=True))
            wait_until_ready(config, launched, timeout=timeout)
        except BaseException:
            stop_services(launched)  # all or none: a half-started set is stopped again
            raise
        state = read_state(config)
        state.setdefault("services", {}).update(
            {item.institution.name: {"pid": item.process.pid,
                                     "account": accounts[item.institution.name]}
             for item in launched})
        write_state(config, state)

    return Step("start services", ", ".join(i.name for i in stopped),
                "genomlab serve KIND as each instance's account", start)


def compute_plan(config: GenomlabConfig, layout: Layout, *, environ: Mapping[str, str],
                 start: bool = True, timeout: float = 90.0) -> list[Step]:
    """What :func:`apply_plan` would change on this machine, in order (empty: nothing)."""
    blocked = system.get_blocked_path(layout.home)
    if blocked is not None:
        unreachable = blocked[0]
        raise ValidationFailed(f"deploy: field home: {unreachable} is not passable by other "
                               f"accounts (mode {stat.S_IMODE(unreachable.stat().st_mode):04o}); "
                               "move the home or give that folder o+x")
    for project in layout.projects:
        missing = [a for a in project.members if system.get_uid(a) is None]
        if missing:
            raise ValidationFailed(f"deploy: field --member-account: project {project.project}: "
                                   f"no OS account {', '.join(missing)}")
    steps = _account_steps(config, layout)
    group_steps = [_group_step(config, layout.services_group, layout.accounts,
                               "services may write their records")]
    group_steps += [_group_step(config, p.group, p.members, f"readers of {p.project}'s release")
                    for p in layout.projects]
    steps += [s for s in group_steps if s is not None]
    prerequisites = _prerequisite_step(config, layout)
    steps += [prerequisites] if prerequisites is not None else []
    anchor = _anchor_step(config, layout, keys_pending=prerequisites is not None)
    steps += [anchor] if anchor is not None else []
    steps += _tree_steps(layout)
    if start:
        service = _service_step(config, layout, environ, timeout)
        steps += [service] if service is not None else []
    return steps


def apply_plan(config: GenomlabConfig, steps: list[Step],
               announce: Callable[[str], None]) -> None:
    """Run ``steps`` in order, announcing each; the first failure stops the set-up."""
    state = read_state(config)
    if "home_owner" not in state:
        info = config.home.stat()
        state.update(home_owner=[info.st_uid, info.st_gid],
                     home_mode=stat.S_IMODE(info.st_mode))
        write_state(config, state)
    for step in steps:
        announce(step.describe())
        step.run()


def stop_recorded_services(config: GenomlabConfig, *, timeout: float = 20.0) -> list[str]:
    """SIGTERM each service the set-up started (only a live process under its account), SIGKILL
    after ``timeout`` seconds; returns the instances stopped."""
    state = read_state(config)
    stopped = []
    for name, entry in sorted(state.get("services", {}).items()):
        uid = system.get_uid(entry["account"])
        uids = system.get_process_uids(entry["pid"])
        if uid is None or uids is None or set(uids) != {uid}:
            continue
        os.kill(entry["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while system.get_process_uids(entry["pid"]) is not None:
            if time.monotonic() > deadline:
                os.kill(entry["pid"], signal.SIGKILL)
                deadline = float("inf")
            _pause(0.1)
        stopped.append(name)
    state["services"] = {}
    if state:
        write_state(config, state)
    return stopped


def stop_processes_of(accounts: list[str], *, timeout: float = 20.0) -> list[int]:
    """SIGTERM (then SIGKILL) every process running under one of ``accounts``: ``userdel``
    refuses an account with processes, and none should outlive its account."""
    uids = {uid for uid in map(system.get_uid, accounts) if uid is not None}
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and set(system.get_process_uids(int(p.name)) or ()) & uids]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(system.get_process_uids(pid) is not None for pid in pids):
        if time.monotonic() > deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        _pause(0.1)
    return pids


def teardown(config: GenomlabConfig, announce: Callable[[str], None]) -> None:
    """Stop the services, give the home back to its former owner (owner-only modes) and delete
    the accounts and groups the set-up created (and only those)."""
    state = read_state(config)
    if not state:
        announce(f"nothing to tear down: no {get_state_path(config)}")
        return
    for name in stop_recorded_services(config):
        announce(f"stopped service      {name}")
    for pid in stop_processes_of(state.get("created_accounts", [])):
        announce(f"stopped process      {pid} (of an account the set-up made)")
    uid, gid = state["home_owner"]
    for entry in sorted(config.home.iterdir()):
        system.apply_tree(TreeRule(entry, None, None, 0o700, 0o600), system.Ids(uid, gid))
    os.lchown(config.home, uid, gid)
    os.chmod(config.home, state["home_mode"])
    announce(f"gave back            {config.home} to uid {uid}, gid {gid}")
    for group in state.get("created_groups", []):
        system.delete_group(group)
        announce(f"deleted group        {group}")
    for account in state.get("created_accounts", []):
        system.delete_account(account)
        announce(f"deleted account      {account}")
    get_state_path(config).unlink()
