"""The ported requests client in docs/examples runs against a local server, as documented."""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import subprocess
import sys

from _servers import Handler, LocalServer, Reply

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "ported_client.py"
BIG = bytes(range(256)) * 32768  # 8 MiB


def _json(status: int, data: object, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode()


def test_the_ported_requests_client_runs(https_server: LocalServer, ca_file: str,
                                         tmp_path: pathlib.Path) -> None:
    def login(handler: Handler) -> Reply:
        return 200, {"Set-Cookie": "session=abc123; Path=/; Secure; HttpOnly"}, b"ok"

    def search(handler: Handler) -> Reply:
        cookie = handler.headers.get("Cookie", "")
        return _json(200 if cookie == "session=abc123" else 403, {"query": handler.path})

    def items(handler: Handler) -> Reply:
        expected = "Basic " + base64.b64encode(b"alice:token").decode()
        if handler.headers.get("Authorization") != expected:
            return _json(404, {"error": "not found"})  # anonymous: as GitHub answers
        return _json(201, json.loads(handler.body))

    https_server.routes.update({
        "/login": login, "/search": search, "/items": items,
        "/missing": lambda h: _json(404, {"error": "no such thing"}),
        "/download": lambda h: (200, {"Content-Type": "application/octet-stream"}, BIG),
    })
    output = tmp_path / "download.bin"
    r = subprocess.run([sys.executable, str(EXAMPLE), https_server.url("").rstrip("/"),
                        ca_file, str(output)], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "search: 200 /search?q=tls&page=2"
    assert lines[1] == "created: 201 probe"
    assert lines[2] == "missing: 404 no such thing"
    assert hashlib.sha256(output.read_bytes()).digest() == hashlib.sha256(BIG).digest()
