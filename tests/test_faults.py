"""Faults between requests: trust files, server certificates and client keys that change.

Rule under test (``securl.tls.context``): a new connection re-checks the files its context was
built from; a changed file is re-read, a missing or unusable one is a ConfigurationError
naming it -- never a silent fallback to old CAs, another trust source or no verification.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import trustme

import securl
from _secrets import PRIVATE_KEY_MARKER
from _servers import Handler, LocalServer, Reply, server_context


def closing(handler: Handler) -> Reply:
    """Every response closes its connection, so each request needs a new handshake."""
    return 200, {"Connection": "close"}, b"fresh"


def replace_file(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.fixture
def closing_server(leaf: trustme.LeafCert) -> LocalServer:
    server = LocalServer(server_context(leaf))
    server.default_route = closing
    return server


@pytest.fixture
def trust_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "trust.pem"
    path.write_bytes(ca.cert_pem.bytes())
    return path


def test_changed_trust_file_is_used_by_the_next_connection(
        closing_server: LocalServer, trust_file: Path, other_ca: trustme.CA,
        ca: trustme.CA) -> None:
    with closing_server, securl.Session(ca_certs=str(trust_file)) as s:
        assert s.get(closing_server.url()).text == "fresh"
        replace_file(trust_file, other_ca.cert_pem.bytes())  # our server's CA is gone
        with pytest.raises(securl.TLSVerificationError) as info:
            s.get(closing_server.url())
        assert info.value.reason_code == "untrusted-issuer"
        replace_file(trust_file, ca.cert_pem.bytes())
        assert s.get(closing_server.url()).text == "fresh"
    assert closing_server.accepts == 3


@pytest.mark.parametrize("how", ["ca_certs", "SSL_CERT_FILE"])
def test_vanished_trust_file_is_a_clear_error_not_a_fallback(
        closing_server: LocalServer, trust_file: Path, how: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", str(trust_file))
        session = securl.Session()
    else:
        session = securl.Session(ca_certs=str(trust_file))
    with closing_server, session:
        assert session.get(closing_server.url()).text == "fresh"
        trust_file.unlink()
        for _ in range(2):  # and it stays an error: nothing cached is used instead
            with pytest.raises(securl.ConfigurationError, match="does not exist") as info:
                session.get(closing_server.url())
            assert str(trust_file) in str(info.value)
        with pytest.raises(securl.ConfigurationError):
            securl.Session(ca_certs=str(trust_file)) if how == "ca_certs" else securl.Session()
    assert closing_server.accepts == 1


def test_emptied_trust_file_is_refused(closing_server: LocalServer, trust_file: Path) -> None:
    with closing_server, securl.Session(ca_certs=str(trust_file)) as s:
        s.get(closing_server.url())
        replace_file(trust_file, b"")
        with pytest.raises(securl.ConfigurationError, match="holds no PEM certificate"):
            s.get(closing_server.url())


def test_pooled_connection_stays_verified_when_trust_file_vanishes(
        https_server: LocalServer, trust_file: Path) -> None:
    """A keep-alive connection was verified at its handshake; it is kept, nothing weakens."""
    with securl.Session(ca_certs=str(trust_file)) as s:
        s.get(https_server.url())
        trust_file.unlink()
        assert s.get(https_server.url()).text == "hello"
        assert https_server.accepts == 1


def test_server_certificate_change_is_verified_on_new_connections(
        closing_server: LocalServer, ca: trustme.CA, other_ca: trustme.CA,
        ca_file: str) -> None:
    pins: list[str] = []

    def hook(event: securl.AuditEvent) -> None:
        if event.event == "securl.connection":
            pins.append(event.fields["spki_sha256"])

    securl.add_audit_hook(hook)
    try:
        with closing_server, securl.Session(ca_certs=ca_file) as s:
            s.get(closing_server.url())
            closing_server.ssl_context = server_context(ca.issue_cert("localhost"))
            s.get(closing_server.url())  # a new key from the trusted CA: verified, accepted
            closing_server.ssl_context = server_context(other_ca.issue_cert("localhost"))
            with pytest.raises(securl.TLSVerificationError) as info:
                s.get(closing_server.url())
            assert info.value.reason_code == "untrusted-issuer"
    finally:
        securl.remove_audit_hook(hook)
    assert len(pins) == 2 and pins[0] != pins[1]


@pytest.fixture
def mtls_server(leaf: trustme.LeafCert, ca: trustme.CA) -> LocalServer:
    server = LocalServer(server_context(leaf, client_ca=ca, client_cert_mode="required"))
    server.default_route = closing
    return server


@pytest.fixture
def client_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    client = ca.issue_cert("client@example.test")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    return cert, key


@pytest.mark.parametrize("fault", ["removed", "directory", "garbage"])
def test_unusable_client_key_file_is_a_clear_error(
        mtls_server: LocalServer, ca_file: str, client_files: tuple[Path, Path],
        fault: str) -> None:
    cert, key = client_files
    with mtls_server, securl.Session(ca_certs=ca_file, cert=(str(cert), str(key))) as s:
        assert s.get(mtls_server.url()).text == "fresh"
        key.unlink()
        if fault == "directory":
            key.mkdir()
        elif fault == "garbage":
            key.write_bytes(b"not a key")
        with pytest.raises(securl.ConfigurationError, match="client") as info:
            s.get(mtls_server.url())
        assert str(key) in str(info.value)
        assert PRIVATE_KEY_MARKER not in str(info.value)
    assert mtls_server.accepts == 1
    assert mtls_server.seen[0].client_cert is not None


def test_rotated_client_certificate_is_sent_on_the_next_connection(
        mtls_server: LocalServer, ca: trustme.CA, ca_file: str,
        client_files: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = client_files
    with mtls_server, securl.Session(ca_certs=ca_file, cert=(str(cert), str(key))) as s:
        s.get(mtls_server.url())
        new = ca.issue_cert("rotated@example.test")
        staging = tmp_path / "staging"
        staging.mkdir()
        new.cert_chain_pems[0].write_to_path(str(staging / "c"))
        new.private_key_pem.write_to_path(str(staging / "k"))
        shutil.move(str(staging / "k"), key)
        shutil.move(str(staging / "c"), cert)
        s.get(mtls_server.url())
    names = [str(seen.client_cert.get("subjectAltName")) for seen in mtls_server.seen
             if seen.client_cert]
    assert "client@example.test" in names[0] and "rotated@example.test" in names[1]
