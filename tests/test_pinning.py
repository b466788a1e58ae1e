"""Public-key pins: pins= on top of verification, and tls=securl.pinned() instead of a CA.

Every handshake is real (local TLS servers on 127.0.0.1). "No request was sent" is checked on
the server side: the recording server must have completed the handshake and received zero
application bytes.
"""

from __future__ import annotations

import ssl
import warnings

import pytest
import trustme

import securl
from _certs import self_signed
from _pins import (
    V6Server,
    make_cert,
    named,
    pin_of,
    recording_server,
    wait_for,
)
from _servers import LocalServer, server_context
from securl.tls.decision import TrustDecision


def url(server: object, host: str = "localhost", path: str = "/") -> str:
    return f"https://{host}:{server.port}{path}"  # type: ignore[attr-defined]


def refused_without_request_bytes(rec: object) -> None:
    """Server side: one handshake completed, and not one byte of a request arrived."""
    assert wait_for(lambda: len(rec.received) == 1)  # type: ignore[attr-defined]
    assert rec.handshakes == 1  # type: ignore[attr-defined]
    assert rec.all_bytes == b""  # type: ignore[attr-defined]


# --- pins= on top of chain verification ------------------------------------------------

def test_session_pin_matching_a_chain_valid_server_passes(ca_file: str, leaf: trustme.LeafCert,
                                                          https_server: LocalServer) -> None:
    with securl.Session(ca_certs=ca_file, pins=[pin_of(leaf)]) as s:
        assert s.get(https_server.url()).status == 200
    assert len(https_server.seen) == 1


def test_session_pin_with_another_key_fails_before_any_request_byte(
        ca: trustme.CA, ca_file: str) -> None:
    other_key = ca.issue_cert("localhost")  # chain-valid, but a different key
    served = ca.issue_cert("localhost", "127.0.0.1")
    with recording_server(served) as (server, rec), securl.Session(
            ca_certs=ca_file, pins=[pin_of(other_key)]) as s:
        with pytest.raises(securl.PinMismatchError) as info:
            s.get(url(server))
        refused_without_request_bytes(rec)
    err = info.value
    assert isinstance(err, securl.TLSVerificationError)
    assert err.reason_code == "pin-mismatch"
    assert pin_of(served) in str(err) and pin_of(other_key) in str(err)
    assert "no request was sent" in str(err)


def test_per_call_pin_is_checked_and_its_twin_passes(ca: trustme.CA, ca_file: str) -> None:
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, rec), securl.Session(ca_certs=ca_file) as s:
        assert s.get(url(server), pins=[pin_of(served)]).content == b"ok"
        assert rec.all_bytes.startswith(b"GET / HTTP/1.1\r\n")
    wrong = pin_of(ca.issue_cert("localhost"))
    with recording_server(served) as (server, rec), securl.Session(ca_certs=ca_file) as s:
        with pytest.raises(securl.PinMismatchError):
            s.get(url(server), pins=[wrong])
        refused_without_request_bytes(rec)


def test_pin_never_replaces_chain_validation_in_verified_mode(other_ca: trustme.CA,
                                                             ca_file: str) -> None:
    """A matching pin on a server whose chain is not trusted still fails: untrusted issuer."""
    served = other_ca.issue_cert("localhost")
    with recording_server(served) as (server, rec), securl.Session(
            ca_certs=ca_file, pins=[pin_of(served)]) as s:
        with pytest.raises(securl.TLSVerificationError) as info:
            s.get(url(server))
    assert info.value.reason_code == "untrusted-issuer"
    assert rec.all_bytes == b""


def test_pin_mismatch_is_audited(ca: trustme.CA, ca_file: str, events: list) -> None:
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, _), securl.Session(
            ca_certs=ca_file, pins=[pin_of(ca.issue_cert("x"))]) as s:
        with pytest.raises(securl.PinMismatchError):
            s.get(url(server))
    (event,) = named(events, "securl.pin_mismatch")
    assert event.fields["got"] == pin_of(served)
    assert event.host == "localhost" and event.port == server.port


def test_malformed_pin_is_a_configuration_error() -> None:
    with pytest.raises(securl.ConfigurationError, match="sha256/"):
        securl.Session(pins=["sha1/abc"]).get("https://localhost:1/")
    with pytest.raises(securl.ConfigurationError):
        securl.pinned("sha256/not-base64!", reason="x")
    with pytest.raises(securl.ConfigurationError):
        securl.pinned("sha256/" + "A" * 43 + "=" * 0, reason="x")  # 32 bytes needs 44 chars


# --- tls=securl.pinned(): the key replaces the chain ----------------------------------

def test_pinned_self_signed_server_succeeds() -> None:
    device = self_signed("localhost")
    with recording_server(device) as (server, rec):
        r = securl.get(url(server), tls=securl.pinned(pin_of(device), reason="lab device"))
        assert r.status == 200 and r.content == b"ok"
    assert rec.all_bytes.startswith(b"GET / HTTP/1.1\r\n")


def test_pinned_against_a_different_self_signed_key_fails_before_any_request_byte() -> None:
    device, impostor = self_signed("localhost"), self_signed("localhost")
    with recording_server(impostor) as (server, rec):
        with pytest.raises(securl.PinMismatchError) as info:
            securl.get(url(server), tls=securl.pinned(pin_of(device), reason="lab device"))
        refused_without_request_bytes(rec)
    assert pin_of(device) in str(info.value) and pin_of(impostor) in str(info.value)


def test_self_signed_server_without_pin_is_refused_by_default() -> None:
    device = self_signed("localhost")
    with recording_server(device) as (server, rec):
        with pytest.raises(securl.TLSVerificationError) as info:
            securl.get(url(server))
    assert info.value.reason_code == "self-signed"
    assert "securl.pinned" in str(info.value)  # the message points at the better fix
    assert rec.all_bytes == b""


def test_pinned_accepts_a_chain_valid_server_with_that_key_and_no_ca_configured(
        ca: trustme.CA) -> None:
    """Pinned mode does not consult any CA: a CA-issued cert from an unknown CA passes too."""
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, _):
        r = securl.get(url(server), tls=securl.pinned(pin_of(served), reason="device"))
    assert r.status == 200


def test_pinned_with_several_pins_accepts_any_of_them() -> None:
    old, new = self_signed("localhost"), self_signed("localhost")
    token = securl.pinned(pin_of(old), pin_of(new), reason="rotation")
    for cert in (old, new):
        with recording_server(cert) as (server, _):
            assert securl.get(url(server), tls=token).status == 200
    with recording_server(self_signed("localhost")) as (server, _):
        with pytest.raises(securl.PinMismatchError):
            securl.get(url(server), tls=token)


def test_pinned_checks_the_host_name_against_the_subject_alt_name() -> None:
    device = make_cert("device.lab", "127.0.0.1")
    token = securl.pinned(pin_of(device), reason="device")
    with recording_server(device) as (server, rec):
        assert securl.get(url(server, "127.0.0.1"), tls=token).status == 200  # IP SAN
        with pytest.raises(securl.TLSVerificationError) as info:
            securl.get(url(server, "localhost"), tls=token)
        assert wait_for(lambda: len(rec.received) == 2)
        assert rec.received[1] == b""  # the refused connection carried no request
    assert info.value.reason_code == "hostname-mismatch"
    assert not isinstance(info.value, securl.PinMismatchError)
    assert "device.lab" in str(info.value) and "check_hostname=False" in str(info.value)


def test_pinned_never_falls_back_to_the_common_name() -> None:
    device = make_cert(cn="localhost")  # CN only, no subjectAltName at all
    with recording_server(device) as (server, _):
        with pytest.raises(securl.TLSVerificationError) as info:
            securl.get(url(server), tls=securl.pinned(pin_of(device), reason="device"))
    assert info.value.reason_code == "no-subject-alt-name"


def test_pinned_with_check_hostname_false_relies_on_the_key_alone() -> None:
    device = make_cert("device.lab")
    with recording_server(device) as (server, _):
        r = securl.get(url(server), tls=securl.pinned(pin_of(device), reason="device",
                                                      check_hostname=False))
    assert r.status == 200
    with recording_server(make_cert("device.lab")) as (server, _):
        with pytest.raises(securl.PinMismatchError):  # the key still has to match
            securl.get(url(server), tls=securl.pinned(pin_of(device), reason="device",
                                                      check_hostname=False))


def test_pinned_ignores_certificate_dates_like_ssh() -> None:
    expired = make_cert("localhost", days_valid=(-30, -1))
    with recording_server(expired) as (server, _):
        r = securl.get(url(server), tls=securl.pinned(pin_of(expired), reason="old device"))
    assert r.status == 200
    with recording_server(expired) as (server, _):  # twin: verified mode refuses it
        with pytest.raises(securl.TLSVerificationError):
            securl.get(url(server), pins=[pin_of(expired)])


def test_pinned_and_session_pins_are_both_required(ca: trustme.CA) -> None:
    device = self_signed("localhost")
    with recording_server(device) as (server, rec), securl.Session(
            pins=[pin_of(ca.issue_cert("x"))]) as s:
        with pytest.raises(securl.PinMismatchError, match="pins="):
            s.get(url(server), tls=securl.pinned(pin_of(device), reason="device"))
        refused_without_request_bytes(rec)


def test_pinned_request_is_audited_and_does_not_warn(events: list) -> None:
    device = self_signed("localhost")
    with recording_server(device) as (server, _), warnings.catch_warnings():
        warnings.simplefilter("error")
        securl.get(url(server), tls=securl.pinned(pin_of(device), reason="INC-42 switch"))
    (event,) = named(events, "securl.pinned_request")
    assert event.fields["reason"] == "INC-42 switch"
    assert event.fields["pins"] == [pin_of(device)]
    assert event.fields["caller"].startswith(__file__)
    assert event.fields["action"] == "allowed"
    (conn,) = named(events, "securl.connection")
    assert conn.fields["mode"] == "pinned" and conn.fields["trust_source"] == "pin"
    assert conn.fields["verified"] is False
    assert not named(events, "securl.unverified_request")


def test_unverified_still_warns_where_pinned_does_not() -> None:
    device = self_signed("localhost")
    with recording_server(device) as (server, _):
        with pytest.warns(securl.InsecureRequestWarning):
            securl.get(url(server), tls=securl.unverified(reason="twin of the pinned test"))


def test_pinned_is_allowed_when_admin_policy_forbids_unverified(set_policy: object) -> None:
    set_policy("allow_unverified = false\n")  # type: ignore[operator]
    device = self_signed("localhost")
    with recording_server(device) as (server, _):
        r = securl.get(url(server), tls=securl.pinned(pin_of(device), reason="device"))
        assert r.status == 200
        with pytest.raises(securl.PolicyError):  # twin: the opt-out is forbidden
            securl.get(url(server), tls=securl.unverified(reason="not allowed"))


def test_pinned_needs_a_reason() -> None:
    with pytest.raises(securl.ConfigurationError, match="reason"):
        securl.pinned("sha256/" + "A" * 43 + "=", reason=" ")


def test_pinned_without_any_pin_source_is_refused_before_connecting() -> None:
    with pytest.raises(securl.ConfigurationError, match="no pin"):
        securl.get("https://localhost:1/", tls=securl.pinned(reason="forgot the pin"))


def test_session_cannot_be_made_pinned() -> None:
    with pytest.raises(securl.PolicyError, match="one call"):
        securl.Session(tls=securl.pinned("sha256/" + "A" * 43 + "=", reason="x"))


def test_pinned_pool_is_never_shared_with_verified_requests(ca_file: str) -> None:
    """After a pinned call, a verified call to the same server must handshake anew and fail."""
    device = self_signed("localhost")
    with LocalServer(server_context(device)) as server, securl.Session() as s:
        token = securl.pinned(pin_of(device), reason="device")
        assert s.get(server.url(), tls=token).status == 200
        assert s.get(server.url(), tls=token).status == 200  # pooled: one connection
        assert server.accepts == 1
        with pytest.raises(securl.TLSVerificationError) as info:
            s.get(server.url())
        assert info.value.reason_code == "self-signed"
        assert len(s._pools) == 2


def test_pinned_policy_is_hashable_and_distinct_from_verified() -> None:
    pin = "sha256/" + "A" * 43 + "="
    config = securl.TLSConfig()
    token = securl.pinned(pin, reason="x")
    a = TrustDecision("pinned", config, pinned=token)
    b = TrustDecision("pinned", config, pinned=securl.pinned(pin, reason="x"))
    assert a == b and hash(a) == hash(b)
    assert a != TrustDecision("verified", config) and a != TrustDecision("unverified", config)
    assert a.context() is not TrustDecision("unverified", config).context()
    assert a.context().verify_mode == ssl.CERT_NONE


def test_cross_origin_redirect_leaves_pinned_mode(ca: trustme.CA) -> None:
    """A pin covers the origin the caller named; the redirect target is verified normally."""
    device = self_signed("localhost")
    with LocalServer(server_context(ca.issue_cert("localhost"))) as target, LocalServer(
            server_context(device)) as start:
        start.routes["/go"] = lambda h: (302, {"Location": target.url("/")}, b"")
        with pytest.raises(securl.TLSVerificationError) as info:
            securl.get(start.url("/go"), tls=securl.pinned(pin_of(device), reason="device"))
    assert info.value.reason_code == "untrusted-issuer"
    assert target.seen == []


def test_pinned_accepts_pins_as_a_list() -> None:
    a, b = "sha256/" + "A" * 43 + "=", "sha256/" + "B" * 43 + "="
    assert securl.pinned([a, b], reason="x").pins == (a, b)


def test_pinned_on_plain_http_is_refused(http_server: LocalServer) -> None:
    with pytest.raises(securl.InvalidRequest, match="https"):
        securl.get(http_server.url(), tls=securl.pinned("sha256/" + "A" * 43 + "=", reason="x"))
    assert http_server.accepts == 0


def test_pinned_over_ipv6_loopback_checks_the_ip_san() -> None:
    device = make_cert("::1")
    with V6Server(server_context(device)) as server:
        token = securl.pinned(pin_of(device), reason="v6 device")
        assert securl.get(f"https://[::1]:{server.port}/", tls=token).status == 200
    other = make_cert("::2")
    with V6Server(server_context(other)) as server:
        with pytest.raises(securl.TLSVerificationError) as info:
            securl.get(f"https://[::1]:{server.port}/",
                       tls=securl.pinned(pin_of(other), reason="v6 device"))
        assert server.seen == []
    assert info.value.reason_code == "hostname-mismatch"
