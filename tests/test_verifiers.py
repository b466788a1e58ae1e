"""Composable verifiers: called with the peer's chain and connection facts before any byte is
sent; a verifier that raises stops the request (checked on the server side)."""

from __future__ import annotations

import ssl

import pytest
import trustme

import securl
from _certs import self_signed
from _pins import der_of, make_cert, named, pin_of, recording_server, wait_for
from _servers import LocalServer, server_context
from securl import verifiers as v


def url(server: object, host: str = "localhost") -> str:
    return f"https://{host}:{server.port}/"  # type: ignore[attr-defined]


class Seen:
    """A verifier that records what it was given (hashable by identity)."""

    def __init__(self) -> None:
        self.infos: list[securl.PeerInfo] = []

    def __call__(self, info: securl.PeerInfo) -> None:
        self.infos.append(info)


def reject(info: securl.PeerInfo) -> None:
    raise RuntimeError(f"not today, {info.host}")


def test_verifier_gets_the_verified_chain_and_connection_facts(ca: trustme.CA, ca_file: str,
                                                               leaf: trustme.LeafCert,
                                                               https_server: LocalServer) -> None:
    seen = Seen()
    with securl.Session(ca_certs=ca_file, verifiers=[seen]) as s:
        assert s.get(https_server.url()).status == 200
    (info,) = seen.infos
    assert (info.host, info.port) == ("localhost", https_server.port)
    assert info.tls_version in ("TLSv1.2", "TLSv1.3")
    assert info.cipher
    assert info.chain[0] == der_of(leaf)
    assert info.chain[-1] == ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())
    assert info.chain_verified is True and info.mode == "verified"
    assert info.leaf_pin == pin_of(leaf)
    assert info.leaf_sans == ("localhost", "127.0.0.1")


def test_rejecting_verifier_stops_the_request_before_it_is_sent(ca: trustme.CA,
                                                                ca_file: str) -> None:
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, rec), securl.Session(
            ca_certs=ca_file, verifiers=[reject]) as s:
        with pytest.raises(securl.TLSVerificationError) as info:
            s.get(url(server))
        assert wait_for(lambda: len(rec.received) == 1)
        assert rec.handshakes == 1 and rec.all_bytes == b""
    err = info.value
    assert err.reason_code == "other"
    assert not isinstance(err, securl.PinMismatchError)
    assert "test_verifiers.reject" in str(err) and "not today, localhost" in str(err)
    assert isinstance(err.__cause__, RuntimeError)
    assert "no request was sent" in str(err)


def test_accepting_verifier_lets_the_request_through(ca: trustme.CA, ca_file: str) -> None:
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, rec), securl.Session(
            ca_certs=ca_file, verifiers=[Seen()]) as s:
        assert s.get(url(server)).content == b"ok"
        assert rec.all_bytes.startswith(b"GET / HTTP/1.1")


def test_per_call_verifiers_run_after_the_sessions(ca_file: str,
                                                   https_server: LocalServer) -> None:
    order: list[str] = []

    def first(info: securl.PeerInfo) -> None:
        order.append("session")

    def second(info: securl.PeerInfo) -> None:
        order.append("call")

    with securl.Session(ca_certs=ca_file, verifiers=[first]) as s:
        s.get(https_server.url(), verifiers=[second])
        with pytest.raises(securl.TLSVerificationError):
            s.get(https_server.url(), verifiers=[reject])
    assert order == ["session", "call", "session"]
    assert len(https_server.seen) == 1


def test_verifier_runs_once_per_connection_not_per_request(ca_file: str,
                                                           https_server: LocalServer) -> None:
    seen = Seen()
    with securl.Session(ca_certs=ca_file, verifiers=[seen]) as s:
        for _ in range(3):
            s.get(https_server.url())
    assert https_server.accepts == 1 and len(seen.infos) == 1


def test_connection_checked_without_a_verifier_is_not_reused_for_a_call_with_one(
        ca_file: str, https_server: LocalServer) -> None:
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url())
        with pytest.raises(securl.TLSVerificationError):
            s.get(https_server.url(), verifiers=[reject])
        assert https_server.accepts == 2
    assert len(https_server.seen) == 1


def test_verifier_runs_after_the_pin_check(ca: trustme.CA, ca_file: str) -> None:
    seen = Seen()
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, _), securl.Session(
            ca_certs=ca_file, pins=[pin_of(ca.issue_cert("x"))], verifiers=[seen]) as s:
        with pytest.raises(securl.PinMismatchError):
            s.get(url(server))
    assert seen.infos == []


def test_pinned_connection_gives_the_presented_chain_unverified() -> None:
    device = self_signed("localhost")
    seen = Seen()
    with recording_server(device) as (server, _):
        securl.get(url(server), tls=securl.pinned(pin_of(device), reason="device"),
                   verifiers=[seen])
    (info,) = seen.infos
    assert info.chain_verified is False and info.mode == "pinned"
    assert info.chain == (der_of(device),)


def test_rejection_is_audited(ca_file: str, https_server: LocalServer, events: list) -> None:
    with securl.Session(ca_certs=ca_file) as s, pytest.raises(securl.TLSVerificationError):
        s.get(https_server.url(), verifiers=[reject])
    (event,) = named(events, "securl.verification_failed")
    assert event.fields["reason_code"] == "verifier"
    assert "reject" in event.fields["verifier"]


# --- helpers --------------------------------------------------------------------------

def serve_and_check(cert: object, verifier: object) -> None:
    with recording_server(cert) as (server, rec):
        try:
            securl.get(url(server), tls=securl.pinned(pin_of(cert), reason="t"),
                       verifiers=[verifier])
        finally:
            assert wait_for(lambda: len(rec.received) == 1)
        assert rec.all_bytes.startswith(b"GET ")


@pytest.mark.parametrize(("name", "ok"), [("localhost", True), ("LOCALHOST", True),
                                          ("127.0.0.1", True), ("other.lab", False),
                                          ("10.0.0.1", False)])
def test_require_san(name: str, ok: bool) -> None:
    cert = make_cert("localhost", "127.0.0.1")
    if ok:
        serve_and_check(cert, v.require_san(name))
    else:
        with pytest.raises(securl.TLSVerificationError, match=r"require_san\("):
            serve_and_check(cert, v.require_san(name))


@pytest.mark.parametrize(("text", "ok"), [("CN=Corp Issuing CA 2", True),
                                          ("Corp Issuing CA 2", True),
                                          ("CN=Corp Issuing CA 3", False),
                                          ("corp issuing", False)])
def test_require_issuer(text: str, ok: bool) -> None:
    cert = make_cert("localhost", issuer_cn="Corp Issuing CA 2")
    if ok:
        serve_and_check(cert, v.require_issuer(text))
    else:
        with pytest.raises(securl.TLSVerificationError) as info:
            serve_and_check(cert, v.require_issuer(text))
        assert isinstance(info.value.__cause__, v.Rejected)


def test_all_of_needs_every_check_and_any_of_needs_one() -> None:
    cert = make_cert("localhost")
    good, bad = v.require_san("localhost"), v.require_san("nope.lab")
    serve_and_check(cert, v.all_of(good, good))
    serve_and_check(cert, v.any_of(bad, good))
    with pytest.raises(securl.TLSVerificationError, match=r"nope\.lab"):
        serve_and_check(cert, v.all_of(good, bad))
    with pytest.raises(securl.TLSVerificationError, match="none of the alternatives"):
        serve_and_check(cert, v.any_of(bad, v.require_issuer("Nobody")))


def test_helpers_are_values_so_per_call_use_shares_one_pool(ca_file: str,
                                                            https_server: LocalServer) -> None:
    assert v.require_san("a") == v.require_san("a")
    assert hash(v.all_of(v.require_san("a"))) == hash(v.all_of(v.require_san("a")))
    with securl.Session(ca_certs=ca_file) as s:
        for _ in range(3):
            s.get(https_server.url(), verifiers=[v.all_of(v.require_san("localhost"))])
        assert len(s._pools) == 1 and https_server.accepts == 1


def test_helpers_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError):
        v.all_of()
    with pytest.raises(TypeError):
        v.any_of("not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        v.require_san("")
    with pytest.raises(ValueError):
        v.require_issuer("")


def test_non_callable_and_unhashable_verifiers_are_configuration_errors() -> None:
    with pytest.raises(securl.ConfigurationError, match="callables"):
        securl.Session(verifiers=["nope"])  # type: ignore[list-item]

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, info: securl.PeerInfo) -> None:
            pass

    with pytest.raises(securl.ConfigurationError, match="hashable"):
        securl.Session(verifiers=[Unhashable()])


def test_verifier_is_never_called_for_an_untrusted_chain(other_ca: trustme.CA,
                                                            ca_file: str) -> None:
    """Chain verification fails first: the verifier is never called for an untrusted chain."""
    seen = Seen()
    with LocalServer(server_context(other_ca.issue_cert("localhost"))) as server:
        with pytest.raises(securl.TLSVerificationError) as info:
            securl.get(server.url(), verifiers=[seen])
    assert info.value.reason_code == "untrusted-issuer" and seen.infos == []
