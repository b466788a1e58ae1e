"""Helpers for the pinning tests: pins computed independently of securl, odd certificates,
and a TLS server that records every byte it receives after the handshake."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from _certs import SelfSigned
from _servers import LocalServer, RawServer


def pin_of(cert: Any) -> str:
    """The sha256/ SPKI pin of a trustme LeafCert, SelfSigned or PEM/DER bytes, via cryptography."""
    if hasattr(cert, "cert_chain_pems"):
        data = cert.cert_chain_pems[0].bytes()
    elif hasattr(cert, "cert_pem"):
        data = cert.cert_pem
    else:
        data = cert
    if isinstance(data, str):
        data = data.encode()
    loaded = (x509.load_pem_x509_certificate(data) if data.startswith(b"-----")
              else x509.load_der_x509_certificate(data))
    spki = loaded.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


def der_of(cert: Any) -> bytes:
    pem = cert.cert_chain_pems[0].bytes() if hasattr(cert, "cert_chain_pems") else cert.cert_pem
    return ssl.PEM_cert_to_DER_cert(pem.decode())


def make_cert(
    *names: str,
    cn: str = "device",
    days_valid: tuple[int, int] = (-1, 1),
    issuer_cn: str | None = None,
) -> SelfSigned:
    """A self-signed leaf with exactly ``names`` as SANs (DNS, or IP when they parse as one).

    ``days_valid`` is (not_before, not_after) in days from now, so (-30, -1) is expired.
    ``issuer_cn`` only changes the issuer *name* (the signature is still the leaf's own).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "securl tests")])
    issuer = subject if issuer_cn is None else x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)])
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days_valid[0]))
        .not_valid_after(now + datetime.timedelta(days=days_valid[1]))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return SelfSigned(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    )


class Recorder:
    """What a :func:`recording_server` received after each completed TLS handshake."""

    def __init__(self) -> None:
        self.handshakes = 0
        self.received: list[bytes] = []
        self.lock = threading.Lock()

    @property
    def all_bytes(self) -> bytes:
        with self.lock:
            return b"".join(self.received)


@contextmanager
def recording_server(*certs: Any) -> Iterator[tuple[RawServer, Recorder]]:
    """A TLS server that counts handshakes and records every application byte it receives.

    It answers a complete request head with a tiny 200 response and closes, so positive
    tests finish; after a refused connection it must have recorded nothing at all. With
    several certificates it presents them in turn, one per connection.
    """
    contexts = []
    for cert in certs:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        contexts.append(ctx)
    rec = Recorder()
    turn = iter(range(1 << 30))

    def behaviour(sock: socket.socket) -> None:
        sock.settimeout(5)
        with rec.lock:
            ctx = contexts[next(turn) % len(contexts)]
        try:
            tls = ctx.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with rec.lock:
            rec.handshakes += 1
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
            if data:
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except (ssl.SSLError, OSError):
            pass
        finally:
            with rec.lock:
                rec.received.append(data)
            tls.close()

    with RawServer(behaviour) as server:
        yield server, rec


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (bounded) until true; for server-side state written by a thread."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())




def named(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if e.event == name]


class V6Server(LocalServer):
    """LocalServer on ::1 (its base class binds IPv4 only)."""

    address_family = socket.AF_INET6

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(ssl_context, host="::1")
