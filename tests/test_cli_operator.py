"""The securl command for operators: size and deadline flags, Ctrl-C, plain error messages,
exit codes, per-subcommand usage, -v request lines and the self-signed hint."""

from __future__ import annotations

import pathlib
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import trustme

from _certs import self_signed
from _servers import LocalServer, RawServer, server_context
from securl.cli.get import parse_size
from securl.cli.outcomes import exit_code_for, plain_error
from securl.exceptions import ConnectionError, PolicyError
from securl.tls.x509 import spki_pin
from test_cli import closed_port, run_securl, securl_env

MIB = 1 << 20


def _read_head(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError("client left")
        data += chunk


def _body_server(leaf: trustme.LeafCert, size: int, *, pause: float = 0.0,
                 sent: list[int] | None = None, close: bool = True) -> RawServer:
    """HTTPS on a RawServer: a ``size``-byte body written 1 MiB at a time (never held whole),
    with ``pause`` seconds between chunks; ``sent`` collects the bytes written so far."""
    ctx = server_context(leaf)
    chunk = b"z" * MIB

    def behave(raw: socket.socket) -> None:
        raw.settimeout(10)
        with ctx.wrap_socket(raw, server_side=True) as conn:
            _read_head(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n%s\r\n"
                         % (size, b"Connection: close\r\n" if close else b""))
            left = size
            while left > 0:
                piece = chunk[:min(left, MIB)]
                conn.sendall(piece)
                left -= len(piece)
                if sent is not None:
                    sent.append(len(piece))
                if pause and server.wait_stop(pause):
                    return

    server = RawServer(behave)
    return server


def test_max_size_300M_downloads_a_200_MiB_body_and_the_default_refuses_it(
        leaf: trustme.LeafCert, ca_file: str, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "big.bin"
    with _body_server(leaf, 200 * MIB) as server:
        url = f"https://localhost:{server.port}/big"
        ok = run_securl("get", url, "--ca-certs", ca_file, "--max-size", "300M",
                        "-o", str(out), timeout=120)
        assert ok.returncode == 0, ok.stderr
        assert out.stat().st_size == 200 * MIB
        out.unlink()
        refused = run_securl("get", url, "--ca-certs", ca_file, "-o", str(out), timeout=120)
    assert refused.returncode == 4, refused.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no partial file either


@pytest.mark.parametrize(("text", "size"), [
    ("300M", 300 * MIB), ("2G", 2 << 30), ("12345", 12345), ("512k", 512 << 10),
    ("1MiB", MIB), ("none", None), ("NONE", None),
])
def test_max_size_accepts_bytes_units_and_none(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5G", "3X", "M", "ten"])
def test_max_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)
    result = run_securl("get", "--max-size", text, "https://127.0.0.1:9/")
    assert result.returncode == 2
    assert "usage: securl get" in result.stderr


def test_deadline_bounds_the_whole_download(
        leaf: trustme.LeafCert, ca_file: str, tmp_path: pathlib.Path) -> None:
    # 1 MiB every 0.5 s never trips the 30 s read timeout; the 1.5 s deadline stops it.
    with _body_server(leaf, 50 * MIB, pause=0.5, close=False) as server:
        started = time.monotonic()
        result = run_securl("get", f"https://localhost:{server.port}/", "--ca-certs", ca_file,
                            "--deadline", "1.5", "-o", str(tmp_path / "slow.bin"))
        took = time.monotonic() - started
    assert result.returncode == 4, result.stderr
    assert took < 20
    assert "1.5" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_sigint_mid_download_exits_130_with_one_line_and_no_partial_file(
        leaf: trustme.LeafCert, ca_file: str, tmp_path: pathlib.Path) -> None:
    sent: list[int] = []
    out = tmp_path / "download.bin"
    with _body_server(leaf, 100 * MIB, pause=0.2, sent=sent) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "securl", "get", f"https://localhost:{server.port}/",
             "--ca-certs", ca_file, "-o", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=securl_env(),
            stdin=subprocess.DEVNULL)
        try:
            _wait_for(lambda: sum(sent) >= 2 * MIB and _part_file(tmp_path), 30)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    assert proc.returncode == 130, stderr
    assert stderr == f"securl get: interrupted; {out} was not written\n"
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []


def _part_file(directory: pathlib.Path) -> bool:
    return any(directory.iterdir())


def _wait_for(condition: Callable[[], object], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.02)


def test_refused_connection_names_host_port_and_cause_without_class_names() -> None:
    port = closed_port()
    for scheme in ("https", "http"):
        result = run_securl("get", f"{scheme}://127.0.0.1:{port}/")
        assert result.returncode == 4
        assert f"cannot connect to 127.0.0.1:{port}" in result.stderr
        assert "Connection refused" in result.stderr
        for word in ("urllib3", "HTTPSConnection", "HTTPConnection", "host=", "Errno"):
            assert word not in result.stderr
    check = run_securl("check", f"https://127.0.0.1:{port}/")
    assert check.returncode == 4
    assert f"cannot connect to 127.0.0.1:{port}: Connection refused" in check.stderr


def test_plain_error_removes_connection_reprs_and_object_addresses() -> None:
    raw = ("cannot connect to h:1: SecurlHTTPSConnection(host='h', port=1): Failed to "
           "establish a new connection: [Errno 111] Connection refused")
    assert plain_error(ConnectionError(raw)) == (
        "cannot connect to h:1: Failed to establish a new connection: Connection refused")
    other = "x: <urllib3.connection.HTTPSConnection object at 0x7f00aa>: Failed to resolve 'h'"
    assert plain_error(ValueError(other)) == "x: Failed to resolve 'h'"


def test_exit_code_table() -> None:
    assert exit_code_for(PolicyError("refused")) == 5
    assert exit_code_for(ConnectionError("lost")) == 4
    assert exit_code_for(KeyboardInterrupt()) == 130


def test_plain_http_gets_a_warning_line(http_server: LocalServer) -> None:
    result = run_securl("get", http_server.url())
    assert (result.returncode, result.stdout) == (0, "hello")
    assert result.stderr.startswith("securl get: warning: plain http:// is neither encrypted")
    assert result.stderr.count("\n") == 1


def test_https_gets_no_warning(https_server: LocalServer, ca_file: str) -> None:
    result = run_securl("get", https_server.url(), "--ca-certs", ca_file)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello", "")


def test_verbose_shows_the_request_line_and_redacted_request_headers(
        https_server: LocalServer, ca_file: str) -> None:
    result = run_securl("get", "-v", https_server.url("/echo?q=1"), "--ca-certs", ca_file,
                        "-H", "Authorization: Bearer s3cret-token", "-H", "Cookie: id=s3cret",
                        "-H", "X-Trace: visible")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "> GET /echo?q=1 HTTP/1.1" in lines
    assert f"> Host: localhost:{https_server.port}" in lines
    assert "> Authorization: [REDACTED]" in lines
    assert "> Cookie: [REDACTED]" in lines
    assert "> X-Trace: visible" in lines
    assert "s3cret" not in result.stderr
    assert "s3cret-token" in result.stdout  # it was sent, only not shown


@pytest.mark.parametrize("command", ["check", "get", "doctor", "demo"])
def test_a_bad_flag_prints_the_usage_of_its_subcommand(command: str) -> None:
    result = run_securl(command, "--bogus", "https://127.0.0.1:9/")
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: securl {command} ")
    assert "unrecognized arguments: --bogus" in result.stderr


def test_self_signed_hint_offers_cli_forms_that_work(tmp_path: pathlib.Path) -> None:
    cert = self_signed()
    with LocalServer(server_context(cert)) as server:
        refused = run_securl("get", server.url())
        pem = tmp_path / "server.pem"
        pem.write_bytes(cert.cert_pem)
        trusted = run_securl("get", "--ca-certs", str(pem), server.url())
        pin = spki_pin(ssl.PEM_cert_to_DER_cert(cert.cert_pem.decode()))
        pinned = run_securl("get", "--pin", pin, server.url())
    assert refused.returncode == 1
    assert f"securl get --ca-certs server.pem {server.url()}" in refused.stderr
    assert f"securl pin {server.url()}" in refused.stderr
    assert "tls=securl.pinned" not in refused.stderr  # Python advice, not a command form
    assert (trusted.returncode, trusted.stdout) == (0, "hello")
    # --pin narrows verification and does not replace it: hence not offered for this case.
    assert pinned.returncode == 1


def test_check_network_and_usage_codes_differ() -> None:
    assert run_securl("check", "http://localhost/").returncode == 2
    assert run_securl("check", f"https://127.0.0.1:{closed_port()}/").returncode == 4


def test_help_lists_the_exit_code_table() -> None:
    result = run_securl("--help", env=securl_env(COLUMNS="200"))
    assert "4 network error" in result.stdout and "130 interrupted" in result.stdout
