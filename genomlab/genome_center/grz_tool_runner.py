"""Running BfArM's command-line tools (``grzctl``, ``grz-cli``) without their start-up cost.

A GRZ makes about eleven ``grzctl`` calls per submission; each fresh process spends 1.5–2 s
(5–7 s under load) importing ``grzctl.cli`` before it does anything. :func:`run_grz_tool`
runs a command through a fork server of the tool's own Python
(:mod:`genomlab.genome_center.grz_forkserver`, started once per tool and process): the tool's
entry point is imported once, and each command runs in a forked child with the command's
arguments, environment and working directory, as a fresh process would. Output, exit code and
failures are those of the command line; the tool is neither imported by genomlab nor patched.
One difference: the traceback of an uncaught exception starts at the fork server's frame
instead of the console script's (the exception and grzctl's frames are the same).

Set ``GENOMLAB_GRZ_FORKSERVER=0`` to run every command as a fresh process instead (also the
fallback when the tool is not a Python console script).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

FORKSERVER_ENV = "GENOMLAB_GRZ_FORKSERVER"
SERVER_SCRIPT = Path(__file__).with_name("grz_forkserver.py")


class GrzToolServerFailed(RuntimeError):
    """The fork server could not start, or a command's child ended without an answer."""


@dataclass
class _ToolServer:
    process: subprocess.Popen[bytes]
    socket_path: Path

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()  # end of file: the server exits
        self.process.wait()
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)


_servers: dict[Path, _ToolServer] = {}
_lock = threading.Lock()


def get_tool_python(tool: Path) -> Path | None:
    """The Python interpreter of a console script (its ``#!`` line), or ``None``.

    >>> get_tool_python(Path("/nonexistent/grzctl")) is None
    True
    """
    try:
        with tool.open("rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    interpreter = Path(first[2:].decode(errors="replace").strip().split()[0])
    if "python" not in interpreter.name or not interpreter.is_file():
        return None
    return interpreter


def _start_server(tool: Path, python: Path, env: Mapping[str, str]) -> _ToolServer:
    folder = Path(tempfile.mkdtemp(prefix="genomlab-grz-"))  # 0700: only this account
    socket_path = folder / "s"
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [str(python), str(SERVER_SCRIPT), tool.name, str(socket_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=dict(env))
        assert process.stdout is not None
        ready = process.stdout.readline()
        if ready.strip() != b"ready":
            process.kill()
            process.wait()
            errors.seek(0)
            shutil.rmtree(folder, ignore_errors=True)
            raise GrzToolServerFailed(
                f"{tool}: fork server did not start: "
                f"{errors.read().decode(errors='replace')[-1500:]}")
    process.stdout.close()
    return _ToolServer(process, socket_path)


def _get_server(tool: Path, env: Mapping[str, str]) -> _ToolServer | None:
    if os.environ.get(FORKSERVER_ENV, "1") == "0":
        return None
    python = get_tool_python(tool)
    if python is None:
        return None
    with _lock:
        server = _servers.get(tool)
        if server is None or server.process.poll() is not None:
            server = _servers[tool] = _start_server(tool, python, env)
        return server


def stop_tool_servers() -> None:
    """Stop every fork server this process started (also run at exit)."""
    with _lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()


atexit.register(stop_tool_servers)


def _kill_group(pid: int) -> None:
    """Kill a command's child and everything it started (its process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # finished meanwhile
        os.killpg(pid, signal.SIGKILL)


def run_grz_tool(tool: Path, args: Sequence[str], *, env: Mapping[str, str],
                 cwd: Path | None = None,
                 timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """``tool ARGS`` with environment ``env`` in ``cwd`` (default: the current folder),
    finished: a failing command is a result (exit code, stdout, stderr), not an exception.

    :raises subprocess.TimeoutExpired: if ``timeout`` seconds pass first; the command is killed
        (with every process it started), as :func:`subprocess.run` kills its child.
    :raises GrzToolServerFailed: if the command's process ended without an answer (killed).
    """
    command = [str(tool), *args]
    where = str(cwd if cwd is not None else Path.cwd())
    server = _get_server(tool, env)
    if server is None:
        return subprocess.run(command, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, env=dict(env), cwd=where,
                              timeout=timeout, check=False)
    request = json.dumps({"args": list(args), "env": dict(env), "cwd": where}).encode()
    deadline = None if timeout is None else time.monotonic() + timeout
    child: int | None = None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.settimeout(timeout)
            conn.connect(str(server.socket_path))
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := conn.recv(1 << 20):
                received += chunk
                if child is None and b"\n" in received:
                    line, received = received.split(b"\n", 1)
                    child = int(line)
                if deadline is not None:  # the whole call, not each read, has ``timeout``
                    conn.settimeout(max(deadline - time.monotonic(), 1e-3))
        except TimeoutError as exc:
            if child is not None:
                _kill_group(child)
            raise subprocess.TimeoutExpired(command, timeout or 0) from exc
    if child is None or not received:
        raise GrzToolServerFailed(f"{' '.join(command)}: ended without an answer (killed?)")
    answer = json.loads(received)
    return subprocess.CompletedProcess(command, int(answer["returncode"]),
                                       answer["stdout"], answer["stderr"])


__all__ = ["FORKSERVER_ENV", "GrzToolServerFailed", "get_tool_python", "run_grz_tool",
           "stop_tool_servers"]

if __name__ == "__main__":  # pragma: no cover - a manual check: python -m ... TOOL ARGS
    done = run_grz_tool(Path(sys.argv[1]), sys.argv[2:], env=os.environ)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    raise SystemExit(done.returncode)
