"""Raw-socket servers for misbehaviour tests: each connection runs a plain function.

`Hostile` numbers its connections from 1 and can speak TLS; `read_head` and
`serve_ok_forever` are the pieces most behaviours are built from.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable

from _servers import RawServer

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

Behaviour = Callable[[socket.socket, int], None]


def read_head(sock: socket.socket) -> bytes | None:
    """Read one request head (up to the blank line); None when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1 << 20:
            return None
    return data


def serve_ok_forever(sock: socket.socket) -> None:
    """A correct keep-alive HTTP/1.1 server loop."""
    while read_head(sock) is not None:
        sock.sendall(OK)


class Hostile:
    """A RawServer whose n-th connection (from 1) runs ``behaviour(sock, n)``; optional TLS."""

    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self._n = 0
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.raw = RawServer(self._run)
        self.stopping = self.raw.wait_stop

    def _run(self, sock: socket.socket) -> None:
        with self._lock:
            self._n += 1
            n = self._n
        sock.settimeout(20)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                return
        with self._lock:
            self._socks.append(sock)
        try:
            self.behaviour(sock, n)
        finally:
            sock.close()

    @property
    def accepts(self) -> int:
        return len(self.raw.accepted)

    def url(self, path: str = "/") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://localhost:{self.raw.port}{path}"

    def __enter__(self) -> Hostile:
        self.raw.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            socks = list(self._socks)
        for sock in socks:  # wake behaviours blocked in recv
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        self.raw.__exit__(*exc)
