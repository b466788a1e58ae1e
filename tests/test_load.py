"""Load: 8 threads x 1,000 requests on one Session and through urlopen, against real TLS.

The server is a real nginx (a separate process, so this process's file descriptors are the
client's alone). Asserts 0 errors, no leaked sockets or file descriptors (``/proc/self/fd``
after the client's pools are closed and collected) and bounded memory (RSS growth). Bounded
in time by a per-test timeout and per-request timeouts.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

import securl
from _open_url import OpenURL
from _secrets import TEST_BEARER, TEST_COOKIE

THREADS = 8
PER_THREAD = 1000


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle(baseline: int, timeout: float = 10.0) -> int:
    """The fd count once server threads have closed their sockets (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        now = open_fds()
        if now <= baseline or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def hammer(call: Callable[[int], bytes]) -> tuple[list[BaseException], int]:
    errors: list[BaseException] = []
    done = [0]
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(PER_THREAD):
            try:
                body = call(t * PER_THREAD + i)
                assert body == b"hello", body[:100]
                with lock:
                    done[0] += 1
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                if len(errors) > 20:
                    return

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return errors, done[0]


NGINX_CONF = """
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        location / {{ default_type text/plain; return 200 "hello"; }}
    }}
}}
"""


class Nginx:
    """nginx on 127.0.0.1 serving "hello" over TLS; stopped by its PID."""

    def __init__(self, leaf: trustme.LeafCert, workdir: Path) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        leaf.cert_chain_pems[0].write_to_path(str(workdir / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(workdir / "key.pem"))
        conf = workdir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=workdir, port=self.port))
        self.proc = subprocess.Popen(
            [binary, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not start: {self.proc.stderr!r}") from None
                time.sleep(0.05)

    def url(self, path: str = "/") -> str:
        return f"https://localhost:{self.port}{path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def server(leaf: trustme.LeafCert, tmp_path: Path) -> Iterator[Nginx]:
    srv = Nginx(leaf, tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.timeout(300)
def test_8_threads_x_1000_requests_on_one_session(server: Nginx, ca_file: str) -> None:
    gc.collect()
    fds_before, rss_before = open_fds(), rss_bytes()
    start = time.monotonic()
    headers = {"Authorization": f"Bearer {TEST_BEARER}", "Cookie": f"s={TEST_COOKIE}"}
    handshakes: list[securl.AuditEvent] = []
    securl.add_audit_hook(handshakes.append)
    try:
        with securl.Session(ca_certs=ca_file, headers=headers) as s:
            errors, done = hammer(lambda n: s.get(server.url(f"/?n={n}")).content)
    finally:
        securl.remove_audit_hook(handshakes.append)
    connections = sum(e.event == "securl.connection" for e in handshakes)
    elapsed = time.monotonic() - start
    fds_after = settle(fds_before)
    grown = rss_bytes() - rss_before
    print(f"\nsession: {done} requests in {elapsed:.1f} s, {connections} TLS connections, "
          f"fds {fds_before}->{fds_after}, RSS +{grown >> 20} MiB")
    assert errors == []
    assert done == THREADS * PER_THREAD
    assert 1 <= connections <= THREADS + 2  # pooled: each thread's connection is reused
    assert fds_after <= fds_before
    assert grown < 64 << 20


@pytest.mark.timeout(300)
def test_8_threads_x_1000_requests_through_open_url(server: Nginx, open_url: OpenURL) -> None:
    gc.collect()
    fds_before, rss_before = open_fds(), rss_bytes()
    start = time.monotonic()
    errors, done = hammer(lambda n: open_url(server.url(f"/?n={n}"), timeout=30))
    elapsed = time.monotonic() - start
    open_url.close_pools()  # type: ignore[attr-defined]
    fds_after = settle(fds_before)
    grown = rss_bytes() - rss_before
    print(f"\nopen_url: {done} requests in {elapsed:.1f} s, "
          f"fds {fds_before}->{fds_after}, RSS +{grown >> 20} MiB")
    assert errors == []
    assert done == THREADS * PER_THREAD
    assert fds_after <= fds_before
    assert grown < 64 << 20
