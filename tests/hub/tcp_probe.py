"""A plain TCP server on the host's 127.0.0.1 for egress tests (no genomlab service)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def recording_tcp_server() -> Iterator[tuple[int, list[bytes]]]:
    """Its port, and what each accepted connection sent (``b""`` for one that sent nothing);
    it answers ``ok``."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    received.append(conn.recv(100))
                    conn.sendall(b"ok")
                except OSError:  # the peer closed first
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()
