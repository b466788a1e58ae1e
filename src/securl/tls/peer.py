"""What a verifier sees about a new TLS connection: `PeerInfo`.

Verifiers (``verifiers=[fn, ...]``) run after the handshake and the pin checks, before any
request byte is sent. They get the peer's certificate chain as DER, leaf first:

* ``verified`` connections: the chain OpenSSL built and verified
  (``get_verified_chain()``: public from Python 3.13, on the private ``_sslobj`` before);
* ``pinned`` and ``unverified`` connections, or where the verified chain is unavailable
  (a native verifier such as truststore on macOS/Windows): the chain the server presented,
  and ``chain_verified`` says which one it is;
* only the leaf, if the Python exposes neither.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import Any

from .x509 import CertSummary, parse_certificate

__all__ = ["PeerInfo", "peer_chain"]


@dataclass(frozen=True)
class PeerInfo:
    """Facts about a freshly handshaken TLS connection, handed to each verifier.

    Attributes:
        host: the host name (or IP) the request is for, as in the URL.
        port: the TCP port.
        tls_version: e.g. ``"TLSv1.3"``.
        cipher: the negotiated cipher suite's OpenSSL name.
        chain: DER certificates, leaf first (see the module docstring).
        chain_verified: True when ``chain`` is the chain verification built (mode
            ``verified``); False when it is what the server presented.
        leaf_pin: the leaf's ``sha256/<base64>`` SPKI pin.
        mode: the trust mode, ``verified``, ``pinned``, ``chain-only`` (chain verified, host
            name not: the urllib drop-in's ``check_hostname=False``) or ``unverified``.
    """

    host: str
    port: int
    tls_version: str | None
    cipher: str | None
    chain: tuple[bytes, ...]
    chain_verified: bool
    leaf_pin: str
    mode: str = "verified"

    @functools.cached_property
    def leaf(self) -> CertSummary:
        """The leaf certificate's subject, issuer, validity, SANs and pin."""
        return parse_certificate(self.chain[0])

    @property
    def leaf_sans(self) -> tuple[str, ...]:
        """The leaf's subjectAltName DNS names, then its IP addresses (as strings)."""
        return self.leaf.sans

    @property
    def subject(self) -> str:
        """The leaf's subject, e.g. ``"CN=device.lab, O=Example"``."""
        return self.leaf.subject

    @property
    def issuer(self) -> str:
        """The leaf's issuer, e.g. ``"CN=Example Issuing CA 2, O=Example"``."""
        return self.leaf.issuer


def _as_der(items: Any) -> tuple[bytes, ...]:
    out = []
    for item in items or ():
        out.append(item if isinstance(item, bytes) else item.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
    return tuple(out)


def peer_chain(sock: Any, leaf: bytes, verified: bool) -> tuple[tuple[bytes, ...], bool]:
    """The peer's chain as DER, leaf first, and whether it is the verified chain.

    Rules in the module docstring; ``verified`` says whether the handshake verified the chain.
    """
    obj = getattr(sock, "sslobj", sock)  # urllib3's SSLTransport (TLS in TLS) wraps an SSLObject
    names = ("get_verified_chain", "get_unverified_chain") if verified else (
        "get_unverified_chain",)
    for name in names:
        for holder in (obj, getattr(obj, "_sslobj", None)):
            method = getattr(holder, name, None)
            if method is None:
                continue
            try:
                chain = _as_der(method())
            except (ssl.SSLError, ValueError, AttributeError):
                continue
            if chain:
                return (chain if chain[0] == leaf else (leaf, *chain)), (
                    name == "get_verified_chain")
    return (leaf,), False
