"""A small real forwarding HTTP proxy on 127.0.0.1 for the tests.

It speaks what clients send to a proxy: absolute-URI requests (``GET http://host:port/path``)
for plain http, which it forwards (one upstream connection per request) and answers with a
Content-Length body on a keep-alive client connection; and ``CONNECT host:port`` for https,
which it answers ``200`` and then relays bytes both ways (it never sees inside the TLS).

Optionally it requires ``Proxy-Authorization: Basic`` credentials (``auth=(user, password)``)
and answers ``407`` otherwise. It counts accepted connections and records every request line
and its headers. Only 127.0.0.1, ::1 and localhost are reachable through it.
"""

from __future__ import annotations

import base64
import http.client
import selectors
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from _servers import POLL_INTERVAL

_LOCAL = ("127.0.0.1", "::1", "localhost")
_HOP_BY_HOP = {"connection", "proxy-connection", "proxy-authorization", "keep-alive",
               "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


@dataclass
class ProxySeen:
    method: str
    target: str
    headers: dict[str, str]


class ForwardProxy:
    """Forwarding proxy; use as a context manager. ``url`` is ``http://127.0.0.1:port``."""

    def __init__(self, *, auth: tuple[str, str] | None = None, timeout: float = 10.0) -> None:
        self.auth = auth
        self.timeout = timeout
        self.accepts = 0
        self.seen: list[ProxySeen] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with_auth(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> ForwardProxy:
        self._accept_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accept_thread.join(5)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for t in self._threads:
            t.join(5)
        self._sock.close()

    def _accept_loop(self) -> None:
        self._sock.settimeout(POLL_INTERVAL)  # how soon __exit__'s stop flag is seen
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(self.timeout)
            with self._lock:
                self.accepts += 1
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    # -- one client connection ---------------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb")
        try:
            while not self._stop.is_set():
                line = rfile.readline(65537)
                if not line:
                    return
                method, target, _ = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
                headers = http.client.parse_headers(rfile)
                self.seen.append(ProxySeen(method, target, dict(headers.items())))
                if not self._authorized(headers.get("Proxy-Authorization")):
                    conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b'Proxy-Authenticate: Basic realm="proxy"\r\n'
                                 b"Content-Length: 0\r\n\r\n")
                    if method == "CONNECT":
                        return
                    self._discard_body(rfile, headers)
                    continue
                if method == "CONNECT":
                    self._tunnel(conn, rfile, target)
                    return
                self._forward(conn, rfile, method, target, headers)
        except (OSError, ValueError):
            return
        finally:
            rfile.close()
            conn.close()

    def _authorized(self, header: str | None) -> bool:
        if self.auth is None:
            return True
        expected = base64.b64encode(":".join(self.auth).encode()).decode()
        return header == f"Basic {expected}"

    @staticmethod
    def _discard_body(rfile: object, headers: http.client.HTTPMessage) -> bytes:
        length = int(headers.get("Content-Length") or 0)
        return rfile.read(length) if length else b""  # type: ignore[attr-defined]

    def _forward(self, conn: socket.socket, rfile: object, method: str, target: str,
                 headers: http.client.HTTPMessage) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or parts.hostname not in _LOCAL:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        body = self._discard_body(rfile, headers)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        upstream = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                              timeout=self.timeout)
        try:
            send = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(method, path, body=body or None, headers=send)
            resp = upstream.getresponse()
            data = resp.read()
            out = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n"]
            out += [f"{k}: {v}\r\n" for k, v in resp.getheaders()
                    if k.lower() not in _HOP_BY_HOP]
            out.append(f"Content-Length: {len(data)}\r\n\r\n")
            conn.sendall("".join(out).encode("latin-1") + (b"" if method == "HEAD" else data))
        finally:
            upstream.close()

    def _tunnel(self, conn: socket.socket, rfile: object, target: str) -> None:
        host, _, port = target.rpartition(":")
        if host.strip("[]") not in _LOCAL:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        with self._lock:
            self._conns.append(upstream)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        # A client sends nothing before the 200, so rfile holds no buffered tunnel bytes.
        sel = selectors.DefaultSelector()
        sel.register(conn, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, conn)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(POLL_INTERVAL):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        finally:
            sel.close()
            upstream.close()
