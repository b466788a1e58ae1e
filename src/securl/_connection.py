"""urllib3 connection and pool classes that carry securl's checks into every handshake.

Right after the TLS handshake, before any request byte is written, a connection:

1. checks the server's key against the configured pins (``pins=``), refusing with
   :class:`~securl.PinMismatchError` and closing the socket on a mismatch;
2. emits the ``securl.connection`` audit event (TLS version, cipher, peer, SPKI pin, trust).

And when writing the request fails because the server already closed the connection, it reads
the TLS alert the server sent before closing (see :meth:`SecurlHTTPSConnection.request`).
"""

from __future__ import annotations

import ssl
from typing import Any

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

    def request(self, *args: Any, **kwargs: Any) -> None:
        """Send the request; if the server has already hung up, surface its TLS alert.

        A TLS 1.3 server checks the client certificate after the client has finished its
        handshake, then sends an alert (``certificate_required``, ``unknown_ca``...) and
        closes. Depending on timing the client's first write fails with a bare EOF before it
        reads anything; the alert is still waiting in the socket, so read it and raise that
        instead, which securl's error mapping turns into ClientCertificateRequired.
        """
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
    """An HTTPS pool whose connections are :class:`SecurlHTTPSConnection`."""

    ConnectionCls = SecurlHTTPSConnection
