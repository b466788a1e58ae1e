"""A certificate must name its host in a subjectAltName: the subject's CN is never enough.

RFC 6125 (section 6.4.4) and browsers match host names against the subjectAltName only;
securl does too, in every context it builds (``hostname_checks_common_name = False``) and in
its own check for pinned connections. A certificate that names its host only in the subject
CN is refused with ``TLSVerificationError`` reason ``no-subject-alt-name``, whose message
says so, names the host and says how to fix the certificate. Real servers on 127.0.0.1 with
certificates made by ``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import _open_url
import securl
import securl.admin.install
import securl.tls.context
from _pins import pin_of
from _servers import LocalServer
from securl.http.errors import tls_verification_error


class Leaf:
    """A CA-issued server certificate and its key, as PEM (``configure_cert`` like trustme's)."""

    def __init__(self, cert_pem: bytes, key_pem: bytes, tmp: pathlib.Path) -> None:
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.path = tmp / f"leaf-{id(self)}.pem"
        self.path.write_bytes(key_pem + cert_pem)

    def configure_cert(self, ctx: ssl.SSLContext) -> None:
        ctx.load_cert_chain(str(self.path))


def issue(ca: trustme.CA, tmp: pathlib.Path, *, cn: str, sans: tuple[str, ...] = ()) -> Leaf:
    """A leaf for ``cn`` issued by ``ca``, with exactly ``sans`` (none: no extension at all).

    Otherwise a well-formed server certificate (key identifiers, key usage, server auth), so
    strict X.509 checks pass and only the name decides.
    """
    ca_key: Any = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if sans:
        names: list[x509.GeneralName] = []
        for name in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                names.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return Leaf(cert.public_bytes(serialization.Encoding.PEM), key_pem, tmp)


def serve(leaf: Leaf) -> LocalServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    return LocalServer(ctx)


@pytest.fixture(scope="module")
def cn_only(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Leaf:
    """CN=localhost, issued by the test CA, with no subjectAltName extension."""
    return issue(ca, tmp_path_factory.mktemp("cn-only"), cn="localhost")


@pytest.fixture
def cn_only_server(cn_only: Leaf) -> Iterator[LocalServer]:
    with serve(cn_only) as server:
        yield server


def assert_explains_missing_san(err: securl.TLSVerificationError, host: str) -> None:
    text = str(err)
    assert err.reason_code == "no-subject-alt-name", text
    assert "no subjectAltName" in text
    assert repr(host) in text or f"{host}:" in text  # names the host
    assert "reissue" in text and ("DNS:" in text or "IP:" in text)  # and the fix


# --- through both front-ends ----------------------------------------------------------------

@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_certificate_naming_its_host_only_in_the_subject_cn_is_refused(
        open_url: _open_url.OpenURL, cn_only_server: LocalServer, host: str,
        events: list[securl.AuditEvent]) -> None:
    with pytest.raises(securl.TLSVerificationError) as info:
        open_url(cn_only_server.url("/", host=host))
    assert_explains_missing_san(info.value, host)
    assert ("IP:127.0.0.1" if host == "127.0.0.1" else "DNS:localhost") in str(info.value)
    assert not cn_only_server.seen  # no request reached the server
    failed = [e for e in events if e.name == "securl.verification_failed"]
    assert [e.fields["reason_code"] for e in failed] == ["no-subject-alt-name"]


def test_certificate_with_a_subject_alt_name_for_another_host_is_still_a_hostname_mismatch(
        open_url: _open_url.OpenURL, ca: trustme.CA, tmp_path: pathlib.Path) -> None:
    # The new reason is only for certificates with no host name in a SAN at all.
    other = issue(ca, tmp_path, cn="localhost", sans=("other.example",))
    with serve(other) as server, pytest.raises(securl.TLSVerificationError) as info:
        open_url(server.url())
    assert info.value.reason_code == "hostname-mismatch"


def test_certificate_with_the_host_in_its_subject_alt_name_is_accepted(
        open_url: _open_url.OpenURL, ca: trustme.CA, tmp_path: pathlib.Path) -> None:
    # The positive twin: the same kind of certificate with a SAN works.
    good = issue(ca, tmp_path, cn="localhost", sans=("localhost",))
    with serve(good) as server:
        assert open_url(server.url()) == b"hello"


# --- every context securl builds ----------------------------------------------------------

def _contexts(ca_file: str) -> dict[str, ssl.SSLContext]:
    config = securl.TLSConfig(ca_certs=ca_file)
    return {
        "create_context": securl.create_context(config),
        "build_context": securl.tls.context.build_context(config, seal=False),
        "unverified": securl.tls.context.create_unverified_context(config),
        "stdlib https factory": securl.admin.install.https_context(),
    }


def test_every_context_securl_builds_ignores_the_subject_common_name(
        ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    made = _contexts(ca_file)
    assert {name: ctx.hostname_checks_common_name for name, ctx in made.items()} == {
        name: False for name in made}


def test_stdlib_https_factory_context_refuses_a_cn_only_certificate(
        ca_file: str, cn_only_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # What securl.install() gives http.client and urllib.request.
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    ctx = securl.admin.install.https_context()
    with socket.create_connection(("127.0.0.1", cn_only_server.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    assert_explains_missing_san(tls_verification_error(info.value, "localhost", 443),
                                "localhost")


def test_memory_bio_handshake_refuses_a_cn_only_certificate_with_the_reason(
        ca_file: str, cn_only_server: LocalServer) -> None:
    # The SSLObject path (urllib3 uses it for TLS inside an HTTPS proxy tunnel).
    ctx = securl.create_context(securl.TLSConfig(ca_certs=ca_file))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", cn_only_server.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    data = raw.recv(65536)
                    if not data:
                        incoming.write_eof()
                    incoming.write(data)
    assert_explains_missing_san(tls_verification_error(info.value, "localhost", 443),
                                "localhost")


def test_securl_check_reports_the_missing_subject_alt_name(
        ca_file: str, cn_only_server: LocalServer) -> None:
    from securl.cli.check import check

    result = check(cn_only_server.url(), ca_certs=ca_file, timeout=5)
    assert not result.verified
    assert result.reason_code == "no-subject-alt-name"
    assert "no subjectAltName" in (result.message or "")
    from securl.cli.check import advice_for

    advice = " ".join(advice_for(result))
    assert "reissue it with a subjectAltName for" in advice and "CN is never used" in advice


# --- pinned connections: securl's own host-name check -----------------------------------------

def test_pinned_connection_refuses_a_cn_only_certificate_with_the_same_reason(
        cn_only: Leaf, cn_only_server: LocalServer) -> None:
    token = securl.pinned(pin_of(cn_only.cert_pem), reason="device")
    with pytest.raises(securl.TLSVerificationError) as info:
        securl.get(cn_only_server.url(), tls=token)
    assert_explains_missing_san(info.value, "localhost")
    assert not isinstance(info.value, securl.PinMismatchError)
    assert not cn_only_server.seen
    # The key alone may still identify a device, as documented: then the name is not checked.
    lenient = securl.pinned(pin_of(cn_only.cert_pem), reason="device", check_hostname=False)
    assert securl.get(cn_only_server.url(), tls=lenient).status == 200


def test_reason_code_is_a_documented_value() -> None:
    assert "no-subject-alt-name" in securl.exceptions.REASON_CODES
    docs = pathlib.Path(__file__).resolve().parent.parent / "docs"
    listed = [page.name for page in docs.glob("*.md")
              if "`hostname-mismatch`" in page.read_text()
              and "`weak-key`" in page.read_text()]  # the pages that list every reason code
    assert listed
    missing = [name for name in listed
               if "`no-subject-alt-name`" not in (docs / name).read_text()]
    assert not missing, f"reason code no-subject-alt-name not documented in {missing}"

