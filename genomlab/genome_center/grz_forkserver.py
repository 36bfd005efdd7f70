"""A fork server for one of BfArM's command-line tools (``grzctl``, ``grz-cli``).

Run by the tool's own Python (``.grzctl-venv/bin/python``), never imported by genomlab: it
imports only the standard library and, once, the tool's console-script entry point (importing
``grzctl.cli`` costs 1.5–2 s of a 2 s call on a quiet machine and 5–7 s under load). Each request
is then served by a forked child that runs the very same entry point with the request's
arguments, environment and working directory, its standard output and error in files of its
own, its standard input ``/dev/null``: what a fresh ``grzctl ARGS`` process does, without the
imports. The tool's code is not changed or patched.

Usage: ``python grz_forkserver.py TOOL SOCKET``. The server binds the Unix socket ``SOCKET``
(its folder must be private to the caller), prints ``ready`` on standard output, and serves one
request per connection, each in a child of its own (requests run concurrently). A request is a
JSON object ``{"args": [...], "env": {...}, "cwd": "..."}`` sent before the client shuts down its
writing side. The child first sends one line, its process id (it leads a process group of its
own, so a client whose timeout passed can kill the command with everything it started), then the
answer ``{"returncode": N, "stdout": "...", "stderr": "..."}``. A child that dies without
answering (killed, crashed) closes the connection with no answer, which the client reports. The
server collects each child's exit as it happens (SIGCHLD wakes it: no zombies between requests).
The server exits when its standard input reaches end of file: when the process that started it
ends, even by SIGKILL. Children still running finish their command first.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any


def load_entry_point(tool: str) -> Callable[[], Any]:
    """The console script ``tool``'s function (e.g. ``grzctl`` → ``grzctl.cli:main``)."""
    found = importlib.metadata.entry_points(group="console_scripts", name=tool)
    for entry in found:
        main: Callable[[], Any] = entry.load()
        return main
    raise SystemExit(f"grz_forkserver: no console script {tool!r} in this Python")


def _read_request(conn: socket.socket) -> dict[str, Any]:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    request: dict[str, Any] = json.loads(b"".join(chunks))
    return request


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter makes of ``sys.exit(code)`` (a message is printed, exit 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run_in_child(tool: str, main: Callable[[], Any], conn: socket.socket) -> None:
    """In the forked child: run ``main`` for the request on ``conn``, answer, and exit."""
    code = 1
    try:
        os.setpgid(0, 0)  # a group of its own: a timed-out client kills the command and its tools
        conn.sendall(f"{os.getpid()}\n".encode())
        request = _read_request(conn)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        with tempfile.TemporaryDirectory(prefix="grz-forkserver-") as tmp:
            out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
            null = os.open(os.devnull, os.O_RDONLY)
            out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            for fd, target in ((null, 0), (out, 1), (err, 2)):
                os.dup2(fd, target)
                os.close(fd)
            sys.argv = [tool, *request["args"]]
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = _exit_code(exc)
            except BaseException:  # what an uncaught exception does to a process
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            with open(out_path, encoding="utf-8", errors="replace") as handle:
                stdout = handle.read()
            with open(err_path, encoding="utf-8", errors="replace") as handle:
                stderr = handle.read()
        conn.sendall(json.dumps({"returncode": code, "stdout": stdout,
                                 "stderr": stderr}).encode())
    finally:
        os._exit(code)


def _reap_children() -> None:
    """Collect the exit status of every finished child (no zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(tool: str, socket_path: str) -> None:
    """Import ``tool`` once, bind ``socket_path`` and fork a child per connection until the
    standard input closes."""
    main = load_entry_point(tool)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    print("ready", flush=True)
    wake_read, wake_write = os.pipe()  # SIGCHLD writes here and wakes the select below
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        events = selector.select()
        _reap_children()
        for key, _ in events:
            if key.fileobj == wake_read:
                os.read(wake_read, 4096)
                continue
            if key.fileobj is sys.stdin:
                if not os.read(0, 4096):  # the starter has gone
                    listener.close()
                    return
                continue
            conn, _ = listener.accept()
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                selector.close()
                listener.close()
                os.close(wake_read)
                os.close(wake_write)
                run_in_child(tool, main, conn)
            conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: grz_forkserver.py TOOL SOCKET")
    serve(sys.argv[1], sys.argv[2])
