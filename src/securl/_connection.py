"""urllib3 connection and pool classes that carry securl's checks into every handshake.

Right after the TLS handshake, before any request byte is written, a connection:

1. checks the server's key against the configured pins (``pins=``), refusing with
   :class:`~securl.PinMismatchError` and closing the socket on a mismatch;
2. emits the ``securl.connection`` audit event (TLS version, cipher, peer, SPKI pin, trust).

What is read from the peer certificate (its SPKI pin, subject, issuer, expiry) is a pure
function of the certificate's DER bytes, so it is kept in a small cache keyed by those exact
bytes: every new connection to the same server presents the same certificate, and parsing it
again each time was a measurable part of a connection's cost (see benchmarks/NOTES.md).
"""

from __future__ import annotations

import ssl
from typing import Any, NamedTuple

from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.util.ssltransport import SSLTransport

from ._audit import emit
from ._tls import TLSPolicy
from ._x509 import spki_pin
from .exceptions import PinMismatchError

__all__ = ["SecurlHTTPSConnection", "SecurlHTTPSConnectionPool"]


def _name(rdns: Any) -> str | None:
    """Flatten getpeercert()'s nested subject/issuer tuples to 'CN=x, O=y'."""
    if not rdns:
        return None
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
    return ", ".join(f"{short.get(k, k)}={v}" for rdn in rdns for k, v in rdn)


class _PeerFacts(NamedTuple):
    pin: str | None
    subject: str | None
    issuer: str | None
    not_after: str | None


_peer_cache: dict[tuple[bytes, bool], _PeerFacts] = {}
_PEER_CACHE_MAX = 128


def _peer_facts(sock: ssl.SSLSocket | SSLTransport, verified: bool) -> _PeerFacts:
    """Pin and names of the peer certificate, cached by its exact DER bytes."""
    der = sock.getpeercert(binary_form=True) or b""
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


class SecurlHTTPSConnection(HTTPSConnection):
    """An HTTPSConnection that enforces pins and audits every new TLS connection."""

    def __init__(self, *args: Any, securl_policy: TLSPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.securl_policy = securl_policy

    def connect(self) -> None:
        super().connect()
        sock = self.sock
        if not isinstance(sock, (ssl.SSLSocket, SSLTransport)):  # pragma: no cover
            return
        policy = self.securl_policy
        host = self._tunnel_host or self.host
        port = self._tunnel_port or self.port
        facts = _peer_facts(sock, policy.mode == "verified")
        pin = facts.pin
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
        trust = getattr(self.ssl_context, "trust", None)
        emit(
            "connection",
            host=host,
            port=port,
            verified=policy.mode == "verified",
            tls_version=sock.version(),
            cipher=(sock.cipher() or (None,))[0],
            subject=facts.subject,
            issuer=facts.issuer,
            not_after=facts.not_after,
            spki_sha256=pin,
            trust_source=trust.source if trust is not None else None,
        )


class SecurlHTTPSConnectionPool(HTTPSConnectionPool):
    """An HTTPS pool whose connections are :class:`SecurlHTTPSConnection`."""

    ConnectionCls = SecurlHTTPSConnection
