"""Just enough DER to pin a key: find a certificate's SubjectPublicKeyInfo and hash it.

Pins are ``sha256/<base64 of SHA-256(SubjectPublicKeyInfo DER)>``, the HPKP (RFC 7469) form:
a pin names a key, so it survives certificate renewal with the same key. Parsing is a few
lines of DER walking rather than a dependency on ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["spki_der", "spki_pin"]


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, pos, end


def spki_der(cert_der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of an X.509 certificate (RFC 5280 section 4.1)."""
    tag, cert_start, _ = _read_tlv(cert_der, 0)  # Certificate ::= SEQUENCE
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    tag, pos, _ = _read_tlv(cert_der, cert_start)  # tbsCertificate ::= SEQUENCE
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    tag, _, end = _read_tlv(cert_der, pos)
    if tag == 0xA0:  # [0] EXPLICIT version, optional
        pos = end
    # serialNumber, signature, issuer, validity, subject
    for _ in range(5):
        _, _, pos = _read_tlv(cert_der, pos)
    start = pos
    tag, _, end = _read_tlv(cert_der, pos)
    if tag != 0x30:
        raise ValueError("no SubjectPublicKeyInfo")
    return cert_der[start:end]


def spki_pin(cert_der: bytes) -> str:
    """The ``sha256/<base64>`` pin of a DER certificate's public key."""
    digest = hashlib.sha256(spki_der(cert_der)).digest()
    return "sha256/" + base64.b64encode(digest).decode("ascii")
