"""The one boundary where lower-level errors (ssl, urllib3, socket) become securl errors.

Each mapped error names the host, says what went wrong in words, and says how to fix it.
Callers chain with ``raise mapped from original``.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._audit import emit
from ..exceptions import (
    ClientCertificateRequired,
    ConnectionError,
    ConnectTimeout,
    DeadlineExceeded,
    ProtocolError,
    ReadTimeout,
    SecurlError,
    TLSVerificationError,
    TransportError,
)
from ..tls.context import rejected_certificate
from ..tls.trust import TrustInfo
from ..tls.x509 import CertSummary, parse_certificate
from .head import MalformedResponseHead

if TYPE_CHECKING:
    from .deadline import Deadline

__all__ = [
    "client_cert_required",
    "deadline_exceeded",
    "is_client_cert_demand",
    "map_transport_error",
    "missing_san_fix",
    "missing_san_text",
    "reason_code_for",
    "tls_verification_error",
]

# OpenSSL X509_V_ERR_* codes -> securl reason codes.
_REASONS: dict[int, str] = {
    9: "not-yet-valid",  # CERT_NOT_YET_VALID
    10: "expired",  # CERT_HAS_EXPIRED
    13: "not-yet-valid",  # ERROR_IN_CERT_NOT_BEFORE_FIELD
    14: "expired",  # ERROR_IN_CERT_NOT_AFTER_FIELD
    18: "self-signed",  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: "untrusted-issuer",  # SELF_SIGNED_CERT_IN_CHAIN
    2: "untrusted-issuer",  # UNABLE_TO_GET_ISSUER_CERT
    20: "untrusted-issuer",  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "untrusted-issuer",  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27: "untrusted-issuer",  # CERT_UNTRUSTED
    62: "hostname-mismatch",  # HOSTNAME_MISMATCH
    64: "hostname-mismatch",  # IP_ADDRESS_MISMATCH
    66: "weak-key",  # EE_KEY_TOO_SMALL
    67: "weak-key",  # CA_KEY_TOO_SMALL
    68: "weak-key",  # CA_MD_TOO_WEAK
}

_WHAT = {
    "expired": "the server's certificate has expired",
    "not-yet-valid": "the server's certificate is not valid yet (check this machine's clock)",
    "hostname-mismatch": "the server's certificate is not valid for this host name",
    "no-subject-alt-name": "the server's certificate has no subjectAltName, so it names no host",
    "untrusted-issuer": "the server's certificate was issued by a CA this client does not trust",
    "self-signed": "the server presented a self-signed certificate",
    "weak-key": "the server's certificate uses a key or signature too weak to trust",
    "other": "the server's certificate could not be verified",
}

_TRUST_FIX = (
    "If the server uses a private CA, trust that CA: securl.Session(ca_certs='ca.pem') or "
    "SSL_CERT_FILE=ca.pem."
)
_FIX = {
    "expired": "The server's operator must renew the certificate.",
    "not-yet-valid": "Check this machine's clock; otherwise the operator must fix the dates.",
    "hostname-mismatch": "Connect with a name the certificate lists (see `securl check URL`), "
    "or have the operator add this name to the certificate.",
    "no-subject-alt-name": "The server's operator must reissue the certificate with a "
    "subjectAltName (DNS or IP entry) for this host.",
    "untrusted-issuer": _TRUST_FIX,
    "self-signed": "Pin the server's key instead of turning verification off: "
    "tls=securl.pinned('sha256/...', reason=...) (get the pin with `securl pin URL`), or "
    "trust the certificate itself with ca_certs='server.pem'.",
    "weak-key": "The server's operator must reissue the certificate with a stronger key.",
    "other": _TRUST_FIX,
}

_STRICT_HINTS = ("authority key identifier", "subject key identifier", "basic constraints",
                 "key usage")


def missing_san_text(subject: str) -> str:
    """Why a certificate with no DNS or IP subjectAltName is refused, whatever its subject."""
    return (
        "the server's certificate has no subjectAltName (no DNS or IP entry), so it names no "
        f"host: its subject ({subject or 'empty'!r}) is never used for host names, as RFC 6125 "
        "and browsers require"
    )


def missing_san_fix(host: str | None) -> str:
    """The fix for `missing_san_text`: the SAN entry the certificate must carry."""
    name = (host or "").strip("[]")
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
        entry = f"IP:{name}"
    except ValueError:
        entry = f"DNS:{name}"
    return (f"The server's operator must reissue the certificate with a subjectAltName that "
            f"lists this host ({entry}).")


def _leaf_without_san(err: BaseException) -> CertSummary | None:
    """The leaf a failed verification rejected, when it names no host in a subjectAltName.

    None when securl's context did not keep the leaf (another context class) or it cannot be
    parsed: the failure then keeps OpenSSL's own reason.
    """
    der = rejected_certificate(err)
    if der is None:
        return None
    try:
        cert = parse_certificate(der)
    except ValueError:
        return None
    return None if cert.sans else cert


def reason_code_for(err: ssl.SSLCertVerificationError) -> str:
    """The securl reason code for an OpenSSL verification failure.

    A host name mismatch whose certificate has no DNS or IP subjectAltName at all is
    ``no-subject-alt-name``: no name could match it, only a new certificate helps.
    """
    code = _REASONS.get(getattr(err, "verify_code", -1) or -1, "other")
    if code == "hostname-mismatch" and _leaf_without_san(err) is not None:
        return "no-subject-alt-name"
    return code


def tls_verification_error(
    err: ssl.SSLCertVerificationError,
    host: str | None,
    port: int | None,
    trust: TrustInfo | None = None,
) -> TLSVerificationError:
    """Explain a failed certificate verification: what, where, why and how to fix it.

    This is the one place a verification failure becomes a `TLSVerificationError`,
    so it is also where the failure is audited: one ``securl.verification_failed`` event per
    failure (a pin mismatch has its own event, ``securl.pin_mismatch``, raised elsewhere).
    """
    code = reason_code_for(err)
    detail = getattr(err, "verify_message", None) or str(err)
    emit("verification_failed", host=host, port=port, reason_code=code, detail=detail,
         trust_source=trust.source if trust is not None else None)
    where = f"{host}:{port}" if port else str(host)
    leaf = _leaf_without_san(err) if code == "no-subject-alt-name" else None
    what = missing_san_text(leaf.subject) if leaf is not None else _WHAT[code]
    parts = [f"TLS verification failed for {where}: {what} (OpenSSL: {detail})."]
    if trust is not None and code in ("untrusted-issuer", "self-signed", "other"):
        parts.append(f"Verified against {trust.location} ({trust.source}).")
    parts.append(missing_san_fix(host) if leaf is not None else _FIX[code])
    if code == "other" and any(h in detail.lower() for h in _STRICT_HINTS):
        parts.append(
            "This looks like a strict X.509 check (VERIFY_X509_STRICT) rejecting a legacy or "
            "private CA; the CA should be reissued, or an admin may set x509_strict = false "
            "in the securl policy."
        )
    return TLSVerificationError(" ".join(parts), reason_code=code, reason=err, host=host, port=port)


# TLS alerts a server sends about the client's certificate, as OpenSSL words them, and what
# each one means for the user. Received alerts are about *our* certificate: a problem with the
# server's certificate is found locally and raised as TLSVerificationError before this.
_CLIENT_CERT_ALERTS: tuple[tuple[str, str], ...] = (
    ("certificate required", "sent the TLS 1.3 certificate_required alert"),  # alert 116
    ("unknown ca", "does not trust the CA that issued the client certificate"),  # alert 48
    ("certificate expired", "says the client certificate has expired"),  # alert 45
    ("bad certificate", "rejected the client certificate"),  # alert 42
    ("certificate unknown", "rejected the client certificate"),  # alert 46
    ("unsupported certificate", "cannot use the client certificate's type"),  # alert 43
    ("certificate revoked", "says the client certificate was revoked"),  # alert 44
    ("access denied", "denied access to the client certificate's subject"),  # alert 49
    # TLS 1.2 servers that require a certificate answer a missing one with a bare
    # handshake_failure (40); it can also mean no shared cipher, so the message hedges.
    ("handshake failure", "ended the handshake (handshake_failure)"),
)


def _client_cert_alert(err: BaseException) -> str | None:
    text = str(err).lower().replace("_", " ")
    for marker, meaning in _CLIENT_CERT_ALERTS:
        if marker.replace("_", " ") in text:
            return meaning
    return None


def is_client_cert_demand(err: BaseException) -> bool:
    """True when a TLS error is an alert about the client certificate (missing or refused).

    TLS 1.3 servers send these alerts after the client thinks the handshake is done, so they
    surface on the first read (``SecurlHTTPSConnection`` makes sure a failed first write does
    not hide them); TLS 1.2 servers send them during the handshake.
    """
    return _client_cert_alert(err) is not None


def client_cert_required(
    err: BaseException | str, host: str | None, port: int | None, cert_given: bool
) -> ClientCertificateRequired:
    """Explain that the server wanted a (valid) client certificate, naming ``cert=``.

    ``err`` is the TLS alert, or a description of the HTTP answer that said so.
    """
    where = f"{host}:{port}" if port else str(host)
    meaning = (_client_cert_alert(err) if isinstance(err, BaseException) else None) or str(err)
    hedge = "handshake_failure" in meaning
    if cert_given:
        msg = (
            f"{where} refused the client certificate securl sent: the server {meaning}. Check "
            "that cert= names a certificate issued by a CA the server trusts, not expired, "
            "together with its private key."
        )
        if hedge:
            msg += " (A bare handshake_failure can also mean no shared cipher or TLS version.)"
    else:
        msg = (
            f"{where} requires a client certificate (2-way TLS) and none was configured (the "
            f"server {meaning}). Pass cert=('client.pem', 'client.key') to the Session or to "
            "this call."
        )
        if hedge:
            msg += (" (A bare handshake_failure from a TLS 1.2 server usually means this; it "
                    "can also mean no shared cipher or TLS version.)")
    if isinstance(err, BaseException):
        msg += f" [TLS: {err}]"
    return ClientCertificateRequired(msg, reason=err, host=host, port=port)


def deadline_exceeded(deadline: Deadline, host: str, port: int | None,
                      reason: object = None) -> Exception:
    """The error for a call that ran past its total deadline."""
    where = f"{host}:{port}" if port else host
    return DeadlineExceeded(
        f"the request to {where} did not complete within its total deadline of "
        f"{deadline.total:g} s (connect, TLS, headers, body and redirects together); the "
        "server may be sending very slowly. Raise it with "
        "timeout=securl.Timeouts(total=...) if that is expected",
        reason=reason, host=host, port=port,
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (args, __cause__, __context__, urllib3's .reason), in order."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen) or len(seen) > 20:
            continue
        seen.append(current)
        for nxt in (getattr(current, "reason", None), current.__cause__, current.__context__,
                    *current.args):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


class _Failure:
    """One transport error being mapped, and the words every message is built from."""

    __slots__ = ("chain", "exc", "host", "inner", "port", "proxy", "via", "where")

    def __init__(self, exc: BaseException, chain: list[BaseException], host: str,
                 port: int | None, proxy: str | None) -> None:
        self.exc = exc
        self.chain = chain
        self.host = host
        self.port = port
        self.proxy = proxy
        self.where = f"{host}:{port}" if port else host
        self.via = f" through proxy {proxy}" if proxy else ""
        # What urllib3's ProtocolError wraps: ("Connection aborted.", <http.client error>).
        self.inner: object = exc.args[1] if len(exc.args) > 1 else exc


#: What a rule tests: the error's class (a class or a tuple of classes), or a predicate.
_Test = type[BaseException] | tuple[type[BaseException], ...] | Callable[[_Failure], bool]
#: (test, securl error class, message builder): the first rule whose test passes maps.
_Rule = tuple[_Test, type[TransportError], Callable[[_Failure], str]]


def _bytes_read(f: _Failure) -> str:
    """`` (N bytes read, M more expected)`` for a body cut short, when urllib3 counted."""
    got = getattr(f.inner, "partial", None)
    if got is None:
        return ""
    return (f" ({got if isinstance(got, int) else len(got)} bytes read, "
            f"{getattr(f.inner, 'expected', '?')} more expected)")


@functools.cache
def _rules() -> tuple[_Rule, ...]:
    """The mapping table, tried in order. Built on first use because it names urllib3's
    classes: ``securl check`` and ``securl pin`` import this module and never load urllib3."""
    from urllib3 import exceptions as u3

    def connect_timed_out(f: _Failure) -> bool:
        # urllib3's NewConnectionError subclasses ConnectTimeoutError; only a real timeout
        # counts (or a TLS handshake that timed out, anywhere in the chain).
        return any("handshake operation timed out" in str(e) for e in f.chain) or (
            isinstance(f.exc, u3.ConnectTimeoutError)
            and (not isinstance(f.exc, u3.NewConnectionError) or "timed out" in str(f.exc)))

    def wraps(kind: type[BaseException], *, says: Callable[[str], bool] | None = None,
              unless: type[BaseException] | tuple[()] = ()) -> Callable[[_Failure], bool]:
        """Test: urllib3's ProtocolError wrapping a ``kind`` error (whose text ``says``)."""
        return lambda f: (isinstance(f.exc, u3.ProtocolError) and isinstance(f.inner, kind)
                          and not isinstance(f.inner, unless)
                          and (says is None or says(str(f.inner))))

    def cut_short(f: _Failure) -> bool:
        return isinstance(f.exc, u3.ProtocolError) and (
            isinstance(f.inner, http.client.IncompleteRead) or "ended prematurely" in str(f.inner))

    return (
        (connect_timed_out, ConnectTimeout, lambda f: (
            f"connecting to {f.where}{f.via} timed out (TCP connect or TLS handshake); check "
            "the address and firewall, or raise the connect timeout")),
        ((u3.ReadTimeoutError, TimeoutError), ReadTimeout, lambda f: (
            f"{f.where} did not send its response in time; raise the read timeout if the "
            "server is known to be slow")),
        (u3.NameResolutionError, ConnectionError, lambda f: (
            f"cannot resolve host name {f.host!r}{f.via}: {f.exc.__cause__ or f.exc}")),
        (u3.ProxyError, ConnectionError, lambda f: (
            f"the proxy {f.proxy} failed for {f.where}: {f.exc}")),
        ((u3.SSLError, ssl.SSLError), ConnectionError, lambda f: (
            f"TLS handshake with {f.where}{f.via} failed: {f.exc}")),
        ((u3.HeaderParsingError, u3.DecodeError, u3.InvalidHeader), ProtocolError, lambda f: (
            f"{f.where} sent a malformed response: {f.exc}")),
        # urllib3's ProtocolError: what it wraps says whether the server broke HTTP.
        (wraps(http.client.LineTooLong), ProtocolError, lambda f: (
            f"{f.where} sent a response line longer than 64 KiB ({f.inner}); securl refuses "
            "oversized response heads")),
        (wraps(http.client.HTTPException, says=lambda t: "more than" in t and "headers" in t),
         ProtocolError, lambda f: (
            f"{f.where} sent more than 100 response headers ({f.inner}); securl refuses "
            "oversized response heads")),
        (wraps(MalformedResponseHead), ProtocolError, lambda f: (
            f"{f.where} broke the HTTP protocol: {f.inner}; the connection is closed")),
        (cut_short, ProtocolError, lambda f: (
            f"{f.where} closed the connection in the middle of the response body"
            f"{_bytes_read(f)}; the connection is closed, not reused")),
        (wraps(http.client.HTTPException, unless=http.client.RemoteDisconnected),
         ProtocolError, lambda f: (
             f"{f.where} broke the HTTP protocol: {type(f.inner).__name__}: {f.inner}")),
        (u3.ProtocolError, ConnectionError, lambda f: (
            f"the connection to {f.where}{f.via} was lost: {f.inner}")),
        ((u3.NewConnectionError, OSError), ConnectionError, lambda f: (
            f"cannot connect to {f.where}{f.via}: {f.exc}")),
        (u3.HTTPError, ConnectionError, lambda f: f"request to {f.where} failed: {f.exc}"),
    )


def _passes(test: _Test, failure: _Failure) -> bool:
    if isinstance(test, (type, tuple)):
        return isinstance(failure.exc, test)
    return test(failure)


def map_transport_error(
    exc: BaseException,
    host: str,
    port: int | None,
    *,
    trust: TrustInfo | None = None,
    cert_given: bool = False,
    proxy: str | None = None,
    deadline: Deadline | None = None,
) -> Exception:
    """Turn a urllib3/ssl/socket error into the securl error that explains it.

    The caller raises the result ``from exc``. Errors securl raised itself inside urllib3
    (e.g. a pin mismatch during connect) come back out unchanged. Once the call's total
    ``deadline`` has passed, whatever broke (the watchdog shuts the socket down, so it is
    usually an EOF or reset) is reported as `DeadlineExceeded`. A server that
    broke HTTP -- a bad status line, a malformed head or one cut off by EOF, more than 100
    headers, a line over 64 KiB, a body shorter than its Content-Length -- is a
    `ProtocolError`.

    Steps, in order: the special cases below, which look through the whole chain of causes,
    then the first rule of `_rules` that ``exc`` itself passes. An error no rule maps
    comes back as it is (a ``BaseException`` that is no ``Exception`` as a RuntimeError).
    """
    chain = _causes(exc)
    for err in chain:
        if isinstance(err, SecurlError):
            return err
    for err in chain:
        if isinstance(err, ssl.SSLCertVerificationError):
            return tls_verification_error(err, host, port, trust)
    if deadline is not None and deadline.passed:
        return deadline_exceeded(deadline, host, port, reason=exc)
    for err in chain:
        if isinstance(err, ssl.SSLError) and is_client_cert_demand(err):
            return client_cert_required(err, host, port, cert_given)
    failure = _Failure(exc, chain, host, port, proxy)
    for test, error_class, message in _rules():
        if _passes(test, failure):
            return error_class(message(failure), reason=exc, host=host, port=port)
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
