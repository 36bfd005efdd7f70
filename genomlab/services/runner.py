"""Run one institution instance as an HTTPS service on a port, recorded in the home.

:func:`serve` binds the port itself (``0`` picks a free one), writes
``<home>/services/<instance>.json`` (``url``, ``ca``, ``pid``; ``ca`` is a copy of the service's CA
certificate beside it, ``<instance>.ca.pem``; both 0644) so clients and ``make demo`` find it,
runs uvicorn until SIGINT/SIGTERM and removes the record again.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from genomlab.config import GenomlabConfig
from genomlab.errors import ValidationFailed
from genomlab.home import ensure_home
from genomlab.institution import Institution
from genomlab.services.tls import TlsFiles, ensure_tls_files

SERVICE_KINDS = ("platform", "trust_center", "data_service", "airlock", "grz", "kdk")
"""Institution kinds that run as a service (``grz`` and ``kdk``: one service per node,
``--node ID``)."""
NODE_SERVICE_KINDS = ("grz", "kdk")


def _platform_app(config: GenomlabConfig, node_id: str | None) -> Any:
    from genomlab.services.platform_api import create_platform_app

    return create_platform_app(config)


def _trust_center_app(config: GenomlabConfig, node_id: str | None) -> Any:
    from genomlab.services.trust_center_api import create_trust_center_app

    return create_trust_center_app(config)


def _data_service_app(config: GenomlabConfig, node_id: str | None) -> Any:
    from genomlab.services.data_service_api import create_data_service_app

    return create_data_service_app(config)


def _airlock_app(config: GenomlabConfig, node_id: str | None) -> Any:
    from genomlab.services.airlock_api import create_airlock_app

    return create_airlock_app(config)


def _node_app(kind: str) -> Callable[[GenomlabConfig, str | None], Any]:
    def create(config: GenomlabConfig, node_id: str | None) -> Any:
        from genomlab.services.node_api import create_node_app

        if node_id is None:
            raise ValidationFailed(f"serve {kind}: field --node: which {kind.upper()} to serve "
                                   "(one service per node)")
        return create_node_app(config, kind, node_id)  # type: ignore[arg-type]

    return create


APP_FACTORIES: dict[str, Callable[[GenomlabConfig, str | None], Any]] = {
    "platform": _platform_app,
    "trust_center": _trust_center_app,
    "data_service": _data_service_app,
    "airlock": _airlock_app,
    "grz": _node_app("grz"),
    "kdk": _node_app("kdk"),
}


def get_serve_arguments(kind: str, node_id: str | None = None) -> list[str]:
    """``genomlab``'s arguments that serve ``kind`` (``node_id``) on a free loopback port:
    ``serve KIND --host 127.0.0.1 --port 0 [--node ID]`` (KIND as the command line spells it:
    ``trust-center``)."""
    arguments = ["serve", kind.replace("_", "-"), "--host", "127.0.0.1", "--port", "0"]
    return arguments + (["--node", node_id] if node_id else [])


def get_published_token_key_path(config: GenomlabConfig) -> Path:
    """Where the platform service publishes its access-token public key (0644) for the services
    that check its tokens: ``<home>/services/platform.token-key.pub.pem``. In a separated
    deployment they cannot read the platform's own folder."""
    from genomlab.clients.platform import get_published_token_key  # the one definition

    return get_published_token_key(config)


def get_service_record_path(config: GenomlabConfig, institution: Institution) -> Path:
    """Where a running instance records its URL: ``<home>/services/<kind>[-<node>].json``."""
    return config.home / "services" / (institution.name.replace(":", "-") + ".json")


def read_service_record(config: GenomlabConfig, institution: Institution) -> dict[str, Any]:
    """The record of a running instance (``url``, ``ca``, ``pid``); FileNotFoundError if none."""
    return json.loads(get_service_record_path(config, institution).read_text())


def publish_service_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, readable by all who may pass ``path``'s folder.

    Records and CA certificates are what clients need and hold no secret; in a separated
    deployment the other services reach them through ``<home>/services/`` (group
    ``genomlab-services``), never through the instance's own folder (0700).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def _write_record(path: Path, record: dict[str, Any]) -> None:
    publish_service_file(path, json.dumps(record, indent=2).encode())


def bind_loopback(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValidationFailed(f"serve: field port: cannot bind {host}:{port}: "
                               f"{exc.strerror}") from exc
    sock.listen(128)
    return sock


def get_keys_trusted_at_start(config: GenomlabConfig, institution: Institution) -> list[str]:
    """The platform's keys (:data:`genomlab.trusted_keys.TRUSTED_KEYS`) ``institution``'s
    service trusts from its start: the access-token key (every service but the platform's);
    for the trust centre also the approval key, once the platform has one and the trust centre
    can read it (one account holds the home)."""
    if institution.kind == "platform":
        return []
    keys = ["oauth"]
    approval = Institution(config, "platform").directory / "keys" / "approval.pub.pem"
    try:
        readable = institution.kind == "trust_center" and approval.exists()
    except PermissionError:  # separated: the platform's folder is closed to the trust centre
        readable = False
    if readable:
        keys.append("approval")
    return keys


def check_service_configuration(config: GenomlabConfig, kind: str) -> None:
    """Refuse a service's own rules below the platform's (the disclosure minimum of the data
    service and the airlock) before anything else: a wrong configuration is named as such,
    not as whatever a store or key read would fail on next. The app factories check it again.

    :raises ValidationFailed: naming the configuration and the field.
    """
    from genomlab.data_service.suppression import check_service_disclosure

    if kind == "data_service":
        from genomlab.services.data_service_api import CONFIG_SOURCE
    elif kind == "airlock":
        from genomlab.services.airlock_api import CONFIG_SOURCE
    else:
        return
    check_service_disclosure(config.disclosure, source=CONFIG_SOURCE)


def drop_idle_connections(connections: Iterable[Any]) -> int:
    """Abort the transport of each of uvicorn's ``connections`` (its HTTP protocols) that has
    no request in flight; how many.

    uvicorn's graceful shutdown closes such a connection with ``transport.close()``, which for
    TLS sends ``close_notify`` and then waits for the peer's (asyncio: up to 30 s) before the
    connection counts as gone, and the shutdown waits for every connection. A client's idle
    keep-alive pool does not read until its next request, so it never answers. TLS allows the
    closing side not to wait for that answer (RFC 8446, 6.1): an idle connection has nothing
    left to deliver, so it is aborted. A connection with a request in flight is left to
    uvicorn, which finishes the response first.
    """
    dropped = 0
    for connection in list(connections):
        cycle = getattr(connection, "cycle", None)
        transport = getattr(connection, "transport", None)
        if transport is not None and (cycle is None or cycle.response_complete):
            transport.abort()
            dropped += 1
    return dropped


def serve(config: GenomlabConfig, kind: str, node_id: str | None, *, host: str, port: int,
          announce: Callable[[str], None]) -> None:
    """Serve institution ``kind`` (``node_id``) until stopped; ``announce`` gets the URL line."""
    import uvicorn

    if kind not in APP_FACTORIES:
        raise ValidationFailed(f"serve: field KIND: {kind!r} is not a service yet "
                               f"(available: {', '.join(SERVICE_KINDS)})")
    ensure_home(config.home)
    if kind in NODE_SERVICE_KINDS and node_id is None:
        raise ValidationFailed(f"serve {kind}: field --node: which {kind.upper()} to serve "
                               "(one service per node)")
    institution = Institution(config, kind, node_id)  # type: ignore[arg-type]
    check_service_configuration(config, kind)  # before any store or key is opened
    from genomlab.trusted_keys import require_anchored_keys

    # no start on a key nobody anchored (a swap before the first anchoring is undetectable)
    require_anchored_keys(institution, get_keys_trusted_at_start(config, institution))
    app = APP_FACTORIES[kind](config, node_id)
    tls: TlsFiles = ensure_tls_files(institution.directory / "tls", institution.name)
    sock = bind_loopback(host, port)
    url = f"https://{host}:{sock.getsockname()[1]}"
    record = get_service_record_path(config, institution)
    ca = publish_service_file(record.with_suffix(".ca.pem"), tls.ca.read_bytes())
    _write_record(record, {"service": institution.name, "url": url, "ca": str(ca),
                           "pid": os.getpid()})

    class RecordedServer(uvicorn.Server):
        """Removes the record at shutdown: uvicorn re-raises SIGTERM/SIGINT after it, and the
        default handler then ends the process before any ``finally`` below runs.

        Idle connections are dropped at once (:func:`drop_idle_connections`) instead of being
        closed politely: a polite TLS close waits for the client's ``close_notify``, which an
        idle keep-alive pool (another service's client, a test's) never sends, so the service
        hung 30 s (asyncio's TLS shutdown timeout) and its stopper killed it after 20.
        """

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            drop_idle_connections(self.server_state.connections)
            await super().shutdown(sockets)
            record.unlink(missing_ok=True)

    server = RecordedServer(uvicorn.Config(
        app, ssl_certfile=str(tls.certificate), ssl_keyfile=str(tls.key), log_level="warning",
        access_log=False, lifespan="off", server_header=False))
    announce(f"{institution.name}: serving on {url} (CA {ca})")
    try:
        server.run(sockets=[sock])
    finally:
        record.unlink(missing_ok=True)
        sock.close()
