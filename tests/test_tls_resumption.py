"""TLS session resumption: a new connection to a host already verified resumes its session,
only within the same pool key (host, port, whole trust decision), with every check still run.

The server says whether each handshake resumed (``SSLSocket.session_reused`` on its side),
so these tests never take the client's word for it. The mechanism is tested as on a Python
that reads sessions without leaking them (`_as_on_a_fixed_python`); what the default is on
the Python running the tests is tested at the end.
"""

from __future__ import annotations

import os
import shutil
import ssl
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

import securl
import securl.http.pool as pool
import securl.http.tls_sessions as tls_sessions
from _pins import pin_of
from _servers import LocalServer, server_context

CLOSE = {"Connection": "close"}
TLS_VERSIONS = [pytest.param(None, id="tls1.3"), pytest.param(ssl.TLSVersion.TLSv1_2,
                                                                 id="tls1.2")]


ResumptionServer = LocalServer  # it records whether each handshake resumed (.reused)


@pytest.fixture(autouse=True)
def _as_on_a_fixed_python(request: pytest.FixtureRequest,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Resumption on by default, as on CPython 3.12.8+/3.13.1+ (not for the default tests)."""
    if "the_default" not in request.node.name:
        monkeypatch.setattr(pool, "session_reads_are_safe", lambda: True)


@pytest.fixture(params=TLS_VERSIONS)
def server(request: pytest.FixtureRequest, leaf: trustme.LeafCert
           ) -> Iterator[ResumptionServer]:
    with ResumptionServer(server_context(leaf, maximum=request.param)) as srv:
        yield srv


def wait_for_handshakes(server: ResumptionServer, n: int, timeout: float = 5.0) -> None:
    """Wait until the server has finished ``n`` handshakes (it records them in its thread)."""
    deadline = time.monotonic() + timeout
    while len(server.reused) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def resumed(events: list[securl.AuditEvent]) -> list[bool]:
    return [e.fields["resumed"] for e in events if e.name == "securl.connection"]


def test_a_new_connection_to_a_verified_host_resumes(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        events: list[securl.AuditEvent]) -> None:
    session = make_session()
    for _ in range(3):
        assert session.get(server.url("/"), headers=CLOSE).content == b"hello"
    assert server.reused == [False, True, True]
    assert resumed(events) == [False, True, True]
    # A resumed connection still knows the server's certificate: the same pin every time.
    pins = {e.fields["spki_sha256"] for e in events if e.name == "securl.connection"}
    assert len(pins) == 1 and None not in pins


def test_trust_decisions_never_share_a_session(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        leaf: trustme.LeafCert) -> None:
    session = make_session()
    url = server.url("/")
    pinned = securl.pinned(pin_of(leaf), reason="resumption test")
    session.get(url, headers=CLOSE)                           # verified: full
    session.get(url, headers=CLOSE, tls=pinned)               # pinned: its own, full
    session.get(url, headers=CLOSE, tls=pinned)               # pinned: resumes its own
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", securl.InsecureRequestWarning)
        unverified = securl.unverified(reason="resumption test")
        session.get(url, headers=CLOSE, tls=unverified)       # unverified: full
        session.get(url, headers=CLOSE, tls=unverified)       # unverified: resumes its own
    session.get(url, headers=CLOSE)                           # verified: resumes its own
    assert server.reused == [False, False, True, False, True, True]


def test_another_client_certificate_never_gets_the_session(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        ca: trustme.CA, tmp_path: Any) -> None:
    client = ca.issue_cert("client.example")
    both = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(both))
    session = make_session()
    url = server.url("/")
    session.get(url, headers=CLOSE)
    session.get(url, headers=CLOSE, cert=str(both))
    session.get(url, headers=CLOSE, cert=str(both))
    assert server.reused == [False, False, True]


class PinGate:
    """A verifier that accepts only the key it expects (and can be told to expect another)."""

    def __init__(self, expected: str) -> None:
        self.expected = expected

    def __call__(self, info: securl.PeerInfo) -> None:
        if info.leaf_pin != self.expected:
            raise ValueError(f"key {info.leaf_pin} is not {self.expected}")


def test_a_resumed_connection_whose_key_no_longer_matches_is_refused(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        leaf: trustme.LeafCert) -> None:
    gate = PinGate(pin_of(leaf))
    session = make_session(verifiers=[gate])
    url = server.url("/")
    session.get(url, headers=CLOSE)
    gate.expected = "sha256/" + "A" * 43 + "="  # the pin changed, the server did not
    with pytest.raises(securl.TLSVerificationError, match="rejected the server"):
        session.get(url, headers=CLOSE)
    wait_for_handshakes(server, 2)
    assert server.reused == [False, True]  # the refused connection had resumed
    assert [s.path for s in server.seen] == ["/"]  # nothing was sent on it
    gate.expected = pin_of(leaf)
    session.get(url, headers=CLOSE)
    assert server.reused == [False, True, False]  # a refused server's session is dropped


def test_a_changed_pins_file_refuses_the_next_connection(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        leaf: trustme.LeafCert, tmp_path: Any) -> None:
    pins = tmp_path / "pins.txt"
    pins.write_text(f"localhost:{server.port} {pin_of(leaf)}\n")
    session = make_session(pins_file=str(pins))
    session.get(server.url("/"), headers=CLOSE)
    pins.write_text(f"localhost:{server.port} sha256/{'A' * 43}=\n")
    with pytest.raises(securl.PinMismatchError):
        session.get(server.url("/"), headers=CLOSE)
    assert len(server.seen) == 1


def test_with_resumption_off_no_connection_resumes(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        events: list[securl.AuditEvent]) -> None:
    session = make_session(tls_session_cache=False)
    for _ in range(3):
        session.get(server.url("/"), headers=CLOSE)
    assert server.reused == [False, False, False]
    assert resumed(events) == [False, False, False]


def test_tls_session_cache_must_be_a_bool_or_none() -> None:
    with pytest.raises(securl.ConfigurationError, match="tls_session_cache"):
        securl.Session(tls_session_cache="no")  # type: ignore[arg-type]
    securl.Session(tls_session_cache=None).close()


def test_a_session_the_server_cannot_use_gets_a_full_handshake(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        leaf: trustme.LeafCert, events: list[securl.AuditEvent]) -> None:
    session = make_session()
    session.get(server.url("/"), headers=CLOSE)
    # A new server context: other ticket keys and an empty session cache, so the ticket or
    # session ID the client offers is one the server cannot decrypt or does not know.
    assert server.ssl_context is not None
    server.ssl_context = server_context(leaf, maximum=server.ssl_context.maximum_version)
    assert session.get(server.url("/"), headers=CLOSE).content == b"hello"
    session.get(server.url("/"), headers=CLOSE)
    assert server.reused == [False, False, True]
    assert resumed(events) == [False, False, True]
    assert server.handshake_errors == []


def test_a_session_past_its_age_is_not_offered(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls_sessions, "MAX_AGE", 0.0)
    session = make_session()
    for _ in range(2):
        session.get(server.url("/"), headers=CLOSE)
    assert server.reused == [False, False]


def test_the_process_keeps_a_bounded_number_of_sessions(
        leaf: trustme.LeafCert, make_session: Callable[..., securl.Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls_sessions, "MAX_SESSIONS", 1)
    session = make_session()
    with ResumptionServer(server_context(leaf)) as a, ResumptionServer(server_context(leaf)) as b:
        session.get(a.url("/"), headers=CLOSE)
        session.get(b.url("/"), headers=CLOSE)  # keeping b's session forgets a's
        session.get(a.url("/"), headers=CLOSE)
        session.get(a.url("/"), headers=CLOSE)
    assert a.reused == [False, False, True]
    assert b.reused == [False]


def test_a_context_rebuilt_after_its_trust_file_changed_gets_no_old_session(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        ca_file: str, tmp_path: Any) -> None:
    trust = str(tmp_path / "ca.pem")
    shutil.copy(ca_file, trust)
    session = make_session(ca_certs=trust)
    session.get(server.url("/"), headers=CLOSE)
    session.get(server.url("/"), headers=CLOSE)
    with open(trust, "ab") as f:
        f.write(b"\n")  # the same CA, but the file changed: the context is rebuilt
    st = os.stat(trust)
    os.utime(trust, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    session.get(server.url("/"), headers=CLOSE)
    session.get(server.url("/"), headers=CLOSE)
    assert server.reused == [False, True, False, True]


def test_sessions_are_not_shared_between_session_objects(
        server: ResumptionServer, make_session: Callable[..., securl.Session]) -> None:
    session = make_session()
    session.get(server.url("/"), headers=CLOSE)
    other = make_session()  # the same trust, but pools (and TLS sessions) of its own
    other.get(server.url("/"), headers=CLOSE)
    assert server.reused == [False, False]


def test_a_keep_alive_connection_leaves_its_session_for_the_next_one(
        server: ResumptionServer, make_session: Callable[..., securl.Session]) -> None:
    session = make_session()
    session.get(server.url("/"))
    session.get(server.url("/"), headers=CLOSE)  # the same connection, then closed
    session.get(server.url("/"), headers=CLOSE)  # a new one
    assert server.reused == [False, True]


def test_the_urlopen_drop_in_resumes_too(
        server: ResumptionServer, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from securl.urllib import request

    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    try:
        for _ in range(2):
            with request.urlopen(request.Request(server.url("/"), headers=CLOSE),
                                 timeout=10) as r:
                assert r.read() == b"hello"
    finally:
        request.urlcleanup()
    assert server.reused == [False, True]


def test_a_tls13_ticket_is_offered_once_and_tls12_sessions_are_reused(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    offered: list[bytes] = []
    real_offer = tls_sessions.SessionSlot.offer

    def recording_offer(slot: tls_sessions.SessionSlot, ctx: ssl.SSLContext) -> Any:
        session = real_offer(slot, ctx)
        if session is not None:
            offered.append(session.id)
        return session

    monkeypatch.setattr(tls_sessions.SessionSlot, "offer", recording_offer)
    session = make_session()
    for _ in range(4):
        assert session.get(server.url("/"), headers=CLOSE).content == b"hello"
    assert server.reused == [False, True, True, True]
    assert len(offered) == 3
    tls13 = server.ssl_context is not None and \
        server.ssl_context.maximum_version != ssl.TLSVersion.TLSv1_2
    if tls13:  # RFC 8446 C.4: never the same ticket twice, so connections cannot be linked
        assert len(set(offered)) == 3, offered
    else:  # TLS 1.2: the session ID is reused while it is fresh
        assert len(set(offered)) == 1, offered


@pytest.mark.parametrize(("implementation", "version", "safe"), [
    ("cpython", (3, 10, 16), False), ("cpython", (3, 11, 7), False),
    ("cpython", (3, 11, 14), False), ("cpython", (3, 12, 7), False),
    ("cpython", (3, 12, 8), True), ("cpython", (3, 12, 12), True),
    ("cpython", (3, 13, 0), False), ("cpython", (3, 13, 1), True),
    ("cpython", (3, 14, 0), True), ("pypy", (3, 10, 14), True),
])
def test_the_default_follows_whether_reading_a_session_leaks(
        implementation: str, version: tuple[int, int, int], safe: bool) -> None:
    assert tls_sessions.session_reads_are_safe(implementation, version) is safe


def test_the_default_here_resumes_only_where_reading_a_session_is_safe(
        server: ResumptionServer, make_session: Callable[..., securl.Session]) -> None:
    """With no tls_session_cache= on the Python running the tests: resumption exactly when
    this Python reads sessions without leaking them; asked for, it resumes anyway."""
    safe = tls_sessions.session_reads_are_safe()
    default, asked = make_session(), make_session(tls_session_cache=True)
    for session in (default, asked):
        for _ in range(3):
            session.get(server.url("/"), headers=CLOSE)
    wait_for_handshakes(server, 6)
    assert server.reused == [False, safe, safe, False, True, True]


def test_the_default_keeps_no_session_where_reading_one_leaks(
        server: ResumptionServer, make_session: Callable[..., securl.Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a leaking Python the default never reads a connection's session at all."""
    monkeypatch.setattr(pool, "session_reads_are_safe", lambda: False)
    reads: list[int] = []
    real = tls_sessions.SessionSlot.keep

    def counted(self: tls_sessions.SessionSlot, sock: Any, **kwargs: Any) -> bool:
        reads.append(1)
        return real(self, sock, **kwargs)

    monkeypatch.setattr(tls_sessions.SessionSlot, "keep", counted)
    session = make_session()
    for _ in range(3):
        session.get(server.url("/"), headers=CLOSE)
    session.get(server.url("/"))
    assert reads == []
    wait_for_handshakes(server, 4)
    assert server.reused == [False, False, False, False]
