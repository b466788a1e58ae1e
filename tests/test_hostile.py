"""Hostile servers: securl fails clearly, in bounded time, and never reuses a broken connection.

Each server here is real: raw sockets on 127.0.0.1 (``RawServer``) where the misbehaviour
needs byte-level control, ``LocalServer`` otherwise. Every case has a hard bound; the whole
file runs well under 60 s. Requests carry the known test secrets (``_secrets``) in their
headers, so the suite-wide guard also proves no failure leaks them.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import ssl
import time
import tracemalloc
from collections.abc import Callable

import pytest
import trustme

import securl
from _hostile import OK, Hostile, read_head, serve_ok_forever
from _open_url import OpenURL, urlopen_opener
from _secrets import TEST_PASSWORD, TEST_USER
from _servers import Handler, LocalServer, Reply, server_context


@pytest.fixture
def tls_ctx(leaf: trustme.LeafCert) -> ssl.SSLContext:
    return server_context(leaf)


# --- 1. servers that stall --------------------------------------------------------------

def test_server_that_never_handshakes_fails_with_connect_timeout(open_url: OpenURL) -> None:
    def silent(sock: socket.socket, n: int) -> None:
        srv.stopping(30)

    with Hostile(silent) as srv:
        url = f"https://localhost:{srv.raw.port}/"
        start = time.monotonic()
        with pytest.raises(securl.ConnectTimeout, match="TCP connect or TLS handshake"):
            open_url(url, timeout=1)
        assert time.monotonic() - start < 5
    assert srv.accepts == 1


def test_server_that_handshakes_and_never_answers_fails_with_read_timeout(
        open_url: OpenURL, tls_ctx: ssl.SSLContext) -> None:
    def mute(sock: socket.socket, n: int) -> None:
        read_head(sock)
        srv.stopping(30)

    with Hostile(mute, tls_ctx) as srv:
        start = time.monotonic()
        with pytest.raises(securl.ReadTimeout, match="did not send its response in time"):
            open_url(srv.url(), timeout=1)
        assert time.monotonic() - start < 5


def _drip(sock: socket.socket, data: bytes, stopping: Callable[[float], bool],
          interval: float) -> None:
    """Send ``data`` one byte per ``interval`` seconds until done or the server stops."""
    for i in range(len(data)):
        sock.sendall(data[i : i + 1])
        if stopping(interval):
            return


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_one_byte_per_second_server_hits_the_total_deadline(
        secret_session: securl.Session, tls_ctx: ssl.SSLContext, phase: str) -> None:
    """Each byte arrives well within the read timeout; only the total deadline can stop it."""
    body = b"x" * 1000
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)

    def trickle(sock: socket.socket, n: int) -> None:
        if n > 1:
            return serve_ok_forever(sock)
        read_head(sock)
        if phase == "headers":
            _drip(sock, head + body, srv.stopping, 1.0)
        else:
            sock.sendall(head)
            _drip(sock, body, srv.stopping, 1.0)

    with Hostile(trickle, tls_ctx) as srv:
        timeouts = securl.Timeouts(connect=5, read=5, total=2.5)
        start = time.monotonic()
        with pytest.raises(securl.DeadlineExceeded, match=r"total deadline of 2\.5 s"):
            secret_session.get(srv.url(), timeout=timeouts)
        elapsed = time.monotonic() - start
        assert 2.4 < elapsed < 4.5
        # The connection the deadline cut is closed, never reused.
        assert secret_session.get(srv.url()).content == b"ok"
        assert srv.accepts == 2


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_urlopen_total_deadline_covers_the_head_and_leaves_the_body_to_read_timeouts(
        tls_ctx: ssl.SSLContext, ca_file: str, monkeypatch: pytest.MonkeyPatch,
        phase: str) -> None:
    """The drop-in bounds a dripped head at ``total``; a slow body reads on, as in urllib."""
    import securl.urllib.request

    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    body = b"x" * 6
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)

    def trickle(sock: socket.socket, n: int) -> None:
        read_head(sock)
        if phase == "headers":
            _drip(sock, head + body, srv.stopping, 1.0)
        else:
            sock.sendall(head)
            _drip(sock, body, srv.stopping, 0.6)  # 3.6 s in all, each byte within `read`

    with Hostile(trickle, tls_ctx) as srv:
        timeouts = securl.Timeouts(connect=5, read=5, total=2.5)
        start = time.monotonic()
        if phase == "headers":
            with pytest.raises(securl.DeadlineExceeded, match=r"total deadline of 2\.5 s"):
                securl.urllib.request.urlopen(srv.url(), timeout=timeouts)
            assert 2.4 < time.monotonic() - start < 4.5
        else:
            with securl.urllib.request.urlopen(srv.url(), timeout=timeouts) as response:
                assert response.read() == body
            assert time.monotonic() - start > 3


@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "connection-close"])
def test_total_deadline_covers_streamed_body_reads(
        secret_session: securl.Session, tls_ctx: ssl.SSLContext, close: bool) -> None:
    # With `Connection: close` http.client hands its socket to the response (the connection
    # drops it); the deadline must still reach the socket the body is read from.
    extra = b"Connection: close\r\n" if close else b""

    def trickle(sock: socket.socket, n: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: 100\r\n\r\n")
        _drip(sock, b"y" * 100, srv.stopping, 0.5)

    with Hostile(trickle, tls_ctx) as srv:
        with secret_session.get(srv.url(), stream=True,
                                timeout=securl.Timeouts(total=2)) as resp:
            assert resp.status == 200
            start = time.monotonic()
            with pytest.raises(securl.DeadlineExceeded):
                for _ in resp.iter_bytes(1):
                    pass
            assert time.monotonic() - start < 3.5


def test_default_timeouts_bound_every_wait_and_the_whole_call() -> None:
    t = securl.Session().timeout
    assert (t.connect, t.read, t.total) == (10.0, 30.0, 300.0)
    assert securl.Session(timeout=5).timeout == securl.Timeouts(5, 5, 300)
    assert securl.Session(timeout=(1, 2, 3)).timeout == securl.Timeouts(1, 2, 3)
    for bad in (None, 0, -1, (1, None), float("nan"), True):
        with pytest.raises(securl.ConfigurationError, match=r"never waits forever|positive"):
            securl.Session(timeout=bad)
    with pytest.raises(securl.ConfigurationError):
        securl.Timeouts(total=0)


def test_chunked_body_that_never_ends_hits_the_total_deadline(
        secret_session: securl.Session) -> None:
    def endless(sock: socket.socket, n: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(200):
            sock.sendall(b"5\r\nchunk\r\n")
            if srv.stopping(0.1):
                return

    with Hostile(endless) as srv:
        start = time.monotonic()
        with pytest.raises(securl.DeadlineExceeded):
            secret_session.get(srv.url(),
                               timeout=securl.Timeouts(connect=2, read=2, total=1.5))
        assert time.monotonic() - start < 3.5


# --- 2. servers that break HTTP ---------------------------------------------------------

CUT_HEADS = {
    "mid-header-line": b"HTTP/1.1 200 OK\r\nContent-Type: te",
    "mid-header-block": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
    "mid-status-line": b"HTTP/1.1 200 O",
}


@pytest.mark.parametrize("sent", CUT_HEADS.values(), ids=CUT_HEADS.keys())
def test_close_mid_headers_is_a_protocol_error(open_url: OpenURL, sent: bytes) -> None:
    def cut(sock: socket.socket, n: int) -> None:
        if n > 1:
            return serve_ok_forever(sock)
        read_head(sock)
        sock.sendall(sent)

    with Hostile(cut) as srv:
        with pytest.raises(securl.ProtocolError, match="middle of the response"):
            open_url(srv.url(), timeout=5)
        assert open_url(srv.url(), timeout=5) == b"ok"
        assert srv.accepts == 2


def test_close_mid_body_is_a_protocol_error_and_the_connection_is_not_reused(
        open_url: OpenURL, tls_ctx: ssl.SSLContext) -> None:
    def cut(sock: socket.socket, n: int) -> None:
        if n > 1:
            return serve_ok_forever(sock)
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"z" * 10)

    with Hostile(cut, tls_ctx) as srv:
        if open_url is urlopen_opener:
            # The drop-in raises what urllib raises for a short body, so `except` clauses
            # written for urllib keep working.
            with pytest.raises(http.client.IncompleteRead):
                open_url(srv.url(), timeout=5)
        else:
            with pytest.raises(securl.ProtocolError, match=r"middle of the response body \(10 "):
                open_url(srv.url(), timeout=5)
        assert open_url(srv.url(), timeout=5) == b"ok"
        assert open_url(srv.url(), timeout=5) == b"ok"
        assert srv.accepts == 2  # a new connection after the cut, then that one reused


@pytest.mark.parametrize("status_line", [
    b"HTTP/1.1 abc OK", b"garbage", b"HTTP/1.1 99 Too Low", b"ICY 200 OK", b"HTTP/1.1",
])
def test_invalid_status_line_is_a_protocol_error(open_url: OpenURL, status_line: bytes) -> None:
    def bad(sock: socket.socket, n: int) -> None:
        read_head(sock)
        sock.sendall(status_line + b"\r\nContent-Length: 0\r\n\r\n")

    with Hostile(bad) as srv:
        with pytest.raises(securl.ProtocolError, match="broke the HTTP protocol"):
            open_url(srv.url(), timeout=5)


MALFORMED_HEADS = {
    "no-colon": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nsecret-line-9f3\r\n\r\nok",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "empty-name": b"HTTP/1.1 200 OK\r\n: 2\r\nContent-Length: 2\r\n\r\nok",
    "bare-cr-splits-a-line": b"HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 2\r\n\r\nok",
    "nul-byte": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "continuation-first": b"HTTP/1.1 200 OK\r\n  folded\r\nContent-Length: 2\r\n\r\nok",
    "status-code-not-3-digits": b"HTTP/1.1 0200 OK\r\nContent-Length: 2\r\n\r\nok",
}


@pytest.mark.parametrize("sent", MALFORMED_HEADS.values(), ids=MALFORMED_HEADS.keys())
def test_malformed_response_head_is_a_protocol_error_and_not_reused(
        open_url: OpenURL, sent: bytes) -> None:
    def bad(sock: socket.socket, n: int) -> None:
        if n > 1:
            return serve_ok_forever(sock)
        read_head(sock)
        sock.sendall(sent)
        serve_ok_forever(sock)  # would answer on this connection if it were reused

    with Hostile(bad) as srv:
        with pytest.raises(securl.ProtocolError, match="broke the HTTP protocol") as info:
            open_url(srv.url(), timeout=5)
        assert "secret-line-9f3" not in str(info.value)  # names the line, not its text
        assert open_url(srv.url(), timeout=5) == b"ok"
        assert srv.accepts == 2


def test_lenient_but_valid_head_forms_are_read_by_the_rfc(ca_file: str) -> None:
    """LF-only line ends, OWS around values, obs-fold (joined with one SP), duplicates."""
    head = (b"HTTP/1.1 200 OK\n"
            b"X-Spaces: \t padded value \t\n"
            b"X-Folded: first\r\n   second\r\n\tthird\r\n"
            b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
            b"Content-Length: 2\n\nok")

    def reply(sock: socket.socket, n: int) -> None:
        while read_head(sock) is not None:
            sock.sendall(head)

    with Hostile(reply) as srv, securl.Session(ca_certs=ca_file) as s:
        for _ in range(2):  # and the connection is reused: the framing was understood
            r = s.get(srv.url(), timeout=5)
            assert r.content == b"ok"
            assert r.headers["X-Spaces"] == "padded value"
            assert r.headers["X-Folded"] == "first second third"
            assert r.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
        assert srv.accepts == 1


def test_interim_1xx_responses_are_skipped(open_url: OpenURL) -> None:
    """103 Early Hints (and 100, 102) before the real response: http.client stops at a 103."""
    interim = (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
               b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 102 Processing\r\n\r\n")

    def reply(sock: socket.socket, n: int) -> None:
        while read_head(sock) is not None:
            sock.sendall(interim + OK)

    with Hostile(reply) as srv:
        assert open_url(srv.url(), timeout=5) == b"ok"
        assert open_url(srv.url(), timeout=5) == b"ok"
        assert srv.accepts == 1


def test_100000_headers_are_refused(open_url: OpenURL) -> None:
    def flood(sock: socket.socket, n: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        block = b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
        for _ in range(100):  # 100,000 headers, unless the client hangs up first
            sock.sendall(block)
        sock.sendall(b"Content-Length: 0\r\n\r\n")

    with Hostile(flood) as srv:
        start = time.monotonic()
        with pytest.raises(securl.ProtocolError, match="more than 100 response headers"):
            open_url(srv.url(), timeout=5)
        assert time.monotonic() - start < 5


def test_1mb_header_line_is_refused(open_url: OpenURL) -> None:
    def long_line(sock: socket.socket, n: int) -> None:
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")

    with Hostile(long_line) as srv:
        with pytest.raises(securl.ProtocolError, match="longer than 64 KiB"):
            open_url(srv.url(), timeout=5)


# --- 3. redirects -------------------------------------------------------------------------

def redirect_to(location: str, status: int = 302) -> Callable[[Handler], Reply]:
    return lambda h: (status, {"Location": location}, b"")


def test_redirect_loop_stops_at_max_redirects(https_server: LocalServer, ca_file: str) -> None:
    https_server.routes["/loop"] = redirect_to("/loop")
    with securl.Session(ca_certs=ca_file, max_redirects=5) as s:
        with pytest.raises(securl.TooManyRedirects, match="more than 5 redirects"):
            s.get(https_server.url("/loop"))
    assert len(https_server.seen) == 6


def test_redirect_to_file_url_is_refused(https_server: LocalServer, secret_session: securl.Session,
                                         tmp_path: object) -> None:
    https_server.routes["/r"] = redirect_to("file:///etc/passwd")
    with pytest.raises(securl.InsecureRedirectError, match="file:, ftp:, data:"):
        secret_session.get(https_server.url("/r"))


def test_redirect_from_https_to_http_is_refused(
        https_server: LocalServer, http_server: LocalServer,
        secret_session: securl.Session) -> None:
    https_server.routes["/r"] = redirect_to(http_server.url("/landing"))
    with pytest.raises(securl.InsecureRedirectError, match="from https to http"):
        secret_session.get(https_server.url("/r"))
    assert http_server.accepts == 0


def test_redirect_to_userinfo_url_is_refused_without_showing_the_password(
        https_server: LocalServer, secret_session: securl.Session) -> None:
    evil = f"https://{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{https_server.port}/in"
    https_server.routes["/r"] = redirect_to(evil)
    with pytest.raises(securl.InsecureRedirectError, match="credentials in the URL") as info:
        secret_session.get(https_server.url("/r"))
    assert TEST_PASSWORD not in str(info.value)
    assert [s.path for s in https_server.seen] == ["/r"]


# --- 4. decompression bombs and oversized bodies -----------------------------------------

def gzip_bomb(decoded_mib: int) -> bytes:
    """Concatenated gzip members of zeros: ~1 KiB on the wire per MiB decoded."""
    member = gzip.compress(b"\0" * (1 << 20), compresslevel=9)
    return member * decoded_mib


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(200)  # 200 MiB decoded, ~200 KiB sent


def bomb_route(payload: bytes) -> Callable[[Handler], Reply]:
    return lambda h: (200, {"Content-Encoding": "gzip"}, payload)


def test_gzip_bomb_is_stopped_at_max_body_size_with_bounded_memory(
        https_server: LocalServer, ca_file: str, bomb: bytes) -> None:
    https_server.routes["/bomb"] = bomb_route(bomb)
    with securl.Session(ca_certs=ca_file, max_body_size=1 << 20) as s:
        tracemalloc.start()
        try:
            with pytest.raises(securl.ResponseTooLarge, match="decompresses to more than "
                               "the limit of 1048576 bytes") as info:
                s.get(https_server.url("/bomb"))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert info.value.limit == 1 << 20
        assert peak < 16 << 20, f"peak {peak} bytes while refusing a 1 MiB-limited bomb"
        # The connection was abandoned mid-body: the next request needs a new one.
        assert s.get(https_server.url("/")).content == b"hello"
    assert https_server.accepts == 2


def test_gzip_bomb_is_stopped_by_the_default_limit(open_url: OpenURL,
                                                  https_server: LocalServer,
                                                  bomb: bytes) -> None:
    https_server.routes["/bomb"] = bomb_route(bomb)
    if open_url is urlopen_opener:
        # The drop-in, like urllib, never decompresses: the caller gets the compressed bytes
        # as sent, so there is nothing to explode.
        assert open_url(https_server.url("/bomb"), timeout=10) == bomb
        return
    with pytest.raises(securl.ResponseTooLarge, match=f"limit of {100 << 20} bytes"):
        open_url(https_server.url("/bomb"), timeout=10)


def test_max_body_size_is_configurable_per_session_and_call(
        https_server: LocalServer, ca_file: str) -> None:
    https_server.routes["/bomb"] = bomb_route(gzip_bomb(3))
    with securl.Session(ca_certs=ca_file, max_body_size=4 << 20) as s:
        assert len(s.get(https_server.url("/bomb")).content) == 3 << 20
        with pytest.raises(securl.ResponseTooLarge):
            s.get(https_server.url("/bomb"), max_body_size=2 << 20)
        with pytest.raises(securl.ResponseTooLarge):  # streamed bodies are counted too
            with s.get(https_server.url("/bomb"), stream=True, max_body_size=1 << 20) as r:
                for _ in r.iter_bytes():
                    pass
        assert len(s.get(https_server.url("/bomb"), max_body_size=None).content) == 3 << 20
    with pytest.raises(securl.ConfigurationError, match="max_body_size"):
        securl.Session(max_body_size=-1)


@pytest.mark.parametrize("te", ["identity", "gzip-unsupported"])
def test_a_content_length_next_to_transfer_encoding_does_not_lift_max_body_size(
        secret_session: securl.Session, te: str) -> None:
    """With Transfer-Encoding the Content-Length frames nothing (RFC 9112 6.3): the body is
    read to the end of the connection, and counted against the limit like any other."""
    big = b"A" * (2 << 20)

    def lying_length(sock: socket.socket, n: int) -> None:
        if read_head(sock) is not None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: "
                         + te.encode() + b"\r\n\r\n" + big)

    with Hostile(lying_length) as srv:
        for stream in (False, True):
            with pytest.raises(securl.ResponseTooLarge, match="more than the limit of 1000"):
                with secret_session.get(srv.url(), stream=stream,
                                        max_body_size=1000) as response:
                    for _ in response.iter_bytes():
                        pass


def test_a_response_without_a_body_is_not_refused_for_its_content_length(
        https_server: LocalServer, ca_file: str) -> None:
    """HEAD (and 204/304) have no body whatever Content-Length says: nothing to limit."""
    https_server.routes["/big"] = lambda h: (200, {"Content-Length": str(5 << 20)}, b"")
    with securl.Session(ca_certs=ca_file, max_body_size=1 << 20) as s:
        response = s.head(https_server.url("/big"))
        assert response.status == 200 and response.content == b""
        assert response.headers["Content-Length"] == str(5 << 20)


def test_announced_oversized_body_is_refused_before_reading(
        https_server: LocalServer, ca_file: str) -> None:
    https_server.routes["/big"] = lambda h: (200, {}, b"b" * (2 << 20))
    with securl.Session(ca_certs=ca_file, max_body_size=1 << 20) as s:
        with pytest.raises(securl.ResponseTooLarge, match="announces 2097152 bytes"):
            s.get(https_server.url("/big"))


def test_abandoned_streamed_body_closes_its_connection(
        https_server: LocalServer, ca_file: str) -> None:
    https_server.routes["/big"] = lambda h: (200, {}, b"b" * (1 << 20))
    with securl.Session(ca_certs=ca_file) as s:
        with s.get(https_server.url("/big"), stream=True) as r:
            for _ in r.iter_bytes(1024):
                break  # the rest of the body is still on the connection
        assert s.get(https_server.url("/")).content == b"hello"
        assert s.get(https_server.url("/")).content == b"hello"
    assert https_server.accepts == 2
