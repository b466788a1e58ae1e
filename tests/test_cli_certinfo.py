"""The DER reader behind `securl check`, compared field by field with cryptography's parser."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from securl._certinfo import parse_certificate
from securl._x509 import spki_pin


def der_of(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def build(key: object, *, sans: list[x509.GeneralName], ca: bool = False,
          not_after: datetime.datetime | None = None) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tést.example"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org")])
    now = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key())  # type: ignore[attr-defined]
               .serial_number(1).not_valid_before(now)
               .not_valid_after(not_after or now + datetime.timedelta(days=90))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(key, algorithm)  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.DER)


def test_reads_what_cryptography_reads_from_a_trustme_leaf(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("localhost", "127.0.0.1", "::1", "*.example.org")
    der = der_of(leaf.cert_chain_pems[0].bytes())
    ref = x509.load_der_x509_certificate(der)
    info = parse_certificate(der)
    assert info.subject == ", ".join(f"{a.rfc4514_attribute_name}={a.value}"
                                     for a in ref.subject)
    assert info.sans == ("DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:*.example.org")
    assert info.not_before == ref.not_valid_before_utc
    assert info.not_after == ref.not_valid_after_utc  # year 3000: GeneralizedTime
    assert (info.key_type, info.key_bits) == ("EC P-256", 256)
    assert info.signature_algorithm == "ecdsa-with-SHA256"
    assert info.is_ca is False
    assert info.spki_sha256 == spki_pin(der)
    assert info.problems == ()


def test_ca_certificate_is_self_issued_and_a_ca(ca: trustme.CA) -> None:
    info = parse_certificate(der_of(ca.cert_pem.bytes()))
    assert info.is_ca and info.self_issued


@pytest.mark.parametrize(("key", "expected"), [
    (rsa.generate_private_key(public_exponent=65537, key_size=2048), ("RSA", 2048)),
    (ec.generate_private_key(ec.SECP384R1()), ("EC P-384", 384)),
    (ed25519.Ed25519PrivateKey.generate(), ("Ed25519", 256)),
])
def test_key_type_and_size(key: object, expected: tuple[str, int]) -> None:
    info = parse_certificate(build(key, sans=[x509.DNSName("a.example")]))
    assert (info.key_type, info.key_bits) == expected


def test_utf8_names_utctime_and_ip_sans() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = build(key, sans=[x509.IPAddress(ipaddress.ip_address("10.0.0.5")),
                           x509.RFC822Name("ops@example.org")])
    info = parse_certificate(der)
    assert info.subject == "CN=tést.example, O=Example Org"
    assert info.not_before == datetime.datetime(2024, 1, 2, 3, 4, 5,
                                                tzinfo=datetime.timezone.utc)
    assert info.sans == ("IP:10.0.0.5", "email:ops@example.org")
    assert info.to_dict()["not_before"] == "2024-01-02T03:04:05+00:00"


def test_garbage_is_reported_not_raised() -> None:
    info = parse_certificate(b"\x30\x03\x02\x01\x01")
    assert info.problems
    assert info.subject == "(unreadable)"
    truncated = parse_certificate(build(ec.generate_private_key(ec.SECP256R1()), sans=[])[:200])
    assert truncated.problems
