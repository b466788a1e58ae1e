"""A request on an idle kept-alive connection (``securl.http.kept_alive``) behaves exactly as
one on a new connection: the same bytes on the wire, the same errors, the same deadlines, and
a connection that failed is never reused. A body of known length read in one call (``Response
.content``) fails as urllib3's own read path does.

The servers are raw sockets on 127.0.0.1 (``_hostile.Hostile``) that record every request as
it arrived; the short path is observed (not replaced) to prove each test exercises it.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any

import pytest
import trustme

import securl
import securl.http.transport as transport
from _hostile import OK, Hostile, read_head
from _servers import server_context


@pytest.fixture
def short_path(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each request took the kept-alive path (True, also when it failed there) or
    urllib3's urlopen (False)."""
    taken: list[bool] = []
    real = transport.send_on_kept_alive

    def observed(*args: Any, **kwargs: Any) -> Any:
        try:
            response = real(*args, **kwargs)
        except BaseException:
            taken.append(True)  # it failed on the kept-alive connection it took
            raise
        taken.append(response is not None)
        return response

    monkeypatch.setattr(transport, "send_on_kept_alive", observed)
    return taken


def _read_request(sock: socket.socket) -> bytes | None:
    """One whole request: its head and a Content-Length body; None when the client closed."""
    head = read_head(sock)
    if head is None:
        return None
    head, _, body = head.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


class Recorder:
    """Answers every request with OK on a kept-alive connection, recording it."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, bytes]] = []  # (connection number, raw request)

    def __call__(self, sock: socket.socket, n: int) -> None:
        while (request := _read_request(sock)) is not None:
            self.requests.append((n, request))
            sock.sendall(OK)


CALLS = [
    pytest.param("GET", "/plain?q=1", {}, None, id="get"),
    pytest.param("GET", "/a|b/%7e?x=%2f&y=<z>", {}, None, id="target-urllib3-rewrites"),
    pytest.param("POST", "/upload", {"Content-Type": "application/octet-stream"},
                 b"\x00body\xff" * 100, id="post-bytes"),
    pytest.param("PUT", "/empty", {}, None, id="put-without-body"),
    pytest.param("DELETE", "/thing", {"User-Agent": None, "X-Trace": "1"}, None,
                 id="removed-default-header"),
    pytest.param("PATCH", "/form", {}, {"a": "1", "b": "two words"}, id="form-data"),
]


@pytest.mark.parametrize(("method", "path", "headers", "data"), CALLS)
def test_a_request_on_a_kept_alive_connection_goes_out_byte_for_byte_as_on_a_new_one(
        method: str, path: str, headers: dict[str, Any], data: Any, short_path: list[bool],
        make_session: Any) -> None:
    recorder = Recorder()
    with Hostile(recorder) as srv, make_session() as session:
        for _ in range(3):
            response = session.request(method, srv.url(path), headers=headers, data=data)
            assert response.content == b"ok"
    assert [n for n, _ in recorder.requests] == [1, 1, 1]  # one connection, kept alive
    first, second, third = (raw for _, raw in recorder.requests)
    assert second == first and third == first
    wants_short_path = "%" not in path and "|" not in path
    assert short_path == [False, wants_short_path, wants_short_path]


def test_the_urllib_drop_in_takes_the_same_short_path(short_path: list[bool]) -> None:
    import securl.urllib.request

    recorder = Recorder()
    with Hostile(recorder) as srv:
        for _ in range(3):
            with securl.urllib.request.urlopen(srv.url("/x")) as response:
                assert response.read() == b"ok"
    assert [n for n, _ in recorder.requests] == [1, 1, 1]
    assert len({raw for _, raw in recorder.requests}) == 1
    assert short_path == [False, True, True]


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(
        short_path: list[bool], make_session: Any) -> None:
    def answer_once(sock: socket.socket, n: int) -> None:
        if _read_request(sock) is not None:
            sock.sendall(OK)  # keep-alive response, then the server hangs up

    with Hostile(answer_once) as srv, make_session() as session:
        assert session.get(srv.url()).content == b"ok"
        deadline = time.monotonic() + 5
        while srv.accepts < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the server's close has reached the client
        assert session.get(srv.url()).content == b"ok"
        assert srv.accepts == 2
    assert short_path == [False, False]  # the dropped connection was not written to


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_kept_alive_connection_that_times_out_raises_read_timeout_and_is_not_reused(
        tls: bool, leaf: trustme.LeafCert, short_path: list[bool], make_session: Any) -> None:
    stop = threading.Event()

    def silent_second(sock: socket.socket, n: int) -> None:
        count = 0
        while _read_request(sock) is not None:
            count += 1
            if n == 1 and count == 2:
                stop.wait(10)  # never answers the second request on the first connection
                return
            sock.sendall(OK)

    with Hostile(silent_second, server_context(leaf) if tls else None) as srv, \
            make_session() as session:
        assert session.get(srv.url()).content == b"ok"
        start = time.monotonic()
        with pytest.raises(securl.ReadTimeout):
            session.get(srv.url(), timeout=securl.Timeouts(connect=5, read=0.5))
        assert time.monotonic() - start < 3
        stop.set()
        assert session.get(srv.url()).content == b"ok"
        assert srv.accepts == 2
    assert short_path == [False, True, False]


def test_a_server_that_hangs_up_instead_of_answering_fails_as_on_a_new_connection(
        make_session: Any) -> None:
    def hang_up_on_second(sock: socket.socket, n: int) -> None:
        if _read_request(sock) is not None and n == 1:
            sock.sendall(OK)
            _read_request(sock)  # the second request on the kept-alive connection
        # connection 2 (a fresh one) hangs up after its first request: closing here

    errors: list[type[BaseException]] = []
    with Hostile(hang_up_on_second) as srv, make_session() as session:
        assert session.get(srv.url()).content == b"ok"
        for _ in range(2):  # on the kept-alive connection, then on a new one
            with pytest.raises(securl.SecurlError) as caught:
                session.get(srv.url())
            errors.append(type(caught.value))
    assert errors[0] is errors[1]
    assert issubclass(errors[0], securl.ConnectionError)


def test_the_total_deadline_watches_a_request_on_a_kept_alive_connection(
        leaf: trustme.LeafCert, short_path: list[bool], make_session: Any) -> None:
    stop = threading.Event()

    def drip_second(sock: socket.socket, n: int) -> None:
        if _read_request(sock) is None:
            return
        sock.sendall(OK)
        if _read_request(sock) is None:
            return
        for byte in OK:  # each byte well within the read timeout
            if stop.wait(0.3):
                return
            sock.sendall(bytes([byte]))

    tls: ssl.SSLContext = server_context(leaf)
    with Hostile(drip_second, tls) as srv, make_session() as session:
        assert session.get(srv.url()).content == b"ok"
        start = time.monotonic()
        with pytest.raises(securl.DeadlineExceeded):
            session.get(srv.url(), timeout=securl.Timeouts(connect=5, read=5, total=1.5))
        assert time.monotonic() - start < 3.5
        stop.set()
    assert short_path == [False, True]


@pytest.mark.parametrize("failure", ["cut", "stall"])
def test_a_body_read_in_one_call_fails_as_one_read_through_urllib3(
        failure: str, make_session: Any) -> None:
    """``.content`` reads a body of known length with one read of its own (module
    ``securl.http.response``); a body cut short or stalled fails as urllib3's stream does."""
    stop = threading.Event()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"

    def broken_body(sock: socket.socket, n: int) -> None:
        while _read_request(sock) is not None:
            if n > 2:
                sock.sendall(OK)
                continue
            sock.sendall(head + b"abc")
            if failure == "stall":
                stop.wait(10)
            return  # cut: the connection closes three bytes into the body

    errors: list[type[BaseException]] = []
    with Hostile(broken_body) as srv, make_session() as session:
        timeout = securl.Timeouts(connect=5, read=0.5)
        with pytest.raises(securl.SecurlError) as whole:
            session.get(srv.url(), timeout=timeout)  # .content: the one-read path
        errors.append(type(whole.value))
        with pytest.raises(securl.SecurlError) as streamed:
            with session.get(srv.url(), timeout=timeout, stream=True) as response:
                for _ in response.iter_bytes(4):  # urllib3's read path
                    pass
        errors.append(type(streamed.value))
        stop.set()
        assert session.get(srv.url()).content == b"ok"  # a new connection, not a broken one
        assert srv.accepts == 3
    expected = securl.ReadTimeout if failure == "stall" else securl.ProtocolError
    assert errors == [expected, expected]
