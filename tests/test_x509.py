"""securl's small DER reader, checked against certificates made by trustme and cryptography."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
import trustme
from cryptography import x509 as cx509
from hypothesis import given, settings
from hypothesis import strategies as st

from _pins import der_of, make_cert, pin_of
from securl._x509 import hostname_matches, parse_certificate, spki_der, spki_pin


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
