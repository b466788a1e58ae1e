"""`securl pin URL` (python -m securl.cli.pin), run as a real subprocess against local servers."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import trustme

import securl
from _certs import self_signed
from _pins import make_cert, pin_of
from _servers import LocalServer, server_context


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "securl.cli.pin", *args],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_prints_pin_and_certificate_summary_without_sending_a_request() -> None:
    device = make_cert("localhost", "127.0.0.1", cn="switch-7", days_valid=(-2, 30))
    with LocalServer(server_context(device)) as server:
        out = run(server.url("/some/path")).stdout
        assert server.seen == []  # handshakes only, no HTTP request
        assert server.accepts == 2  # one to read the certificate, one to test the chain
    assert f"pin:        {pin_of(device)}" in out
    assert "CN=switch-7" in out
    assert "DNS:localhost, IP:127.0.0.1" in out
    assert "no HTTP request was sent" in out
    assert "does NOT verify" in out and "self-signed" in out
    assert f"localhost:{server.port} {pin_of(device)}" in out


def test_reports_a_verifying_chain_with_ca_certs(ca_file: str, leaf: trustme.LeafCert,
                                                 https_server: LocalServer) -> None:
    out = run(https_server.url(), "--ca-certs", ca_file).stdout
    assert "chain:      verifies against" in out
    assert pin_of(leaf) in out
    twin = run(https_server.url()).stdout  # without the CA: not verified
    assert "does NOT verify" in twin and "untrusted-issuer" in twin


def test_json_output_is_machine_readable(ca_file: str, leaf: trustme.LeafCert,
                                         https_server: LocalServer) -> None:
    data = json.loads(run(f"localhost:{https_server.port}", "--json",
                          "--ca-certs", ca_file).stdout)
    assert data["pin"] == pin_of(leaf)
    assert data["request_sent"] is False
    assert data["chain"]["verified"] is True
    assert data["hostname_matches"] is True
    assert data["dns_names"] == ["localhost"] and data["ip_addresses"] == ["127.0.0.1"]


def test_flags_expired_and_wrong_name_certificates() -> None:
    device = make_cert("device.lab", days_valid=(-30, -1))
    with LocalServer(server_context(device)) as server:
        out = run(server.url()).stdout
    assert "(EXPIRED)" in out and "[does not name localhost]" in out


def test_add_appends_to_pins_file_once_and_the_file_then_works(tmp_path: pathlib.Path) -> None:
    device = self_signed("localhost")
    pins = tmp_path / "devices.pins"
    with LocalServer(server_context(device)) as server:
        first = run(server.url(), "--add", str(pins)).stdout
        assert f"added 'localhost:{server.port} {pin_of(device)}'" in first
        again = run(server.url(), "--add", str(pins)).stdout
        assert "already in" in again
        lines = [ln for ln in pins.read_text().splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"localhost:{server.port} {pin_of(device)}")
        with securl.Session(pins_file=pins) as s:
            assert s.get(server.url(), tls=securl.pinned(reason="added by CLI")).status == 200
        assert len(server.seen) == 1


def test_add_keeps_the_old_pin_for_rotation(tmp_path: pathlib.Path) -> None:
    old, new = self_signed("localhost"), self_signed("localhost")
    pins = tmp_path / "devices.pins"
    with LocalServer(server_context(new)) as server:
        pins.write_text(f"localhost:{server.port} {pin_of(old)}\n")
        run(server.url(), "--add", str(pins), "--port", str(server.port))
    text = pins.read_text()
    assert pin_of(old) in text and pin_of(new) in text


def test_add_refuses_a_malformed_pins_file(tmp_path: pathlib.Path) -> None:
    pins = tmp_path / "broken.pins"
    pins.write_text("garbage\n")
    with LocalServer(server_context(self_signed("localhost"))) as server:
        proc = run(server.url(), "--add", str(pins), check=False)
    assert proc.returncode == 1 and "broken.pins:1" in proc.stderr
    assert pins.read_text() == "garbage\n"


@pytest.mark.parametrize("target", ["http://localhost/", "https://", "ftp://x/"])
def test_bad_target_is_a_usage_error(target: str) -> None:
    proc = run(target, check=False)
    assert proc.returncode == 2 and "securl pin:" in proc.stderr


def test_unreachable_server_fails_with_status_1() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        proc = run(f"https://127.0.0.1:{port}/", "--timeout", "5", check=False)
    assert proc.returncode == 1 and "cannot read the certificate" in proc.stderr


def test_pin_reads_urls_as_requests_do_idna_a_labels_and_redacted_errors() -> None:
    from securl.cli.pin import _target

    assert _target("https://straße.example:8443/", None) == ("xn--strae-oqa.example", 8443)
    assert _target("ÖBB.at", None) == ("xn--bb-eka.at", 443)
    with pytest.raises(ValueError) as info:
        _target("https://alice:s3cret@device.lab/", None)
    assert "s3cret" not in str(info.value) and "credentials in the URL" in str(info.value)
    with pytest.raises(ValueError, match="only https"):
        _target("http://device.lab/", None)
