"""An ``https://`` proxy is spoken to over verified TLS, by both front-ends.

urllib itself reaches every proxy with a plain-text ``CONNECT``, so with
``HTTPS_PROXY=https://user:password@proxy`` the ``Proxy-Authorization`` header crossed the
network in clear. securl opens TLS to an ``https://`` proxy first, verifies it against
securl's default trust (the system store, ``SSL_CERT_FILE``/``SSL_CERT_DIR``, the admin
policy's ``extra_ca_certs``), and only then sends ``CONNECT`` with the credentials, inside
that TLS. A call's own trust (``ca_certs=``, ``context=``) and its opt-outs are about the
origin it names, never the proxy.

The proxies here are real listeners on 127.0.0.1: a raw one that records the first bytes a
client sends, and the tests' forwarding proxy (tests/_proxy.py) behind a TLS wrapper.
"""

from __future__ import annotations

import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

import securl
import securl.urllib.request
from _certs import self_signed
from _open_url import OpenURL
from _proxy import ForwardProxy
from _secrets import TEST_BASIC_B64, TEST_PASSWORD, TEST_USER
from _servers import LocalServer, RawServer, server_context


@pytest.fixture(autouse=True)
def _fresh_default_opener() -> Iterator[None]:
    """urlopen's default opener reads the proxy variables when it is built: build it anew."""
    securl.urllib.request.urlcleanup()
    yield
    securl.urllib.request.urlcleanup()


class TLSProxy(ForwardProxy):
    """The tests' forwarding proxy, reached over TLS (an ``https://`` proxy URL)."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.context = context
        self.handshake_errors: list[str] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def url_with_auth(self, user: str, password: str) -> str:
        return f"https://{user}:{password}@127.0.0.1:{self.port}"

    def _serve(self, conn: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(str(exc))
            conn.close()
            return
        with self._lock:
            self._conns.append(tls)
        super()._serve(tls)


class FirstBytes:
    """A raw listener that records what a client sends first, then hangs up."""

    def __init__(self) -> None:
        self.received = b""
        self.done = threading.Event()
        self.server = RawServer(self._record)

    def _record(self, sock: socket.socket) -> None:
        sock.settimeout(1.0)
        data = b""
        try:
            while len(data) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        self.received = data
        self.done.set()
        sock.close()

    def proxy_url(self) -> str:
        return f"https://{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{self.server.port}"


def _use_proxy(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("HTTPS_PROXY", url)
    monkeypatch.setenv("HTTP_PROXY", url)


@pytest.fixture
def trust_test_ca(monkeypatch: pytest.MonkeyPatch, ca_file: str) -> None:
    """securl's default trust (the proxy's) includes the test CA."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)


@pytest.mark.parametrize("origin", ["https_server", "http_server"])
def test_https_proxy_gets_a_tls_client_hello_never_a_plaintext_connect(
    open_url: OpenURL, origin: str, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    server: LocalServer = request.getfixturevalue(origin)
    listener = FirstBytes()
    with listener.server:
        _use_proxy(monkeypatch, listener.proxy_url())
        with pytest.raises(securl.TransportError):
            open_url(server.url("/"), timeout=5)
        assert listener.done.wait(5)
    assert listener.received[:1] == b"\x16"  # a TLS handshake record: the ClientHello
    assert b"CONNECT" not in listener.received and b"GET" not in listener.received
    assert TEST_BASIC_B64.encode() not in listener.received
    assert TEST_PASSWORD.encode() not in listener.received
    assert server.accepts == 0


class AppProxyHandler(urllib.request.ProxyHandler):
    """An application's own ProxyHandler, as some code bases have."""


@pytest.mark.parametrize("handler_class", [urllib.request.ProxyHandler, AppProxyHandler])
def test_any_proxy_handler_given_to_build_opener_speaks_tls_to_an_https_proxy(
    https_server: LocalServer, handler_class: type[urllib.request.ProxyHandler]
) -> None:
    listener = FirstBytes()
    with listener.server:
        opener = securl.urllib.request.build_opener(
            handler_class({"https": listener.proxy_url()}))
        with pytest.raises(securl.TransportError):
            opener.open(https_server.url("/"), timeout=5)
        assert listener.done.wait(5)
    assert listener.received[:1] == b"\x16"
    assert TEST_BASIC_B64.encode() not in listener.received


def test_https_proxy_verified_by_default_trust_tunnels_with_credentials_inside_tls(
    open_url: OpenURL, https_server: LocalServer, leaf: trustme.LeafCert,
    monkeypatch: pytest.MonkeyPatch, trust_test_ca: None
) -> None:
    with TLSProxy(server_context(leaf), auth=(TEST_USER, TEST_PASSWORD)) as proxy:
        _use_proxy(monkeypatch, proxy.url_with_auth(TEST_USER, TEST_PASSWORD))
        for _ in range(2):
            assert open_url(https_server.url("/")) == b"hello"
    connects = [s for s in proxy.seen if s.method == "CONNECT"]
    assert [c.target for c in connects] == [f"localhost:{https_server.port}"]  # pooled
    sent = {name.lower(): value for name, value in connects[0].headers.items()}
    assert sent["proxy-authorization"] == f"Basic {TEST_BASIC_B64}"
    assert proxy.handshake_errors == []
    assert all(n.lower() != "proxy-authorization" for s in https_server.seen for n in s.headers)


def test_self_signed_https_proxy_is_refused_before_connect(
    open_url: OpenURL, https_server: LocalServer, monkeypatch: pytest.MonkeyPatch,
    trust_test_ca: None, events: list[securl.AuditEvent]
) -> None:
    with TLSProxy(server_context(self_signed("localhost")),
                  auth=(TEST_USER, TEST_PASSWORD)) as proxy:
        _use_proxy(monkeypatch, proxy.url_with_auth(TEST_USER, TEST_PASSWORD))
        with pytest.raises(securl.TLSVerificationError) as info:
            open_url(https_server.url("/"), timeout=5)
    assert info.value.reason_code == "self-signed"
    assert f"proxy 127.0.0.1:{proxy.port}" in str(info.value)
    assert proxy.seen == []  # no CONNECT, no credentials: the handshake failed first
    assert https_server.accepts == 0
    failed = [e for e in events if e.event == "securl.verification_failed"]
    assert [(e.host, e.port) for e in failed] == [("127.0.0.1", proxy.port)]


def test_an_opt_out_covers_the_origin_never_the_https_proxy(
    open_url: OpenURL, self_signed_server: LocalServer, monkeypatch: pytest.MonkeyPatch,
    trust_test_ca: None
) -> None:
    with TLSProxy(server_context(self_signed("localhost"))) as impostor:
        _use_proxy(monkeypatch, impostor.url)
        with pytest.warns(securl.InsecureRequestWarning), \
                pytest.raises(securl.TLSVerificationError) as info:
            open_url(self_signed_server.url("/"), opt_out="lab device", timeout=5)
    assert info.value.reason_code == "self-signed"
    assert f"proxy 127.0.0.1:{impostor.port}" in str(info.value)
    assert impostor.seen == [] and self_signed_server.accepts == 0


def test_an_opt_out_through_a_verified_https_proxy_reaches_its_origin(
    open_url: OpenURL, self_signed_server: LocalServer, leaf: trustme.LeafCert,
    monkeypatch: pytest.MonkeyPatch, trust_test_ca: None
) -> None:
    with TLSProxy(server_context(leaf)) as proxy:
        _use_proxy(monkeypatch, proxy.url)
        with pytest.warns(securl.InsecureRequestWarning):
            assert open_url(self_signed_server.url("/"), opt_out="lab device") == b"hello"
    assert [s.method for s in proxy.seen] == ["CONNECT"]
    assert proxy.handshake_errors == []


def test_https_proxy_is_not_trusted_by_the_sessions_own_ca_certs(
    https_server: LocalServer, leaf: trustme.LeafCert, ca_file: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Session's ca_certs= names the CAs of the servers it asks for; the proxy is part of
    the machine's network set-up and is verified by the machine's trust."""
    with TLSProxy(server_context(leaf)) as proxy:
        _use_proxy(monkeypatch, proxy.url)
        with securl.Session(ca_certs=ca_file) as session:
            with pytest.raises(securl.TLSVerificationError) as info:
                session.get(https_server.url("/"), timeout=5)
    assert info.value.reason_code == "untrusted-issuer"
    assert f"proxy 127.0.0.1:{proxy.port}" in str(info.value)
    assert proxy.seen == [] and https_server.accepts == 0
