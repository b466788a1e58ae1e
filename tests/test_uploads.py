"""files=: multipart/form-data uploads (RFC 7578), streamed, parsed back by real local servers.

The servers parse what they received with the stdlib ``email`` parser (small bodies) or spool
it to a file and check it in place (the 50 MiB upload, made by a child process whose peak
memory is measured).
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import hashlib
import io
import itertools
import mmap
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

import securl
from _servers import Handler, LocalServer, Reply

MiB = 1024 * 1024


def _parts(server: LocalServer, path: str = "/echo") -> list[Any]:
    """The parts of the last multipart body ``server`` received at ``path``."""
    seen = [s for s in server.seen if s.path == path][-1]
    head = f"Content-Type: {seen.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + seen.body)
    assert message.is_multipart() and not message.defects
    return list(message.iter_parts())  # type: ignore[attr-defined]


def _summary(part: Any) -> tuple[str, str | None, str | None, bytes]:
    return (part.get_param("name", header="content-disposition"), part.get_filename(),
            part.get("Content-Type"), part.get_payload(decode=True))


def test_files_and_form_fields_are_parsed_back(https_server: LocalServer,
                                              session: securl.Session, tmp_path: Any) -> None:
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\r\n1,2\r\n--not-a-boundary\r\n")
    with open(report, "rb") as f:
        session.post(https_server.url("/echo"), data={"title": "Q3", "tag": ["x", "y"]},
                     files=[("doc", f), ("note", ("note.txt", "h\u00e9llo", "text/plain")),
                            ("blob", ("blob.bin", b"\x00\x01\xff")), ("raw", (None, b"v"))])
    seen = https_server.seen[-1]
    assert seen.headers["Content-Type"].startswith("multipart/form-data; boundary=securl-")
    assert int(seen.headers["Content-Length"]) == len(seen.body)
    assert "Transfer-Encoding" not in seen.headers
    assert [_summary(p) for p in _parts(https_server)] == [
        ("title", None, None, b"Q3"),
        ("tag", None, None, b"x"),
        ("tag", None, None, b"y"),
        ("doc", "report.csv", "application/octet-stream", report.read_bytes()),
        ("note", "note.txt", "text/plain", "h\u00e9llo".encode()),
        ("blob", "blob.bin", "application/octet-stream", b"\x00\x01\xff"),
        ("raw", None, None, b"v"),
    ]


def test_a_file_of_unknown_size_is_sent_chunked(https_server: LocalServer,
                                               session: securl.Session) -> None:
    class Unseekable:  # a pipe, a socket, a decompressor: read() only
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._data.read(n)

    content = os.urandom(200_000)
    session.post(https_server.url("/echo"), files={"f": ("f.bin", Unseekable(content))})
    seen = https_server.seen[-1]
    assert seen.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in seen.headers
    assert _summary(_parts(https_server)[0])[3] == content


def test_each_upload_has_its_own_random_boundary(https_server: LocalServer,
                                                 session: securl.Session) -> None:
    for _ in range(2):
        session.post(https_server.url("/echo"), files={"f": ("a", b"x")})
    first, second = (s.headers["Content-Type"] for s in https_server.seen)
    assert first != second and len(first.rpartition("securl-")[2]) == 32


@pytest.mark.parametrize("files", [
    {"a\r\nContent-Type: text/html": ("f", b"x")},
    {"a\nb": b"x"},
    {"a\0": b"x"},
    {"f": ("evil.txt\r\nX-Injected: 1", b"x")},
    {"f": ("evil\0.txt", b"x")},
    {"f": ("f", b"x", "text/plain\r\nX-Injected: 1")},
    {"f": ("f", b"x", None, {"X-Part": "a\r\nX-Injected: 1"})},
    {"f": ("f", b"x", None, {"Content-Disposition": "form-data; name=other"})},
])
def test_hostile_names_are_refused(https_server: LocalServer, session: securl.Session,
                                   files: dict[str, Any]) -> None:
    with pytest.raises(securl.InvalidRequest):
        session.post(https_server.url("/echo"), files=files)
    assert https_server.seen == []


def test_quotes_and_backslashes_are_escaped_never_injected(https_server: LocalServer,
                                                          session: securl.Session) -> None:
    name = 'f\\"; filename="evil.php'
    filename = 'x\\"; name="admin"; filename="shell.php'
    session.post(https_server.url("/echo"), files={name: (filename, b"data")})
    body = https_server.seen[-1].body
    assert (b'Content-Disposition: form-data; name="f%5C%22; filename=%22evil.php"; '
            b'filename="x%5C%22; name=%22admin%22; filename=%22shell.php"\r\n') in body
    [part] = _parts(https_server)
    assert part.get_param("name", header="content-disposition") == 'f%5C%22; filename=%22evil.php'
    assert part.get_filename() == 'x%5C%22; name=%22admin%22; filename=%22shell.php'
    assert part.get_payload(decode=True) == b"data"


def test_non_ascii_filenames_get_an_ascii_fallback_and_filename_star(
        https_server: LocalServer, session: securl.Session) -> None:
    session.post(https_server.url("/echo"),
                 files={"cv": ("r\u00e9sum\u00e9 \u65e5.pdf", b"%PDF", "application/pdf")})
    body = https_server.seen[-1].body
    assert (b'filename="resume _.pdf"; '
            b"filename*=utf-8''r%C3%A9sum%C3%A9%20%E6%97%A5.pdf\r\n") in body
    # The stdlib parser reads RFC 2231/5987 parameters (compat32 keeps both spellings).
    head = f"Content-Type: {https_server.seen[-1].headers['Content-Type']}\r\n\r\n".encode()
    [part] = email.parser.BytesParser().parsebytes(head + body).get_payload()
    names = [v for k, v in part.get_params(header="content-disposition") if k == "filename"]
    assert names[0] == "resume _.pdf"
    assert email.utils.collapse_rfc2231_value(names[1]) == "r\u00e9sum\u00e9 \u65e5.pdf"


def _redirect(status: int, location: str) -> Callable[[Handler], Reply]:
    return lambda handler: (status, {"Location": location}, b"")


@pytest.mark.parametrize("status", [307, 308])
def test_a_replayed_upload_rewinds_its_files(https_server: LocalServer,
                                             session: securl.Session, tmp_path: Any,
                                             status: int) -> None:
    https_server.routes["/old"] = _redirect(status, "/echo")
    path = tmp_path / "data.bin"
    path.write_bytes(b"HEADER" + os.urandom(300_000))
    with open(path, "rb") as f:
        f.seek(6)  # an upload sends the file from where it stands
        session.post(https_server.url("/old"), files={"f": f}, data={"k": "v"})
    first, second = https_server.seen
    assert first.body and first.body == second.body
    assert [_summary(p)[3] for p in _parts(https_server)] == [b"v", path.read_bytes()[6:]]


def test_an_upload_that_cannot_rewind_is_not_replayed(https_server: LocalServer,
                                                      session: securl.Session) -> None:
    https_server.routes["/old"] = _redirect(307, "/echo")
    read, write = os.pipe()
    os.write(write, b"streamed")
    os.close(write)
    with open(read, "rb") as pipe, pytest.raises(securl.InvalidRequest,
                                                 match="cannot be replayed"):
        session.post(https_server.url("/old"), files={"f": pipe})
    assert [s.path for s in https_server.seen] == ["/old"]


def test_bad_combinations_are_refused(https_server: LocalServer,
                                      session: securl.Session) -> None:
    for kwargs in ({"json": {"a": 1}}, {"data": "text"}, {"data": b"raw"}):
        with pytest.raises(securl.InvalidRequest):
            session.post(https_server.url("/echo"), files={"f": b"x"}, **kwargs)
    with pytest.raises(securl.InvalidRequest, match="binary mode, bytes or str"):
        session.post(https_server.url("/echo"), files={"f": 42})
    assert https_server.seen == []


# --- 50 MiB, streamed: the server spools to disk, the client is a child process -----------

class _SpoolingHandler(Handler):
    """Writes a POSTed body straight to ``server.spool`` (a path), 1 MiB at a time."""

    def do_POST(self) -> None:
        left = int(self.headers["Content-Length"])
        with open(self.server.spool, "wb") as out:  # type: ignore[attr-defined]
            while left:
                chunk = self.rfile.read(min(left, MiB))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
        self.server.spool_headers = dict(self.headers.items())  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


_CLIENT = textwrap.dedent("""\
    import sys, securl

    def peak_kib():
        with open("/proc/self/status") as f:
            return int(next(l for l in f if l.startswith("VmHWM:")).split()[1])

    url, ca, path = sys.argv[1:4]
    with securl.Session(ca_certs=ca, timeout=60) as s:
        s.post(url, files={"warm": ("w", b"up")})  # imports, TLS context, connection
        before = peak_kib()
        with open(path, "rb") as f:
            r = s.post(url, data={"label": "big"}, files={"big": ("big.bin", f)})
        print(r.status, before, peak_kib())
    """)


def test_a_50_mib_upload_is_streamed_byte_exact_in_little_memory(
        leaf: Any, ca_file: str, tmp_path: Any) -> None:
    from _servers import server_context

    path, digest = tmp_path / "big.bin", hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(50):
            chunk = hashlib.sha256(str(i).encode()).digest() * (MiB // 32)
            digest.update(chunk)
            f.write(chunk)
    with LocalServer(server_context(leaf)) as server:
        server.RequestHandlerClass = _SpoolingHandler
        server.spool = str(tmp_path / "received")  # type: ignore[attr-defined]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [os.path.dirname(os.path.dirname(securl.__file__)), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-c", _CLIENT, server.url("/up"), ca_file,
                               str(path)], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        headers = server.spool_headers  # type: ignore[attr-defined]
    status, before, after = map(int, done.stdout.split())
    assert status == 200
    assert after - before < 10 * 1024, f"peak RSS grew by {(after - before) // 1024} MiB"

    boundary = headers["Content-Type"].partition("boundary=")[2].encode()
    assert int(headers["Content-Length"]) == os.path.getsize(tmp_path / "received")
    with open(tmp_path / "received", "rb") as f, mmap.mmap(f.fileno(), 0,
                                                           access=mmap.ACCESS_READ) as body:
        delimiter = b"--" + boundary
        starts = [0]
        while (found := body.find(b"\r\n" + delimiter, starts[-1] + 1)) >= 0:
            starts.append(found + 2)
        assert body[starts[-1]:] == delimiter + b"--\r\n"
        spans = [(a, b - 2) for a, b in itertools.pairwise(starts)]  # without the CRLF
        heads = [body.find(b"\r\n\r\n", a, b) for a, b in spans]
        assert [body[a:h].split(b"\r\n")[1:] for (a, _), h in zip(spans, heads, strict=True)
                ] == [
            [b'Content-Disposition: form-data; name="label"'],
            [b'Content-Disposition: form-data; name="big"; filename="big.bin"',
             b"Content-Type: application/octet-stream"],
        ]
        assert body[heads[0] + 4:spans[0][1]] == b"big"
        content_start, content_end = heads[1] + 4, spans[1][1]
        assert content_end - content_start == 50 * MiB
        received = hashlib.sha256()
        for at in range(content_start, content_end, MiB):  # in place: no 50 MiB copy here
            received.update(body[at:min(at + MiB, content_end)])
    assert received.hexdigest() == digest.hexdigest()


def test_a_file_that_shrinks_while_it_is_sent_fails_the_call(https_server: LocalServer,
                                                            session: securl.Session) -> None:
    class Shrinking(io.BytesIO):  # says 100 000 bytes when measured, holds 10 when read
        def read(self, n: int | None = -1) -> bytes:
            start = self.tell()
            return super().read(n)[: max(0, 10 - start)]

    with pytest.raises(securl.InvalidRequest, match="ended 99990 bytes before"):
        session.post(https_server.url("/echo"), files={"f": ("f", Shrinking(b"x" * 100_000))})
    # The server never got the whole body it was promised: the connection was dropped, not
    # reused with half a body in it.
    assert all(len(s.body) < int(s.headers["Content-Length"]) for s in https_server.seen)
    assert session.get(https_server.url("/after")).content == b"hello"
    assert https_server.accepts == 2
