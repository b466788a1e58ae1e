"""An opt-out covers the origin named in the call, not wherever it redirects.

``urlopen(url, context=ssl._create_unverified_context())`` (and ``tls=securl.unverified()``
for a Session) turns verification off for ``url``'s origin (scheme, host, port). A redirect
to the same origin keeps the opt-out; once a redirect leaves that origin, every later hop is
verified, even one that comes back. A ``context=`` that verifies only names whom to trust,
so it applies to every hop.

Every server here is real TLS on 127.0.0.1; a different port is a different origin.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable, Iterator

import pytest
import trustme

import securl
import securl.urllib.request
from _certs import self_signed
from _open_url import OpenURL
from _servers import Handler, LocalServer, Reply, server_context


def redirect_to(url: str, code: int = 302) -> Callable[[Handler], Reply]:
    return lambda handler: (code, {"Location": url}, b"moved")


@pytest.fixture
def other_self_signed_server() -> Iterator[LocalServer]:
    """A second self-signed https server (its own key), on another port: another origin."""
    with LocalServer(server_context(self_signed())) as server:
        yield server


@pytest.fixture
def other_https_server(leaf: trustme.LeafCert) -> Iterator[LocalServer]:
    """A second server with a certificate from the test CA, on another port."""
    with LocalServer(server_context(leaf)) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_drop_in() -> Iterator[None]:
    yield
    securl.urllib.request.urlcleanup()


def test_an_opt_out_does_not_follow_a_redirect_to_another_origin(
    open_url: OpenURL, self_signed_server: LocalServer,
    other_self_signed_server: LocalServer
) -> None:
    self_signed_server.routes["/go"] = redirect_to(other_self_signed_server.url("/"))
    with pytest.warns(securl.InsecureRequestWarning), \
            pytest.raises(securl.TLSVerificationError) as info:
        open_url(self_signed_server.url("/go"), opt_out="lab device a")
    assert info.value.reason_code == "self-signed"
    assert info.value.port == other_self_signed_server.port
    assert [s.path for s in self_signed_server.seen] == ["/go"]
    assert other_self_signed_server.seen == []


def test_an_opt_out_holds_across_a_redirect_to_the_same_origin(
    open_url: OpenURL, self_signed_server: LocalServer
) -> None:
    self_signed_server.routes["/go"] = redirect_to(self_signed_server.url("/there"))
    with pytest.warns(securl.InsecureRequestWarning):
        assert open_url(self_signed_server.url("/go"), opt_out="lab device a") == b"hello"
    assert [s.path for s in self_signed_server.seen] == ["/go", "/there"]


def test_an_opt_out_left_behind_is_not_regained_by_coming_back(
    open_url: OpenURL, self_signed_server: LocalServer, https_server: LocalServer
) -> None:
    """a (opted out) -> b (verified) -> a: the hop back to a is verified, and refused."""
    https_server.routes["/back"] = redirect_to(self_signed_server.url("/again"))
    self_signed_server.routes["/go"] = redirect_to(https_server.url("/back"))
    with pytest.warns(securl.InsecureRequestWarning), \
            pytest.raises(securl.TLSVerificationError) as info:
        open_url(self_signed_server.url("/go"), opt_out="lab device a")
    assert info.value.port == self_signed_server.port
    assert [s.path for s in https_server.seen] == ["/back"]
    assert [s.path for s in self_signed_server.seen] == ["/go"]


def test_a_verifying_context_applies_to_every_hop(
    https_server: LocalServer, other_https_server: LocalServer, ca_file: str
) -> None:
    """The test CA is not in securl's default trust here: only the context trusts it."""
    https_server.routes["/go"] = redirect_to(other_https_server.url("/"))
    context = ssl.create_default_context(cafile=ca_file)
    with warnings.catch_warnings():
        warnings.simplefilter("error", securl.InsecureRequestWarning)
        with securl.urllib.request.urlopen(https_server.url("/go"), context=context) as r:
            assert r.read() == b"hello"
    assert [s.path for s in other_https_server.seen] == ["/"]


def test_a_host_name_opt_out_does_not_follow_a_redirect_to_another_origin(
    ca: trustme.CA, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPSHandler(check_hostname=False) names no host; the next origin's name is checked."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    wrong_name = ca.issue_cert("elsewhere.example")
    with LocalServer(server_context(wrong_name)) as a, \
            LocalServer(server_context(wrong_name)) as b:
        a.routes["/go"] = redirect_to(b.url("/"))
        opener = securl.urllib.request.build_opener(
            securl.urllib.request.HTTPSHandler(check_hostname=False))
        with pytest.warns(securl.InsecureRequestWarning), \
                pytest.raises(securl.TLSVerificationError) as info:
            opener.open(a.url("/go"))
        assert info.value.reason_code == "hostname-mismatch"
        assert info.value.port == b.port
        assert b.seen == []


def test_the_opt_out_audit_names_only_the_origin_of_the_call(
    self_signed_server: LocalServer, other_self_signed_server: LocalServer,
    events: list[securl.AuditEvent]
) -> None:
    self_signed_server.routes["/go"] = redirect_to(other_self_signed_server.url("/"))
    with pytest.warns(securl.InsecureRequestWarning), pytest.raises(securl.TLSVerificationError):
        securl.urllib.request.urlopen(self_signed_server.url("/go"),
                                      context=ssl._create_unverified_context())
    opt_outs = [e.port for e in events if e.event == "securl.unverified_request"]
    assert opt_outs == [self_signed_server.port]
