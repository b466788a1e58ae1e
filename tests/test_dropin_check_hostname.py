"""``check_hostname=False`` in the urllib drop-in turns off the host name check, and only it.

As with the stdlib, ``HTTPSHandler(check_hostname=False)`` and a ``context=`` with
``check_hostname = False`` but ``verify_mode = CERT_REQUIRED`` still verify the certificate
chain: against the context's CAs when a context is given, else against securl's trust. It is
an opt-out of the name check (mode ``chain-only``): audited as such, warned, refused by
``allow_unverified = false``, and its connections are never shared with verified or
unverified ones. Only ``verify_mode = CERT_NONE`` turns off certificate verification.

Real TLS servers on 127.0.0.1; the test CA is securl's trust through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

import securl
import securl.urllib.request
from _servers import LocalServer, server_context

Opener = Callable[[], Any]


@pytest.fixture(autouse=True)
def _trust_test_ca(monkeypatch: pytest.MonkeyPatch, ca_file: str) -> Iterator[None]:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    yield
    securl.urllib.request.urlcleanup()


def _handler_without_context() -> Any:
    return securl.urllib.request.build_opener(
        securl.urllib.request.HTTPSHandler(check_hostname=False))


def _handler_with_context(ca_file: str) -> Any:
    return securl.urllib.request.build_opener(securl.urllib.request.HTTPSHandler(
        context=ssl.create_default_context(cafile=ca_file), check_hostname=False))


def _context_without_name_check(ca_file: str) -> Any:
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    return securl.urllib.request.build_opener(securl.urllib.request.HTTPSHandler(
        context=context))


WAYS = {
    "HTTPSHandler(check_hostname=False)": lambda ca_file: _handler_without_context(),
    "HTTPSHandler(context, check_hostname=False)": _handler_with_context,
    "context.check_hostname=False": _context_without_name_check,
}


@pytest.fixture(params=list(WAYS))
def name_check_off(request: pytest.FixtureRequest, ca_file: str) -> Any:
    """An opener that turns the host name check off, each way urllib offers."""
    return WAYS[request.param](ca_file)


@pytest.fixture
def wrong_name_server(ca: trustme.CA) -> Iterator[LocalServer]:
    """A certificate from the trusted test CA, for a name other than the one asked for."""
    with LocalServer(server_context(ca.issue_cert("elsewhere.example"))) as server:
        yield server


def test_check_hostname_false_still_verifies_the_chain(
    name_check_off: Any, self_signed_server: LocalServer, events: list[securl.AuditEvent]
) -> None:
    with pytest.warns(securl.InsecureRequestWarning), \
            pytest.raises(securl.TLSVerificationError) as info:
        name_check_off.open(self_signed_server.url("/"))
    assert info.value.reason_code == "self-signed"
    assert self_signed_server.seen == []
    assert not [e for e in events if e.event == "securl.connection"]


def test_check_hostname_false_drops_only_the_host_name_check(
    name_check_off: Any, wrong_name_server: LocalServer, events: list[securl.AuditEvent]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with name_check_off.open(wrong_name_server.url("/")) as response:
            assert response.read() == b"hello"
    [opt_out] = [e for e in events if e.event == "securl.unverified_request"]
    assert "host name check" in opt_out.fields["reason"]
    assert "certificate verification" not in opt_out.fields["reason"]
    [warned] = [str(w.message) for w in caught
                if issubclass(w.category, securl.InsecureRequestWarning)]
    assert "host name check is OFF" in warned and "chain is verified" in warned
    [connection] = [e for e in events if e.event == "securl.connection"]
    assert connection.fields["mode"] == "chain-only"


def test_cert_none_context_audit_says_certificate_verification_was_off(
    self_signed_server: LocalServer, events: list[securl.AuditEvent]
) -> None:
    with pytest.warns(securl.InsecureRequestWarning, match="certificate verification is OFF"):
        securl.urllib.request.urlopen(self_signed_server.url("/"),
                                      context=ssl._create_unverified_context()).read()
    [opt_out] = [e for e in events if e.event == "securl.unverified_request"]
    assert "certificate verification" in opt_out.fields["reason"]


def test_check_hostname_false_is_refused_when_policy_forbids_opt_outs(
    name_check_off: Any, wrong_name_server: LocalServer, set_policy: Callable[[str], Any],
    events: list[securl.AuditEvent]
) -> None:
    set_policy("allow_unverified = false\n")
    with pytest.raises(securl.PolicyError, match="forbids unverified"):
        name_check_off.open(wrong_name_server.url("/"))
    assert wrong_name_server.accepts == 0
    assert [e.fields["action"] for e in events if e.event == "securl.unverified_request"] \
        == ["refused"]


def test_chain_only_connections_are_never_shared_with_verified_or_unverified_ones(
    https_server: LocalServer, events: list[securl.AuditEvent]
) -> None:
    request = securl.urllib.request
    with pytest.warns(securl.InsecureRequestWarning):
        assert _handler_without_context().open(https_server.url("/")).read() == b"hello"
    assert request.urlopen(https_server.url("/")).read() == b"hello"
    unverified = request.build_opener(request.HTTPSHandler(
        context=ssl._create_unverified_context()))
    with pytest.warns(securl.InsecureRequestWarning):
        assert unverified.open(https_server.url("/")).read() == b"hello"
    modes = [e.fields["mode"] for e in events if e.event == "securl.connection"]
    assert modes == ["chain-only", "verified", "unverified"]
    assert https_server.accepts == 3
