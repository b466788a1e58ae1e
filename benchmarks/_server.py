"""A real nginx (the Debian package) serving TLS on 127.0.0.1 for the benchmarks.

Rules:

* binds only to 127.0.0.1, on a port chosen by binding port 0 first;
* everything (config, certificates, logs, pid, temp paths) lives in one temp directory;
* nginx runs in the foreground (``daemon off``, ``master_process off``): the process we start
  is the one that serves, so stopping it by its PID stops everything. It is stopped by
  ``stop()`` (called from try/finally and atexit), and on Linux the kernel also sends it
  SIGTERM if the harness itself dies (``PR_SET_PDEATHSIG``), so no nginx outlives a run.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

SMALL_BODY = (b"securl benchmark: a small response body of exactly one hundred bytes, "
              b"served by nginx over TLS.....\n")
assert len(SMALL_BODY) == 100
LARGE_SIZE = 1 << 20
NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx",
                    "/usr/local/nginx/sbin/nginx")

_CONFIG = """\
worker_processes 1;
master_process off;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    sendfile off;
    open_file_cache max=16 inactive=600s;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost 127.0.0.1;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root {dir}/www;
        location = /small {{ default_type text/plain; }}
        location = /1m {{ default_type application/octet-stream; }}
    }}
}}
"""


class NginxMissing(RuntimeError):
    """nginx is not installed: the benchmarks need a real production server."""


def find_nginx() -> str:
    for candidate in NGINX_CANDIDATES:
        path = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if path:
            return path
    raise NginxMissing(
        "nginx was not found (looked for: " + ", ".join(NGINX_CANDIDATES) + "). The benchmarks "
        "run against a real nginx on 127.0.0.1: install it with `apt-get install nginx-light` "
        "(Debian/Ubuntu) or put nginx on PATH"
    )


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class Certs:
    ca_file: str
    server_cert: str
    server_key: str


def make_certs(directory: str) -> Certs:
    """A throwaway CA and a leaf for 127.0.0.1/localhost (trustme, else cryptography)."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    certs = Certs(os.path.join(directory, "ca.pem"), os.path.join(directory, "server.pem"),
                  os.path.join(directory, "server.key"))
    ca.cert_pem.write_to_path(certs.ca_file)
    leaf.private_key_pem.write_to_path(certs.server_key)
    with open(certs.server_cert, "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    return certs


class Nginx:
    """nginx with TLS on 127.0.0.1 serving /small (100 bytes) and /1m (1 MiB)."""

    def __init__(self) -> None:
        self.binary = find_nginx()
        self.dir = tempfile.mkdtemp(prefix="securl-bench-")
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.certs: Certs | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 15.0) -> Nginx:
        atexit.register(self.stop)
        os.makedirs(os.path.join(self.dir, "www"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        with open(os.path.join(self.dir, "www", "small"), "wb") as f:
            f.write(SMALL_BODY)
        with open(os.path.join(self.dir, "www", "1m"), "wb") as f:
            f.write(os.urandom(LARGE_SIZE))
        self.certs = make_certs(self.dir)
        last_error = ""
        for _attempt in range(3):  # the port may be taken between free_port() and bind
            self.port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(_CONFIG.format(dir=self.dir, port=self.port))
            cmd = [self.binary, "-p", self.dir + "/", "-e", os.path.join(self.dir, "error.log"),
                   "-c", conf, "-g", f"daemon off; pid {self.dir}/nginx.pid;"]
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            if self._wait_ready(timeout):
                return self
            last_error = self._stop_and_collect()
        self.stop()
        raise RuntimeError(f"nginx did not start on 127.0.0.1:{self.port}: {last_error}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def _stop_and_collect(self) -> str:
        err = b""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                _, err = self.proc.communicate(timeout=5)
            self.proc = None
        log = ""
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                log = f.read()[-2000:]
        except OSError:
            pass
        return (err.decode(errors="replace") + log).strip() or "no output"

    def stop(self) -> None:
        """Stop nginx by its PID (SIGTERM, then SIGKILL) and remove the temp directory."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def version(self) -> str:
        out = subprocess.run([self.binary, "-v"], capture_output=True, text=True, timeout=10)
        text = (out.stderr or out.stdout).strip()
        return text.split("/", 1)[-1] if "/" in text else text

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
