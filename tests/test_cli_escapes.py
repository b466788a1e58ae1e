"""Server-controlled text reaches the terminal with its control characters escaped.

A certificate's names, an HTTP reason phrase, response headers and error messages are all
chosen by the server. The CLI runs as a real subprocess against real servers on 127.0.0.1
whose certificates and answers carry terminal escape sequences (set the window title, clear
the screen, a fake green verdict, hidden text); the raw ESC byte must never come out.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import pathlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import securl
from _certs import SelfSigned
from _servers import Handler, LocalServer, RawServer, Reply, server_context
from securl.cli.safe_text import printable

SRC = str(pathlib.Path(securl.__file__).resolve().parent.parent)

#: Set the window title, clear the screen, print a fake green verdict, hide what follows.
EVIL = "\x1b]0;pwned\x07\x1b[2J\x1b[32mVerdict: VERIFIED\x1b[0m\x1b[8m"
#: The same, plus a one-byte C1 CSI and a right-to-left override (UTF8String names only).
EVIL_WIDE = EVIL + "\x9b2J\u202e"
ESCAPED = "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[32mVerdict: VERIFIED\\x1b[0m\\x1b[8m"


# --- printable ----------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b", "\\x1b"),
    ("\x07", "\\x07"),
    ("\x1b[2J", "\\x1b[2J"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("\x9b2J", "\\x9b2J"),
    ("abc\u202edef", "abc\\u202edef"),
    ("a\x00b", "a\\x00b"),
    ("line1\r\nline2\tend", "line1\\x0d\\x0aline2\\x09end"),
    ("\x7f", "\\x7f"),
    ("\u2066x\u2069\u200b\u2028\ufeff\u061c", "\\u2066x\\u2069\\u200b\\u2028\\ufeff\\u061c"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("C:\\certs", "C:\\\\certs"),
])
def test_printable_escapes_controls(raw: str, shown: str) -> None:
    assert printable(raw) == shown


@pytest.mark.parametrize("text", ["plain text: 1-2 [ok] 'q'", "café é", "日本", "ß Ω ü", ""])
def test_printable_leaves_ordinary_text_alone(text: str) -> None:
    assert printable(text) == text


def test_printable_takes_bytes_and_any_object() -> None:
    assert printable(b"caf\xc3\xa9 \x1b[2J \xff\\") == "café \\x1b[2J \\xff\\\\"
    assert printable(404) == "404"
    assert printable(None) == "None"
    assert printable(ValueError("bad \x1b[8m reason")) == "bad \\x1b[8m reason"
    assert printable("lone \udcff") == "lone \\udcff"


def test_printable_never_raises() -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert printable(Hostile()) == "<unprintable Hostile value>"


def test_printable_output_has_no_control_characters() -> None:
    every = "".join(chr(c) for c in range(0x300)) + "\u202a\u202b\u202c\u202d\u202e\u200e\u200f"
    shown = printable(every)
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in shown)
    assert not set(shown) & set("\u202a\u202b\u202c\u202d\u202e\u200e\u200f")
    assert shown.encode("utf-8")  # no lone surrogates either


# --- certificates with escape sequences in their names ------------------------------------

@dataclass
class Evil:
    ca_file: str
    leaf: SelfSigned  # the leaf and its key, for server_context()


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> Evil:
    """A CA and a leaf (127.0.0.1) whose subject, issuer and DNS SAN hold escape sequences."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Evil CA " + EVIL_WIDE, "Evil Org " + EVIL)
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                     False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder().subject_name(_name("leaf " + EVIL_WIDE, "Leaf Org " + EVIL))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("evil" + EVIL), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path_factory.mktemp("evil") / "evil-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return Evil(str(ca_file), SelfSigned(leaf.public_bytes(serialization.Encoding.PEM),
                                         _pem(key)))


@pytest.fixture
def evil_server(evil: Evil) -> Iterator[LocalServer]:
    """An https server presenting the evil leaf, answering with an escape-laden header."""
    def answer(_: Handler) -> Reply:
        return 200, {"Content-Type": "text/plain", "X-Note": "hi " + EVIL}, b"hello"

    with LocalServer(server_context(evil.leaf)) as server:
        server.default_route = answer
        yield server


def run_securl(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, "-m", "securl", *args], capture_output=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL, check=False)


def assert_escaped(proc: subprocess.CompletedProcess[bytes], *, where: str = "stdout") -> str:
    """No raw ESC, BEL, C1 CSI or RLO anywhere; the escaped sequence is shown; the text."""
    for stream in (proc.stdout, proc.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream, stream
        assert "\x9b".encode() not in stream and "\u202e".encode() not in stream, stream
    text = (proc.stdout if where == "stdout" else proc.stderr).decode("utf-8")
    assert ESCAPED in text, text
    return text


def only_verdict(text: str) -> str:
    """The one line starting with ``Verdict:`` (a forged verdict would make a second one)."""
    verdicts = [line for line in text.splitlines() if line.startswith("Verdict:")]
    assert len(verdicts) == 1, text
    return verdicts[0]


# --- securl check -------------------------------------------------------------------------

def test_check_escapes_names_and_the_suggested_command_when_not_verified(
        evil_server: LocalServer) -> None:
    url = f"https://127.0.0.1:{evil_server.port}/"
    proc = run_securl("check", url)
    assert proc.returncode == 1, proc.stderr
    text = assert_escaped(proc)
    assert only_verdict(text) == "Verdict: NOT VERIFIED (untrusted-issuer)"
    assert f"  [0] subject: CN=leaf {ESCAPED}\\x9b2J\\u202e, O=Leaf Org {ESCAPED}\n" in text
    assert f"      issuer:  CN=Evil CA {ESCAPED}\\x9b2J\\u202e, O=Evil Org {ESCAPED}\n" in text
    assert f"      SANs:    DNS:evil{ESCAPED}, IP:127.0.0.1\n" in text
    # The advice quotes the issuer and suggests a command: both escaped, on one line each.
    assert f"If 'CN=Evil CA {ESCAPED}\\x9b2J\\u202e, O=Evil Org {ESCAPED}' is your" in text
    assert f"retry with: securl check {url} --ca-certs ca.pem" in text


def test_check_escapes_the_listed_name_it_suggests_on_a_hostname_mismatch(
        evil: Evil, evil_server: LocalServer) -> None:
    proc = run_securl("check", f"https://localhost:{evil_server.port}/", "--ca-certs",
                      evil.ca_file)
    assert proc.returncode == 1, proc.stderr
    text = assert_escaped(proc)
    assert only_verdict(text) == "Verdict: NOT VERIFIED (hostname-mismatch)"
    assert f"The certificate is valid for: DNS:evil{ESCAPED}, IP:127.0.0.1;" in text
    assert f"Use a listed name: securl check https://evil{ESCAPED}:{evil_server.port}/" in text


def test_check_escapes_names_of_a_verified_chain(evil: Evil, evil_server: LocalServer) -> None:
    proc = run_securl("check", f"https://127.0.0.1:{evil_server.port}/", "--ca-certs",
                      evil.ca_file)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = assert_escaped(proc)
    assert only_verdict(text).startswith("Verdict: VERIFIED. 127.0.0.1 presented a chain")
    assert f"subject: CN=leaf {ESCAPED}" in text


def test_check_json_escapes_controls_but_keeps_the_names(evil_server: LocalServer) -> None:
    proc = run_securl("check", f"https://127.0.0.1:{evil_server.port}/", "--json")
    assert proc.returncode == 1, proc.stderr
    assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
    report = json.loads(proc.stdout)
    assert report["chain"][0]["subject"] == f"CN=leaf {EVIL_WIDE}, O=Leaf Org {EVIL}"
    assert report["chain"][0]["sans"] == [f"DNS:evil{EVIL}", "IP:127.0.0.1"]


# --- securl pin ---------------------------------------------------------------------------

def test_pin_escapes_the_certificate_names(evil_server: LocalServer) -> None:
    proc = run_securl("pin", f"https://127.0.0.1:{evil_server.port}/")
    assert proc.returncode == 0, proc.stderr
    text = assert_escaped(proc)
    assert f"  subject:    CN=leaf {ESCAPED}\\x9b2J\\u202e, O=Leaf Org {ESCAPED}\n" in text
    assert f"  issuer:     CN=Evil CA {ESCAPED}\\x9b2J\\u202e, O=Evil Org {ESCAPED}\n" in text
    assert f"  SANs:       DNS:evil{ESCAPED}, IP:127.0.0.1\n" in text
    assert "does NOT verify" in text


def test_pin_json_escapes_controls_but_keeps_the_names(evil_server: LocalServer) -> None:
    proc = run_securl("pin", f"https://127.0.0.1:{evil_server.port}/", "--json")
    assert proc.returncode == 0, proc.stderr
    assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
    assert json.loads(proc.stdout)["subject"] == f"CN=leaf {EVIL_WIDE}, O=Leaf Org {EVIL}"


def test_pin_escapes_names_of_a_chain_that_verifies(evil: Evil, evil_server: LocalServer) -> None:
    proc = run_securl("pin", f"https://127.0.0.1:{evil_server.port}/", "--ca-certs",
                      evil.ca_file)
    assert proc.returncode == 0, proc.stderr
    text = assert_escaped(proc)
    assert "  chain:      verifies against" in text
    assert "[does not name" not in text  # 127.0.0.1 is in the certificate


# --- securl get ---------------------------------------------------------------------------

def test_get_verbose_escapes_certificate_names_and_response_headers(
        evil: Evil, evil_server: LocalServer) -> None:
    proc = run_securl("get", "-v", f"https://127.0.0.1:{evil_server.port}/", "--ca-certs",
                      evil.ca_file)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"hello"  # the body is the download, written as received
    text = assert_escaped(proc, where="stderr")
    assert f": subject CN=leaf {ESCAPED}\\x9b2J\\u202e, O=Leaf Org {ESCAPED}, " in text
    assert f"issuer CN=Evil CA {ESCAPED}\\x9b2J\\u202e, O=Evil Org {ESCAPED}, " in text
    assert f"< X-Note: hi {ESCAPED}\n" in text


def _answer_with(head: str) -> RawServer:
    """A plain-http server that reads one request head and answers ``head`` (Latin-1)."""
    def behave(conn: socket.socket) -> None:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        conn.sendall(head.encode("latin-1"))
        conn.close()

    return RawServer(behave)


def test_get_escapes_the_reason_phrase_and_headers_of_an_http_error() -> None:
    head = (f"HTTP/1.1 404 Not {EVIL} Found\r\nX-Evil: v {EVIL}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n")
    with _answer_with(head) as server:
        proc = run_securl("get", "-v", f"http://127.0.0.1:{server.port}/")
    assert proc.returncode == 3, proc.stderr
    text = assert_escaped(proc, where="stderr")
    assert f"< 404 Not {ESCAPED} Found\n" in text
    assert f"< X-Evil: v {ESCAPED}\n" in text
    assert f"securl get: HTTP 404 Not {ESCAPED} Found from http://127.0.0.1:" in text
    assert proc.stdout == b""


def test_get_escapes_server_text_inside_error_messages() -> None:
    # A broken status line: the error message quotes it.
    with _answer_with(f"HTTP/1.1 4x4 {EVIL}\r\nContent-Length: 0\r\n\r\n") as server:
        proc = run_securl("get", f"http://127.0.0.1:{server.port}/")
    assert proc.returncode == 4, proc.stderr
    text = assert_escaped(proc, where="stderr")
    assert "broke the HTTP protocol" in text and f"4x4 {ESCAPED}\\x0d\\x0a" in text
    # A redirect to a URL holding escapes: the refusal names the URL.
    with _answer_with(f"HTTP/1.1 302 Found\r\nLocation: gopher://h/{EVIL}\r\n"
                      "Content-Length: 0\r\nConnection: close\r\n\r\n") as server:
        proc = run_securl("get", f"http://127.0.0.1:{server.port}/")
    assert proc.returncode == 4, proc.stderr
    text = assert_escaped(proc, where="stderr")
    assert f"refusing redirect from http://127.0.0.1:{server.port}/ to gopher://h/{ESCAPED}" \
        in text


# --- securl doctor ------------------------------------------------------------------------

def test_doctor_escapes_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", EVIL_WIDE)
    proc = run_securl("doctor")
    assert proc.returncode in (0, 1), proc.stderr
    text = assert_escaped(proc)
    assert f"    NO_PROXY={ESCAPED}\\x9b2J\\u202e  (" in text
