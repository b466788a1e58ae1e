"""Trust and policy rules hold through both front-ends: ``securl.Session`` and the drop-in
``securl.urllib.request.urlopen``.

Every test here takes the ``open_url`` fixture (tests/_open_url.py), so it runs once per
front-end. Rules that already had a test elsewhere were parametrised there instead of being
copied here:

- admin ``pins_file``, wrong pin refused before any HTTP byte, right pin passes:
  tests/test_pins_file.py::test_policy_pins_file_is_enforced_for_every_session
- ``allow_unverified = false`` refuses an opt-out before connecting:
  tests/test_session.py::test_unverified_is_refused_when_policy_forbids_it
- redirects: https to http refused, Authorization/Cookie dropped across origins and kept
  within one, other schemes refused: tests/test_session.py (``--- redirects ---``)

This file holds the rules that had no test through both front-ends against a live server.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest
import trustme

import securl
from _certs import self_signed
from _open_url import OpenURL
from _pins import recording_server, wait_for
from _servers import LocalServer, server_context
from conftest import expired_leaf, future_leaf

#: reason_code -> the certificate a server presents to earn it (the client trusts ``ca``).
BAD_CERTIFICATES: dict[str, Callable[[trustme.CA], Any]] = {
    "expired": expired_leaf,
    "not-yet-valid": future_leaf,
    "hostname-mismatch": lambda ca: ca.issue_cert("other.example"),
    "untrusted-issuer": lambda ca: trustme.CA().issue_cert("localhost"),
    "self-signed": lambda ca: self_signed("localhost"),
}


@pytest.mark.parametrize("reason_code", sorted(BAD_CERTIFICATES))
def test_certificate_that_fails_verification_is_refused_before_any_http_bytes(
        open_url: OpenURL, ca: trustme.CA, reason_code: str) -> None:
    """Rule: a server certificate that does not verify against the trusted CAs is refused
    with TLSVerificationError carrying its reason_code, and the server gets no HTTP byte.
    The good twin (same CA, a valid leaf) goes through."""
    with recording_server(BAD_CERTIFICATES[reason_code](ca)) as (server, rec):
        with pytest.raises(securl.TLSVerificationError) as info:
            open_url(f"https://localhost:{server.port}/")
    assert info.value.reason_code == reason_code
    assert len(server.accepted) == 1  # it was contacted, and refused
    assert rec.all_bytes == b""  # read after the server stopped: every thread has finished
    with recording_server(ca.issue_cert("localhost")) as (server, rec):  # twin
        assert open_url(f"https://localhost:{server.port}/") == b"ok"
        assert wait_for(lambda: rec.all_bytes.startswith(b"GET / HTTP/1.1\r\n"))


def test_admin_allow_unverified_true_lets_an_opt_out_through_and_audits_it(
        open_url: OpenURL, self_signed_server: LocalServer, set_policy: Any,
        events: list[securl.AuditEvent]) -> None:
    """Rule: with admin policy ``allow_unverified = true`` a per-call opt-out reaches a server
    securl does not trust, warns, and emits one ``securl.unverified_request`` audit event
    (action "allowed") naming the URL. Without the opt-out the same server is refused."""
    set_policy("allow_unverified = true\n")
    url = self_signed_server.url("/")
    with pytest.raises(securl.TLSVerificationError):  # twin: the server is not trusted
        open_url(url)
    assert self_signed_server.seen == []
    assert [e for e in events if e.event == "securl.unverified_request"] == []

    with pytest.warns(securl.InsecureRequestWarning):
        assert open_url(url, opt_out="lab device") == b"hello"
    assert [(s.method, s.path) for s in self_signed_server.seen] == [("GET", "/")]
    (opt_out,) = [e for e in events if e.event == "securl.unverified_request"]
    assert opt_out.fields["action"] == "allowed"
    assert opt_out.fields["url"] == url
    if open_url.flavour == "session":  # type: ignore[attr-defined]
        assert opt_out.fields["reason"] == "lab device"
    else:  # urllib has no place for a reason: securl names the context's setting
        assert "CERT_NONE" in opt_out.fields["reason"]


def test_admin_minimum_tls_1_3_refuses_a_server_that_only_speaks_tls_1_2(
        open_url: OpenURL, leaf: trustme.LeafCert, ca_file: str, set_policy: Any) -> None:
    """Rule: admin policy ``minimum_tls_version = "1.3"`` raises the floor of every verifying
    context, so a server that stops at TLS 1.2 fails the handshake and gets no HTTP byte; a
    server that speaks TLS 1.3 still works under the same policy."""
    set_policy('minimum_tls_version = "1.3"\n')
    with LocalServer(server_context(leaf, maximum=ssl.TLSVersion.TLSv1_2)) as old:
        # The server really serves TLS 1.2 to a client without the policy's floor.
        plain = ssl.create_default_context(cafile=ca_file)
        with socket.create_connection(("127.0.0.1", old.port), timeout=5) as raw:
            with plain.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.version() == "TLSv1.2"
        with pytest.raises(securl.ConnectionError, match=r"TLS handshake .*protocol version"):
            open_url(old.url("/"))
        assert wait_for(lambda: len(old.handshake_errors) == 1)
        assert "unsupported protocol" in old.handshake_errors[0].lower()
        assert old.seen == []
    with LocalServer(server_context(leaf)) as current:  # twin: TLS 1.3 passes the floor
        assert open_url(current.url("/")) == b"hello"
        assert len(current.seen) == 1
