"""What ``securl check`` shows about a certificate (`describe_certificate`).

Display only: nothing here takes part in a trust decision (OpenSSL, or the platform
verifier, makes those). It reads with `securl.tls.x509`'s DER walk and follows its
rules, with one difference in failure: `describe_certificate` never raises. It reads
each part of the certificate on its own and lists the parts it cannot read in
`CertInfo.problems`, so one odd extension never hides the rest of a chain. Unknown
key, curve and signature OIDs are shown dotted; unknown extensions and GeneralName kinds are
skipped.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .x509 import (
    _SAN_OID,
    _SEQUENCE,
    _children,
    _extension_items,
    _extensions,
    _name,
    _oid,
    _read_tlv,
    _tbs_outline,
    _time,
    spki_pin,
)

__all__ = ["CertInfo", "describe_certificate"]

_OBJECT_IDENTIFIER = 0x06
_BASIC_CONSTRAINTS_OID = bytes.fromhex("551d13")  # 2.5.29.19 basicConstraints
_KEY_ALGS = {
    "1.2.840.113549.1.1.1": "RSA", "1.2.840.113549.1.1.10": "RSA-PSS",
    "1.2.840.10045.2.1": "EC", "1.3.101.112": "Ed25519", "1.3.101.113": "Ed448",
    "1.2.840.10040.4.1": "DSA",
}
_CURVES = {
    "1.2.840.10045.3.1.7": ("P-256", 256), "1.3.132.0.34": ("P-384", 384),
    "1.3.132.0.35": ("P-521", 521), "1.3.132.0.10": ("secp256k1", 256),
}
_SIG_ALGS = {
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}
_SAN_SHOWN = {0x81: "email", 0x82: "DNS", 0x86: "URI"}  # [1] rfc822Name, [2] dNS, [6] URI


@dataclass(frozen=True)
class CertInfo:
    """What ``securl check`` shows about one certificate (display only, never trusted).

    ``sans`` lists the subjectAltName entries securl can show, in certificate order, as
    ``DNS:x``, ``IP:x``, ``email:x`` and ``URI:x``. Fields that could not be read keep their
    default and are named in ``problems``.
    """

    subject: str
    issuer: str
    sans: tuple[str, ...] = ()
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    key_type: str = "unknown"
    key_bits: int | None = None
    signature_algorithm: str = "unknown"
    is_ca: bool = False
    spki_sha256: str = ""
    sha256_fingerprint: str = ""
    problems: tuple[str, ...] = field(default=())

    @property
    def self_issued(self) -> bool:
        """True when subject and issuer are the same name (a root or a self-signed leaf)."""
        return self.subject == self.issuer

    @property
    def key_description(self) -> str:
        """E.g. ``EC P-256 (256 bits)`` or ``RSA (2048 bits)``."""
        bits = f" ({self.key_bits} bits)" if self.key_bits else ""
        return f"{self.key_type}{bits}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (dates as ISO 8601 UTC)."""
        out = asdict(self)
        for key in ("not_before", "not_after"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        out["sans"] = list(self.sans)
        out["problems"] = list(self.problems)
        out["self_issued"] = self.self_issued
        return out


def _key(data: bytes, start: int, end: int) -> tuple[str, int | None]:
    """(type, size in bits) of the SubjectPublicKeyInfo whose value is data[start:end].

    RSA: the modulus' bit length; EC: the named curve's size (unknown curves and explicit
    parameters: no size); Ed25519/Ed448: their fixed sizes; anything else: no size.
    """
    parts = _children(data, start, end)
    if len(parts) < 2 or parts[0][0] != _SEQUENCE:
        raise ValueError("bad SubjectPublicKeyInfo")
    (_, alg_start, alg_end), (_, bits_start, bits_end) = parts[:2]
    alg = _children(data, alg_start, alg_end)
    if not alg:
        raise ValueError("bad SubjectPublicKeyInfo algorithm")
    oid = _oid(data[alg[0][1] : alg[0][2]])
    name = _KEY_ALGS.get(oid, oid)
    if name in ("RSA", "RSA-PSS"):
        key = data[bits_start + 1 : bits_end]  # skip the BIT STRING's unused-bits byte
        _, seq_start, _ = _read_tlv(key, 0)  # RSAPublicKey ::= SEQUENCE { modulus, ... }
        _, n_start, n_end = _read_tlv(key, seq_start)
        return name, int.from_bytes(key[n_start:n_end], "big").bit_length()
    if name == "EC" and len(alg) > 1 and alg[1][0] == _OBJECT_IDENTIFIER:
        curve, size = _CURVES.get(_oid(data[alg[1][1] : alg[1][2]]), ("unknown curve", 0))
        return f"EC {curve}", size or None
    if name == "Ed25519":
        return name, 256
    if name == "Ed448":
        return name, 456
    return name, None


def _shown_extensions(
    cert_der: bytes, fields: list[tuple[int, int, int, int]]
) -> tuple[tuple[str, ...], bool]:
    """(SANs as ``KIND:value``, basicConstraints cA) from the extensions; others skipped."""
    sans: list[str] = []
    is_ca = False
    for oid, tag, start, end in _extensions(cert_der, fields):
        if oid == _SAN_OID:
            inner, names = _extension_items(cert_der, tag, start, end, "subjectAltName")
            for ntag, n_start, n_end in names:
                value = inner[n_start:n_end]
                if ntag == 0x87 and len(value) in (4, 16):  # [7] iPAddress
                    sans.append(f"IP:{ipaddress.ip_address(value)}")
                elif ntag in _SAN_SHOWN:
                    sans.append(f"{_SAN_SHOWN[ntag]}:{value.decode('ascii', 'replace')}")
        elif oid == _BASIC_CONSTRAINTS_OID:
            # BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen OPTIONAL }
            inner, items = _extension_items(cert_der, tag, start, end, "basicConstraints")
            if items and items[0][0] == 0x01:
                _, b_start, b_end = items[0]
                is_ca = inner[b_start:b_end] not in (b"", b"\x00")
    return tuple(sans), is_ca


def _fingerprint(cert_der: bytes) -> str:
    """SHA-256 of the whole certificate as ``AB:CD:...`` (what browsers and openssl show)."""
    digest = hashlib.sha256(cert_der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def describe_certificate(cert_der: bytes) -> CertInfo:
    """Everything ``securl check`` shows about a DER certificate; never raises.

    The certificate's outline (`_tbs_outline`) must parse, else subject and issuer are
    ``(unreadable)`` and the only problem is that it is not valid DER. Then each part is
    read on its own, and a part that raises ``ValueError`` keeps its default in
    `CertInfo` and is named in ``problems`` (``cannot read the <part>``).
    """
    try:
        fields = _tbs_outline(cert_der)
    except ValueError:
        return CertInfo("(unreadable)", "(unreadable)", sha256_fingerprint=_fingerprint(cert_der),
                        problems=("the certificate is not valid DER",))
    _, _, sig_start, sig_end = fields[1]
    _, _, val_start, val_end = fields[3]
    _, _, spki_start, spki_end = fields[5]

    def validity() -> dict[str, Any]:
        times = _children(cert_der, val_start, val_end)
        if len(times) != 2:
            raise ValueError("bad certificate validity")
        return {"not_before": _time(times[0][0], cert_der[times[0][1] : times[0][2]]),
                "not_after": _time(times[1][0], cert_der[times[1][1] : times[1][2]])}

    def key() -> dict[str, Any]:
        key_type, key_bits = _key(cert_der, spki_start, spki_end)
        return {"key_type": key_type, "key_bits": key_bits}

    def signature() -> dict[str, Any]:
        alg = _children(cert_der, sig_start, sig_end)  # AlgorithmIdentifier
        if not alg:
            raise ValueError("bad signature algorithm")
        oid = _oid(cert_der[alg[0][1] : alg[0][2]])
        return {"signature_algorithm": _SIG_ALGS.get(oid, oid)}

    def extensions() -> dict[str, Any]:
        sans, is_ca = _shown_extensions(cert_der, fields)
        return {"sans": sans, "is_ca": is_ca}

    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "subject": lambda: {"subject": _name(cert_der, *fields[4][2:])},
        "issuer": lambda: {"issuer": _name(cert_der, *fields[2][2:])},
        "validity": validity,
        "public key": key,
        "pin": lambda: {"spki_sha256": spki_pin(cert_der)},
        "signature algorithm": signature,
        "extensions": extensions,
    }
    values: dict[str, Any] = {"subject": "(unreadable)", "issuer": "(unreadable)",
                              "sha256_fingerprint": _fingerprint(cert_der)}
    problems: list[str] = []
    for what, step in steps.items():
        try:
            values.update(step())
        except ValueError:
            problems.append(f"cannot read the {what}")
    return CertInfo(**values, problems=tuple(problems))
