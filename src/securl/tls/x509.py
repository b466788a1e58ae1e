"""securl's one DER / X.509 reader: pins, pinned-mode host names, and ``securl check``.

Everything securl reads from a certificate is read here, by a small walk over the fields RFC
5280 section 4.1 defines, not by ``cryptography`` (not a runtime dependency). Three entry
points share that walk and differ in how much they read:

* `spki_pin` / `spki_der` (per new connection, in every mode): only the
  top-level elements of tbsCertificate, then one SHA-256. Pins are
  ``sha256/<base64 of SHA-256(SubjectPublicKeyInfo DER)>``, the HPKP (RFC 7469) form: a pin
  names a key, so it survives certificate renewal with the same key.
* `parse_certificate` -> `CertSummary` (per new pinned connection, for
  `PeerInfo.leaf <securl.PeerInfo.leaf>`, and ``securl pin``): subject, issuer,
  validity, the subjectAltName extension and the pin. Nothing else: the key's parameters,
  the signature algorithm and the other extensions are never decoded on this path.
  For ``tls=securl.pinned(...)`` the chain is not validated by OpenSSL, so securl itself
  matches the host name against these names (`hostname_matches`).
* `securl.tls.certinfo.describe_certificate` -> ``CertInfo`` (``securl check``,
  display only), in a module of its own built on this one's helpers: all of the above plus
  key type and size, signature algorithm, basicConstraints' CA flag, every SAN kind securl
  can show, and the certificate's SHA-256 fingerprint. Nothing it returns takes part in a
  trust decision (OpenSSL, or the platform verifier, makes those).

Rules:

* only definite-length DER with single-byte tags is accepted (X.509 uses nothing else), and
  an element may not overrun its parent; times must be ``YYMMDDHHMMSSZ`` (UTCTime, years
  50-99 are 19xx) or ``YYYYMMDDHHMMSSZ`` (GeneralizedTime), in UTC, as RFC 5280 requires;
* bad input raises ``ValueError`` (``UnicodeDecodeError`` is one) and nothing else, from
  every helper here. `parse_certificate` lets it propagate, and its callers treat an
  unparsable certificate as a failed check (fail closed). ``describe_certificate`` never
  raises: it reads each part on its own and lists the parts it cannot read in
  ``CertInfo.problems``, so one odd extension never hides the rest of a chain;
* tolerated, because they are shown and never trusted: attribute values in any string
  type (unknown ones decoded as Latin-1, undecodable bytes replaced), unknown attribute,
  key, curve and signature OIDs (shown dotted), unknown extensions and GeneralName kinds
  (skipped);
* names are matched against ``dNSName`` and ``iPAddress`` SAN entries only. The subject's
  common name is never used for matching (RFC 6125 section 6.4.4; browsers dropped it too);
* a wildcard is honoured only as the whole left-most label (``*.example.com``), matching
  exactly one label, and never with fewer than two labels after it (so no ``*.com``);
  IP hosts match only ``iPAddress`` entries, byte for byte.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "CertSummary",
    "hostname_matches",
    "parse_certificate",
    "spki_der",
    "spki_pin",
]

_SEQUENCE = 0x30
_OCTET_STRING = 0x04
_SAN_OID = bytes.fromhex("551d11")  # 2.5.29.17 subjectAltName
_ATTR_NAMES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
}


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte DER tags are not used in X.509")
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


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The (tag, value start, value end) of each element between ``start`` and ``end``."""
    return [(tag, vstart, vend) for tag, _, vstart, vend in _elements(data, start, end)]


def _elements(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, value start, value end) of each element in [start, end)."""
    out = []
    pos = start
    while pos < end:
        tag, vstart, vend = _read_tlv(data, pos)
        if vend > end:
            raise ValueError("DER element overruns its parent")
        out.append((tag, pos, vstart, vend))
        pos = vend
    return out


def _tbs_outline(cert_der: bytes) -> list[tuple[int, int, int, int]]:
    """The elements of tbsCertificate (as `_elements`), optional [0] version dropped.

    There must be at least the six mandatory ones: serialNumber, signature, issuer,
    validity, subject, subjectPublicKeyInfo; their contents are not looked at here.
    """
    tag, start, end = _read_tlv(cert_der, 0)  # Certificate ::= SEQUENCE
    if tag != _SEQUENCE:
        raise ValueError("not a DER certificate")
    tag, start, end = _read_tlv(cert_der, start)  # tbsCertificate ::= SEQUENCE
    if tag != _SEQUENCE:
        raise ValueError("not a DER certificate")
    fields = _elements(cert_der, start, end)
    if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
        fields = fields[1:]
    if len(fields) < 6:
        raise ValueError("not a DER certificate: too few tbsCertificate fields")
    return fields


def _tbs_fields(cert_der: bytes) -> list[tuple[int, int, int, int]]:
    """`_tbs_outline`, with subjectPublicKeyInfo (the sixth field) a SEQUENCE."""
    fields = _tbs_outline(cert_der)
    if fields[5][0] != _SEQUENCE:
        raise ValueError("no SubjectPublicKeyInfo")
    return fields


def spki_der(cert_der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of an X.509 certificate (RFC 5280 section 4.1)."""
    _, start, _, end = _tbs_fields(cert_der)[5]
    return cert_der[start:end]


def _pin(cert_der: bytes, fields: list[tuple[int, int, int, int]]) -> str:
    """The pin of the SubjectPublicKeyInfo in ``fields`` (from `_tbs_fields`)."""
    _, start, _, end = fields[5]
    digest = hashlib.sha256(cert_der[start:end]).digest()
    return "sha256/" + base64.b64encode(digest).decode("ascii")


def spki_pin(cert_der: bytes) -> str:
    """The ``sha256/<base64>`` pin of a DER certificate's public key (its bytes, not parsed)."""
    return _pin(cert_der, _tbs_fields(cert_der))


def _oid(value: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's value (X.690 section 8.19)."""
    subids: list[int] = []
    n = 0
    for byte in value:
        n = (n << 7) | (byte & 0x7F)
        if not byte & 0x80:
            subids.append(n)
            n = 0
    if not subids or value[-1] & 0x80:
        raise ValueError("bad OID")
    first = min(subids[0] // 40, 2)
    return ".".join(str(i) for i in (first, subids[0] - 40 * first, *subids[1:]))


def _string(tag: int, value: bytes) -> str:
    """An attribute value as text; never fails (bytes that do not decode are replaced)."""
    if tag == 0x1E:  # BMPString
        return value.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return value.decode("utf-32-be", "replace")
    if tag in (0x0C, 0x13, 0x16, 0x12, 0x1A):  # UTF8, Printable, IA5, Numeric, Visible
        return value.decode("utf-8", "replace")
    return value.decode("latin-1")  # T61String and anything odd: show, never fail


def _name(data: bytes, start: int, end: int) -> str:
    """A Name as ``CN=x, O=y`` in encoding order (the order ``getpeercert()`` uses)."""
    parts = []
    for _, rdn_start, rdn_end in _children(data, start, end):  # RDN ::= SET OF
        for _, atv_start, atv_end in _children(data, rdn_start, rdn_end):
            (_, o_start, o_end), (vtag, v_start, v_end) = _children(data, atv_start, atv_end)[:2]
            oid = _oid(data[o_start:o_end])
            parts.append(f"{_ATTR_NAMES.get(oid, oid)}={_string(vtag, data[v_start:v_end])}")
    return ", ".join(parts)


def _time(tag: int, value: bytes) -> datetime.datetime:
    """A UTCTime (``YYMMDDHHMMSSZ``) or GeneralizedTime (``YYYYMMDDHHMMSSZ``), both in UTC.

    RFC 5280 section 4.1.2.5 allows nothing else: no fractions, no offsets, no missing
    seconds. UTCTime years 50-99 are 19xx, 00-49 are 20xx.
    """
    text = value.decode("ascii")
    size = {0x17: 13, 0x18: 15}.get(tag)
    if size is None:
        raise ValueError("bad certificate time")
    if len(text) != size or not text.endswith("Z") or not text[:-1].isdigit():
        raise ValueError("certificate time is not YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ in UTC")
    if tag == 0x17:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    month, day, hour, minute, second = (int(text[i : i + 2]) for i in range(4, 14, 2))
    return datetime.datetime(int(text[:4]), month, day, hour, minute, second,
                             tzinfo=datetime.timezone.utc)


def _extensions(
    cert_der: bytes, fields: list[tuple[int, int, int, int]]
) -> Iterator[tuple[bytes, int, int, int]]:
    """(OID bytes, extnValue tag, value start, value end) of each extension, in order.

    Lazy, so a caller looking for one extension stops decoding at it. The OID is compared as
    raw bytes (no dotted form is built) and only the ``Extensions`` wrapper is checked here;
    each caller checks the parts of the extensions it reads.
    """
    for tag, _, start, end in fields[6:]:
        if tag != 0xA3:  # [3] EXPLICIT Extensions
            continue
        wrapper = _children(cert_der, start, end)
        if len(wrapper) != 1 or wrapper[0][0] != _SEQUENCE:
            raise ValueError("bad extensions")
        for _, e_start, e_end in _children(cert_der, wrapper[0][1], wrapper[0][2]):
            parts = _children(cert_der, e_start, e_end)
            if parts:  # extnID, critical BOOLEAN (optional), extnValue OCTET STRING
                otag, o_start, o_end = parts[-1]
                yield cert_der[parts[0][1] : parts[0][2]], otag, o_start, o_end


def _extension_items(
    cert_der: bytes, tag: int, start: int, end: int, what: str
) -> tuple[bytes, list[tuple[int, int, int]]]:
    """An extnValue's bytes and the (tag, start, end) of each item of the one SEQUENCE in it.

    Both extensions securl reads (subjectAltName, basicConstraints) are a SEQUENCE wrapped
    in the OCTET STRING, which must hold exactly that SEQUENCE.
    """
    inner = cert_der[start:end]
    if tag != _OCTET_STRING:
        raise ValueError(f"bad {what} extension")
    itag, i_start, i_end = _read_tlv(inner, 0)
    if itag != _SEQUENCE or i_end != len(inner):
        raise ValueError(f"bad {what} extension")
    return inner, _children(inner, i_start, i_end)


def _san_entries(
    cert_der: bytes, fields: list[tuple[int, int, int, int]]
) -> list[tuple[int, bytes]]:
    """(tag, value) of each GeneralName in the subjectAltName extension, if there is one."""
    for oid, tag, start, end in _extensions(cert_der, fields):
        if oid == _SAN_OID:
            inner, names = _extension_items(cert_der, tag, start, end, "subjectAltName")
            return [(t, inner[s:e]) for t, s, e in names]
    return []


@dataclass(frozen=True)
class CertSummary:
    """What securl checks per connection, and ``securl pin`` shows, about one certificate.

    Kept to what pinning needs; `securl.tls.certinfo.CertInfo` is the fuller,
    display-only view.
    """

    subject: str
    issuer: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    pin: str

    @property
    def sans(self) -> tuple[str, ...]:
        """The DNS names, then the IP addresses, of the subjectAltName extension."""
        return self.dns_names + self.ip_addresses

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "pin": self.pin, "subject": self.subject, "issuer": self.issuer,
            "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
            "dns_names": list(self.dns_names), "ip_addresses": list(self.ip_addresses),
        }


def parse_certificate(cert_der: bytes) -> CertSummary:
    """Subject, issuer, validity, SANs and pin of a DER certificate (``ValueError`` if bad).

    On the per-connection path (pinned mode, `PeerInfo.leaf`), so it decodes nothing
    more: the key is only hashed, other extensions are skipped without decoding them.
    """
    fields = _tbs_fields(cert_der)
    _, _, issuer_start, issuer_end = fields[2]
    _, _, val_start, val_end = fields[3]
    _, _, subj_start, subj_end = fields[4]
    validity = _children(cert_der, val_start, val_end)
    if len(validity) != 2:
        raise ValueError("bad certificate validity")
    times = [_time(t, cert_der[s:e]) for t, s, e in validity]
    dns: list[str] = []
    ips: list[str] = []
    for tag, value in _san_entries(cert_der, fields):
        if tag == 0x82:  # [2] dNSName IA5String
            dns.append(value.decode("ascii", "replace"))
        elif tag == 0x87 and len(value) in (4, 16):  # [7] iPAddress
            ips.append(str(ipaddress.ip_address(value)))
    return CertSummary(
        subject=_name(cert_der, subj_start, subj_end),
        issuer=_name(cert_der, issuer_start, issuer_end),
        not_before=times[0],
        not_after=times[1],
        dns_names=tuple(dns),
        ip_addresses=tuple(ips),
        pin=_pin(cert_der, fields),
    )


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return "*" not in pattern
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    suffix = pattern[2:]
    if suffix.count(".") < 1:  # "*.com", "*.local": too broad to honour
        return False
    label, _, rest = host.partition(".")
    return bool(label) and rest == suffix


def hostname_matches(cert: CertSummary, host: str) -> bool:
    """Whether ``host`` is named by the certificate's subjectAltName (rules in module doc)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(a) == ip for a in cert.ip_addresses)
    name = host.lower().rstrip(".")
    return bool(name) and any(_dns_match(p, name) for p in cert.dns_names)
