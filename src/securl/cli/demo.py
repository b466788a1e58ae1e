"""``securl demo``: securl's behaviour shown on real TLS, on this machine, in a few seconds.

Two HTTPS servers run on threads in this process, on 127.0.0.1: one with a certificate from a
throwaway CA made for this run, one with a self-signed certificate. The demo then makes real
requests with securl and prints what happened, checking each outcome (exit code 1 if securl
did not behave as described).

Where the throwaway certificates come from. ``pip install . && securl demo`` must work with
securl's runtime dependencies alone (urllib3, truststore, certifi), none of which can issue a
certificate, and a key shipped inside the package would be a long-lived "test" key anyone
could copy. So the CA is made per run, with the first of:

1. the ``cryptography`` package, when it is importable (in-process, exact control);
2. the ``openssl`` command line (present on Debian/Ubuntu, RHEL, Alpine with openssl, macOS),
   called with a config file rather than newer flags, so LibreSSL and OpenSSL 1.1/3.x agree.

If neither exists, the demo says so and how to get one. It does not add ``cryptography`` to
securl's dependencies for a demo. Keys live in a private temporary directory that is deleted
on exit, servers are shut down and their threads joined: nothing is left running.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["DemoError", "make_certificates", "run_demo"]

Backend = str  # "auto", "cryptography" or "openssl"
_TIMEOUT = 30.0


class DemoError(Exception):
    """The demo cannot run here (no way to make certificates, no loopback, ...)."""


@dataclass(frozen=True)
class DemoCertificates:
    """Paths of the throwaway PEM files, all inside ``directory``."""

    directory: str
    backend: str
    ca_cert: str
    leaf_chain: str  # leaf certificate + its key, for the CA-issued server
    leaf_cert: str  # certificate only
    self_signed: str  # certificate + key, for the self-signed server
    self_signed_cert: str  # certificate only


# -- throwaway certificates -----------------------------------------------------------------

def _with_cryptography(directory: str) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """(CA cert, leaf cert, leaf key, self-signed cert, self-signed key) as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    sans = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )

    def name(*parts: tuple[Any, str]) -> x509.Name:
        return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])

    def build(subject: x509.Name, issuer: x509.Name, key: Any, signer: Any,
              is_ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer.public_key()), critical=False)
        )
        if is_ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(sans, critical=False).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def pem_key(key: Any) -> bytes:
        return bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))

    ca_key, leaf_key, self_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = name((NameOID.ORGANIZATION_NAME, "securl demo"),
                   (NameOID.COMMON_NAME, "securl demo throwaway CA"))
    host = name((NameOID.COMMON_NAME, "localhost"))
    ca = build(ca_name, ca_name, ca_key, ca_key, True)
    leaf = build(host, ca_name, leaf_key, ca_key, False)
    self_signed = build(host, host, self_key, self_key, False)
    enc = serialization.Encoding.PEM
    return (ca.public_bytes(enc), leaf.public_bytes(enc), pem_key(leaf_key),
            self_signed.public_bytes(enc), pem_key(self_key))


_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = securl demo
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _with_openssl(directory: str) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """The same certificates as `_with_cryptography`, made by the ``openssl`` command."""
    exe = shutil.which("openssl")
    if exe is None:
        raise DemoError("the openssl command was not found on PATH")
    config = os.path.join(directory, "openssl.cnf")
    with open(config, "w", encoding="ascii") as f:
        f.write(_OPENSSL_CONFIG)

    def path(name: str) -> str:
        return os.path.join(directory, name)

    def run(*args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENSSL_CONF",)}
        try:
            proc = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                [exe, *args], capture_output=True, timeout=_TIMEOUT, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DemoError(f"openssl {args[0]} failed: {exc}") from exc
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise DemoError(f"openssl {args[0]} failed: {' / '.join(detail)}")

    for key in ("ca.key", "leaf.key", "self.key"):
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path(key))
    common = ("-days", "1", "-sha256", "-config", config)
    run("req", "-new", "-x509", "-key", path("ca.key"), "-out", path("ca.pem"),
        "-subj", "/O=securl demo/CN=securl demo throwaway CA", "-extensions", "ca_ext", *common)
    run("req", "-new", "-key", path("leaf.key"), "-out", path("leaf.csr"),
        "-subj", "/CN=localhost", "-config", config)
    run("x509", "-req", "-in", path("leaf.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
        "-set_serial", "0x" + secrets.token_hex(16), "-days", "1", "-sha256",
        "-extfile", config, "-extensions", "leaf_ext", "-out", path("leaf.pem"))
    run("req", "-new", "-x509", "-key", path("self.key"), "-out", path("self.pem"),
        "-subj", "/CN=localhost", "-extensions", "leaf_ext", *common)

    def read(name: str) -> bytes:
        with open(path(name), "rb") as f:
            return f.read()

    return (read("ca.pem"), read("leaf.pem"), read("leaf.key"), read("self.pem"),
            read("self.key"))


def _have_cryptography() -> bool:
    try:
        import cryptography.x509  # noqa: F401
    except ImportError:
        return False
    return True


def make_certificates(directory: str, backend: Backend = "auto") -> DemoCertificates:
    """Write a throwaway CA, a leaf it issued and a self-signed certificate to ``directory``.

    ``backend`` is ``auto`` (cryptography if importable, else the openssl command),
    ``cryptography`` or ``openssl``. Raises `DemoError` naming what to install.
    """
    if backend == "auto":
        if _have_cryptography():
            backend = "cryptography"
        elif shutil.which("openssl"):
            backend = "openssl"
        else:
            raise DemoError(
                "securl demo makes a throwaway CA for each run and needs either the `openssl` "
                "command (e.g. `apt-get install openssl`) or the Python package cryptography "
                "(`pip install cryptography`) to do it; neither was found"
            )
    if backend == "cryptography":
        if not _have_cryptography():
            raise DemoError("the cryptography package is not installed")
        pems = _with_cryptography(directory)
    elif backend == "openssl":
        pems = _with_openssl(directory)
    else:
        raise DemoError(f"unknown certificate backend {backend!r}")
    ca, leaf, leaf_key, self_cert, self_key = pems
    files = {"demo-ca.pem": ca, "server.pem": leaf + leaf_key, "server-cert.pem": leaf,
             "self-signed.pem": self_cert + self_key, "self-signed-cert.pem": self_cert}
    for name, data in files.items():
        fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return DemoCertificates(
        directory, backend, os.path.join(directory, "demo-ca.pem"),
        os.path.join(directory, "server.pem"), os.path.join(directory, "server-cert.pem"),
        os.path.join(directory, "self-signed.pem"),
        os.path.join(directory, "self-signed-cert.pem"),
    )


# -- the servers ----------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a short text naming the server (HTTP/1.0: one request each)."""

    server: _DemoServer

    def do_GET(self) -> None:
        body = f"hello from the {self.server.label} server\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the demo prints its own story


class _DemoServer(http.server.ThreadingHTTPServer):
    """An HTTPS server on 127.0.0.1 whose handler threads are joined on close.

    The TLS handshake runs in the handler thread (a client that refuses the certificate only
    ends its own thread), every socket has a timeout, so closing never waits for long.
    """

    daemon_threads = False
    block_on_close = True

    def __init__(self, label: str, cert_and_key: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.label = label
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_and_key)
        self._thread = threading.Thread(target=self.serve_forever, name=f"securl-demo-{label}")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}/"

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        try:
            conn = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate: that is what the demo shows
        with conn, contextlib.suppress(OSError):
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()  # joins the handler threads (block_on_close)
        self._thread.join(10)


@contextlib.contextmanager
def _servers(certs: DemoCertificates) -> Iterator[tuple[_DemoServer, _DemoServer]]:
    started: list[_DemoServer] = []
    try:
        for label, chain in (("CA-issued", certs.leaf_chain), ("self-signed", certs.self_signed)):
            server = _DemoServer(label, chain)
            started.append(server)
            server.start()
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


# -- the story ------------------------------------------------------------------------------

class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failures: list[str] = []

    def line(self, text: str = "", indent: int = 0) -> None:
        pad = " " * indent
        if not text:
            print(file=self.out)
            return
        for chunk in text.splitlines():
            print(textwrap.fill(chunk, width=100, initial_indent=pad,
                                subsequent_indent=pad + "  ", break_on_hyphens=False,
                                break_long_words=False), file=self.out)

    def code(self, text: str) -> None:
        for chunk in text.splitlines():
            print(f"   >>> {chunk}", file=self.out)

    def unexpected(self, what: str) -> None:
        self.failures.append(what)
        self.line(f"UNEXPECTED: {what}", 3)


def _capture_events() -> tuple[list[Any], Callable[[], None]]:
    from .._audit import add_audit_hook, remove_audit_hook

    events: list[Any] = []
    add_audit_hook(events.append)
    return events, lambda: remove_audit_hook(events.append)


def run_demo(out: TextIO, backend: Backend = "auto") -> int:
    """Run the demo, printing to ``out``; 0 when securl behaved as described, else 1."""
    import securl

    from ..tls.x509 import spki_pin

    p = _Printer(out)
    p.line("securl demo: real TLS on 127.0.0.1 with a throwaway CA, and what securl does.")
    directory = tempfile.mkdtemp(prefix="securl-demo-")
    events, stop_capture = _capture_events()
    try:
        certs = make_certificates(directory, backend)
        p.line(f"Throwaway CA and keys made with {certs.backend} in {directory} "
               "(deleted when the demo ends).")
        with _servers(certs) as (good, selfsigned), contextlib.ExitStack() as stack:
            p.line(f"Servers: {good.url} (certificate issued by the demo CA), {selfsigned.url} "
                   "(self-signed).")
            with open(certs.self_signed_cert, encoding="ascii") as f:
                self_pin = spki_pin(ssl.PEM_cert_to_DER_cert(f.read()))
            with open(certs.leaf_cert, encoding="ascii") as f:
                good_pin = spki_pin(ssl.PEM_cert_to_DER_cert(f.read()))
            trusted = stack.enter_context(securl.Session(ca_certs=certs.ca_cert))
            default = stack.enter_context(securl.Session())
            _step_verified(p, trusted, good.url, events)
            _step_refused(p, default, selfsigned.url)
            _step_opt_out(p, default, selfsigned.url, events)
            _step_pinned(p, securl, certs, good.url, selfsigned.url, good_pin, self_pin)
    except DemoError as exc:
        p.line(f"securl demo cannot run here: {exc}")
        return 2
    finally:
        stop_capture()
        shutil.rmtree(directory, ignore_errors=True)
    p.line()
    if p.failures:
        p.line(f"securl did not behave as described in {len(p.failures)} step(s).")
        return 1
    p.line("Done: both servers stopped, the throwaway CA and keys deleted.")
    p.line("Next: `securl check URL` explains any server's certificate; "
           "`securl doctor` shows the trust source and policy in force.")
    return 0


def _summary(response: Any) -> str:
    body = response.text.strip()
    return f"{response.status} {response.reason}, body: {body!r}"


def _step_verified(p: _Printer, session: Any, url: str, events: list[Any]) -> None:
    p.line()
    p.line("1. A verified fetch. Trust the demo CA, and only it, for this Session:")
    p.code(f'with securl.Session(ca_certs="demo-ca.pem") as s:\n    s.get("{url}")')
    del events[:]
    try:
        response = session.get(url)
    except Exception as exc:
        p.unexpected(f"the verified fetch failed: {type(exc).__name__}: {exc}")
        return
    p.line(_summary(response), 3)
    conn = next((e for e in events if e.event == "securl.connection"), None)
    if conn is not None:
        f = conn.fields
        p.line(f"{f.get('tls_version')}, {f.get('cipher')}; certificate {f.get('subject')!s} "
               f"issued by {f.get('issuer')}, checked against {f.get('trust_source')}.", 3)


def _step_refused(p: _Printer, session: Any, url: str) -> None:
    import securl

    p.line()
    p.line("2. A self-signed server is refused, with the message your users would see:")
    p.code(f'securl.get("{url}")')
    try:
        response = session.get(url)
    except securl.TLSVerificationError as exc:
        p.line(f"securl.TLSVerificationError, reason_code={exc.reason_code!r}:", 3)
        p.line(str(exc), 5)
        p.line("The handshake stopped before any request byte was sent.", 3)
    else:
        p.unexpected(f"the self-signed server was accepted ({response.status})")


def _step_opt_out(p: _Printer, session: Any, url: str, events: list[Any]) -> None:
    import securl

    p.line()
    p.line("3. Opting out, for this one call only, with a reason: warned and audited:")
    reason = "securl demo: throwaway self-signed server"
    p.code(f'securl.get("{url}",\n           tls=securl.unverified(reason="{reason}"))')
    del events[:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            response = session.get(url, tls=securl.unverified(reason=reason))
        except securl.PolicyError as exc:
            p.line(f"Refused by your admin policy: {exc}", 3)
            return
        except Exception as exc:
            p.unexpected(f"the opted-out call failed: {type(exc).__name__}: {exc}")
            return
    p.line(f"{_summary(response)} -- but nobody checked who answered.", 3)
    for warning in caught:
        if issubclass(warning.category, securl.InsecureRequestWarning):
            p.line(f"warning: InsecureRequestWarning: {warning.message}", 3)
    event = next((e for e in events if e.event == "securl.unverified_request"), None)
    if event is None:
        p.unexpected("no securl.unverified_request audit event was emitted")
        return
    p.line("audit event (on the securl.audit logger, as sys.audit and to add_audit_hook):", 3)
    for chunk in json.dumps(event.to_dict(), indent=2, default=str).splitlines():
        p.line(chunk, 5)


def _step_pinned(p: _Printer, securl: Any, certs: DemoCertificates, good_url: str,
                 self_url: str, good_pin: str, self_pin: str) -> None:
    p.line()
    p.line("4. The safer alternative: pin the server's public key (verification stays on):")
    pinned = getattr(securl, "pinned", None)
    reason = "securl demo: self-signed test server"
    try:
        if pinned is not None:
            p.code(f'securl.get("{self_url}",\n'
                   f'           tls=securl.pinned("{self_pin}", reason="{reason}"))')
            with securl.Session() as s:
                response = s.get(self_url, tls=pinned(self_pin, reason=reason))
            p.line(f"{_summary(response)}; the server's key matched the pin.", 3)
            wrong_url, wrong_pin = good_url, self_pin
        else:
            p.code(f'with securl.Session(ca_certs="demo-ca.pem",\n'
                   f'                    pins=["{good_pin}"]) as s:\n'
                   f'    s.get("{good_url}")')
            with securl.Session(ca_certs=certs.ca_cert, pins=[good_pin]) as s:
                response = s.get(good_url)
            p.line(f"{_summary(response)}; chain verified and the key matched the pin.", 3)
            wrong_url, wrong_pin = good_url, self_pin
    except Exception as exc:
        p.unexpected(f"the pinned fetch failed: {type(exc).__name__}: {exc}")
        return
    p.line("The same call against a key that does not match the pin:", 3)
    try:
        with securl.Session(ca_certs=certs.ca_cert, pins=[wrong_pin]) as s:
            s.get(wrong_url)
    except securl.PinMismatchError as exc:
        p.line(f"securl.PinMismatchError: {exc}", 5)
    else:
        p.unexpected("a server whose key does not match the pin was accepted")
    p.line("Get any server's pin with `securl pin URL`.", 3)

