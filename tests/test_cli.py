"""The securl command, run as a real subprocess against real TLS servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import pathlib
import pty
import re
import select
import socket
import ssl
import subprocess
import sys
import textwrap

import pytest
import trustme

import securl.cli.main
from _certs import self_signed
from _servers import Handler, LocalServer, Reply, server_context
from conftest import expired_leaf
from securl.tls.x509 import spki_pin

SRC = str(pathlib.Path(securl.__file__).resolve().parent.parent)
BIG = 2 * 1024 * 1024 + 17  # over the 1 MiB progress threshold


def securl_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def run_securl(*args: str, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "securl", *args], capture_output=True, text=True,
        timeout=timeout, env=env or securl_env(), stdin=subprocess.DEVNULL, check=False,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(cert: object) -> LocalServer:
    return LocalServer(server_context(cert))


@pytest.fixture
def files_server(https_server: LocalServer) -> LocalServer:
    def missing(_: Handler) -> Reply:
        return 404, {"Content-Type": "text/plain"}, b"no such document"

    def big(_: Handler) -> Reply:
        return 200, {"Content-Type": "application/octet-stream"}, b"x" * BIG

    https_server.routes["/missing"] = missing
    https_server.routes["/big"] = big
    return https_server


# -- check --------------------------------------------------------------------------------

def test_check_verified_server_exits_0_and_shows_chain_tls_and_trust(
        https_server: LocalServer, ca_file: str) -> None:
    result = run_securl("check", https_server.url(), "--ca-certs", ca_file)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Verdict: VERIFIED" in out
    assert "Certificate chain (verified):" in out
    assert "SANs:    DNS:localhost, IP:127.0.0.1" in out
    assert "key:     EC P-256 (256 bits)" in out
    assert re.search(r"TLSv1\.[23], \S+", out)
    assert f"trust source: ca_certs (file {ca_file})" in out
    assert "[1] subject:" in out  # the verified chain reaches the CA


def test_check_untrusted_issuer_exits_1_and_still_shows_the_chain(
        https_server: LocalServer) -> None:
    result = run_securl("check", https_server.url())  # system store: trustme CA not in it
    assert result.returncode == 1
    assert "Verdict: NOT VERIFIED (untrusted-issuer)" in result.stdout
    assert "Certificate chain (sent by the server):" in result.stdout
    assert "DNS:localhost" in result.stdout
    assert "--ca-certs ca.pem" in result.stdout


def test_check_expired_certificate_exits_1_with_reason_and_renewal_advice(
        ca: trustme.CA, ca_file: str) -> None:
    with serve(expired_leaf(ca)) as server:
        result = run_securl("check", server.url(), "--ca-certs", ca_file)
    assert result.returncode == 1
    assert "Verdict: NOT VERIFIED (expired)" in result.stdout
    assert "the server's certificate has expired" in result.stdout
    assert "(EXPIRED 1 day ago)" in result.stdout
    assert "must renew the certificate" in result.stdout


def test_check_wrong_host_exits_1_and_lists_the_names_the_certificate_has(
        ca: trustme.CA, ca_file: str) -> None:
    with serve(ca.issue_cert("other.example")) as server:
        result = run_securl("check", server.url(), "--ca-certs", ca_file)
    assert result.returncode == 1
    assert "Verdict: NOT VERIFIED (hostname-mismatch)" in result.stdout
    assert "The certificate is valid for: DNS:other.example; you asked for localhost." \
        in result.stdout
    assert f"securl check https://other.example:{server.port}/" in result.stdout


def test_check_self_signed_advises_the_servers_own_pin() -> None:
    cert = self_signed()
    with serve(cert) as server:
        result = run_securl("check", server.url())
    pin = spki_pin(ssl.PEM_cert_to_DER_cert(cert.cert_pem.decode()))
    assert result.returncode == 1
    assert "Verdict: NOT VERIFIED (self-signed)" in result.stdout
    assert f"tls=securl.pinned('{pin}'" in result.stdout
    assert "--ca-certs server.pem" in result.stdout


def test_check_sends_no_http_request_verified_or_not(
        https_server: LocalServer, ca_file: str) -> None:
    assert run_securl("check", https_server.url(), "--ca-certs", ca_file).returncode == 0
    assert run_securl("check", https_server.url()).returncode == 1
    assert https_server.accepts >= 3  # one verified, one refused, one to read the chain
    assert https_server.seen == []


def test_check_json_is_parseable_with_verdict_reason_and_chain(
        https_server: LocalServer, ca_file: str) -> None:
    good = run_securl("check", https_server.url(), "--ca-certs", ca_file, "--json")
    bad = run_securl("check", https_server.url(), "--json")
    good_data, bad_data = json.loads(good.stdout), json.loads(bad.stdout)
    assert (good.returncode, good_data["verified"], good_data["reason_code"]) == (0, True, None)
    assert good_data["trust"]["source"] == "ca_certs"
    assert good_data["chain"][0]["sans"] == ["DNS:localhost", "IP:127.0.0.1"]
    assert good_data["chain"][0]["key_type"] == "EC P-256"
    assert (bad.returncode, bad_data["verified"]) == (1, False)
    assert bad_data["reason_code"] == "untrusted-issuer"
    assert bad_data["advice"]


def test_check_network_error_exits_4() -> None:
    result = run_securl("check", f"https://127.0.0.1:{closed_port()}/")
    assert result.returncode == 4
    assert "cannot connect to 127.0.0.1" in result.stderr


def test_check_usage_errors_exit_2() -> None:
    assert run_securl("check", "http://localhost/").returncode == 2
    assert run_securl("check").returncode == 2
    missing = run_securl("check", "https://localhost:1/", "--ca-certs", "/nonexistent.pem")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


# -- get ----------------------------------------------------------------------------------

def test_get_writes_the_body_to_stdout_and_exits_0(
        https_server: LocalServer, ca_file: str) -> None:
    result = run_securl("get", https_server.url("/"), "--ca-certs", ca_file)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello", "")


def test_get_untrusted_server_exits_1_and_writes_nothing(
        https_server: LocalServer, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out.txt"
    result = run_securl("get", https_server.url("/"), "-o", str(out))
    assert result.returncode == 1
    assert "not verified (untrusted-issuer)" in result.stderr
    assert not out.exists()
    assert https_server.seen == []


def test_get_sends_every_repeated_header(https_server: LocalServer, ca_file: str) -> None:
    result = run_securl("get", https_server.url("/echo"), "--ca-certs", ca_file,
                        "-H", "X-One: 1", "-H", "X-Two: two words", "-H", "Accept:",
                        "-H", "User-Agent: my-agent/1")
    headers = json.loads(result.stdout)["headers"]
    assert headers["X-One"] == "1"
    assert headers["X-Two"] == "two words"
    assert "Accept" not in headers  # 'Name:' removes a default header
    assert headers["User-Agent"] == "my-agent/1"
    assert headers["Accept-Encoding"] == "identity"


def test_get_output_file_is_replaced_atomically_and_only_on_success(
        files_server: LocalServer, ca_file: str, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "doc.txt"
    out.write_text("previous version")
    failed = run_securl("get", files_server.url("/missing"), "--ca-certs", ca_file,
                        "-o", str(out))
    assert failed.returncode == 3
    assert "HTTP 404 Not Found" in failed.stderr
    assert out.read_text() == "previous version"
    ok = run_securl("get", files_server.url("/"), "--ca-certs", ca_file, "-o", str(out))
    assert ok.returncode == 0
    assert out.read_text() == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.txt"]  # no .part left over


def test_get_pin_must_match_on_top_of_verification(
        https_server: LocalServer, ca_file: str, leaf: trustme.LeafCert) -> None:
    pin = spki_pin(ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode()))
    good = run_securl("get", https_server.url(), "--ca-certs", ca_file, "--pin", pin)
    wrong_pin = "sha256/" + "A" * 43 + "="
    bad = run_securl("get", https_server.url(), "--ca-certs", ca_file, "--pin", wrong_pin)
    assert (good.returncode, good.stdout) == (0, "hello")
    assert bad.returncode == 1
    assert "not verified (pin-mismatch)" in bad.stderr
    assert bad.stdout == ""


def test_get_verbose_never_prints_credentials(
        https_server: LocalServer, ca_file: str) -> None:
    result = run_securl("get", https_server.url("/echo"), "--ca-certs", ca_file, "-v",
                        "-H", "Authorization: Bearer s3cret-token", "-H", "Cookie: sid=s3cret")
    assert result.returncode == 0
    assert "s3cret" not in result.stderr
    assert "> Authorization: [REDACTED]" in result.stderr
    assert "* connected to localhost:" in result.stderr
    assert https_server.seen[0].headers["Authorization"] == "Bearer s3cret-token"


def test_get_client_certificate_answers_a_server_that_requires_one(
        ca: trustme.CA, ca_file: str, leaf: trustme.LeafCert, tmp_path: pathlib.Path) -> None:
    client = ca.issue_cert("client@example.org")
    both = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(both))
    ctx = server_context(leaf, client_ca=ca, client_cert_mode="required")
    with LocalServer(ctx) as server:
        with_cert = run_securl("get", server.url(), "--ca-certs", ca_file, "--cert", str(both))
        without = run_securl("get", server.url(), "--ca-certs", ca_file)
    assert (with_cert.returncode, with_cert.stdout) == (0, "hello")
    assert (without.returncode, without.stdout) == (4, "")
    assert without.stderr.startswith(
        f"securl get: localhost:{server.port} requires a client certificate (2-way TLS)")


def _run_with_tty_stderr(args: list[str]) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "securl", *args], env=securl_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_get_progress_bar_only_on_a_terminal_for_bodies_over_1_mib(
        files_server: LocalServer, ca_file: str, tmp_path: pathlib.Path) -> None:
    out = str(tmp_path / "big.bin")
    args = ["get", files_server.url("/big"), "--ca-certs", ca_file, "-o", out]
    rc, terminal = _run_with_tty_stderr(args)
    assert rc == 0
    assert os.path.getsize(out) == BIG
    assert "100% [##############################] 2.0/2.0 MiB" in terminal
    piped = run_securl(*args)  # stderr is a pipe: no bar
    assert (piped.returncode, piped.stderr) == (0, "")
    rc, small = _run_with_tty_stderr(["get", files_server.url("/"), "--ca-certs", ca_file,
                                      "-o", out])
    assert (rc, small) == (0, "")


# -- doctor -------------------------------------------------------------------------------

def test_doctor_reports_trust_source_environment_and_policy(
        ca_file: str, tmp_path: pathlib.Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('allow_unverified = false\nminimum_tls_version = "1.3"\n')
    env = securl_env(SSL_CERT_FILE=ca_file, SECURL_POLICY=str(policy),
                     HTTPS_PROXY="http://alice:pa55word@127.0.0.1:3128")
    result = run_securl("doctor", "--json", env=env)
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["trust"]["source"] == "environment"
    assert report["environment"]["SSL_CERT_FILE"]["value"] == ca_file
    assert report["environment"]["HTTPS_PROXY"]["value"] == "http://127.0.0.1:3128"
    assert report["policy"] == {**report["policy"], "path": str(policy), "exists": True}
    assert report["policy"]["values"]["allow_unverified"] is False
    assert report["policy"]["values"]["minimum_tls_version"] == "1.3"
    assert report["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert report["openssl"]["version"] == ssl.OPENSSL_VERSION
    text = run_securl("doctor", env=env)
    assert "pa55word" not in text.stdout + result.stdout
    assert "trust source:  environment" in text.stdout


def test_doctor_finds_a_process_wide_disable_from_sitecustomize(
        tmp_path: pathlib.Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent("""\
        import ssl
        ssl._create_default_https_context = ssl._create_unverified_context
    """))
    env = securl_env()
    env["PYTHONPATH"] = os.pathsep.join((str(tmp_path), env["PYTHONPATH"]))
    result = run_securl("doctor", "--json", env=env)
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["sitecustomize"]["loaded"] is True
    assert report["sitecustomize"]["file"] == str(tmp_path / "sitecustomize.py")
    assert any("_create_unverified_context" in p for p in report["problems"])
    clean = run_securl("doctor")
    assert clean.returncode == 0
    assert "no process-wide verification disable found" in clean.stdout


def test_doctor_sees_a_sitecustomize_that_installs_securl(tmp_path: pathlib.Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("import securl  # securl.install() here\n")
    env = securl_env()
    env["PYTHONPATH"] = os.pathsep.join((str(tmp_path), env["PYTHONPATH"]))
    report = json.loads(run_securl("doctor", "--json", env=env).stdout)
    assert report["sitecustomize"]["installs_securl"] is True
    assert report["guard"]["active"] in (True, False, "unknown")


def test_doctor_exits_1_when_the_trust_source_is_broken() -> None:
    result = run_securl("doctor", env=securl_env(SSL_CERT_FILE="/nonexistent/ca.pem"))
    assert result.returncode == 1
    assert "trust source:  ERROR: SSL_CERT_FILE: CA file '/nonexistent/ca.pem' does not " \
        "exist" in result.stdout


# -- demo ---------------------------------------------------------------------------------

_SUBREAPER = textwrap.dedent("""\
    import ctypes, json, os, subprocess, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER: orphans come to us
    proc = subprocess.run([sys.executable, "-m", "securl", "demo", *sys.argv[1:]],
                          capture_output=True, text=True, timeout=120)
    time.sleep(0.3)
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == os.getpid():
            left.append(int(pid))
    for pid in left:  # only processes the demo started, by PID
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    print(json.dumps({"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr,
                      "left": left}))
""")


def run_demo_as_subreaper(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _SUBREAPER, *args], capture_output=True,
                          text=True, timeout=150, env=securl_env(), check=True)
    return dict(json.loads(proc.stdout))


def assert_port_closed(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.parametrize("backend", ["openssl", "cryptography"])
def test_demo_exits_0_and_leaves_no_process_port_or_file_behind(backend: str) -> None:
    result = run_demo_as_subreaper("--cert-backend", backend)
    out = str(result["out"])
    assert result["rc"] == 0, out + str(result["err"])
    assert result["left"] == []
    ports = {int(p) for p in re.findall(r"https://127\.0\.0\.1:(\d+)/", out)}
    assert len(ports) == 2
    for port in ports:
        assert_port_closed(port)
    directory = re.search(r"made with \w+ in (\S+) ", out)
    assert directory is not None
    assert not os.path.exists(directory.group(1))
    assert f"made with {backend}" in out


def test_demo_shows_verified_refused_audited_and_pinned_fetches() -> None:
    result = run_securl("demo")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "200 OK, body: 'hello from the CA-issued server'" in out
    assert "securl.TLSVerificationError, reason_code='self-signed':" in out
    assert "TLS verification failed for 127.0.0.1:" in out
    assert "InsecureRequestWarning: certificate verification is OFF" in out
    event = re.search(r"^ +\{\n.*?^ +\}$", out, flags=re.S | re.M)
    assert event is not None
    data = json.loads(event.group(0))
    assert data["event"] == "securl.unverified_request"
    assert data["reason"] == "securl demo: throwaway self-signed server"
    assert data["action"] == "allowed"
    assert "securl.PinMismatchError:" in out
    assert "UNEXPECTED" not in out
    assert result.stderr == ""


def test_demo_says_what_to_install_when_it_cannot_make_certificates() -> None:
    result = run_securl("demo", "--cert-backend", "openssl",
                        env=securl_env(PATH=os.path.dirname(sys.executable) + "/nonexistent"))
    assert result.returncode == 2
    assert "openssl command was not found" in result.stdout


# -- dispatch -----------------------------------------------------------------------------

def test_version_and_usage_exit_codes() -> None:
    version = run_securl("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"securl {securl.__version__}")
    assert run_securl().returncode == 2
    assert run_securl("no-such-command").returncode == 2


@pytest.fixture
def fake_delegate(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    import types

    calls: list[list[str]] = []
    module = types.ModuleType("securl_fake_pin_cli")
    module.pin_main = lambda argv: calls.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "securl_fake_pin_cli", module)
    monkeypatch.setitem(securl.cli.main.DELEGATED, "pin", ("securl_fake_pin_cli", "pin_main", ""))
    return calls


def test_pin_and_admin_get_their_arguments_untouched(fake_delegate: list[list[str]]) -> None:
    assert securl.cli.main.main(["pin", "--add", "pins.txt", "https://h/"]) == 7
    assert fake_delegate == [["--add", "pins.txt", "https://h/"]]


def test_a_missing_delegated_command_exits_2_with_a_message(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(securl.cli.main.DELEGATED, "admin",
                        ("securl._no_such_module", "admin_main", ""))
    assert securl.cli.main.main(["admin", "show-policy"]) == 2
    assert "securl admin: not available in this build" in capsys.readouterr().err


def test_cli_timeouts_must_be_finite() -> None:
    for value in ("inf", "nan", "0", "-1"):
        r = run_securl("get", "--timeout", value, "https://127.0.0.1:9/")
        assert r.returncode == 2
        assert "must be a positive, finite number of seconds" in r.stderr
