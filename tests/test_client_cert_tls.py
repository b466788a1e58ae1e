"""2-way TLS against an OpenSSL server (Python's ssl): how real TLS alerts reach the caller.

A TLS 1.2 server refuses during the handshake; a TLS 1.3 server refuses after the client has
finished it, so the alert arrives on the first read (or after the first write failed). Either
way the caller gets ClientCertificateRequired naming cert=, and the pool is not poisoned.
"""

from __future__ import annotations

import ssl
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import securl
from _clientcerts import ClientCerts, make_client_certs
from _servers import LocalServer, server_context

VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> ClientCerts:
    return make_client_certs(tmp_path_factory.mktemp("client-certs"))


@pytest.fixture(params=list(VERSIONS))
def required_server(request: pytest.FixtureRequest, leaf: trustme.LeafCert,
                    certs: ClientCerts) -> Iterator[LocalServer]:
    ctx = server_context(leaf, client_ca=certs.ca, client_cert_mode="required",
                         maximum=VERSIONS[request.param])
    with LocalServer(ctx) as server:
        yield server


@pytest.mark.parametrize(("kind", "wording"), [
    ("none", "none was configured"),
    ("wrong_ca", "does not trust the CA"),
    ("expired", "has expired"),
])
def test_missing_or_refused_client_certificate_is_client_certificate_required(
        kind: str, wording: str, required_server: LocalServer, certs: ClientCerts,
        ca_file: str) -> None:
    with securl.Session(ca_certs=ca_file, cert=certs.path(kind)) as s:
        with pytest.raises(securl.ClientCertificateRequired) as info:
            s.get(required_server.url())
        message = str(info.value)
        assert wording in message and "cert=" in message
        assert ("refused the client certificate" in message) == (kind != "none")
        assert isinstance(info.value, urllib.error.URLError)  # what urllib code catches
        # the next good request on the same session succeeds
        r = s.get(required_server.url(), cert=certs.valid)
        assert r.status == 200
    assert required_server.seen[-1].client_cert is not None


def test_the_tls13_alert_is_found_even_when_the_first_write_fails(
        leaf: trustme.LeafCert, certs: ClientCerts, ca_file: str) -> None:
    # The server closes right after its alert; depending on timing the client's first write
    # fails with a bare EOF. Every attempt must still be ClientCertificateRequired.
    ctx = server_context(leaf, client_ca=certs.ca, client_cert_mode="required",
                         minimum=ssl.TLSVersion.TLSv1_3)
    with LocalServer(ctx) as server, securl.Session(ca_certs=ca_file) as s:
        for _ in range(12):
            with pytest.raises(securl.ClientCertificateRequired, match="certificate_required"):
                s.get(server.url())
    # The server records its side of each refused handshake in its own thread: wait for all.
    deadline = time.monotonic() + 10
    while len(server.handshake_errors) < 12 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(server.handshake_errors) == 12


def test_the_certificate_is_sent_only_when_the_server_asks(
        leaf: trustme.LeafCert, certs: ClientCerts, ca_file: str) -> None:
    with LocalServer(server_context(leaf)) as off, \
            LocalServer(server_context(leaf, client_ca=certs.ca,
                                       client_cert_mode="optional")) as optional, \
            securl.Session(ca_certs=ca_file, cert=certs.valid) as s:
        assert s.get(off.url()).status == 200
        assert s.get(optional.url()).status == 200
    assert off.seen[-1].client_cert is None
    subject = dict(x[0] for x in (optional.seen[-1].client_cert or {})["subject"])
    assert subject["commonName"] == "alice"


def test_an_encrypted_client_key_with_its_password_works(
        leaf: trustme.LeafCert, certs: ClientCerts, ca_file: str, tmp_path: Path,
        required_server: LocalServer) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = Path(certs.valid).read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    chain = b"".join(part + b"-----END CERTIFICATE-----\n"
                     for part in pem.split(b"-----END CERTIFICATE-----\n")[:-1]
                     if b"CERTIFICATE" in part)
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"k3y-pass")))
    cert_file.write_bytes(chain[chain.index(b"-----BEGIN CERTIFICATE"):])
    with securl.Session(ca_certs=ca_file) as s:
        r = s.get(required_server.url(), cert=(str(cert_file), str(key_file), "k3y-pass"))
        assert r.status == 200
        with pytest.raises(securl.ConfigurationError) as info:
            s.get(required_server.url(), cert=(str(cert_file), str(key_file), "wrong-pass"))
        assert "wrong-pass" not in str(info.value)
