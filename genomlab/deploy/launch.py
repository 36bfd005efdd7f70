"""Start every service of a home as ``genomlab serve KIND`` processes, wait until they answer.

Which instances run is data-driven: every institution instance under the home whose kind
``genomlab serve`` offers (:data:`genomlab.services.runner.SERVICE_KINDS`), so a new service kind
is picked up without a change here. Each process binds a free port on 127.0.0.1 and records it
in ``<home>/services/<instance>.json``. They start together; :func:`wait_until_ready` waits for
all of them, so start-up of the set is that of the slowest one.

``genomlab serve all`` runs them as the current user in the foreground (:func:`serve_all`);
``genomlab deploy setup`` starts them detached, each as its own account (``RunAs``).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomlab.config import GenomlabConfig
from genomlab.deploy.system import get_blocked_path, get_process_uids
from genomlab.errors import GenomlabError
from genomlab.institution import SINGLETON_KINDS, Institution, existing_institutions
from genomlab.platform.person_credentials import get_operator_actor
from genomlab.services.process import ServiceProcessHandle, _answers, _pause, _stop
from genomlab.services.runner import (
    SERVICE_KINDS,
    get_published_token_key_path,
    get_serve_arguments,
    get_service_record_path,
    publish_service_file,
)

PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "LD_PRELOAD")
"""What a service inherits of the starting process's environment, besides ``GENOMLAB_*`` and
``FAKETIME*`` (the shifted-clock test pass runs everything under libfaketime)."""

WITHHELD_ENVIRONMENT = ("FAKETIME_SHARED",)
"""What a service never inherits: libfaketime's ``FAKETIME_SHARED`` names the starting
process's semaphore and shared memory (``/dev/shm``, mode 0600 of the starter's account). A
service under its own account cannot open them and libfaketime exits ("sem_open failed ...
Permission denied"); without the name each service's libfaketime keeps its own, and the shift
itself (``FAKETIME``, an offset from now) is the same in every process."""

PRELOAD_ENVIRONMENT = ("LD_PRELOAD",)
"""Set only after the switch to a service's account (:func:`get_account_command`): a library
preloaded into the root helpers that switch (``setpriv``, ``unshare``, ``sh``) acts as root
there. libfaketime in ``setpriv`` would create a root-only semaphore and name it to the
service, whose own libfaketime then cannot open it."""


@dataclass(frozen=True)
class RunAs:
    """The account a service process runs under (numeric ids, supplementary groups).

    ``view`` is a root-owned 0755 folder for :func:`get_account_command` when the interpreter
    lies under a folder the account cannot pass (a pyenv Python under ``/root``).
    """

    uid: int
    gid: int
    groups: tuple[int, ...]
    view: Path | None = None


def get_account_command(command: list[str], run_as: RunAs,
                        preload: Mapping[str, str] | None = None) -> list[str]:
    """``command`` run as ``run_as`` through ``setpriv`` (no new privileges, no capabilities).

    ``preload`` (:data:`PRELOAD_ENVIRONMENT` variables) is set by ``/usr/bin/env`` after the
    switch, so that it applies to ``command`` alone; the caller leaves it out of the switching
    process's environment.

    If the interpreter lies under a folder the account cannot pass (``/root`` of a pyenv
    Python), the service gets a mount namespace of its own in which that folder shows only the
    interpreter's tree (``run_as.view``, bind-mounted over it), as systemd's ``ProtectHome`` with
    ``BindReadOnlyPaths`` would; nothing changes outside that process.
    """
    program = command[0]
    blocked = get_blocked_path(Path(program))
    if preload:
        command = ["/usr/bin/env", *(f"{k}={v}" for k, v in preload.items()), *command]
    setpriv = ["setpriv", f"--reuid={run_as.uid}", f"--regid={run_as.gid}",
               f"--groups={','.join(map(str, run_as.groups))}", "--no-new-privs",
               "--inh-caps=-all", "--", *command]
    if blocked is None:
        return setpriv
    if run_as.view is None:
        raise GenomlabError(f"{program}: {blocked[0]} is not passable by service accounts "
                            "and no view folder was given")
    folder, entry = blocked
    shown = run_as.view / entry.name
    shown.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(run_as.view, 0o755)
    script = (f"mount --bind -o ro {shlex.quote(str(entry))} {shlex.quote(str(shown))} && "
              f"mount --rbind {shlex.quote(str(run_as.view))} {shlex.quote(str(folder))} && "
              f"exec {shlex.join(setpriv)}")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


@dataclass
class Launched:
    """A started service process and where its output goes."""

    institution: Institution
    process: ServiceProcessHandle
    log: Path
    record: dict[str, Any] | None = None


def get_service_instances(config: GenomlabConfig) -> list[Institution]:
    """The instances to serve: each singleton kind ``genomlab serve`` offers, and each existing
    node instance of an offered node kind."""
    singletons = [Institution(config, kind) for kind in SERVICE_KINDS
                  if kind in SINGLETON_KINDS]
    nodes = [i for i in existing_institutions(config)
             if i.node_id is not None and i.kind in SERVICE_KINDS]
    return singletons + nodes


def get_serve_command(institution: Institution) -> list[str]:
    """``python -m genomlab.cli serve KIND --host 127.0.0.1 --port 0 [--node ID]``
    (:func:`genomlab.services.runner.get_serve_arguments`)."""
    return [sys.executable, "-m", "genomlab.cli",
            *get_serve_arguments(institution.kind, institution.node_id)]


def get_service_environment(config: GenomlabConfig, environ: Mapping[str, str],
                            home: Path | None = None) -> dict[str, str]:
    """The environment of a service: ``GENOMLAB_*``, ``FAKETIME*`` and :data:`PASSED_ENVIRONMENT`
    of ``environ`` but never :data:`WITHHELD_ENVIRONMENT`, ``GENOMLAB_HOME`` of ``config`` and
    ``HOME`` (the instance's folder)."""
    env = {k: v for k, v in environ.items()
           if (k.startswith(("GENOMLAB_", "FAKETIME")) or k in PASSED_ENVIRONMENT)
           and k not in WITHHELD_ENVIRONMENT}
    env["GENOMLAB_HOME"] = str(config.home)
    if home is not None:
        env["HOME"] = str(home)
    return env


def start_service(config: GenomlabConfig, institution: Institution, *, log: Path,
                  environ: Mapping[str, str], run_as: RunAs | None = None,
                  detach: bool = False) -> Launched:
    """Start ``genomlab serve`` for ``institution`` (as ``run_as`` if given; owner-only umask).

    Under the starting account and attached (``genomlab serve all``, ``make demo``) the service
    is forked from a fork server that imported the services' code once
    (:mod:`genomlab.services.forked`); with ``services.fork_server`` false in ``config``
    (``GENOMLAB_SERVICES__FORK_SERVER=0``) a fresh ``genomlab serve`` process instead, as a
    separated deployment (``run_as``) or a detached start always gets.
    """
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = get_service_environment(config, environ, institution.directory if run_as else None)
    if run_as is None and not detach and config.services.fork_server:
        from genomlab.services.forked import start_forked_service

        return Launched(institution, start_forked_service(
            get_serve_arguments(institution.kind, institution.node_id), environ=env, log=log),
            log)
    command = get_serve_command(institution)
    if run_as is not None:
        preload = {k: env.pop(k) for k in PRELOAD_ENVIRONMENT if k in env}
        command = get_account_command(command, run_as, preload)
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=institution.directory if run_as else None, env=env,
            umask=0o077, start_new_session=detach)
    return Launched(institution, process, log)


def get_running_record(config: GenomlabConfig, institution: Institution,
                       uid: int | None = None) -> dict[str, Any] | None:
    """The record of ``institution``'s service if its process lives (under ``uid`` when given)
    and answers ``/healthz``; else ``None``."""
    try:
        record: dict[str, Any] = json.loads(
            get_service_record_path(config, institution).read_text())
    except (OSError, ValueError):
        return None
    uids = get_process_uids(int(record.get("pid", 0)))
    if uids is None or (uid is not None and set(uids) != {uid}):
        return None
    if not _answers(record["url"], ssl.create_default_context(cafile=record["ca"])):
        return None
    return record


def wait_until_ready(config: GenomlabConfig, launched: Iterable[Launched], *,
                     timeout: float = 90.0) -> None:
    """Wait until every launched service recorded its URL and answers ``/healthz``.

    Raises
    ------
    GenomlabError
        A service exited or did not answer within ``timeout`` seconds (the end of its log).
    """
    waiting = list(launched)
    deadline = time.monotonic() + timeout
    while waiting:
        for item in list(waiting):
            if item.process.poll() is not None:
                raise GenomlabError(f"{item.institution.name}: service exited with "
                                    f"{item.process.returncode}: {_tail(item.log)}")
            record = get_running_record(config, item.institution)
            if record is not None and record["pid"] == item.process.pid:
                item.record = record
                waiting.remove(item)
        if waiting and time.monotonic() > deadline:
            raise GenomlabError(f"{waiting[0].institution.name}: not ready after {timeout:.0f} s: "
                                f"{_tail(waiting[0].log)}")
        if waiting:
            _pause(0.1)


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def stop_services(launched: Iterable[Launched]) -> list[str]:
    """Stop the services in the reverse order of their start (the platform, which the others
    call, last): SIGTERM, SIGKILL what has not ended after 20 s. A killed service cannot remove
    its record (``<home>/services/<instance>.json``); the record of a process stopped here is
    removed for it, so no client takes a stopped service for a running one. Returns the
    instances that had to be killed."""
    killed: list[str] = []
    for item in reversed(list(launched)):
        if _stop(item.process):
            killed.append(item.institution.name)
        record_path = get_service_record_path(item.institution.config, item.institution)
        try:
            stale = json.loads(record_path.read_text()).get("pid") == item.process.pid
        except (OSError, ValueError):
            stale = False
        if stale:
            record_path.unlink(missing_ok=True)
    return killed


NODE_KINDS = ("grz", "kdk")
"""Instance kinds served one service per node, each with its node's own platform client."""
TRUST_CENTER_CLIENT_NODE = "VSTRKI"
"""The trust centre's id as a client of the platform's status look-ups (``VST…``)."""
SERVICE_CLIENT_NODES = {
    "trust_center": (TRUST_CENTER_CLIENT_NODE, "Vertrauensstelle (trust centre)"),
    "data_service": ("DSGENOMLAB", "Datendienst (data service)"),
    "airlock": ("AIRLOCK", "Airlock (output checking)"),
}
"""Each served institution's own platform client (node id, name): it asks the platform about
nodes, approvals and people. The airlock is a node of kind ``airlock`` (scopes ``status:read
projects:read register:write``: team membership and the register through the platform)."""


def get_missing_service_prerequisites(config: GenomlabConfig) -> list[Path]:
    """What the services need before they start and the home lacks: the platform's published
    token key (the trust centre checks tokens with it, and may start first) and the trust
    centre's platform client (it asks the platform for node and approval status)."""
    from genomlab.clients.oauth import get_credentials_path

    paths = [get_published_token_key_path(config)]
    instances = get_service_instances(config)
    served = {i.kind for i in instances}
    paths += [get_credentials_path(Institution(config, kind).directory)
              for kind in SERVICE_CLIENT_NODES if kind in served]
    paths += [get_credentials_path(i.directory) for i in instances if i.kind in NODE_KINDS]
    return [path for path in paths if not path.exists()]


def ensure_service_prerequisites(config: GenomlabConfig, *, actor: str) -> list[Path]:
    """Make what :func:`get_missing_service_prerequisites` lists; the paths made.

    Each GRZ's and KDK's service gets its node's own client (the node must be approved; it is
    not approved here). Each other service's client is an approved node of the platform's
    registry
    (:data:`SERVICE_CLIENT_NODES`: the trust centre ``VSTRKI``, the data service ``DSGENOMLAB``,
    the airlock ``AIRLOCK``), its credentials saved 0600 in
    ``<instance>/platform-client.json``.
    """
    from genomlab.clients.oauth import (
        ClientCredentials,
        get_credentials_path,
        save_client_credentials,
    )
    from genomlab.platform.access_tokens import TOKEN_KEY
    from genomlab.platform.nodes import NodeRegistry
    from genomlab.platform.oauth_clients import issue_client

    missing = get_missing_service_prerequisites(config)
    client_kinds = {get_credentials_path(Institution(config, kind).directory): kind  # type: ignore[arg-type]
                    for kind in SERVICE_CLIENT_NODES}
    node_clients = {get_credentials_path(i.directory): str(i.node_id)
                    for i in get_service_instances(config) if i.kind in NODE_KINDS}
    for path in missing:
        if path == get_published_token_key_path(config):
            keys = Institution(config, "platform").keys()
            keys.signing_key(TOKEN_KEY)  # made on first use
            publish_service_file(path, keys.public_key_path(TOKEN_KEY).read_bytes())
        elif path in node_clients:
            # BfArM approves GRZs and KDKs: a node that is not approved gets no client
            # (PermissionDenied names it); approving it is the platform's decision, not ours
            node_id = node_clients[path]
            issued = issue_client(config, node_id, actor=actor, replace=True)
            save_client_credentials(path, ClientCredentials(
                issued.client_id, issued.client_secret, node_id))
        else:
            node_id, name = SERVICE_CLIENT_NODES[client_kinds[path]]
            NodeRegistry(config).ensure_approved(node_id, name=name, actor=actor)
            issued = issue_client(config, node_id, actor=actor, replace=True)
            save_client_credentials(path, ClientCredentials(
                issued.client_id, issued.client_secret, node_id))
    return missing


def start_all_services(config: GenomlabConfig, *, announce: Callable[[str], None],
                       environ: Mapping[str, str] | None = None,
                       timeout: float = 90.0) -> tuple[list[Launched], float]:
    """Start every service of the home as local processes and wait until all answer.

    First makes the services' prerequisites and anchors the platform's trusted keys
    (:func:`genomlab.anchors.anchor_trusted_keys`). Returns the launched services (the caller
    stops them: :func:`stop_services`) and the start-up time of the whole set in seconds. If one
    fails to start, those already started are stopped before the error is raised.
    """
    from genomlab.anchors import anchor_trusted_keys

    for path in ensure_service_prerequisites(config, actor=get_operator_actor()):
        announce(f"made {path}")
    # before any service loads a trusted key: its fingerprint, from the platform's signing key
    # (not a public file), in each other institution's ledger (genomlab.trusted_keys)
    for pinned in anchor_trusted_keys(config):
        announce(f"{pinned.owner}'s {pinned.key} key {pinned.fingerprint} anchored in "
                 f"{pinned.holder}")
    started = time.perf_counter()
    launched: list[Launched] = []
    try:
        for institution in get_service_instances(config):
            log = config.home / "logs" / "services" / f"{institution.name.replace(':', '-')}.log"
            launched.append(start_service(config, institution, log=log,
                                          environ=os.environ if environ is None else environ))
        wait_until_ready(config, launched, timeout=timeout)
    except BaseException:
        stop_services(launched)
        raise
    return launched, time.perf_counter() - started


def serve_all(config: GenomlabConfig, *, announce: Callable[[str], None],
              environ: Mapping[str, str] | None = None, timeout: float = 90.0) -> float:
    """Run every service of the home as local processes until SIGTERM or SIGINT
    (:func:`start_all_services`).

    Prints one line per service (instance, URL) and the start-up time of the whole set, and
    returns that time in seconds. A service that exits on its own stops the others.
    """
    # the handler only records the signal: Event.set() in a handler deadlocked when the signal
    # came while the main thread held that Event's lock inside its own wait (seen once, stack
    # from py-spy: Event.set -> Condition.__enter__ under Event.wait)
    stopping: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    launched: list[Launched] = []
    try:
        launched, seconds = start_all_services(config, announce=announce, environ=environ,
                                               timeout=timeout)
        for item in launched:
            assert item.record is not None
            announce(f"{item.institution.name}: {item.record['url']} (pid {item.process.pid}, "
                     f"log {item.log})")
        announce(f"all {len(launched)} services ready in {seconds:.1f} s; SIGTERM or Ctrl-C "
                 "stops them")
        while not stopping:
            if any(item.process.poll() is not None for item in launched):
                raise GenomlabError("a service exited: " + ", ".join(
                    f"{i.institution.name} ({_tail(i.log)})" for i in launched
                    if i.process.poll() is not None))
            _pause(0.2)
        return seconds
    finally:
        stop_services(launched)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
