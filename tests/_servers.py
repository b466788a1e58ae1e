"""Real HTTP(S) servers on 127.0.0.1 for the tests: no mocks of TLS or of trust decisions.

``LocalServer`` is a threaded HTTP/1.1 server. TLS is done per connection in the handler
thread (not in accept), so a client that never finishes its handshake cannot stall the server.
It counts accepted TCP connections and records every request it parsed.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_cert: dict[str, Any] | None = None


Reply = tuple[int, dict[str, str], bytes]
Route = Callable[["Handler"], Reply]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: LocalServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
        cert = None
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert() or None
        path = self.path.split("?", 1)[0]
        self.server.seen.append(
            Seen(self.command, self.path, dict(self.headers.items()), self.body, cert)
        )
        route = self.server.routes.get(path, self.server.default_route)
        status, headers, body = route(self)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        if self.headers.get("Connection", "").lower() == "close" and "Connection" not in headers:
            # As RFC 9112 9.6 asks: say the connection closes, so no client pools it.
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


def hello(handler: Handler) -> Reply:
    return 200, {"Content-Type": "text/plain; charset=utf-8"}, b"hello"


def echo(handler: Handler) -> Reply:
    data = {
        "method": handler.command,
        "path": handler.path,
        "headers": dict(handler.headers.items()),
        "body": handler.body.decode("latin-1"),
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()


#: How often a test server's serve_forever() looks for shutdown(). socketserver's default
#: (0.5 s) made every teardown wait up to half a second; the suite stops ~250 servers.
POLL_INTERVAL = 0.05


class LocalServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
        super().__init__((host, 0), Handler)
        self.ssl_context = ssl_context
        self.accepts = 0
        self.handshake_errors: list[str] = []
        #: for every TLS handshake, whether it resumed a session (the server's own account)
        self.reused: list[bool] = []
        self.seen: list[Seen] = []
        self.routes: dict[str, Route] = {"/echo": echo}
        self.default_route: Route = hello
        self._count_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://localhost:{self.port}"

    def url(self, path: str = "/", host: str = "localhost") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        with self._count_lock:
            self.accepts += 1
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn = request
        if self.ssl_context is not None:
            request.settimeout(10)
            try:
                conn = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.handshake_errors.append(str(exc))
                return
            self.reused.append(conn.session_reused)
            conn.settimeout(30)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            if conn is not request:
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    def start(self) -> LocalServer:
        self._thread = threading.Thread(target=self.serve_forever,
                                        kwargs={"poll_interval": POLL_INTERVAL}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_context(cert: Any, *, client_ca: Any = None, client_cert_mode: str = "off",
                   minimum: ssl.TLSVersion | None = None,
                   maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A server-side context for a trustme LeafCert (``cert``).

    ``client_cert_mode`` is ``off``, ``optional`` or ``required`` (with ``client_ca`` a
    trustme CA that issued acceptable client certificates).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    cert.configure_cert(ctx)
    if client_cert_mode != "off":
        client_ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_OPTIONAL if client_cert_mode == "optional" else ssl.CERT_REQUIRED
    return ctx


class RawServer:
    """A TCP listener on 127.0.0.1 whose per-connection behaviour is a plain function.

    For misbehaving servers (never handshake, never answer, ...). ``behaviour(sock)`` runs in
    its own thread; the server closes every socket it accepted on stop().
    """

    def __init__(self, behaviour: Callable[[socket.socket], None]):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)

    def _accept_loop(self) -> None:
        self.sock.settimeout(POLL_INTERVAL)  # how soon __exit__'s stop flag is seen
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            pass

    def wait_stop(self, timeout: float) -> bool:
        """For behaviours: sleep up to ``timeout``; True if the server is stopping."""
        return self._stop.wait(timeout)

    def __enter__(self) -> RawServer:
        self._accept_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accept_thread.join(5)
        for conn in self.accepted:
            conn.close()
        for t in self._threads:
            t.join(5)
        self.sock.close()


@dataclass
class Counter:
    n: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def incr(self) -> int:
        with self.lock:
            self.n += 1
            return self.n
