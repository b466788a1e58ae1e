"""The authentication matrix against a real nginx (Debian package) on 127.0.0.1.

nginx decides client certificates at the HTTP layer, not with TLS alerts: with
``ssl_verify_client on|optional`` it finishes every handshake, then answers a missing or
unverifiable certificate with its own 400 pages (internally 496/495). The main server blocks
here turn those into ``401 WWW-Authenticate: Transport mode="tls-client-certificate"`` with
``error_page 495 496``, the form securl recommends; one ``stock`` block keeps nginx's defaults,
which securl recognises too. ``$ssl_client_verify`` goes back in ``X-Client-Verify`` and, with
whether an Authorization header arrived, into the access log, so each cell also checks what the
server saw.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

import securl
from _clientcerts import ClientCerts, make_client_certs
from _daemons import Daemon, free_port, nginx, ssha_password

USER, RIGHT, WRONG = "alice", "r1ght-Pa55", "wr0ng-Pa55"
MODES = {"off": "off", "optional": "optional", "required": "on"}

# Expected outcome of every cell. Columns: server client-cert mode, client certificate,
# server HTTP auth, password the client holds, outcome, $ssl_client_verify the server saw.
#   ok            200, the body served
#   auth_error    securl.AuthError (401 after answering the Basic challenge once)
#   cert_missing  securl.ClientCertificateRequired, "none was configured", naming cert=
#   cert_refused  securl.ClientCertificateRequired, "refused the client certificate securl sent"
# With mode off the server never asks, so no certificate is sent (it sees NONE) whatever the
# client holds; with auth none the password is never sent (no challenge, not preemptive).
MATRIX = """
off       none      none   right  ok            NONE
off       none      none   wrong  ok            NONE
off       none      basic  right  ok            NONE
off       none      basic  wrong  auth_error    NONE
off       valid     none   right  ok            NONE
off       valid     none   wrong  ok            NONE
off       valid     basic  right  ok            NONE
off       valid     basic  wrong  auth_error    NONE
off       wrong_ca  none   right  ok            NONE
off       wrong_ca  none   wrong  ok            NONE
off       wrong_ca  basic  right  ok            NONE
off       wrong_ca  basic  wrong  auth_error    NONE
off       expired   none   right  ok            NONE
off       expired   none   wrong  ok            NONE
off       expired   basic  right  ok            NONE
off       expired   basic  wrong  auth_error    NONE
optional  none      none   right  ok            NONE
optional  none      none   wrong  ok            NONE
optional  none      basic  right  ok            NONE
optional  none      basic  wrong  auth_error    NONE
optional  valid     none   right  ok            SUCCESS
optional  valid     none   wrong  ok            SUCCESS
optional  valid     basic  right  ok            SUCCESS
optional  valid     basic  wrong  auth_error    SUCCESS
optional  wrong_ca  none   right  cert_refused  FAILED
optional  wrong_ca  none   wrong  cert_refused  FAILED
optional  wrong_ca  basic  right  cert_refused  FAILED
optional  wrong_ca  basic  wrong  cert_refused  FAILED
optional  expired   none   right  cert_refused  FAILED
optional  expired   none   wrong  cert_refused  FAILED
optional  expired   basic  right  cert_refused  FAILED
optional  expired   basic  wrong  cert_refused  FAILED
required  none      none   right  cert_missing  NONE
required  none      none   wrong  cert_missing  NONE
required  none      basic  right  cert_missing  NONE
required  none      basic  wrong  cert_missing  NONE
required  valid     none   right  ok            SUCCESS
required  valid     none   wrong  ok            SUCCESS
required  valid     basic  right  ok            SUCCESS
required  valid     basic  wrong  auth_error    SUCCESS
required  wrong_ca  none   right  cert_refused  FAILED
required  wrong_ca  none   wrong  cert_refused  FAILED
required  wrong_ca  basic  right  cert_refused  FAILED
required  wrong_ca  basic  wrong  cert_refused  FAILED
required  expired   none   right  cert_refused  FAILED
required  expired   none   wrong  cert_refused  FAILED
required  expired   basic  right  cert_refused  FAILED
required  expired   basic  wrong  cert_refused  FAILED
"""
CELLS = [tuple(line.split()) for line in MATRIX.strip().splitlines()]


@dataclass
class Nginx:
    daemon: Daemon
    ports: dict[str, int]
    ca_file: str
    certs: ClientCerts
    access_log: Path

    def url(self, mode: str, path: str, scheme: str = "https") -> str:
        return f"{scheme}://localhost:{self.ports[mode]}{path}"

    def logged(self, cell: str, expect: int = 1, timeout: float = 5.0) -> list[list[str]]:
        """Access-log lines of requests tagged ?cell=<cell>: [verify, status, had_auth].

        nginx writes a request's log line after sending its response, so wait (bounded) until
        ``expect`` lines are there.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = [line.split("|")[1:] for line in self.access_log.read_text().splitlines()
                     if line.split("|")[0] == cell]
            if len(lines) >= expect or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def _server_block(port: int, d: Path, verify: str | None, *, transport: bool,
                  protocols: str = "TLSv1.2 TLSv1.3") -> str:
    tls = ""
    if verify is not None:
        tls = (f"ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.pem;\n"
               f"    ssl_protocols {protocols};\n"
               f"    ssl_verify_client {verify}; ssl_client_certificate {d}/client-ca.pem;\n")
    cert_error = ""
    if transport:
        cert_error = """error_page 495 496 = @client_certificate;
    location @client_certificate {
      add_header X-Client-Verify $ssl_client_verify always;
      add_header WWW-Authenticate 'Transport mode="tls-client-certificate"' always;
      return 401;
    }"""
    return f"""
  server {{
    listen 127.0.0.1:{port}{' ssl' if verify is not None else ''};
    {tls}
    add_header X-Client-Verify $ssl_client_verify always;
    {cert_error}
    location /open/ {{ alias {d}/docroot/; }}
    location /basic/ {{
      auth_basic "securl matrix";
      auth_basic_user_file {d}/htpasswd;
      alias {d}/docroot/;
    }}
  }}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    d = tmp_path_factory.mktemp("nginx")
    ca = trustme.CA()
    ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(d / "server.pem"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    certs = make_client_certs(d)
    (d / "htpasswd").write_text(f"{USER}:{ssha_password(RIGHT)}\n")
    (d / "docroot").mkdir()
    (d / "docroot" / "ok.txt").write_text("served\n")
    ports = {name: free_port() for name in
             ("off", "optional", "required", "stock", "required_tls12", "plain")}
    blocks = [_server_block(ports[m], d, v, transport=True) for m, v in MODES.items()]
    blocks.append(_server_block(ports["stock"], d, "on", transport=False))
    blocks.append(_server_block(ports["required_tls12"], d, "on", transport=True,
                                protocols="TLSv1.2"))
    blocks.append(_server_block(ports["plain"], d, None, transport=False))
    body = (
        "map $http_authorization $had_auth { default yes; '' no; }\n"
        "log_format cells '$arg_cell|$ssl_client_verify|$status|$had_auth';\n"
        f"access_log {d}/access.log cells;\n" + "".join(blocks)
    )
    daemon = nginx(d, body, list(ports.values())).start()
    try:
        yield Nginx(daemon, ports, str(d / "ca.pem"), certs, d / "access.log")
    finally:
        daemon.stop()


def test_matrix_table_covers_every_combination() -> None:
    combos = {(m, c, a, p) for m in MODES for c in ("none", "valid", "wrong_ca", "expired")
              for a in ("none", "basic") for p in ("right", "wrong")}
    assert {cell[:4] for cell in CELLS} == combos and len(CELLS) == len(combos)


@pytest.mark.parametrize(("mode", "cert", "auth", "password", "outcome", "verify"), CELLS,
                         ids=["-".join(c[:4]) for c in CELLS])
def test_matrix(mode: str, cert: str, auth: str, password: str, outcome: str, verify: str,
                server: Nginx) -> None:
    cell = f"{mode}.{cert}.{auth}.{password}"
    url = server.url(mode, f"/{'basic' if auth == 'basic' else 'open'}/ok.txt?cell={cell}")
    # ChallengeAuth: this matrix is about answering the server's challenge (sent once asked)
    creds = securl.ChallengeAuth(USER, RIGHT if password == "right" else WRONG)
    with securl.Session(ca_certs=server.ca_file, cert=server.certs.path(cert),
                        auth=creds) as s:
        if outcome == "ok":
            r = s.get(url)
            assert (r.status, r.text) == (200, "served\n")
            assert r.headers["X-Client-Verify"] == verify
        elif outcome == "auth_error":
            with pytest.raises(securl.AuthError) as auth_info:
                s.get(url)
            assert auth_info.value.code == 401 and auth_info.value.offered == ("Basic",)
            assert WRONG not in str(auth_info.value)
        else:
            with pytest.raises(securl.ClientCertificateRequired) as cert_info:
                s.get(url)
            message = str(cert_info.value)
            assert "cert=" in message
            if outcome == "cert_missing":
                assert "none was configured" in message
            else:
                assert "refused the client certificate securl sent" in message

        sent_auth = auth == "basic" and outcome in ("ok", "auth_error")
        seen = server.logged(cell, expect=2 if sent_auth else 1)
        assert seen, f"nginx logged no request for {cell}"
        assert seen[-1][0].split(":")[0] == verify  # what the server made of the certificate
        assert seen[-1][2] == ("yes" if sent_auth else "no")
        assert len(seen) == (2 if sent_auth else 1)  # challenged once, answered once

        # after any cell, a good request on the same Session succeeds
        good = s.get(server.url(mode, "/basic/ok.txt?cell=good"), cert=server.certs.valid,
                     auth=(USER, RIGHT))
        assert good.status == 200 and good.text == "served\n"


@pytest.mark.parametrize(("cert", "wording"), [
    ("none", "asked for a client certificate and none was sent"),
    ("wrong_ca", "could not verify the client certificate"),
    ("expired", "could not verify the client certificate"),
])
def test_stock_nginx_400_pages_are_client_certificate_required(
        cert: str, wording: str, server: Nginx) -> None:
    with securl.Session(ca_certs=server.ca_file, cert=server.certs.path(cert)) as s:
        with pytest.raises(securl.ClientCertificateRequired, match="cert=") as info:
            s.get(server.url("stock", "/open/ok.txt"))
        assert wording in str(info.value)
        assert s.get(server.url("stock", "/open/ok.txt"), cert=server.certs.valid).status == 200


def test_a_400_from_nginx_that_is_not_about_certificates_stays_a_response(
        server: Nginx) -> None:
    with securl.Session(ca_certs=server.ca_file, cert=server.certs.valid) as s:
        r = s.get(server.url("stock", "/open/ok.txt"), headers={"Host": "bad host"})
        assert r.status == 400


@pytest.mark.parametrize("cert", ["none", "wrong_ca"])
def test_nginx_under_tls12_answers_the_same_way(cert: str, server: Nginx) -> None:
    with securl.Session(ca_certs=server.ca_file, cert=server.certs.path(cert)) as s:
        with pytest.raises(securl.ClientCertificateRequired):
            s.get(server.url("required_tls12", "/open/ok.txt"))
        r = s.get(server.url("required_tls12", "/open/ok.txt"), cert=server.certs.valid)
        assert r.status == 200 and r.headers["X-Client-Verify"] == "SUCCESS"


def test_basic_over_plain_http_to_nginx_needs_the_opt_in(server: Nginx) -> None:
    url = server.url("plain", "/basic/ok.txt?cell=plain", scheme="http")
    with securl.Session(auth=(USER, RIGHT)) as s:
        with pytest.raises(securl.PolicyError, match="plain http"):
            s.get(url)
        assert [line[2] for line in server.logged("plain")] == ["no"]
        assert s.get(url, allow_insecure_auth=True).text == "served\n"
        with pytest.raises(securl.AuthError):
            s.get(url, auth=(USER, WRONG), allow_insecure_auth=True)
