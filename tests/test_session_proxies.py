"""Session(proxies=...) and per-call proxies=, through the tests' real forwarding proxy."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trustme

import securl
from _certs import self_signed
from _proxy import ForwardProxy
from _secrets import TEST_BASIC_B64, TEST_PASSWORD, TEST_USER
from _servers import LocalServer, server_context
from test_dropin_proxy_tls import TLSProxy


def dead_proxy() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there


def test_https_through_the_given_proxy_with_credentials_for_the_proxy_only(
        https_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    with ForwardProxy(auth=(TEST_USER, TEST_PASSWORD)) as proxy:
        session = make_session(proxies={"https": proxy.url_with_auth(TEST_USER, TEST_PASSWORD)})
        for _ in range(2):
            assert session.get(https_server.url("/")).text == "hello"
    (connect,) = proxy.seen  # one tunnel, reused
    assert connect.method == "CONNECT" and connect.target == f"localhost:{https_server.port}"
    sent = {name.lower(): value for name, value in connect.headers.items()}
    assert sent["proxy-authorization"] == f"Basic {TEST_BASIC_B64}"
    for seen in https_server.seen:
        names = {n.lower() for n in seen.headers}
        assert "proxy-authorization" not in names and "authorization" not in names
        assert TEST_BASIC_B64 not in repr(seen.headers)


def test_plain_http_through_the_given_proxy(
        http_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    with ForwardProxy(auth=(TEST_USER, TEST_PASSWORD)) as proxy:
        session = make_session(proxies={"http": proxy.url_with_auth(TEST_USER, TEST_PASSWORD)})
        assert session.get(http_server.url("/x")).text == "hello"
    (request,) = proxy.seen
    assert request.method == "GET" and request.target == http_server.url("/x")
    sent = {name.lower(): value for name, value in request.headers.items()}
    assert sent["proxy-authorization"] == f"Basic {TEST_BASIC_B64}"
    assert "proxy-authorization" not in {n.lower() for n in http_server.seen[0].headers}


def test_proxies_in_code_win_over_the_environment(
        https_server: LocalServer, make_session: Callable[..., securl.Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", dead_proxy())
    with pytest.raises(securl.ConnectionError):  # the environment's proxy is used...
        make_session(timeout=5).get(https_server.url("/"))
    with ForwardProxy() as proxy:
        session = make_session(proxies={"https": proxy.url})  # ...unless code says otherwise
        assert session.get(https_server.url("/")).status == 200
        assert len(proxy.seen) == 1
        direct = make_session(proxies={})  # an empty dict: no proxy at all
        assert direct.get(https_server.url("/")).status == 200
        assert len(proxy.seen) == 1
    assert securl.Session(proxies={}).proxies == {}


def test_no_proxy_and_per_call_proxies(
        https_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    with ForwardProxy() as proxy:
        session = make_session(proxies={"https": proxy.url, "no_proxy": "localhost"})
        assert session.get(https_server.url("/")).status == 200
        assert proxy.accepts == 0  # bypassed
        assert session.get(https_server.url("/"), proxies={"all": proxy.url}).status == 200
        assert [s.method for s in proxy.seen] == ["CONNECT"]
        session.proxies = {"https": dead_proxy()}
        with pytest.raises(securl.ConnectionError):
            session.get(https_server.url("/"), timeout=5)


def test_an_https_proxy_given_in_code_is_verified(
        https_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    with TLSProxy(server_context(self_signed("localhost"))) as impostor:
        session = make_session(proxies={"https": impostor.url})
        with pytest.raises(securl.TLSVerificationError, match="https proxy"):
            session.get(https_server.url("/"))
        assert impostor.seen == []  # no CONNECT reached it


def test_an_https_proxy_given_in_code_tunnels_inside_verified_tls(
        https_server: LocalServer, leaf: trustme.LeafCert, ca_file: str,
        make_session: Callable[..., securl.Session], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # the proxy is verified by default trust
    with TLSProxy(server_context(leaf), auth=(TEST_USER, TEST_PASSWORD)) as proxy:
        session = make_session(proxies={"https": proxy.url_with_auth(TEST_USER, TEST_PASSWORD)})
        assert session.get(https_server.url("/")).status == 200
    assert proxy.handshake_errors == [] and proxy.seen[0].method == "CONNECT"


@pytest.mark.parametrize("bad", [
    {"ftp": "http://p:1"}, {"https": "ftp://p:1"}, {"https": "http://:1"},
    {"https": "http://p:notaport"}, {"https": 3128}, {"no_proxy": ["a"]}, "http://p:1",
])
def test_proxies_are_validated(bad: object) -> None:
    with pytest.raises(securl.ConfigurationError, match="proxies"):
        securl.Session(proxies=bad)  # type: ignore[arg-type]


def test_a_bad_proxy_url_error_never_shows_its_password() -> None:
    with pytest.raises(securl.ConfigurationError) as info:
        securl.Session(proxies={"https": f"ftp://{TEST_USER}:{TEST_PASSWORD}@p:1"})
    assert TEST_PASSWORD not in str(info.value)
