"""securl's one DER / X.509 reader (``securl.tls.x509``), checked against cryptography's parser.

Three views of the same walk: ``spki_pin`` and ``parse_certificate`` (pinning, pinned-mode
host names, ``securl pin``) and ``describe_certificate`` (``securl.tls.certinfo``: what
``securl check`` shows).
"""

from __future__ import annotations

import datetime
import ipaddress

import pytest
import trustme
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from _pins import der_of, make_cert, pin_of
from securl.tls.certinfo import describe_certificate
from securl.tls.x509 import (
    _time,
    hostname_matches,
    parse_certificate,
    spki_der,
    spki_pin,
)


def test_spki_pin_matches_cryptography_for_trustme_and_self_signed_certs() -> None:
    ca = trustme.CA()
    for cert in (ca.issue_cert("localhost"), make_cert("a.example"), ca):
        der = der_of(cert) if not isinstance(cert, trustme.CA) else _ca_der(ca)
        assert spki_pin(der) == pin_of(der)


def _ca_der(ca: trustme.CA) -> bytes:
    import ssl

    return ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())


def test_parse_certificate_agrees_with_cryptography() -> None:
    ca = trustme.CA(organization_name="Example Corp")
    leaf = ca.issue_cert("localhost", "*.example.com", "127.0.0.1", "::1",
                         common_name="device.example")
    der = der_of(leaf)
    ours = parse_certificate(der)
    theirs = cx509.load_der_x509_certificate(der)
    san = theirs.extensions.get_extension_for_class(cx509.SubjectAlternativeName).value
    assert ours.dns_names == tuple(san.get_values_for_type(cx509.DNSName))
    assert ours.ip_addresses == tuple(str(a) for a in san.get_values_for_type(cx509.IPAddress))
    assert ours.not_before == theirs.not_valid_before_utc
    assert ours.not_after == theirs.not_valid_after_utc
    assert "CN=device.example" in ours.subject
    assert "O=Example Corp" in ours.issuer
    assert spki_der(der) == theirs.public_key().public_bytes(
        *_spki_format())


def _spki_format() -> tuple[object, object]:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def test_certificate_without_subject_alt_name_has_no_names() -> None:
    cert = parse_certificate(der_of(make_cert(cn="localhost")))
    assert cert.sans == ()
    assert not hostname_matches(cert, "localhost")  # no common-name fallback


def test_utc_time_before_2050_and_generalized_time_after() -> None:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    long_lived = make_cert("x", days_valid=(-1, 365 * 40))  # not_after past 2050
    parsed = parse_certificate(der_of(long_lived))
    assert parsed.not_before <= now
    assert parsed.not_after.year >= 2060


@pytest.mark.parametrize(
    ("sans", "host", "expected"),
    [
        (["device.lab"], "device.lab", True),
        (["device.lab"], "DEVICE.lab.", True),
        (["device.lab"], "other.lab", False),
        (["*.example.com"], "a.example.com", True),
        (["*.example.com"], "example.com", False),
        (["*.example.com"], "a.b.example.com", False),
        (["*.com"], "example.com", False),
        (["a*.example.com"], "ab.example.com", False),
        (["*.*.example.com"], "a.b.example.com", False),
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "127.0.0.2", False),
        (["::1"], "::1", True),
        (["::1"], "0:0:0:0:0:0:0:1", True),
        (["localhost"], "127.0.0.1", False),
        (["127.0.0.1"], "localhost", False),
    ],
)
def test_hostname_matching_rules(sans: list[str], host: str, expected: bool) -> None:
    cert = parse_certificate(der_of(make_cert(*sans)))
    assert hostname_matches(cert, host) is expected


def test_malformed_der_raises_value_error() -> None:
    der = der_of(make_cert("x"))
    for bad in (b"", b"\x30", der[:40], b"\x04\x03abc", der[:-30]):
        with pytest.raises(ValueError):
            parse_certificate(bad)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_parser_with_anything_but_value_error(data: bytes) -> None:
    try:
        parse_certificate(data)
    except ValueError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=255))
def test_corrupted_certificates_fail_with_value_error_or_parse(pos: int, value: int) -> None:
    der = bytearray(_SAMPLE)
    der[pos % len(der)] = value
    try:
        parse_certificate(bytes(der))
    except ValueError:
        pass


_SAMPLE = der_of(make_cert("device.lab", "10.0.0.5", cn="device"))


def test_ip_sans_are_compared_as_addresses() -> None:
    cert = parse_certificate(der_of(make_cert("fd00::5")))
    assert cert.ip_addresses == (str(ipaddress.ip_address("fd00::5")),)
    assert hostname_matches(cert, "[fd00::5]")


# --- describe_certificate: what `securl check` shows ---------------------------------------


def _der_of_pem(pem: bytes) -> bytes:
    return cx509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _build(key: object, *, sans: list[cx509.GeneralName], ca: bool = False,
           not_after: datetime.datetime | None = None) -> bytes:
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "tést.example"),
                       cx509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org")])
    now = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    builder = (cx509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key())  # type: ignore[attr-defined]
               .serial_number(1).not_valid_before(now)
               .not_valid_after(not_after or now + datetime.timedelta(days=90))
               .add_extension(cx509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(cx509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(key, algorithm)  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.DER)


def test_describe_reads_what_cryptography_reads_from_a_trustme_leaf(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("localhost", "127.0.0.1", "::1", "*.example.org")
    der = _der_of_pem(leaf.cert_chain_pems[0].bytes())
    ref = cx509.load_der_x509_certificate(der)
    info = describe_certificate(der)
    assert info.subject == ", ".join(f"{a.rfc4514_attribute_name}={a.value}"
                                     for a in ref.subject)
    assert info.sans == ("DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:*.example.org")
    assert info.not_before == ref.not_valid_before_utc
    assert info.not_after == ref.not_valid_after_utc  # year 3000: GeneralizedTime
    assert (info.key_type, info.key_bits) == ("EC P-256", 256)
    assert info.signature_algorithm == "ecdsa-with-SHA256"
    assert info.is_ca is False
    assert info.spki_sha256 == spki_pin(der)
    assert info.sha256_fingerprint == ref.fingerprint(hashes.SHA256()).hex(":").upper()
    assert info.problems == ()


def test_describe_and_parse_certificate_agree_on_the_fields_they_share(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("localhost", "127.0.0.1", "::1", "*.example.org")
    der = _der_of_pem(leaf.cert_chain_pems[0].bytes())
    info, summary = describe_certificate(der), parse_certificate(der)
    assert (info.subject, info.issuer) == (summary.subject, summary.issuer)
    assert (info.not_before, info.not_after) == (summary.not_before, summary.not_after)
    assert info.spki_sha256 == summary.pin
    # describe keeps certificate order and kinds; the summary groups DNS names, then IPs
    assert summary.sans == ("localhost", "*.example.org", "127.0.0.1", "::1")
    assert tuple(n.split(":", 1)[1] for n in info.sans if n.startswith("DNS:")) \
        == summary.dns_names
    assert tuple(n.split(":", 1)[1] for n in info.sans if n.startswith("IP:")) \
        == summary.ip_addresses


def test_ca_certificate_is_self_issued_and_a_ca(ca: trustme.CA) -> None:
    info = describe_certificate(_der_of_pem(ca.cert_pem.bytes()))
    assert info.is_ca and info.self_issued


def test_leaf_is_not_a_ca_and_not_self_issued(ca: trustme.CA) -> None:
    info = describe_certificate(_der_of_pem(ca.issue_cert("a.example").cert_chain_pems[0].bytes()))
    assert not info.is_ca and not info.self_issued


@pytest.mark.parametrize(("key", "expected"), [
    (rsa.generate_private_key(public_exponent=65537, key_size=2048), ("RSA", 2048)),
    (ec.generate_private_key(ec.SECP384R1()), ("EC P-384", 384)),
    (ed25519.Ed25519PrivateKey.generate(), ("Ed25519", 256)),
])
def test_key_type_and_size(key: object, expected: tuple[str, int]) -> None:
    info = describe_certificate(_build(key, sans=[cx509.DNSName("a.example")]))
    assert (info.key_type, info.key_bits) == expected


def test_utf8_names_utctime_and_ip_and_email_sans() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = _build(key, sans=[cx509.IPAddress(ipaddress.ip_address("10.0.0.5")),
                            cx509.RFC822Name("ops@example.org"),
                            cx509.UniformResourceIdentifier("https://x.example/")])
    info = describe_certificate(der)
    assert info.subject == "CN=tést.example, O=Example Org"
    assert info.not_before == datetime.datetime(2024, 1, 2, 3, 4, 5,
                                                tzinfo=datetime.timezone.utc)
    assert info.sans == ("IP:10.0.0.5", "email:ops@example.org", "URI:https://x.example/")
    assert info.to_dict()["not_before"] == "2024-01-02T03:04:05+00:00"


def test_garbage_is_reported_not_raised() -> None:
    info = describe_certificate(b"\x30\x03\x02\x01\x01")
    assert info.problems == ("the certificate is not valid DER",)
    assert info.subject == "(unreadable)"
    truncated = describe_certificate(_build(ec.generate_private_key(ec.SECP256R1()),
                                            sans=[])[:200])
    assert truncated.problems


def _replace_once(der: bytes, old: bytes, new: bytes) -> bytes:
    assert der.count(old) == 1 and len(old) == len(new)
    return der.replace(old, new)


_BASIC_CONSTRAINTS_CA = bytes.fromhex("0603551d130101ff040830060101ff")  # critical, cA TRUE


def test_a_broken_extension_is_a_problem_for_describe_but_not_read_when_pinning(
    ca: trustme.CA,
) -> None:
    good = _der_of_pem(ca.cert_pem.bytes())
    # basicConstraints' extnValue no longer holds a SEQUENCE: only describe decodes it
    bad = _replace_once(good, _BASIC_CONSTRAINTS_CA,
                        bytes.fromhex("0603551d130101ff040804060101ff"))
    assert describe_certificate(good).problems == ()
    info = describe_certificate(bad)
    assert info.problems == ("cannot read the extensions",)
    assert info.is_ca is False and info.subject == describe_certificate(good).subject
    assert parse_certificate(bad).subject == parse_certificate(good).subject
    assert spki_pin(bad) == spki_pin(good)


def test_a_broken_key_algorithm_is_a_problem_for_describe_but_not_read_when_pinning() -> None:
    good = _build(ec.generate_private_key(ec.SECP256R1()), sans=[cx509.DNSName("a.example")])
    # id-ecPublicKey with its last OID byte's continuation bit set: the OID never ends
    bad = _replace_once(good, bytes.fromhex("06072a8648ce3d0201"),
                        bytes.fromhex("06072a8648ce3d0281"))
    info = describe_certificate(bad)
    assert info.problems == ("cannot read the public key",)
    assert info.key_type == "unknown" and info.sans == ("DNS:a.example",)
    assert parse_certificate(bad).dns_names == ("a.example",)
    assert spki_pin(bad) != spki_pin(good)  # still a pin: the SPKI bytes are only hashed


def test_a_broken_san_extension_is_refused_by_parse_certificate_and_noted_by_describe() -> None:
    good = _build(ec.generate_private_key(ec.SECP256R1()), sans=[cx509.DNSName("a.example")])
    # the GeneralNames SEQUENCE claims one byte less than the OCTET STRING holds
    bad = _replace_once(good, bytes.fromhex("040d300b8209612e6578616d706c65"),
                        bytes.fromhex("040d300a8209612e6578616d706c65"))
    assert parse_certificate(good).dns_names == ("a.example",)
    with pytest.raises(ValueError, match="subjectAltName"):
        parse_certificate(bad)
    assert describe_certificate(bad).problems == ("cannot read the extensions",)


@pytest.mark.parametrize(("tag", "text", "expected"), [
    (0x17, b"000101000000Z", datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)),
    (0x17, b"491231235959Z", datetime.datetime(2049, 12, 31, 23, 59, 59,
                                               tzinfo=datetime.timezone.utc)),
    (0x17, b"500101000000Z", datetime.datetime(1950, 1, 1, tzinfo=datetime.timezone.utc)),
    (0x18, b"20500101000000Z", datetime.datetime(2050, 1, 1, tzinfo=datetime.timezone.utc)),
])
def test_certificate_times_in_the_two_rfc5280_forms(
    tag: int, text: bytes, expected: datetime.datetime
) -> None:
    assert _time(tag, text) == expected


@pytest.mark.parametrize(("tag", "text"), [
    (0x17, b" 00101000000Z"),  # int() would take " 0" as a year
    (0x17, b"+00101000000Z"),
    (0x17, b"0001010000Z"),  # no seconds
    (0x17, b"000101000000+0100"),  # an offset instead of Z
    (0x18, b"20500101000000.5Z"),  # fractional seconds
    (0x18, b"000101000000Z"),  # UTCTime digits under the GeneralizedTime tag
    (0x17, b"001301000000Z"),  # month 13
    (0x04, b"000101000000Z"),  # not a time type
    (0x17, b"\xff00101000000Z"),
])
def test_certificate_times_in_any_other_form_raise_value_error(tag: int, text: bytes) -> None:
    with pytest.raises(ValueError):
        _time(tag, text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_describe_never_raises_on_random_bytes(data: bytes) -> None:
    info = describe_certificate(data)
    assert info.problems or info.subject != "(unreadable)"


_RICH_SAMPLE = _build(rsa.generate_private_key(public_exponent=65537, key_size=1024),
                      sans=[cx509.DNSName("a.example"), cx509.RFC822Name("a@b.example"),
                            cx509.IPAddress(ipaddress.ip_address("fd00::1"))], ca=True)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=4000), st.integers(min_value=0, max_value=255))
def test_describe_never_raises_on_corrupted_certificates(pos: int, value: int) -> None:
    der = bytearray(_RICH_SAMPLE)
    der[pos % len(der)] = value
    describe_certificate(bytes(der))  # problems are listed, never raised
    try:
        parse_certificate(bytes(der))
    except ValueError:
        pass
