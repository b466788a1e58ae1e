"""The HTTP clients under comparison, behind one tiny interface.

Each client is built once per scenario and asked for ``get(path, close=False) -> bytes``.
``close=True`` sends ``Connection: close`` so that every request pays a new TCP connection and
a TLS handshake (a full one, unless the client resumes its TLS session: see the new-connection
table). The body is always read in full and returned, so every client does the same work.

Trust: every client verifies nginx's certificate against the benchmark CA. securl.Session and
raw urllib3 share the very same securl context; requests gets ``verify=<CA file>``; httpx and
http.client get an ``ssl.create_default_context(cafile=...)``; the two ``urlopen`` functions
are called the way applications call them (no context argument) and find the CA through
``SSL_CERT_FILE``, which the harness points at the one-certificate CA file: stdlib's best case
(with the real system bundle it would parse ~140 certificates per call).
"""

from __future__ import annotations

import http.client
import importlib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLOSE = {"Connection": "close"}

#: The baseline every ratio is computed against.
BASELINE = "urllib3.PoolManager (raw)"
RAW_SOCKET = "raw TLS socket (reference)"


class Unavailable(Exception):
    """This client cannot run in this build; the reason goes into the table."""


def _optional(module: str) -> Any:
    """A comparison library, or Unavailable when it is not installed (``securl[bench]``)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise Unavailable(f"n/a ({module} not installed: pip install 'securl[bench]')") from None


@dataclass
class Env:
    base_url: str
    host: str
    port: int
    ca_file: str


class Client:
    name = ""
    threadsafe = True

    def get(self, path: str, close: bool = False) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SecurlSession(Client):
    name = "securl.Session"

    def __init__(self, env: Env) -> None:
        import securl

        self.base = env.base_url
        self.session = securl.Session(ca_certs=env.ca_file)

    def get(self, path: str, close: bool = False) -> bytes:
        return self.session.get(self.base + path, headers=CLOSE if close else None).content

    def close(self) -> None:
        self.session.close()


class SecurlUrlopen(Client):
    name = "securl.urllib.request.urlopen"

    def __init__(self, env: Env) -> None:
        try:
            self.mod: Any = importlib.import_module("securl.urllib.request")
        except ImportError:
            raise Unavailable("n/a (not available in this build)") from None
        self.base = env.base_url

    def get(self, path: str, close: bool = False) -> bytes:
        url = self.base + path
        target = self.mod.Request(url, headers=CLOSE) if close else url
        with self.mod.urlopen(target, timeout=30) as r:
            return r.read()  # type: ignore[no-any-return]


class SecurlUrlopenContext(SecurlUrlopen):
    """The drop-in called with ``context=``, as code written for urllib passes its own context.

    The same context object on every call (the common case: built once, at start-up).
    """

    name = "securl.urllib.request.urlopen(context=)"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.ctx = ssl.create_default_context(cafile=env.ca_file)

    def get(self, path: str, close: bool = False) -> bytes:
        url = self.base + path
        target = self.mod.Request(url, headers=CLOSE) if close else url
        with self.mod.urlopen(target, timeout=30, context=self.ctx) as r:
            return r.read()  # type: ignore[no-any-return]


class SecurlSessionNoResumption(SecurlSession):
    """securl.Session without TLS session resumption: every new connection a full handshake."""

    name = "securl.Session(tls_session_cache=False)"
    tls_session_cache = False

    def __init__(self, env: Env) -> None:
        import securl

        self.base = env.base_url
        try:
            self.session = securl.Session(ca_certs=env.ca_file,
                                          tls_session_cache=self.tls_session_cache)
        except TypeError:
            raise Unavailable("n/a (no tls_session_cache= in this build)") from None


class SecurlSessionResumption(SecurlSessionNoResumption):
    """securl.Session with TLS session resumption asked for (the default only where Python
    reads sessions without leaking them: CPython 3.12.8+ and 3.13.1+)."""

    name = "securl.Session(tls_session_cache=True)"
    tls_session_cache = True


class Urllib3Raw(Client):
    name = BASELINE

    def __init__(self, env: Env) -> None:
        import urllib3

        import securl

        self.base = env.base_url
        ctx = securl.create_context(securl.TLSConfig(ca_certs=env.ca_file))
        # maxsize=10 as securl's pools, so 4 threads keep their connections in both.
        self.pm = urllib3.PoolManager(ssl_context=ctx, maxsize=10)

    def get(self, path: str, close: bool = False) -> bytes:
        return self.pm.request("GET", self.base + path, headers=CLOSE if close else None).data

    def close(self) -> None:
        self.pm.clear()


class Urllib3RawTimeouts(Urllib3Raw):
    """Raw urllib3 with securl's default timeouts, to show what the timeouts cost.

    A socket with a timeout is non-blocking under the hood: every handshake step and every
    read goes through poll(). securl never waits without a timeout; raw urllib3 by default
    does, so part of any gap in the new-connection figures is this, not securl's code.
    """

    name = "urllib3.PoolManager (raw) + securl's timeouts"

    def __init__(self, env: Env) -> None:
        import urllib3

        super().__init__(env)
        self.pm = urllib3.PoolManager(ssl_context=self.pm.connection_pool_kw["ssl_context"],
                                      maxsize=10, timeout=urllib3.Timeout(connect=10, read=30))


class RequestsSession(Client):
    name = "requests.Session"

    def __init__(self, env: Env) -> None:
        requests = _optional("requests")
        self.base = env.base_url
        self.session = requests.Session()
        self.session.verify = env.ca_file

    def get(self, path: str, close: bool = False) -> bytes:
        return self.session.get(self.base + path, headers=CLOSE if close else None).content

    def close(self) -> None:
        self.session.close()


class HttpxClient(Client):
    name = "httpx.Client"

    def __init__(self, env: Env) -> None:
        httpx = _optional("httpx")
        self.base = env.base_url
        self.client = httpx.Client(verify=ssl.create_default_context(cafile=env.ca_file))

    def get(self, path: str, close: bool = False) -> bytes:
        return self.client.get(self.base + path, headers=CLOSE if close else None).content

    def close(self) -> None:
        self.client.close()


class StdlibUrlopen(Client):
    name = "urllib.request.urlopen (stdlib)"

    def __init__(self, env: Env) -> None:
        import urllib.request

        self.urlopen = urllib.request.urlopen
        self.request = urllib.request.Request
        self.base = env.base_url

    def get(self, path: str, close: bool = False) -> bytes:
        # urllib always sends Connection: close; every call is a new connection.
        with self.urlopen(self.base + path, timeout=30) as r:
            return r.read()  # type: ignore[no-any-return]


class HttpClientReused(Client):
    name = "http.client.HTTPSConnection (reused)"
    threadsafe = False

    def __init__(self, env: Env) -> None:
        self.conn = http.client.HTTPSConnection(
            env.host, env.port, context=ssl.create_default_context(cafile=env.ca_file),
            timeout=30,
        )

    def get(self, path: str, close: bool = False) -> bytes:
        self.conn.request("GET", path, headers=CLOSE if close else {})
        return self.conn.getresponse().read()

    def close(self) -> None:
        self.conn.close()


class RawTLSSocket(Client):
    """The physical limit: a fixed request written to a TLS socket, the response read back.

    No URL parsing, header objects or pools: what is left is TLS, the kernel and nginx.
    """

    name = RAW_SOCKET
    threadsafe = False

    def __init__(self, env: Env) -> None:
        self.addr = (env.host, env.port)
        self.ctx = ssl.create_default_context(cafile=env.ca_file)
        self.host_header = f"{env.host}:{env.port}"
        self.sock: ssl.SSLSocket | None = None
        self.buf = bytearray(1 << 21)
        self.requests: dict[tuple[str, bool], bytes] = {}

    def _connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection(self.addr, timeout=30)
        return self.ctx.wrap_socket(raw, server_hostname=self.addr[0])

    def _request(self, path: str, close: bool) -> bytes:
        key = (path, close)
        req = self.requests.get(key)
        if req is None:
            extra = "Connection: close\r\n" if close else ""
            req = self.requests[key] = (
                f"GET {path} HTTP/1.1\r\nHost: {self.host_header}\r\n{extra}\r\n".encode()
            )
        return req

    def _read(self, sock: ssl.SSLSocket) -> bytes:
        view = memoryview(self.buf)
        got = 0
        while True:
            n = sock.recv_into(view[got:], 65536)
            if not n:
                raise ConnectionError("server closed the connection mid-response")
            got += n
            end = self.buf.find(b"\r\n\r\n", 0, got)
            if end >= 0:
                break
        head = bytes(self.buf[:end]).lower()
        i = head.index(b"content-length:") + 15
        length = int(head[i : head.index(b"\r\n", i) if b"\r\n" in head[i:] else None])
        total = end + 4 + length
        while got < total:
            n = sock.recv_into(view[got:total])
            if not n:
                raise ConnectionError("server closed the connection mid-body")
            got += n
        return bytes(self.buf[end + 4 : total])

    def get(self, path: str, close: bool = False) -> bytes:
        if close:
            with self._connect() as sock:
                sock.sendall(self._request(path, True))
                return self._read(sock)
        if self.sock is None:
            self.sock = self._connect()
        self.sock.sendall(self._request(path, False))
        return self._read(self.sock)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class RawTLSSocketResuming(RawTLSSocket):
    """The raw TLS socket offering the session of its previous connection (new-connection
    GETs only): what resuming saves a client at best, with Python's ``ssl``."""

    name = RAW_SOCKET + ", resuming its TLS session"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.session: ssl.SSLSession | None = None

    def _connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection(self.addr, timeout=30)
        return self.ctx.wrap_socket(raw, server_hostname=self.addr[0], session=self.session)

    def get(self, path: str, close: bool = False) -> bytes:
        if not close:
            return super().get(path, close)
        with self._connect() as sock:
            sock.sendall(self._request(path, True))
            body = self._read(sock)
            self.session = sock.session  # the ticket arrived before the response
            return body


#: Table order. The baseline comes first after securl's own entries.
CLIENTS: list[tuple[str, Callable[[Env], Client]]] = [
    (SecurlSession.name, SecurlSession),
    (SecurlUrlopen.name, SecurlUrlopen),
    (Urllib3Raw.name, Urllib3Raw),
    (RequestsSession.name, RequestsSession),
    (HttpxClient.name, HttpxClient),
    (StdlibUrlopen.name, StdlibUrlopen),
    (HttpClientReused.name, HttpClientReused),
    (RawTLSSocket.name, RawTLSSocket),
]
#: Shown only where they explain a figure (not part of every table).
EXTRA_CLIENTS: list[tuple[str, Callable[[Env], Client]]] = [
    (Urllib3RawTimeouts.name, Urllib3RawTimeouts),
    (SecurlUrlopenContext.name, SecurlUrlopenContext),
    (SecurlSessionNoResumption.name, SecurlSessionNoResumption),
    (SecurlSessionResumption.name, SecurlSessionResumption),
    (RawTLSSocketResuming.name, RawTLSSocketResuming),
]
FACTORIES = dict(CLIENTS + EXTRA_CLIENTS)
