"""urllib3 connection and pool classes that carry securl's checks into every handshake.

Before connecting, a verified HTTPS connection takes its context from the trust decision
(``TLSPolicy.context()``), so a trust store or client key file that changed since the last
connection is re-read, and one that disappeared fails with :class:`~securl.ConfigurationError`
instead of being used from memory or skipped (see ``securl._context``).

Right after the TLS handshake, before any request byte is written, a connection:

1. checks the server's key against the configured pins (``pins=``), refusing with
   :class:`~securl.PinMismatchError` and closing the socket on a mismatch;
2. emits the ``securl.connection`` audit event (TLS version, cipher, peer, SPKI pin, trust).

Every connection (http and https):

* is watched by the total deadline of the call using it (``securl._deadline``) from the
  moment it connects or sends a request;
* reports a TLS handshake that timed out as a connect timeout, not a read timeout;
* refuses a response head cut off by the end of the connection (a status line or header
  block without its final line end): ``http.client`` would accept the fragment as a complete,
  empty response.
"""

from __future__ import annotations

import builtins
import http.client
import ssl
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.util.ssltransport import SSLTransport

from ._audit import emit
from ._deadline import watch_current
from ._tls import TLSPolicy
from ._x509 import spki_pin
from .exceptions import PinMismatchError

__all__ = [
    "SecurlHTTPConnection",
    "SecurlHTTPConnectionPool",
    "SecurlHTTPSConnection",
    "SecurlHTTPSConnectionPool",
    "TruncatedResponseHead",
]

_MAXLINE = 65536  # http.client's line limit; a longer line is its LineTooLong, not ours


class TruncatedResponseHead(http.client.HTTPException):
    """The connection ended inside the status line or the header block."""


class _HeadReader:
    """Wraps a response's file during ``begin()`` to notice a head cut off by EOF."""

    def __init__(self, fp: Any) -> None:
        self._fp = fp
        self.truncated = False

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self._fp.readline(limit)
        if not line.endswith(b"\n") and len(line) <= _MAXLINE:
            self.truncated = True
        return line

    def close(self) -> None:
        self._fp.close()


class _StrictHeadResponse(http.client.HTTPResponse):
    """An ``http.client`` response that refuses a head the server did not finish."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        fp = self.fp
        reader = _HeadReader(fp)
        self.fp = reader
        try:
            super().begin()
        finally:
            if self.fp is reader:
                self.fp = fp
        if reader.truncated:
            self.close()
            raise TruncatedResponseHead(
                "the connection closed in the middle of the response status line or headers"
            )


class SecurlHTTPConnection(HTTPConnection):
    """A plain-HTTP connection under the call's total deadline, with strict response heads."""

    response_class = _StrictHeadResponse

    def connect(self) -> None:
        watch_current(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch_current(self)
        super().request(*args, **kwargs)


class SecurlHTTPConnectionPool(HTTPConnectionPool):
    """An HTTP pool whose connections are :class:`SecurlHTTPConnection`."""

    ConnectionCls = SecurlHTTPConnection


def _name(rdns: Any) -> str | None:
    """Flatten getpeercert()'s nested subject/issuer tuples to 'CN=x, O=y'."""
    if not rdns:
        return None
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
    return ", ".join(f"{short.get(k, k)}={v}" for rdn in rdns for k, v in rdn)


class SecurlHTTPSConnection(HTTPSConnection):
    """An HTTPSConnection that enforces pins and audits every new TLS connection."""

    response_class = _StrictHeadResponse

    def __init__(self, *args: Any, securl_policy: TLSPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.securl_policy = securl_policy

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch_current(self)
        super().request(*args, **kwargs)

    def connect(self) -> None:
        watch_current(self)
        if self.securl_policy.mode == "verified":
            # Re-checks the trust and client-key files; raises if they became unusable.
            self.ssl_context = self.securl_policy.context()
        try:
            super().connect()
        except builtins.TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"TLS handshake with {self.host}:{self.port} timed out "
                f"(connect timeout={self.timeout})"
            ) from exc
        sock = self.sock
        if not isinstance(sock, (ssl.SSLSocket, SSLTransport)):  # pragma: no cover
            return
        policy = self.securl_policy
        host = self._tunnel_host or self.host
        port = self._tunnel_port or self.port
        der = sock.getpeercert(binary_form=True) or b""
        pin = spki_pin(der) if der else None
        pins = policy.config.pins
        if pins and pin not in pins:
            sock.close()
            self.sock = None
            emit("pin_mismatch", host=host, port=port, expected=list(pins), got=pin)
            raise PinMismatchError(
                f"{host}:{port} presented a public key that matches none of the configured "
                f"pins; no request was sent. Expected one of: {', '.join(pins)}; the server's "
                f"key is {pin}. If the server's key was rotated on purpose, add the new pin.",
                host=host,
                port=port,
            )
        peer = sock.getpeercert() if policy.mode == "verified" else None
        trust = getattr(self.ssl_context, "trust", None)
        emit(
            "connection",
            host=host,
            port=port,
            verified=policy.mode == "verified",
            tls_version=sock.version(),
            cipher=(sock.cipher() or (None,))[0],
            subject=_name(peer.get("subject")) if peer else None,
            issuer=_name(peer.get("issuer")) if peer else None,
            not_after=peer.get("notAfter") if peer else None,
            spki_sha256=pin,
            trust_source=trust.source if trust is not None else None,
        )


class SecurlHTTPSConnectionPool(HTTPSConnectionPool):
    """An HTTPS pool whose connections are :class:`SecurlHTTPSConnection`."""

    ConnectionCls = SecurlHTTPSConnection
