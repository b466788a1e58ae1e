"""Verified contexts and trust sources, proven by real handshakes with local TLS servers."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import warnings

import pytest
import trustme

import securl
from _certs import self_signed
from _servers import LocalServer, server_context
from conftest import expired_leaf, future_leaf
from securl.http.errors import tls_verification_error


def handshake(ctx: ssl.SSLContext, port: int, host: str = "localhost") -> ssl.SSLSocket:
    """Connect and finish a TLS handshake, mapping verification failures like securl does."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise tls_verification_error(exc, host, port) from exc
    except BaseException:
        sock.close()
        raise
    tls.close()
    return tls


def serve(cert: object, **kwargs: object) -> LocalServer:
    return LocalServer(server_context(cert, **kwargs))  # type: ignore[arg-type]


# --- the flags every context has -------------------------------------------------------

def test_default_context_always_verifies() -> None:
    ctx = securl.create_context()
    assert ctx.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_flags & ssl.VERIFY_X509_STRICT
    assert ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN


def test_minimum_version_can_be_raised_to_1_3() -> None:
    ctx = securl.create_context(securl.TLSConfig(minimum_version="1.3"))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize("version", ["1.1", "1.0", ssl.TLSVersion.TLSv1_1, "TLSv1", 3])
def test_minimum_version_below_1_2_is_a_configuration_error(version: object) -> None:
    with pytest.raises(securl.ConfigurationError):
        securl.TLSConfig(minimum_version=version)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("verify_mode", ssl.CERT_NONE), ("check_hostname", False),
     ("minimum_version", ssl.TLSVersion.TLSv1), ("verify_flags", ssl.VerifyFlags(0))],
)
def test_shared_context_refuses_to_be_weakened(attribute: str, value: object) -> None:
    ctx = securl.create_context()
    with pytest.raises(securl.PolicyError, match="shared, verified securl context"):
        setattr(ctx, attribute, value)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_shared_context_refuses_extra_cas(ca_file: str) -> None:
    with pytest.raises(securl.PolicyError):
        securl.create_context().load_verify_locations(ca_file)


def test_shared_context_allows_reasserting_its_own_values() -> None:
    ctx = securl.create_context()
    ctx.verify_mode = ssl.CERT_REQUIRED  # urllib3 does this on every connection
    ctx.check_hostname = True


# --- trust from ca_certs ---------------------------------------------------------------

def test_server_signed_by_given_ca_is_accepted(https_server: LocalServer, ca_file: str) -> None:
    handshake(securl.create_context(securl.TLSConfig(ca_certs=ca_file)), https_server.port)


def test_ca_certs_as_pem_text_and_bytes(https_server: LocalServer, ca: trustme.CA) -> None:
    pem = ca.cert_pem.bytes()
    handshake(securl.create_context(securl.TLSConfig(ca_certs=pem)), https_server.port)
    handshake(securl.create_context(securl.TLSConfig(ca_certs=pem.decode())), https_server.port)


def test_ca_certs_as_hashed_directory(https_server: LocalServer, ca: trustme.CA,
                                      tmp_path: os.PathLike[str]) -> None:
    cadir = hashed_dir(ca, str(tmp_path))
    handshake(securl.create_context(securl.TLSConfig(ca_certs=cadir)), https_server.port)


def test_server_without_its_ca_is_refused_as_untrusted_issuer(https_server: LocalServer) -> None:
    with pytest.raises(securl.TLSVerificationError) as info:
        handshake(securl.create_context(), https_server.port)
    assert info.value.reason_code == "untrusted-issuer"
    assert "ca_certs=" in str(info.value) and "SSL_CERT_FILE" in str(info.value)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)


def test_explicit_ca_certs_wins_over_environment(
    https_server: LocalServer, ca_file: str, other_ca: trustme.CA, tmp_path: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Environment must never weaken or override code: SSL_CERT_FILE names the right CA, but
    # the code asked for another one, so the server is refused.
    other = os.path.join(str(tmp_path), "other.pem")
    other_ca.cert_pem.write_to_path(other)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    with pytest.raises(securl.TLSVerificationError):
        handshake(securl.create_context(securl.TLSConfig(ca_certs=other)), https_server.port)
    assert securl.trust_info(securl.TLSConfig(ca_certs=other)).source == "ca_certs"


def test_missing_ca_certs_file_is_a_configuration_error(tmp_path: object) -> None:
    missing = os.path.join(str(tmp_path), "nope.pem")
    with pytest.raises(securl.ConfigurationError, match="does not exist"):
        securl.create_context(securl.TLSConfig(ca_certs=missing))


# --- each kind of bad certificate gets its reason code --------------------------------

@pytest.mark.parametrize(
    ("make", "host", "code"),
    [
        (expired_leaf, "localhost", "expired"),
        (future_leaf, "localhost", "not-yet-valid"),
        (lambda ca: ca.issue_cert("other.example"), "localhost", "hostname-mismatch"),
        (lambda ca: self_signed("localhost"), "localhost", "self-signed"),
    ],
    ids=["expired", "not-yet-valid", "wrong-host", "self-signed"],
)
def test_bad_certificates_are_refused_with_their_reason(
    ca: trustme.CA, ca_file: str, make: object, host: str, code: str
) -> None:
    cert = make(ca)  # type: ignore[operator]
    ctx = securl.create_context(securl.TLSConfig(ca_certs=ca_file))
    with serve(cert) as server, pytest.raises(securl.TLSVerificationError) as info:
        handshake(ctx, server.port, host)
    assert info.value.reason_code == code
    assert f"localhost:{server.port}" in str(info.value)


def test_good_twin_of_the_bad_certificates(ca: trustme.CA, ca_file: str) -> None:
    # The negative tests above fail for the cert, not for the setup: the same CA and
    # server code with a good leaf handshakes fine.
    with serve(ca.issue_cert("localhost")) as server:
        handshake(securl.create_context(securl.TLSConfig(ca_certs=ca_file)), server.port)


# --- TLS versions ------------------------------------------------------------------------

def test_server_that_only_speaks_tls_1_1_is_refused(leaf: trustme.LeafCert,
                                                    ca_file: str) -> None:
    sctx = server_context(leaf, minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1)
    sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx = securl.create_context(securl.TLSConfig(ca_certs=ca_file))
    with LocalServer(sctx) as server:
        with pytest.raises(ssl.SSLError) as info:
            handshake(ctx, server.port)
        # The server really can speak TLS 1.1: a client that allows it gets through.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        old.load_verify_locations(ca_file)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            with old.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.version() == "TLSv1.1"
    assert "version" in str(info.value).lower() or "protocol" in str(info.value).lower()


def test_tls_1_3_only_client_refuses_tls_1_2_server(leaf: trustme.LeafCert, ca_file: str) -> None:
    sctx = server_context(leaf, maximum=ssl.TLSVersion.TLSv1_2)
    ctx = securl.create_context(securl.TLSConfig(ca_certs=ca_file, minimum_version="1.3"))
    with LocalServer(sctx) as server:
        with pytest.raises(ssl.SSLError):
            handshake(ctx, server.port)
        handshake(securl.create_context(securl.TLSConfig(ca_certs=ca_file)), server.port)


# --- client certificates -------------------------------------------------------------------

def test_server_requiring_client_cert_accepts_configured_one(
    leaf: trustme.LeafCert, ca: trustme.CA, ca_file: str, tmp_path: object
) -> None:
    client_ca = trustme.CA()
    client = client_ca.issue_cert("client@example.test")
    cert_path = os.path.join(str(tmp_path), "client.pem")
    client.private_key_and_cert_chain_pem.write_to_path(cert_path)
    sctx = server_context(leaf, client_ca=client_ca, client_cert_mode="required")
    with LocalServer(sctx) as server:
        good = securl.create_context(securl.TLSConfig(ca_certs=ca_file, client_cert=cert_path))
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            with good.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                assert tls.recv(100).startswith(b"HTTP/1.1 200")
        # Negative twin: without the certificate the server refuses us.
        bare = securl.create_context(securl.TLSConfig(ca_certs=ca_file))
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError)):
                with bare.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    assert tls.recv(100) == b""  # TLS 1.3: the alert arrives on read
                    raise ssl.SSLError("closed without answer")
    assert server.seen and server.seen[0].client_cert is not None


def _write_key(tmp: str, password: bytes | None) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    client = trustme.CA().issue_cert("client@example.test")
    cert_path = os.path.join(tmp, "c.pem")
    key_path = os.path.join(tmp, "c.key")
    client.cert_chain_pems[0].write_to_path(cert_path)
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), None)
    enc = (serialization.BestAvailableEncryption(password) if password
           else serialization.NoEncryption())
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8, enc))
    assert isinstance(ec, object)
    return cert_path, key_path


def test_encrypted_client_key_with_password(tmp_path: object) -> None:
    cert, key = _write_key(str(tmp_path), b"s3cret-pw")
    ctx = securl.create_context(
        securl.TLSConfig(client_cert=cert, client_key=key, client_key_password="s3cret-pw"))
    assert ctx.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("given", [None, "wrong-pw-123"])
def test_wrong_or_missing_key_password_names_file_not_password(tmp_path: object,
                                                                given: str | None) -> None:
    cert, key = _write_key(str(tmp_path), b"s3cret-pw")
    with pytest.raises(securl.ConfigurationError) as info:
        securl.create_context(
            securl.TLSConfig(client_cert=cert, client_key=key, client_key_password=given))
    message = str(info.value)
    assert key in message and "encrypted" in message
    assert "s3cret-pw" not in message and "wrong-pw-123" not in message
    assert "wrong-pw-123" not in repr(securl.TLSConfig(client_cert=cert,
                                                       client_key_password="wrong-pw-123"))


def test_key_not_matching_certificate(tmp_path: object) -> None:
    cert, _ = _write_key(str(tmp_path), None)
    other_dir = os.path.join(str(tmp_path), "other")
    os.mkdir(other_dir)
    _, other_key = _write_key(other_dir, None)
    with pytest.raises(securl.ConfigurationError, match="does not match"):
        securl.create_context(securl.TLSConfig(client_cert=cert, client_key=other_key))


def test_missing_client_cert_file(tmp_path: object) -> None:
    missing = os.path.join(str(tmp_path), "missing.pem")
    with pytest.raises(securl.ConfigurationError, match="does not exist"):
        securl.create_context(securl.TLSConfig(client_cert=missing))


# --- the cache --------------------------------------------------------------------------------

def test_cache_returns_same_context_for_equal_configs(ca_file: str) -> None:
    a = securl.create_context(securl.TLSConfig(ca_certs=ca_file))
    b = securl.create_context(securl.TLSConfig(ca_certs=ca_file))
    assert a is b
    assert securl.create_context() is securl.create_context(None)
    assert securl.create_context() is not a


def test_cache_builds_new_context_when_ssl_cert_file_changes(
    ca_file: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = os.path.join(str(tmp_path), "copy.pem")
    shutil.copy(ca_file, copy)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    first = securl.create_context()
    assert securl.create_context() is first
    monkeypatch.setenv("SSL_CERT_FILE", copy)
    assert securl.create_context() is not first


# --- trust from the environment, in real subprocesses ------------------------------------------

def hashed_dir(ca: trustme.CA, base: str) -> str:
    """An OpenSSL hashed directory holding ``ca``; OpenSSL itself computes the hash name."""
    out = subprocess.run(["openssl", "x509", "-noout", "-subject_hash"],
                         input=ca.cert_pem.bytes(), capture_output=True, check=True)
    cadir = os.path.join(base, "cadir")
    os.makedirs(cadir, exist_ok=True)
    ca.cert_pem.write_to_path(os.path.join(cadir, out.stdout.decode().strip() + ".0"))
    return cadir


CHILD = textwrap.dedent(
    """
    import socket, sys, securl
    ctx = securl.create_context()
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    try:
        ctx.wrap_socket(sock, server_hostname="localhost").close()
    except Exception as exc:
        print("REFUSED", type(exc).__name__, securl.trust_info().source)
        sys.exit(1)
    print("ACCEPTED", securl.trust_info().source)
    """
)


def run_child(port: int, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    base.update(env)
    return subprocess.run([sys.executable, "-c", CHILD, str(port)], env=base,
                          capture_output=True, text=True, timeout=60)


def test_ssl_cert_file_in_subprocess(https_server: LocalServer, ca_file: str) -> None:
    ok = run_child(https_server.port, SSL_CERT_FILE=ca_file)
    assert ok.returncode == 0 and ok.stdout.split() == ["ACCEPTED", "environment"], ok.stderr
    refused = run_child(https_server.port)
    assert refused.returncode == 1 and "REFUSED" in refused.stdout, refused.stderr


def test_ssl_cert_dir_in_subprocess(https_server: LocalServer, ca: trustme.CA,
                                    tmp_path: object) -> None:
    cadir = hashed_dir(ca, str(tmp_path))
    ok = run_child(https_server.port, SSL_CERT_DIR=cadir)
    assert ok.returncode == 0 and ok.stdout.split() == ["ACCEPTED", "environment"], ok.stderr
    refused = run_child(https_server.port, SSL_CERT_DIR=str(tmp_path))  # no hashed certs
    assert refused.returncode == 1, refused.stdout


@pytest.mark.parametrize("value", ["", "/nonexistent/ca.pem", "EMPTY"])
def test_bad_ssl_cert_file_fails_closed(value: str, tmp_path: object,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if value == "EMPTY":
        value = os.path.join(str(tmp_path), "empty.pem")
        open(value, "w").close()
    monkeypatch.setenv("SSL_CERT_FILE", value)
    with pytest.raises(securl.ConfigurationError, match="SSL_CERT_FILE"):
        securl.create_context()


def test_trust_info_reports_system_source_and_reason() -> None:
    info = securl.trust_info()
    assert info.source in ("system", "truststore", "certifi")
    assert info.source in str(info) and info.reason in str(info)


def test_certifi_only_when_no_system_store_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, https_server: LocalServer
) -> None:
    import certifi

    import securl.tls.trust as trust

    monkeypatch.setattr(trust, "_from_system", lambda: None)
    monkeypatch.setattr(trust, "_certifi_warned", False)
    with pytest.warns(securl.SecurityWarning, match="certifi"):
        info = securl.trust_info()
    assert info.source == "certifi"
    assert info.cafile == certifi.where()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert securl.trust_info().source == "certifi"  # warned once only
    # A context from certifi still refuses a server signed by the test CA.
    with pytest.raises(securl.TLSVerificationError) as err:
        handshake(securl.create_context(), https_server.port)
    assert err.value.reason_code == "untrusted-issuer"

