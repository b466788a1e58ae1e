"""Reading an X.509 certificate for display: names, dates, SANs, key type and size.

``securl check`` must show the certificate a server sent even when verification failed, when
``ssl.getpeercert()`` returns nothing, and without ``cryptography`` (not a runtime
dependency). So this module walks the DER itself, read-only, for *display only*: nothing
here takes part in a trust decision (OpenSSL, or the platform verifier, makes those).
Unknown or malformed parts are shown as unknown instead of raising, so one odd extension
never hides the rest of the chain.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ._x509 import _read_tlv, spki_pin

__all__ = ["CertInfo", "parse_certificate"]

_NAME_ATTRS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
}
_KEY_ALGS = {
    "1.2.840.113549.1.1.1": "RSA",
    "1.2.840.113549.1.1.10": "RSA-PSS",
    "1.2.840.10045.2.1": "EC",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
    "1.2.840.10040.4.1": "DSA",
}
_CURVES = {
    "1.2.840.10045.3.1.7": ("P-256", 256),
    "1.3.132.0.34": ("P-384", 384),
    "1.3.132.0.35": ("P-521", 521),
    "1.3.132.0.10": ("secp256k1", 256),
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
_SAN_OID = "2.5.29.17"
_BASIC_CONSTRAINTS_OID = "2.5.29.19"


@dataclass(frozen=True)
class CertInfo:
    """What ``securl check`` shows about one certificate."""

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


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The (tag, value start, value end) of every element between ``start`` and ``end``."""
    out = []
    pos = start
    while pos < end:
        tag, vstart, vend = _read_tlv(data, pos)
        out.append((tag, vstart, vend))
        pos = vend
    return out


def _oid(value: bytes) -> str:
    if not value:
        raise ValueError("empty OID")
    parts = [str(min(value[0] // 40, 2)), str(value[0] - 40 * min(value[0] // 40, 2))]
    n = 0
    for byte in value[1:]:
        n = (n << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(str(n))
            n = 0
    return ".".join(parts)


def _string(tag: int, value: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return value.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return value.decode("utf-32-be", "replace")
    if tag == 0x0C:  # UTF8String
        return value.decode("utf-8", "replace")
    return value.decode("latin-1")  # Printable, IA5, T61, Visible: ASCII in practice


def _name(data: bytes, start: int, end: int) -> str:
    """A Name as ``CN=x, O=y`` in certificate order."""
    parts = []
    for _, set_start, set_end in _children(data, start, end):
        for _, seq_start, seq_end in _children(data, set_start, set_end):
            (_, os_, oe), (vtag, vs, ve) = _children(data, seq_start, seq_end)[:2]
            oid = _oid(data[os_:oe])
            parts.append(f"{_NAME_ATTRS.get(oid, oid)}={_string(vtag, data[vs:ve])}")
    return ", ".join(parts)


def _time(tag: int, value: bytes) -> datetime.datetime:
    text = value.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 50-99 are 19xx (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    parsed = datetime.datetime.strptime(text.rstrip("Z"), "%Y%m%d%H%M%S")
    return parsed.replace(tzinfo=datetime.timezone.utc)


def _key(data: bytes, start: int, end: int) -> tuple[str, int | None]:
    (_, alg_start, alg_end), (_, bits_start, bits_end) = _children(data, start, end)[:2]
    alg = _children(data, alg_start, alg_end)
    oid = _oid(data[alg[0][1] : alg[0][2]])
    name = _KEY_ALGS.get(oid, oid)
    if name in ("RSA", "RSA-PSS"):
        key = data[bits_start + 1 : bits_end]  # skip the BIT STRING's unused-bits byte
        _, seq_start, _ = _read_tlv(key, 0)
        _, ns, ne = _read_tlv(key, seq_start)
        return name, int.from_bytes(key[ns:ne], "big").bit_length()
    if name == "EC" and len(alg) > 1 and alg[1][0] == 0x06:
        curve, size = _CURVES.get(_oid(data[alg[1][1] : alg[1][2]]), ("unknown curve", 0))
        return f"EC {curve}", size or None
    if name == "Ed25519":
        return name, 256
    if name == "Ed448":
        return name, 456
    return name, None


def _extensions(data: bytes, start: int, end: int) -> tuple[tuple[str, ...], bool]:
    """(subject alternative names, is a CA) from the ``[3]`` extensions element."""
    sans: list[str] = []
    is_ca = False
    (_, seq_start, seq_end), = _children(data, start, end)[:1]
    for _, ext_start, ext_end in _children(data, seq_start, seq_end):
        items = _children(data, ext_start, ext_end)
        oid = _oid(data[items[0][1] : items[0][2]])
        _, vs, _ = items[-1]  # extnValue OCTET STRING (critical BOOLEAN may precede it)
        if oid == _SAN_OID:
            _, gs, ge = _read_tlv(data, vs)
            for tag, s, e in _children(data, gs, ge):
                value = data[s:e]
                if tag == 0x82:
                    sans.append(f"DNS:{value.decode('ascii', 'replace')}")
                elif tag == 0x87 and len(value) in (4, 16):
                    sans.append(f"IP:{ipaddress.ip_address(value)}")
                elif tag == 0x81:
                    sans.append(f"email:{value.decode('ascii', 'replace')}")
                elif tag == 0x86:
                    sans.append(f"URI:{value.decode('ascii', 'replace')}")
        elif oid == _BASIC_CONSTRAINTS_OID:
            _, bs, be = _read_tlv(data, vs)
            inner = _children(data, bs, be)
            is_ca = bool(inner) and inner[0][0] == 0x01 and data[inner[0][1]] != 0
    return tuple(sans), is_ca


def parse_certificate(der: bytes) -> CertInfo:
    """Describe a DER certificate; parts that cannot be read are listed in ``problems``."""
    fingerprint = hashlib.sha256(der).hexdigest()
    fingerprint = ":".join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)).upper()
    try:
        _, cert_start, _ = _read_tlv(der, 0)
        _, tbs_start, tbs_end = _read_tlv(der, cert_start)
        fields = _children(der, tbs_start, tbs_end)
        if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
            fields = fields[1:]
        _serial, sig, issuer, validity, subject, spki, *rest = fields
    except (ValueError, IndexError):
        return CertInfo("(unreadable)", "(unreadable)", sha256_fingerprint=fingerprint,
                        problems=("the certificate is not valid DER",))
    problems: list[str] = []
    values: dict[str, Any] = {
        "subject": _name(der, subject[1], subject[2]),
        "issuer": _name(der, issuer[1], issuer[2]),
        "sha256_fingerprint": fingerprint,
    }
    def validity_step() -> dict[str, Any]:
        return {"not_before": _time(*_tag_value(der, validity, 0)),
                "not_after": _time(*_tag_value(der, validity, 1))}

    def key_step() -> dict[str, Any]:
        key_type, key_bits = _key(der, spki[1], spki[2])
        return {"key_type": key_type, "key_bits": key_bits}

    def signature_step() -> dict[str, Any]:
        oid = _oid(der[slice(*_children(der, sig[1], sig[2])[0][1:])])
        return {"signature_algorithm": _SIG_ALGS.get(oid, oid)}

    def extensions_step() -> dict[str, Any]:
        for tag, start, end in rest:
            if tag == 0xA3:
                sans, is_ca = _extensions(der, start, end)
                return {"sans": sans, "is_ca": is_ca}
        return {}

    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "validity": validity_step,
        "public key": key_step,
        "pin": lambda: {"spki_sha256": spki_pin(der)},
        "signature algorithm": signature_step,
        "extensions": extensions_step,
    }
    for what, step in steps.items():
        try:
            values.update(step())
        except (ValueError, IndexError, UnicodeDecodeError):
            problems.append(f"cannot read the {what}")
    return CertInfo(**values, problems=tuple(problems))


def _tag_value(der: bytes, element: tuple[int, int, int], index: int) -> tuple[int, bytes]:
    tag, start, end = _children(der, element[1], element[2])[index]
    return tag, der[start:end]
