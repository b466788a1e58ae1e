"""The one boundary where lower-level errors (ssl, urllib3, socket) become securl errors.

Each mapped error names the host, says what went wrong in words, and says how to fix it.
Callers chain with ``raise mapped from original``.
"""

from __future__ import annotations

import http.client
import ssl
from typing import TYPE_CHECKING

from .._audit import emit
from ..exceptions import ClientCertificateRequired, TLSVerificationError
from ..tls.trust import TrustInfo

if TYPE_CHECKING:
    from .deadline import Deadline

__all__ = [
    "client_cert_required",
    "deadline_exceeded",
    "is_client_cert_demand",
    "map_transport_error",
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
    "untrusted-issuer": _TRUST_FIX,
    "self-signed": "Pin the server's key instead of turning verification off: "
    "tls=securl.pinned('sha256/...', reason=...) (get the pin with `securl pin URL`), or "
    "trust the certificate itself with ca_certs='server.pem'.",
    "weak-key": "The server's operator must reissue the certificate with a stronger key.",
    "other": _TRUST_FIX,
}

_STRICT_HINTS = ("authority key identifier", "subject key identifier", "basic constraints",
                 "key usage")


def reason_code_for(err: ssl.SSLCertVerificationError) -> str:
    """The securl reason code for an OpenSSL verification failure."""
    return _REASONS.get(getattr(err, "verify_code", -1) or -1, "other")


def tls_verification_error(
    err: ssl.SSLCertVerificationError,
    host: str | None,
    port: int | None,
    trust: TrustInfo | None = None,
) -> TLSVerificationError:
    """Explain a failed certificate verification: what, where, why and how to fix it.

    This is the one place a verification failure becomes a :class:`TLSVerificationError`,
    so it is also where the failure is audited: one ``securl.verification_failed`` event per
    failure (a pin mismatch has its own event, ``securl.pin_mismatch``, raised elsewhere).
    """
    code = reason_code_for(err)
    detail = getattr(err, "verify_message", None) or str(err)
    emit("verification_failed", host=host, port=port, reason_code=code, detail=detail,
         trust_source=trust.source if trust is not None else None)
    where = f"{host}:{port}" if port else str(host)
    parts = [f"TLS verification failed for {where}: {_WHAT[code]} (OpenSSL: {detail})."]
    if trust is not None and code in ("untrusted-issuer", "self-signed", "other"):
        parts.append(f"Verified against {trust.location} ({trust.source}).")
    parts.append(_FIX[code])
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
    from ..exceptions import DeadlineExceeded

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
    usually an EOF or reset) is reported as :class:`~securl.DeadlineExceeded`. A server that
    broke HTTP -- a bad status line, a malformed head or one cut off by EOF, more than 100
    headers, a line over 64 KiB, a body shorter than its Content-Length -- is a
    :class:`~securl.ProtocolError`.
    """
    from urllib3 import exceptions as u3

    from ..exceptions import (
        ConnectionError,
        ConnectTimeout,
        ProtocolError,
        ReadTimeout,
        SecurlError,
    )
    from .head import MalformedResponseHead

    where = f"{host}:{port}" if port else host
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
    via = f" through proxy {proxy}" if proxy else ""
    handshake_timeout = any("handshake operation timed out" in str(e) for e in chain)
    # urllib3's NewConnectionError subclasses ConnectTimeoutError; only a real timeout counts.
    if handshake_timeout or (
        isinstance(exc, u3.ConnectTimeoutError)
        and (not isinstance(exc, u3.NewConnectionError) or "timed out" in str(exc))
    ):
        return ConnectTimeout(
            f"connecting to {where}{via} timed out (TCP connect or TLS handshake); check the "
            "address and firewall, or raise the connect timeout",
            reason=exc, host=host, port=port,
        )
    if isinstance(exc, (u3.ReadTimeoutError, TimeoutError)):
        return ReadTimeout(
            f"{where} did not send its response in time; raise the read timeout if the "
            "server is known to be slow",
            reason=exc, host=host, port=port,
        )
    if isinstance(exc, u3.NameResolutionError):
        return ConnectionError(f"cannot resolve host name {host!r}{via}: {exc.__cause__ or exc}",
                               reason=exc, host=host, port=port)
    if isinstance(exc, u3.ProxyError):
        return ConnectionError(f"the proxy {proxy} failed for {where}: {exc}",
                               reason=exc, host=host, port=port)
    if isinstance(exc, (u3.SSLError, ssl.SSLError)):
        return ConnectionError(f"TLS handshake with {where}{via} failed: {exc}",
                               reason=exc, host=host, port=port)
    if isinstance(exc, (u3.HeaderParsingError, u3.DecodeError, u3.InvalidHeader)):
        return ProtocolError(f"{where} sent a malformed response: {exc}",
                             reason=exc, host=host, port=port)
    if isinstance(exc, u3.ProtocolError):
        inner = exc.args[1] if len(exc.args) > 1 else exc
        text = str(inner)
        if isinstance(inner, http.client.LineTooLong):
            return ProtocolError(
                f"{where} sent a response line longer than 64 KiB ({text}); securl refuses "
                "oversized response heads", reason=exc, host=host, port=port)
        if isinstance(inner, http.client.HTTPException) and "more than" in text and (
                "headers" in text):
            return ProtocolError(
                f"{where} sent more than 100 response headers ({text}); securl refuses "
                "oversized response heads", reason=exc, host=host, port=port)
        if isinstance(inner, MalformedResponseHead):
            return ProtocolError(f"{where} broke the HTTP protocol: {text}; the connection "
                                 "is closed", reason=exc, host=host, port=port)
        if isinstance(inner, http.client.IncompleteRead) or "ended prematurely" in text:
            got = getattr(inner, "partial", None)
            counts = (f" ({got if isinstance(got, int) else len(got)} bytes read, "
                      f"{getattr(inner, 'expected', '?')} more expected)"
                      if got is not None else "")
            return ProtocolError(
                f"{where} closed the connection in the middle of the response body{counts}; "
                "the connection is closed, not reused", reason=exc, host=host, port=port)
        if isinstance(inner, http.client.HTTPException) and not isinstance(
                inner, http.client.RemoteDisconnected):
            return ProtocolError(f"{where} broke the HTTP protocol: {type(inner).__name__}: "
                                 f"{text}", reason=exc, host=host, port=port)
        return ConnectionError(f"the connection to {where}{via} was lost: {text}",
                               reason=exc, host=host, port=port)
    if isinstance(exc, (u3.NewConnectionError, OSError)):
        return ConnectionError(f"cannot connect to {where}{via}: {exc}",
                               reason=exc, host=host, port=port)
    if isinstance(exc, u3.HTTPError):
        return ConnectionError(f"request to {where} failed: {exc}", reason=exc, host=host,
                               port=port)
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))

