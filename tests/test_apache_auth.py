"""Against a real Apache httpd (Debian apache2): mod_auth_digest, and mod_ssl's TLS alerts.

mod_auth_digest answers only MD5 (RFC 2617 style, ``qop="auth"``), so it proves the Digest
round trip, nonce reuse and the stale-nonce retry against a production server; SHA-256 and
the ``-sess`` forms are proven against tests/_authserver.py and the RFC 7616 vectors.
mod_ssl with ``SSLVerifyClient require`` refuses with real TLS alerts (unlike nginx), so it
proves the alert mapping against a production server, for TLS 1.2 and TLS 1.3.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

import securl
from _clientcerts import ClientCerts, make_client_certs
from _daemons import Daemon, apache, free_port, htdigest_line, world_readable_dir

USER, RIGHT, WRONG = "alice", "r1ght-Pa55", "wr0ng-Pa55"
REALM = "securl digest"
STALE_AFTER = 2  # seconds: AuthDigestNonceLifetime of /stale/


@dataclass
class Apache:
    daemon: Daemon
    ports: dict[str, int]
    ca_file: str
    certs: ClientCerts
    access_log: Path

    def url(self, name: str, path: str) -> str:
        scheme = "http" if name == "http" else "https"
        return f"{scheme}://localhost:{self.ports[name]}{path}"

    def statuses(self, path: str, expect: int = 1) -> list[str]:
        """Statuses Apache logged for ``path``, waiting (bounded) for ``expect`` of them.

        Apache writes its access log after the response is sent, so the last line can lag
        behind the client by a moment.
        """
        deadline = time.monotonic() + 5
        while True:
            lines = [line.split()[1] for line in self.access_log.read_text().splitlines()
                     if line.split()[0] == path]
            if len(lines) >= expect or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def _digest_location(path: str, d: Path, lifetime: int) -> str:
    return f"""
<Location {path}>
  AuthType Digest
  AuthName "{REALM}"
  AuthDigestProvider file
  AuthUserFile {d}/htdigest
  AuthDigestNonceLifetime {lifetime}
  Require valid-user
</Location>"""


def _tls_vhost(port: int, d: Path, protocol: str) -> str:
    return f"""
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
  SSLEngine on
  SSLProtocol {protocol}
  SSLCertificateFile {d}/server.pem
  SSLCertificateKeyFile {d}/server.pem
  SSLCACertificateFile {d}/client-ca.pem
  SSLVerifyClient require
  SSLVerifyDepth 2
</VirtualHost>"""


@pytest.fixture(scope="module")
def server() -> Iterator[Apache]:
    d = world_readable_dir("securl-apache-")
    try:
        ca = trustme.CA()
        ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
            str(d / "server.pem"))
        ca.cert_pem.write_to_path(str(d / "ca.pem"))
        certs = make_client_certs(d)
        (d / "htdigest").write_text(htdigest_line(USER, REALM, RIGHT) + "\n")
        for sub in ("digest", "stale"):
            (d / "docroot" / sub).mkdir(parents=True)
            (d / "docroot" / sub / "ok.txt").write_text("apache ok\n")
        for path in [d / "htdigest", *(d / "docroot").rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (d / "docroot").chmod(0o755)
        ports = {"http": free_port(), "tls13": free_port(), "tls12": free_port()}
        body = f"""
LoadModule authn_core_module {{modules}}/mod_authn_core.so
LoadModule authn_file_module {{modules}}/mod_authn_file.so
LoadModule authz_user_module {{modules}}/mod_authz_user.so
LoadModule auth_digest_module {{modules}}/mod_auth_digest.so
LoadModule ssl_module {{modules}}/mod_ssl.so
LogFormat "%U%q %>s" paths
CustomLog {d}/access.log paths
Listen 127.0.0.1:{ports['http']}
DocumentRoot {d}/docroot
<Directory {d}/docroot>
  Require all granted
</Directory>
{_digest_location('/digest/', d, 300)}
{_digest_location('/stale/', d, STALE_AFTER)}
{_tls_vhost(ports['tls13'], d, '-all +TLSv1.3')}
{_tls_vhost(ports['tls12'], d, '-all +TLSv1.2')}
"""
        daemon = apache(d, body, list(ports.values())).start()
        try:
            yield Apache(daemon, ports, str(d / "ca.pem"), certs, d / "access.log")
        finally:
            daemon.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_digest_round_trip_with_mod_auth_digest(server: Apache) -> None:
    with securl.Session(auth=securl.DigestAuth(USER, RIGHT)) as s:
        r = s.get(server.url("http", "/digest/ok.txt"))
        assert (r.status, r.text) == (200, "apache ok\n")
        # nonce counting: the next requests reuse Apache's nonce, no new challenge
        for _ in range(2):
            assert s.get(server.url("http", "/digest/ok.txt")).status == 200
    assert server.statuses("/digest/ok.txt", 4) == ["401", "200", "200", "200"]


def test_digest_wrong_password_with_mod_auth_digest_is_auth_error(server: Apache) -> None:
    with securl.Session() as s:
        with pytest.raises(securl.AuthError) as info:
            s.get(server.url("http", "/digest/ok.txt?wrong"), auth=securl.DigestAuth(USER, WRONG))
        assert info.value.offered == ("Digest",) and WRONG not in str(info.value)
        r = s.get(server.url("http", "/digest/ok.txt?right"), auth=(USER, RIGHT))
        assert r.status == 200


def test_digest_stale_nonce_retry_with_mod_auth_digest(server: Apache) -> None:
    with securl.Session(auth=(USER, RIGHT)) as s:
        assert s.get(server.url("http", "/stale/ok.txt")).status == 200
        time.sleep(STALE_AFTER + 1.5)  # Apache now calls the nonce stale
        events: list[securl.AuditEvent] = []
        securl.add_audit_hook(events.append)
        try:
            assert s.get(server.url("http", "/stale/ok.txt")).status == 200
        finally:
            securl.remove_audit_hook(events.append)
    assert server.statuses("/stale/ok.txt", 4) == ["401", "200", "401", "200"]
    # the second 401 was Apache's stale=true for the reused nonce, answered with the new one
    (challenge,) = [e for e in events if e.event == "securl.auth_challenge"]
    assert challenge.fields["scheme"] == "Digest" and challenge.fields["realm"] == REALM


@pytest.mark.parametrize("version", ["tls12", "tls13"])
@pytest.mark.parametrize(("cert", "wording"), [
    ("none", "none was configured"),
    ("wrong_ca", "refused the client certificate"),
    ("expired", "refused the client certificate"),
])
def test_mod_ssl_tls_alerts_become_client_certificate_required(
        version: str, cert: str, wording: str, server: Apache) -> None:
    with securl.Session(ca_certs=server.ca_file, cert=server.certs.path(cert)) as s:
        for _ in range(3):  # the TLS 1.3 alert races the first write; it must always map
            with pytest.raises(securl.ClientCertificateRequired, match="cert=") as info:
                s.get(server.url(version, "/"))
            assert wording in str(info.value)
        r = s.get(server.url(version, "/digest/ok.txt?tls"), cert=server.certs.valid,
                  auth=(USER, RIGHT))
        assert r.status == 200
