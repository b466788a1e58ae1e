"""urllib3 connection and pool classes that carry securl's checks into every handshake.

Before connecting, a verified (or ``chain-only``) HTTPS connection takes its context from the
trust decision (``TrustDecision.context()``), so a trust store or client key file that changed
since the last connection is re-read, and one that disappeared fails with
`ConfigurationError` instead of being used from memory or skipped (see
``securl.tls.context``).

Through an ``https://`` proxy, the TLS handshake with the proxy is always verified (with the
proxy's own context, ``securl.http.pool``), whatever the origin's decision: urllib3 would
apply the origin's ``cert_reqs`` to it, which for an opt-out or a pin is ``CERT_NONE``.

Right after the TLS handshake, before any request byte is written, a connection runs the
checks of its `TrustDecision`, in this order, and on the first failure
closes
the socket and raises (so the server never receives a request):

1. **pins**: every pin set that applies must contain the server's key (SPKI SHA-256):
   ``pins=`` (Session and call), the pins of ``tls=securl.pinned(...)``, and this host's
   entries in each pins file (the Session's and the admin policy's). Each set is a separate
   requirement; a mismatch is `PinMismatchError` (audit ``pin_mismatch``).
2. **pinned host name** (mode ``pinned`` only, unless ``check_hostname=False``): OpenSSL did
   not check the chain or the name, so the host must be named by the leaf's subjectAltName
   (``securl.tls.x509.hostname_matches``), else ``TLSVerificationError("hostname-mismatch")``,
   or ``"no-subject-alt-name"`` when the leaf has no DNS or IP subjectAltName at all.
3. **verifiers**: each ``fn(PeerInfo)``; one that raises rejects the connection with
   ``TLSVerificationError`` (reason ``other``) chained from its exception.
4. **trust on first use**: if the host had no entry in the Session's pins file, its key is
   recorded now (audit ``pin_recorded``), atomically: if another connection recorded a
   different key first, this one is refused like any other changed key.

Then it emits the ``securl.connection`` audit event (mode, TLS version, cipher, peer, SPKI pin,
trust source, and whether the handshake resumed a TLS session). A new connection offers the
TLS session its pool kept (``securl.http.tls_sessions``), and a connection that passed these
checks gives its own to the pool when it goes back to it or is closed; the checks run on a
resumed connection as on any other.

And when writing the request fails because the server already closed the connection, it reads
the TLS alert the server sent before closing (see `SecurlHTTPSConnection.request`).

What is read from the peer certificate (its SPKI pin, subject, issuer, expiry) is a pure
function of the certificate's DER bytes, so it is kept in a small cache keyed by those exact
bytes: every new connection to the same server presents the same certificate, and parsing it
again each time was a measurable part of a connection's cost (see benchmarks/NOTES.md).

Every connection (http and https):

* is watched by the total deadline of the call using it (``securl.http.deadline``) from the
  moment it connects or sends a request;
* reports a TLS handshake that timed out as a connect timeout, not a read timeout;
* reads the response head by ``securl.http.head``'s strict rules (a head cut off by the end of
  the connection, or a malformed field line, is refused) and frames the body by RFC 9112
  section 6.3 (an invalid Content-Length is refused; a response with both Content-Length and
  Transfer-Encoding closes its connection); the request is written and urllib3's response
  built by ``securl.http.wire``.
"""

from __future__ import annotations

import builtins
import socket
import ssl
from typing import Any, NamedTuple

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.util.ssltransport import SSLTransport

from .._audit import emit
from ..exceptions import PinMismatchError, TLSVerificationError
from ..tls.decision import TrustDecision
from ..tls.judged import judged_by_securl
from ..tls.peer import PeerInfo, peer_chain
from ..tls.pins import changed_key_error
from ..tls.x509 import hostname_matches, parse_certificate, spki_pin
from .deadline import unwatch_returning, watch_current
from .errors import missing_san_fix, missing_san_text
from .head import StrictFramingResponse
from .tls_sessions import ResumingContext, SessionSlot, was_resumed
from .wire import WireMixin

__all__ = [
    "SecurlHTTPConnection",
    "SecurlHTTPConnectionPool",
    "SecurlHTTPSConnection",
    "SecurlHTTPSConnectionPool",
    "verifier_name",
]

class SecurlHTTPConnection(WireMixin, HTTPConnection):  # type: ignore[misc]
    """A plain-HTTP connection under the call's total deadline, with strict response heads."""

    response_class = StrictFramingResponse

    def connect(self) -> None:
        watch_current(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch_current(self)
        super().request(*args, **kwargs)


class SecurlHTTPConnectionPool(HTTPConnectionPool):
    """An HTTP pool whose connections are `SecurlHTTPConnection`."""

    ConnectionCls = SecurlHTTPConnection

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            unwatch_returning(conn)  # no deadline of a finished call may fire on it now
        super()._put_conn(conn)


def _name(rdns: Any) -> str | None:
    """Flatten getpeercert()'s nested subject/issuer tuples to 'CN=x, O=y'."""
    if not rdns:
        return None
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
    return ", ".join(f"{short.get(k, k)}={v}" for rdn in rdns for k, v in rdn)


def verifier_name(fn: object) -> str:
    """How a verifier is named in messages: its repr for helper objects, else its qualname."""
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(qualname, str) and not hasattr(type(fn), "__dataclass_fields__"):
        module = getattr(fn, "__module__", None)
        return f"{module}.{qualname}" if module else qualname
    return repr(fn)


def _check_pins(decision: TrustDecision, host: str, port: int, pin: str) -> None:
    """Step 1 of the module docstring: every applicable pin set must contain ``pin``."""
    sets: list[tuple[str, tuple[str, ...]]] = [("pins=", decision.config.pins)]
    if decision.pinned is not None:
        sets.append(("tls=securl.pinned()", decision.pinned.pins))
    for source, pins in sets:
        if pins and pin not in pins:
            emit("pin_mismatch", host=host, port=port, source=source, expected=list(pins),
                 got=pin)
            raise PinMismatchError(
                f"{host}:{port} presented a public key that matches none of the pins given "
                f"by {source}; no request was sent. Expected one of: {', '.join(pins)}; the "
                f"server's key is {pin}. If the server's key was rotated on purpose, add "
                "the new pin (`securl pin URL` prints it).",
                host=host,
                port=port,
            )
    for entry in decision.host_pins:
        if pin not in entry.pins:
            emit("pin_mismatch", host=host, port=port, source=entry.where,
                 expected=list(entry.pins), got=pin)
            raise changed_key_error(entry, host, port, pin)
    if decision.mode == "pinned" and not decision.any_pins and decision.tofu is None:
        raise PinMismatchError(  # pragma: no cover - a TrustDecision cannot be made like this
            f"{host}:{port}: no pin is configured for this pinned request", host=host, port=port)


def _check_pinned_hostname(der: bytes, host: str, port: int) -> None:
    """Step 2: in mode ``pinned`` the host must be in the leaf's subjectAltName."""
    try:
        cert = parse_certificate(der)
    except ValueError as exc:
        raise TLSVerificationError(
            f"{host}:{port}: the server's certificate cannot be parsed ({exc}); refusing the "
            "pinned connection", reason_code="other", host=host, port=port) from None
    if not cert.sans:  # nothing could match: the subject CN is never used (RFC 6125)
        emit("verification_failed", host=host, port=port, reason_code="no-subject-alt-name",
             mode="pinned", sans=[])
        raise TLSVerificationError(
            f"{host}:{port}: the pinned key matched, but {missing_san_text(cert.subject)}; no "
            f"request was sent. {missing_san_fix(host)} Or pass "
            "securl.pinned(..., check_hostname=False) if the key alone identifies this device.",
            reason_code="no-subject-alt-name", host=host, port=port,
        )
    if not hostname_matches(cert, host):
        emit("verification_failed", host=host, port=port, reason_code="hostname-mismatch",
             mode="pinned", sans=list(cert.sans))
        names = ", ".join(cert.sans) or "none"
        raise TLSVerificationError(
            f"{host}:{port}: the pinned key matched, but the certificate is not valid for the "
            f"name {host!r} (its subjectAltName lists: {names}); no request was sent. Connect "
            "with a listed name, or pass securl.pinned(..., check_hostname=False) if the key "
            "alone identifies this device.",
            reason_code="hostname-mismatch", host=host, port=port,
        )


class _PeerFacts(NamedTuple):
    pin: str | None
    subject: str | None
    issuer: str | None
    not_after: str | None


_peer_cache: dict[tuple[bytes, bool], _PeerFacts] = {}
_PEER_CACHE_MAX = 128


def _peer_facts(sock: ssl.SSLSocket | SSLTransport, der: bytes, verified: bool) -> _PeerFacts:
    """Pin and names of the peer certificate ``der``, cached by its exact bytes."""
    key = (der, verified)
    facts = _peer_cache.get(key)
    if facts is None:
        peer = sock.getpeercert() if verified else None
        not_after = peer.get("notAfter") if peer else None
        facts = _PeerFacts(
            spki_pin(der) if der else None,
            _name(peer.get("subject")) if peer else None,
            _name(peer.get("issuer")) if peer else None,
            not_after if isinstance(not_after, str) else None,
        )
        if len(_peer_cache) >= _PEER_CACHE_MAX:
            _peer_cache.clear()
        _peer_cache[key] = facts
    return facts


class SecurlHTTPSConnection(WireMixin, HTTPSConnection):  # type: ignore[misc]
    """An HTTPSConnection that enforces pins and verifiers and audits every TLS connection."""

    response_class = StrictFramingResponse

    def __init__(self, *args: Any, securl_trust: TrustDecision,
                 securl_sessions: SessionSlot | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.securl_trust = securl_trust
        #: Where this pool's TLS session is kept for resumption (None: resumption off).
        self.securl_sessions = securl_sessions
        #: Whether this connection passed its checks and has not yet given its TLS session.
        self.securl_session_pending = False
        #: Whether this connection's handshake resumed a TLS session.
        self.securl_resumed = False

    def connect(self) -> None:
        watch_current(self)
        self.securl_session_pending = False
        if self.securl_trust.chain_verified:
            # Re-checks the trust and client-key files; raises if they became unusable.
            self.ssl_context = self.securl_trust.context(recheck_files=True)
        ctx = self.ssl_context
        slot = self.securl_sessions
        offered = slot.offer(ctx) if slot is not None and ctx is not None else None
        if offered is not None and ctx is not None:
            self.ssl_context = ResumingContext(ctx, offered)  # type: ignore[assignment]
        try:
            with judged_by_securl(self.securl_trust.mode):
                super().connect()
        except builtins.TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"TLS handshake with {self.host}:{self.port} timed out "
                f"(connect timeout={self.timeout})"
            ) from exc
        finally:
            self.ssl_context = ctx
        sock = self.sock
        if not isinstance(sock, (ssl.SSLSocket, SSLTransport)):  # pragma: no cover
            return
        decision = self.securl_trust
        host = self._tunnel_host or self.host
        port = self._tunnel_port or self.port
        der = sock.getpeercert(binary_form=True) or b""
        facts = _peer_facts(sock, der, decision.chain_verified)
        try:
            if not der:
                raise TLSVerificationError(f"{host}:{port} presented no certificate",
                                           reason_code="other", host=host, port=port)
            pin = facts.pin
            assert pin is not None
            _check_pins(decision, host, port, pin)
            if decision.pinned is not None and decision.pinned.check_hostname:
                _check_pinned_hostname(der, host, port)
            if decision.verifiers:
                self._run_verifiers(sock, decision, host, port, der, pin)
            if decision.tofu is not None:
                self._trust_on_first_use(decision, host, port, pin)
        except BaseException:
            if slot is not None:
                slot.clear()  # a session from a server that failed a check is never offered
            sock.close()
            self.sock = None
            raise
        resumed = self.securl_resumed = offered is not None and was_resumed(sock)
        self.securl_session_pending = slot is not None
        if decision.mode == "pinned":
            self.is_verified = True  # by its key; tells urllib3 not to warn
        trust = getattr(self.ssl_context, "trust", None)
        emit(
            "connection",
            host=host,
            port=port,
            verified=decision.mode == "verified",
            mode=decision.mode,
            tls_version=sock.version(),
            cipher=(sock.cipher() or (None,))[0],
            subject=facts.subject,
            issuer=facts.issuer,
            not_after=facts.not_after,
            spki_sha256=pin,
            trust_source="pin" if decision.mode == "pinned" else (
                trust.source if trust is not None else None),
            resumed=resumed,
        )

    def keep_tls_session(self) -> None:
        """Give this connection's TLS session to its pool's slot, once (``tls_sessions``)."""
        slot, sock = self.securl_sessions, self.sock
        if slot is not None and sock is not None and slot.keep(sock, resumed=self.securl_resumed):
            self.securl_session_pending = False

    def close(self) -> None:
        if self.securl_session_pending:
            self.keep_tls_session()
            self.securl_session_pending = False
        super().close()

    def _connect_tls_proxy(self, hostname: str, sock: socket.socket) -> ssl.SSLSocket:
        """TLS to an ``https://`` proxy, verified whatever this connection's origin trusts."""
        origin_cert_reqs = self.cert_reqs
        self.cert_reqs = ssl.CERT_REQUIRED
        try:
            return super()._connect_tls_proxy(hostname, sock)
        finally:
            self.cert_reqs = origin_cert_reqs

    def _run_verifiers(self, sock: Any, decision: TrustDecision, host: str, port: int, der: bytes,
                       pin: str) -> None:
        """Step 3: every verifier must return; the first that raises rejects the connection."""
        chain, chain_verified = peer_chain(sock, der, decision.chain_verified)
        info = PeerInfo(host=host, port=port, tls_version=sock.version(),
                        cipher=(sock.cipher() or (None,))[0], chain=chain,
                        chain_verified=chain_verified, leaf_pin=pin, mode=decision.mode)
        for verifier in decision.verifiers:
            try:
                verifier(info)
            except Exception as exc:
                name = verifier_name(verifier)
                emit("verification_failed", host=host, port=port, reason_code="verifier",
                     verifier=name, error=f"{type(exc).__name__}: {exc}")
                raise TLSVerificationError(
                    f"{host}:{port}: verifier {name} rejected the server ({exc}); no request "
                    "was sent.",
                    reason_code="other", reason=exc, host=host, port=port,
                ) from exc

    def _trust_on_first_use(self, decision: TrustDecision, host: str, port: int, pin: str) -> None:
        """Step 4: record the key of a host seen for the first time, or check the winner's."""
        assert decision.tofu is not None
        existing = decision.tofu.record_first_use(host, port, pin)
        if existing is None:
            emit("pin_recorded", host=host, port=port, pin=pin, file=decision.tofu.path,
                 mode=decision.mode, chain_verified=decision.mode == "verified")
        elif pin not in existing.pins:
            emit("pin_mismatch", host=host, port=port, source=existing.where,
                 expected=list(existing.pins), got=pin)
            raise changed_key_error(existing, host, port, pin)

    def request(self, *args: Any, **kwargs: Any) -> None:
        """Send the request; if the server has already hung up, surface its TLS alert.

        A TLS 1.3 server checks the client certificate after the client has finished its
        handshake, then sends an alert (``certificate_required``, ``unknown_ca``...) and
        closes. Depending on timing the client's first write fails with a bare EOF before it
        reads anything; the alert is still waiting in the socket, so read it and raise that
        instead, which securl's error mapping turns into ClientCertificateRequired.
        The call's total deadline watches the connection from here on.
        """
        watch_current(self)
        try:
            super().request(*args, **kwargs)
        except ssl.SSLEOFError as exc:
            alert = self._pending_alert()
            if alert is not None:
                raise alert from exc
            raise

    def _pending_alert(self) -> ssl.SSLError | None:
        sock = self.sock
        if not isinstance(sock, ssl.SSLSocket):
            return None
        try:
            sock.settimeout(2.0)  # the peer has closed: this returns at once in practice
            sock.recv(1)
        except ssl.SSLEOFError:
            return None
        except ssl.SSLError as err:
            return err
        except OSError:
            return None
        return None


class SecurlHTTPSConnectionPool(HTTPSConnectionPool):
    """An HTTPS pool whose connections are `SecurlHTTPSConnection`."""

    ConnectionCls = SecurlHTTPSConnection

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            unwatch_returning(conn)  # no deadline of a finished call may fire on it now
            # Back in the pool after a response: its TLS 1.3 ticket has arrived by now.
            if conn.securl_session_pending:
                conn.keep_tls_session()
        super()._put_conn(conn)

    def _validate_conn(self, conn: Any) -> None:
        # urllib3 would warn its own InsecureRequestWarning here for every request on an
        # unverified connection. securl has already decided, warned (pointing at the caller)
        # and audited the opt-out per call, so only the early connect is kept.
        HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()
