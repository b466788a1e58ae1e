"""What reading ``SSLSocket.session`` costs this Python: time per read and memory kept.

    python benchmarks/ssl_session_read.py [--reads 20000]

Connects once to the benchmark nginx on 127.0.0.1 (stopped by PID at exit), then reads the
connection's ``session`` property ``--reads`` times and prints the CPU time per read and how
much the process's resident memory grew. CPython 3.10 to 3.12.7 and 3.13.0 copy the session
on every read and never free the copy (python/cpython#116810); securl keeps TLS sessions by
default only where that is fixed (``securl.http.tls_sessions.session_reads_are_safe``).
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _server import Nginx


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=20_000)
    reads = min(parser.parse_args().reads, 1_000_000)
    with Nginx() as server:
        assert server.certs is not None
        url = urlsplit(server.base_url)
        ctx = ssl.create_default_context(cafile=server.certs.ca_file)
        raw = socket.create_connection((url.hostname, url.port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname=url.hostname) as sock:
            sock.sendall(b"GET /small HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            while sock.recv(65536):  # the TLS 1.3 ticket arrives with the response
                pass
            before, started = _rss_kib(), time.process_time()
            for _ in range(reads):
                sock.session  # noqa: B018 - the read is what is measured
            per_read = (time.process_time() - started) / reads * 1e6
            grown = _rss_kib() - before
    print(f"Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}")
    print(f"{reads} reads of SSLSocket.session: {per_read:.1f} µs of CPU each; resident "
          f"memory grew {grown / 1024:.1f} MiB ({grown * 1024 / reads:.0f} bytes per read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
