"""Each person's server in a network namespace of its own: outbound only to genomlab's services.

The hub runs as root. Before a person's server starts, :class:`PersonNetworks` makes a named
network namespace ``genomlab-<user>`` (``ip netns add``; only a loopback device, brought up: no
other device, no route) and the pre-spawn hook starts the server *inside* it (its ``preexec_fn``
enters the namespace, then drops to the person's account as JupyterHub's own does). From there
nothing is reachable but the namespace's own loopback.

A forwarder (``python -m genomlab.hub.netns``, one process per person's server, a child of the
hub) joins the two sides without any route between them. It holds sockets in both namespaces (a
socket stays in the namespace it was made in; a worker thread that entered the person's
namespace makes them there):

- inside the person's namespace it listens on ``127.0.0.1:PORT`` for every genomlab port the
  hub allows (the hub's API, the ``genomlab-people`` service, each running genomlab service
  recorded in ``<home>/services/*.json`` with a loopback URL, loopback PostgreSQL stores of the
  configuration) and forwards each connection to the host's ``127.0.0.1:PORT``: the services'
  URLs and TLS certificates (issued for 127.0.0.1) work unchanged, and TLS goes end to end (the
  forwarder copies bytes, it reads and decrypts nothing);
- on the host it listens on a free ``127.0.0.1`` port, which becomes the server's port
  (``Spawner.port``), and forwards each connection to that port inside the person's namespace:
  the hub and the proxy reach the server as before.

After binding, the forwarder gives up root (it becomes ``nobody``) and it exits when the hub
does. The post-stop hook ends the forwarder and deletes the namespace; so does the hub's exit
(``atexit``). Ports are read when the server starts: a service started (or moved) later is
reachable after the person's next server start.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, ValidationFailed

NETNS_DIR = Path("/run/netns")
"""Where ``ip netns`` keeps its named namespaces."""
NETNS_PREFIX = "genomlab-"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
READY = "genomlab-netns ready"


def get_netns_name(user: str) -> str:
    """``genomlab-<user>``: the person's namespace (``ip netns list`` shows it).

    Examples
    --------
    >>> get_netns_name("rita")
    'genomlab-rita'
    """
    if not _USER.match(user):
        raise ValidationFailed(f"hub: user name {user!r} is not a POSIX account name")
    return NETNS_PREFIX + user


def get_netns_path(name: str) -> Path:
    return NETNS_DIR / name


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GenomlabError(f"hub: ip {' '.join(args)}: exit {done.returncode}: "
                            f"{(done.stderr or done.stdout).strip()}")


def create_netns(name: str) -> Path:
    """A fresh namespace ``name`` with its loopback up (one left by a crashed hub is replaced)."""
    delete_netns(name)
    _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")
    return get_netns_path(name)


def delete_netns(name: str) -> None:
    """Delete namespace ``name`` if it exists."""
    if get_netns_path(name).exists():
        _ip("netns", "delete", name)


def enter_netns(path: str | os.PathLike[str]) -> None:
    """Move the calling thread (or a freshly forked child) into the namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.setns(fd, os.CLONE_NEWNET)
    finally:
        os.close(fd)


def _loopback_port(url: str) -> int | None:
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme)
        if parts.scheme.startswith("postgresql"):
            port = 5432
    return port


def get_genomlab_ports(config: GenomlabConfig) -> list[int]:
    """The loopback ports of genomlab's running services (``<home>/services/*.json``) and of
    the configuration's PostgreSQL stores (the dashboards read them directly)."""
    ports: set[int] = set()
    for record in sorted((config.home / "services").glob("*.json")):
        try:
            url = json.loads(record.read_text()).get("url")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(url, str) and (port := _loopback_port(url)) is not None:
            ports.add(port)
    if config.stores is not None:
        for kind in ("platform", "airlock", "reports"):
            url = config.store_url(kind)
            if url.startswith("postgresql") and (port := _loopback_port(url)) is not None:
                ports.add(port)
    return sorted(ports)


def make_preexec_fn(netns: Path, then: Callable[[], None]) -> Callable[[], None]:
    """A ``preexec_fn`` that enters ``netns`` (still root) and then runs ``then`` (JupyterHub's
    own switch to the person's account)."""

    def preexec() -> None:
        enter_netns(netns)
        then()

    return preexec


# --- the forwarder (a process of its own) ---------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _join(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    try:
        await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))
    finally:
        for _, writer in (a, b):
            writer.close()


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _unconnected() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


async def forward(netns: Path, allowed: Iterable[int], server_port: int = 0) -> None:
    """Run the forwarder for the person's namespace ``netns`` (see the module's description);
    prints ``READY <host port>`` once every socket is bound."""
    loop = asyncio.get_running_loop()
    inside = concurrent.futures.ThreadPoolExecutor(
        max_workers=1, initializer=enter_netns, initargs=(netns,)
    )

    async def to_host(port: int, reader: Any, writer: Any) -> None:
        try:
            host = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await _join((reader, writer), host)

    async def to_person(port: int, reader: Any, writer: Any) -> None:
        sock = await loop.run_in_executor(inside, _unconnected)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", port))
        except OSError:
            sock.close()
            writer.close()
            return
        await _join((reader, writer), await asyncio.open_connection(sock=sock))

    def handler(port: int) -> Callable[[Any, Any], Awaitable[None]]:
        return lambda reader, writer: to_host(port, reader, writer)

    servers = []
    for port in sorted(set(allowed)):
        sock = await loop.run_in_executor(inside, _listener, port)
        servers.append(await asyncio.start_server(handler(port), sock=sock))
    outside = _listener(server_port)
    port = outside.getsockname()[1]
    servers.append(await asyncio.start_server(
        lambda r, w: to_person(port, r, w), sock=outside))
    if os.geteuid() == 0:  # every socket is bound; the copying needs no privilege
        nobody = pwd.getpwnam("nobody")
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    print(f"{READY} {port}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:  # ends with the hub
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
    for server in servers:
        server.close()
    inside.shutdown(wait=False, cancel_futures=True)


# --- the hub's side ---------------------------------------------------------------------------


class PersonNetworks:
    """The namespaces and forwarders of the hub's running servers (one per person)."""

    def __init__(
        self,
        config: GenomlabConfig,
        hub_ports: Iterable[int] = (),
        python: str | os.PathLike[str] = sys.executable,
    ) -> None:
        self.config = config
        self.hub_ports = tuple(hub_ports)
        self.python = str(python)
        self.forwarders: dict[str, asyncio.subprocess.Process] = {}
        atexit.register(self.close_all)

    def __deepcopy__(self, memo: dict[int, Any]) -> PersonNetworks:
        """The one registry of the hub: JupyterHub deep-copies the configuration (with the
        post-stop hook bound to this object) for each new spawner, which must share it."""
        return self

    def get_allowed_ports(self) -> list[int]:
        return sorted({*self.hub_ports, *get_genomlab_ports(self.config)})

    async def open(self, user: str) -> tuple[Path, int]:
        """A fresh namespace for ``user``'s server and its forwarder: (namespace, host port)."""
        await self.close(user)
        name = get_netns_name(user)
        netns = await asyncio.to_thread(create_netns, name)
        process = await asyncio.create_subprocess_exec(
            self.python, "-m", "genomlab.hub.netns", str(netns),
            *(f"--allow={p}" for p in self.get_allowed_ports()),
            stdout=asyncio.subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                 "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        )
        self.forwarders[user] = process
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        except TimeoutError:
            line = b""
        text = line.decode(errors="replace").strip()
        if not text.startswith(READY):
            await self.close(user)
            raise GenomlabError(f"hub: {user}: the network forwarder did not start ({text!r})")
        return netns, int(text.split()[-1])

    async def close(self, user: str) -> None:
        """End ``user``'s forwarder and delete their namespace (nothing if there is none)."""
        process = self.forwarders.pop(user, None)
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        await asyncio.to_thread(delete_netns, get_netns_name(user))

    async def post_stop_hook(self, spawner: Any) -> None:
        """JupyterHub's ``Spawner.post_stop_hook``: the server stopped, close its network."""
        await self.close(spawner.user.name)
        spawner.log.info("genomlab: %s's forwarder ended and namespace %s deleted",
                         spawner.user.name, get_netns_name(spawner.user.name))

    def close_all(self) -> None:
        """At the hub's exit: end every forwarder and delete every namespace it made."""
        for user, process in list(self.forwarders.items()):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
            with contextlib.suppress(GenomlabError):
                delete_netns(get_netns_name(user))
        self.forwarders.clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genomlab.hub.netns",
                                     description="The forwarder of one person's namespace.")
    parser.add_argument("netns", type=Path, help="/run/netns/genomlab-USER")
    parser.add_argument("--allow", type=int, action="append", default=[],
                        help="A host loopback port the person's server may reach.")
    parser.add_argument("--server-port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(forward(args.netns, args.allow, args.server_port))


if __name__ == "__main__":
    main()
