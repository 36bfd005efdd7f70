"""A person's network namespace and its forwarder, without the hub (root: namespaces)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genomlab.errors import ValidationFailed
from genomlab.hub.netns import (
    PersonNetworks,
    get_genomlab_ports,
    get_netns_name,
    get_netns_path,
)
from tests.conftest import config_for
from tests.hub.tcp_probe import recording_tcp_server

USER = f"glhnetns{os.getpid()}"  # two runs on one machine get two namespaces


INSIDE = """
import json, socket, sys, threading
found = {}
for name, port in (("allowed", ALLOWED), ("other", OTHER)):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"hello")
            found[name] = conn.recv(10).decode()
    except OSError as exc:
        found[name] = type(exc).__name__
found["devices"] = sorted(n for _, n in socket.if_nameindex())
listener = socket.create_server(("127.0.0.1", SERVER))  # the person's server, inside
print(json.dumps(found), flush=True)
conn, _ = listener.accept()
conn.sendall(b"inside:" + conn.recv(10))
conn.close()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_person_networks__inside_reaches_only_allowed_ports_and_the_host_reaches_the_server(
) -> None:
    with recording_tcp_server() as (allowed, received), \
            recording_tcp_server() as (other, other_received):
        networks = PersonNetworks(config_for(Path("/nonexistent")))
        networks.get_allowed_ports = lambda: [allowed]  # type: ignore[method-assign]

        async def run() -> tuple[dict[str, object], bytes, list[str]]:
            netns, port = await networks.open(USER)
            assert netns == get_netns_path(get_netns_name(USER))
            owner = subprocess.run(
                ["ps", "-o", "user=", "-p", str(networks.forwarders[USER].pid)],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
            code = INSIDE.replace("ALLOWED", str(allowed)).replace("OTHER", str(other))
            inside = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", get_netns_name(USER), sys.executable, "-c",
                code.replace("SERVER", str(port)), stdout=asyncio.subprocess.PIPE,
            )
            assert inside.stdout is not None
            found = json.loads(await asyncio.wait_for(inside.stdout.readline(), 30))
            reader, writer = await asyncio.open_connection("127.0.0.1", port)  # the host side
            writer.write(b"proxy")
            answer = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            await inside.wait()
            await networks.close(USER)
            return found, answer, [owner]

        try:  # a loop of its own (the browser tests' Playwright keeps one in this thread)
            with concurrent.futures.ThreadPoolExecutor(1) as thread:
                found, answer, owner = thread.submit(asyncio.run, run()).result()
        finally:
            networks.close_all()
    assert found == {"allowed": "ok", "other": "ConnectionRefusedError", "devices": ["lo"]}
    assert received == [b"hello"]
    assert other_received == []  # nothing from inside reached the other server
    assert answer == b"inside:proxy"
    assert owner == ["nobody"]  # the forwarder gave up root once bound
    assert not get_netns_path(get_netns_name(USER)).exists()


def test_get_genomlab_ports__loopback_service_records_and_postgresql_stores(
    tmp_path: Path,
) -> None:
    config = config_for(
        tmp_path,
        GENOMLAB_STORES__PLATFORM="postgresql://u@127.0.0.1:55999/db",
        GENOMLAB_STORES__TRUST_CENTER="sqlite:///{home}/tc.db",
        GENOMLAB_STORES__DATA_SERVICE="sqlite:///{home}/ds.db",
    )
    services = tmp_path / "services"
    services.mkdir()
    (services / "platform.json").write_text(json.dumps({"url": "https://127.0.0.1:40001"}))
    (services / "airlock.json").write_text(json.dumps({"url": "https://localhost:40002/"}))
    (services / "far.json").write_text(json.dumps({"url": "https://192.0.2.7:40003"}))
    (services / "broken.json").write_text("{not json")
    assert get_genomlab_ports(config) == [40001, 40002, 55999]


def test_get_netns_name__refuses_a_name_that_is_not_an_account_name() -> None:
    assert get_netns_name("rita") == "genomlab-rita"
    with pytest.raises(ValidationFailed, match="not a POSIX account name"):
        get_netns_name("../etc")
