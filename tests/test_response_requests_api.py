"""The Response a requests user expects: status_code, iter_content/iter_lines, elapsed,
request, cookies, links, a settable encoding, json() errors and raise_for_status().

Bodies with exact chunk boundaries come from a RawServer scripting the bytes; urllib3 yields a
chunked body one HTTP chunk at a time (up to chunk_size), so the boundaries the client sees
are the ones written here, whatever TCP does with them.
"""

from __future__ import annotations

import datetime
import gzip
import http.cookiejar
import json
import socket
import threading
import time
import urllib.error
from collections.abc import Callable
from typing import Any

import pytest
import urllib3

import securl
from _secrets import TEST_BEARER, TEST_COOKIE, TEST_PASSWORD
from _servers import Handler, LocalServer, RawServer, Reply
from securl.http.response import Response, SentRequest

TEXT_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")


def chunked(*parts: bytes) -> list[bytes]:
    """``parts`` as HTTP chunks, one write each, then the last chunk."""
    return [b"%x\r\n%s\r\n" % (len(part), part) for part in parts] + [b"0\r\n\r\n"]


def read_request_path(sock: socket.socket) -> str:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(4096)
        if not more:
            return ""
        data += more
    return data.split(b" ", 2)[1].decode()


Script = Callable[[str], tuple[bytes, list[bytes]]]


class Scripted:
    """A RawServer answering each request with ``script(path) -> (head, pieces)``.

    With ``gate`` set, the server sends the head and the first piece, then waits (up to 5 s)
    for the client to set the gate before it sends the rest; ``gate_opened`` records, for
    each request, whether the client did (True) or the wait timed out (False).
    """

    def __init__(self, script: Script, gate: threading.Event | None = None) -> None:
        self.script = script
        self.gate = gate
        self.gate_opened: list[bool] = []
        self.server = RawServer(self._answer)

    def _answer(self, sock: socket.socket) -> None:
        head, pieces = self.script(read_request_path(sock))
        sock.sendall(head + pieces[0])
        if self.gate is not None:
            self.gate_opened.append(self.gate.wait(5))
        for piece in pieces[1:]:
            sock.sendall(piece)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    def __enter__(self) -> Scripted:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def serving(head: bytes, pieces: list[bytes], gate: threading.Event | None = None
            ) -> Scripted:
    return Scripted(lambda path: (head, pieces), gate)


@pytest.fixture
def client(make_session: Callable[..., securl.Session]) -> securl.Session:
    return make_session(timeout=5)


# --- status_code ---------------------------------------------------------------------------

def test_status_code_is_a_read_only_alias_of_status(client: securl.Session,
                                                    http_server: LocalServer) -> None:
    http_server.routes["/gone"] = lambda h: (410, {}, b"")
    r = client.get(http_server.url("/gone"))
    assert r.status_code == r.status == 410
    with pytest.raises(AttributeError):
        r.status_code = 200  # type: ignore[misc]


# --- iter_content ----------------------------------------------------------------------------

def test_iter_content_yields_chunk_size_pieces_and_by_default_single_bytes(
        client: securl.Session) -> None:
    with serving(TEXT_HEAD, chunked(b"abcdefg", b"hij")) as server:
        with client.get(server.url(), stream=True) as r:
            assert list(r.iter_content(4)) == [b"abcd", b"efg", b"hij"]
        with client.get(server.url(), stream=True) as r:
            assert list(r.iter_content()) == [bytes([c]) for c in b"abcdefghij"]
        r = client.get(server.url())  # already read: served from content
        assert list(r.iter_content(4)) == [b"abcd", b"efgh", b"ij"]
        assert list(r.iter_content(None)) == [b"abcdefghij"]


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_iter_content_none_yields_what_has_arrived_without_waiting_for_more(
        client: securl.Session, framing: str) -> None:
    if framing == "chunked":
        head, pieces = TEXT_HEAD, chunked(b"first", b"second")
    else:
        head = (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n")
        pieces = [b"first", b"second"]
    gate = threading.Event()
    with serving(head, pieces, gate) as server:
        with client.get(server.url(), stream=True) as r:
            received = []
            for chunk in r.iter_content(None):
                received.append(chunk)
                gate.set()  # only now does the server send the rest
    assert b"".join(received) == b"firstsecond"
    assert received[0] == b"first"
    assert server.gate_opened == [True]


def test_iter_content_decodes_unicode_incrementally_across_chunk_boundaries(
        client: securl.Session) -> None:
    body = "naïve café ☕".encode()
    cut = body.index("☕".encode()) + 1  # in the middle of a three-byte character
    with serving(TEXT_HEAD, chunked(body[:3], body[3:cut], body[cut:])) as server:
        with client.get(server.url(), stream=True) as r:
            texts = list(r.iter_content(64, decode_unicode=True))
    assert all(isinstance(t, str) for t in texts)
    assert "".join(texts) == "naïve café ☕"
    assert "\ufffd" not in "".join(texts)


def test_iter_content_decodes_with_the_encoding_set_on_the_response(
        client: securl.Session) -> None:
    with serving(TEXT_HEAD, chunked("café".encode("latin-1"))) as server:
        with client.get(server.url(), stream=True) as r:
            r.encoding = "latin-1"
            assert "".join(r.iter_content(2, decode_unicode=True)) == "café"
        with client.get(server.url(), stream=True) as r:  # the header says UTF-8: replaced
            assert "".join(r.iter_content(2, decode_unicode=True)) == "caf\ufffd"


@pytest.mark.parametrize(("chunk_size", "error"), [
    (0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("8", TypeError)])
def test_iter_content_refuses_a_chunk_size_that_is_not_a_positive_int(
        client: securl.Session, http_server: LocalServer, chunk_size: Any,
        error: type[Exception]) -> None:
    r = client.get(http_server.url())
    with pytest.raises(error, match="chunk_size"):
        r.iter_content(chunk_size)
    with pytest.raises(error, match="chunk_size"):
        r.iter_lines(chunk_size)


@pytest.mark.parametrize("chunk_size", [4, None])
def test_iter_content_and_iter_lines_keep_the_body_size_limit(
        client: securl.Session, chunk_size: int | None) -> None:
    pieces = chunked(*[b"0123456789\n"] * 10)
    with serving(TEXT_HEAD, pieces) as server:
        with client.get(server.url(), stream=True, max_body_size=50) as r, \
                pytest.raises(securl.ResponseTooLarge):
            list(r.iter_content(chunk_size))
        with client.get(server.url(), stream=True, max_body_size=50) as r, \
                pytest.raises(securl.ResponseTooLarge):
            list(r.iter_lines(chunk_size))


def test_iter_content_none_decompresses_in_bounded_steps_under_the_size_limit(
        client: securl.Session) -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))  # 8 MiB of zeros in ~8 KiB
    head = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(bomb))
    with serving(head, [bomb]) as server:
        with client.get(server.url(), stream=True, max_body_size=1024 * 1024) as r:
            sizes = []
            with pytest.raises(securl.ResponseTooLarge):
                for chunk in r.iter_content(None):
                    sizes.append(len(chunk))
    assert sizes and max(sizes) <= 64 * 1024
    assert sum(sizes) <= 1024 * 1024


# --- iter_lines ------------------------------------------------------------------------------

def test_iter_lines_splits_crlf_lf_and_cr_across_chunk_boundaries(
        client: securl.Session) -> None:
    pieces = chunked(b"alpha\r", b"\nbe", b"ta\n\ngam", b"ma\rdelta\r", b"\r\nlast")
    with serving(TEXT_HEAD, pieces) as server:
        with client.get(server.url(), stream=True) as r:
            lines = list(r.iter_lines())
        with client.get(server.url(), stream=True) as r:
            texts = list(r.iter_lines(decode_unicode=True))
    assert lines == [b"alpha", b"beta", b"", b"gamma", b"delta", b"", b"last"]
    assert texts == ["alpha", "beta", "", "gamma", "delta", "", "last"]


def test_iter_lines_gives_the_same_lines_wherever_the_chunks_are_cut(
        client: securl.Session) -> None:
    body = b"one\r\ntwo\nthree\rfour\r\n\r\nfive\r"
    expected = [b"one", b"two", b"three", b"four", b"", b"five"]
    with Scripted(lambda path: (TEXT_HEAD, chunked(body[:int(path[1:])],
                                                   body[int(path[1:]):]))) as server:
        for cut in range(1, len(body)):
            with client.get(server.url(f"/{cut}"), stream=True) as r:
                assert list(r.iter_lines(chunk_size=None)) == expected, cut


def test_iter_lines_with_a_delimiter_split_across_chunks(client: securl.Session) -> None:
    with serving(TEXT_HEAD, chunked(b"a::b:", b":c::", b"d")) as server:
        with client.get(server.url(), stream=True) as r:
            assert list(r.iter_lines(delimiter=b"::")) == [b"a", b"b", b"c", b"d"]
        with client.get(server.url(), stream=True) as r:
            assert list(r.iter_lines(decode_unicode=True, delimiter="::")) == [
                "a", "b", "c", "d"]
        with client.get(server.url(), stream=True) as r:
            with pytest.raises(TypeError):
                r.iter_lines(delimiter="::")  # bytes are split with a bytes delimiter
            with pytest.raises(ValueError):
                r.iter_lines(delimiter=b"")


def test_iter_lines_yields_each_line_as_it_arrives(client: securl.Session) -> None:
    gate = threading.Event()
    with serving(TEXT_HEAD, chunked(b"first line\n", b"second line\n"), gate) as server:
        with client.get(server.url(), stream=True) as r:
            lines = []
            for line in r.iter_lines():
                lines.append(line)
                gate.set()
    assert lines == [b"first line", b"second line"]
    assert server.gate_opened == [True]


# --- elapsed, request, cookies ---------------------------------------------------------------

def slow(handler: Handler) -> Reply:
    time.sleep(0.05)
    return 200, {}, b"late"


def test_elapsed_counts_from_the_time_the_request_was_sent(http_server: LocalServer) -> None:
    http_server.routes["/slow"] = slow
    with urllib3.PoolManager() as pool:
        sent_at = time.monotonic()
        raw = pool.request("GET", http_server.url("/slow"), preload_content=False,
                           timeout=5, retries=False)
        r = Response(raw, http_server.url("/slow"), "GET", sent_at=sent_at)
        assert r.content == b"late"
    assert isinstance(r.elapsed, datetime.timedelta)
    assert datetime.timedelta(seconds=0.05) <= r.elapsed < datetime.timedelta(seconds=5)


def test_elapsed_request_and_cookies_have_safe_defaults(client: securl.Session,
                                                        http_server: LocalServer) -> None:
    r = client.get(http_server.url("/x"))
    assert isinstance(r.elapsed, datetime.timedelta)
    assert r.elapsed >= datetime.timedelta(0)
    assert isinstance(r.request, SentRequest)
    assert (r.request.method, r.request.url) == ("GET", http_server.url("/x"))
    assert isinstance(r.cookies, http.cookiejar.CookieJar)
    assert len(r.cookies) == 0


def test_sent_request_is_frozen_read_only_and_hides_credentials_in_its_repr() -> None:
    url = f"https://api.example/items?access_token={TEST_BEARER}&page=2"
    request = SentRequest("POST", url, {
        "Authorization": f"Bearer {TEST_BEARER}", "Cookie": f"session={TEST_COOKIE}",
        "Proxy-Authorization": f"Basic {TEST_PASSWORD}", "Accept": "application/json",
        "X-Api-Key": f"k-{TEST_PASSWORD}",
    })
    assert request.headers["authorization"] == f"Bearer {TEST_BEARER}"  # case-insensitive
    with pytest.raises(TypeError):
        request.headers["Accept"] = "*/*"  # type: ignore[index]
    with pytest.raises(AttributeError):
        request.method = "GET"  # type: ignore[misc]
    for shown in (repr(request), repr(request.headers), str(request.headers)):
        assert TEST_BEARER not in shown
        assert TEST_COOKIE not in shown
        assert TEST_PASSWORD not in shown
    assert "application/json" in repr(request.headers)
    assert "access_token=[REDACTED]&page=2" in repr(request)


# --- links -----------------------------------------------------------------------------------

def links_of(client: securl.Session, *link_headers: bytes) -> dict[str, dict[str, str]]:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n"
    head += b"".join(b"Link: " + value + b"\r\n" for value in link_headers) + b"\r\n"
    with serving(head, [b""]) as server:
        return client.get(server.url()).links


def test_links_are_keyed_by_rel_with_url_and_parameters(client: securl.Session) -> None:
    links = links_of(
        client,
        b'<https://api.example/items?page=2>; rel="next", '
        b'<https://api.example/items?page=9>; rel=last; title="Last, page; nine"',
        b'</about>; REL="about alternate"; type=text/html, <https://no-rel.example/>',
    )
    assert links["next"] == {"url": "https://api.example/items?page=2", "rel": "next"}
    assert links["last"] == {"url": "https://api.example/items?page=9", "rel": "last",
                             "title": "Last, page; nine"}
    assert links["about"] is links["alternate"]
    assert links["about"] == {"url": "/about", "rel": "about alternate", "type": "text/html"}
    assert links["https://no-rel.example/"] == {"url": "https://no-rel.example/"}
    assert len(links) == 5


def test_malformed_link_headers_never_raise(client: securl.Session) -> None:
    links = links_of(
        client,
        b'<https://a.example/>; rel=next; rel=prev; junk; =x, garbage, <https://b.example/>',
        b'<https://c.example/>; rel="unterminated, <https://d.example/>',
        b'no brackets at all; rel=x',
        b'<https://e.example/',
        b'<https://f.example/>; title="a \\"quoted\\" word"; rel=up',
    )
    assert links["next"] == {"url": "https://a.example/", "rel": "next", "junk": ""}
    assert "prev" not in links  # the first rel counts (RFC 8288 section 3)
    assert links["https://b.example/"] == {"url": "https://b.example/"}
    assert links["unterminated,"]["url"] == "https://c.example/"  # the quote runs to the end
    assert links["up"]["title"] == 'a "quoted" word'
    assert links_of(client) == {}


# --- encoding --------------------------------------------------------------------------------

def test_setting_encoding_changes_text(client: securl.Session, http_server: LocalServer) -> None:
    http_server.routes["/cafe"] = lambda h: (
        200, {"Content-Type": "text/plain; charset=utf-8"}, "café".encode())
    r = client.get(http_server.url("/cafe"))
    assert (r.encoding, r.text) == ("utf-8", "café")
    r.encoding = "latin-1"
    assert (r.encoding, r.text) == ("iso8859-1", "cafÃ©")
    r.encoding = None
    assert (r.encoding, r.text) == (None, "café")
    for unusable in ("no-such-codec", "base64"):
        with pytest.raises(LookupError):
            r.encoding = unusable
    assert r.encoding is None


def test_a_charset_that_is_not_a_text_encoding_is_ignored(client: securl.Session,
                                                          http_server: LocalServer) -> None:
    http_server.routes["/odd"] = lambda h: (
        200, {"Content-Type": "text/plain; charset=base64"}, b"plain")
    r = client.get(http_server.url("/odd"))
    assert r.encoding is None
    assert r.text == "plain"


# --- json() ----------------------------------------------------------------------------------

SECRET_BODY = f'{{"token": "{TEST_BEARER}", '.encode()


@pytest.mark.parametrize(("body", "what"), [
    (SECRET_BODY + b"oops", "not valid JSON (Content-Type application/json): Expecting"),
    (SECRET_BODY + b'"caf\xe9"}', "not valid utf-8 (Content-Type application/json)"),
    (b"", "empty, not JSON (Content-Type application/json)"),
], ids=["invalid", "not-utf-8", "empty"])
def test_json_raises_a_value_error_subclass_for_a_body_that_is_not_json(
        client: securl.Session, http_server: LocalServer, body: bytes, what: str) -> None:
    http_server.routes["/j"] = lambda h: (200, {"Content-Type": "application/json"}, body)
    r = client.get(http_server.url("/j"))
    with pytest.raises(securl.JSONDecodeError) as info:
        r.json()
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, json.JSONDecodeError)
    assert isinstance(err, securl.SecurlError)
    assert what in str(err)
    assert TEST_BEARER not in str(err) and TEST_BEARER not in repr(err)
    assert "line 1 column" in str(err)


def test_json_decodes_with_a_declared_non_unicode_charset_and_detects_utf16(
        client: securl.Session, http_server: LocalServer) -> None:
    http_server.routes["/latin"] = lambda h: (
        200, {"Content-Type": "application/json; charset=iso-8859-1"}, b'{"a": "caf\xe9"}')
    http_server.routes["/utf16"] = lambda h: (
        200, {"Content-Type": "application/json"}, '{"a": "café"}'.encode("utf-16"))
    assert client.get(http_server.url("/latin")).json() == {"a": "café"}
    assert client.get(http_server.url("/utf16")).json() == {"a": "café"}


# --- raise_for_status() ----------------------------------------------------------------------

def not_found(handler: Handler) -> Reply:
    return 404, {"Content-Type": "application/json"}, b'{"error": "no such item"}'


@pytest.mark.parametrize("stream", [False, True])
def test_raise_for_status_is_an_http_error_with_the_response_and_a_redacted_url(
        client: securl.Session, https_server: LocalServer, stream: bool) -> None:
    https_server.routes["/missing"] = not_found
    url = https_server.url(f"/missing?access_token={TEST_BEARER}&page=1")
    r = client.get(url, stream=stream)
    with pytest.raises(urllib.error.HTTPError) as info:
        r.raise_for_status()
    err = info.value
    assert isinstance(err, securl.HTTPStatusError)
    assert isinstance(err, securl.SecurlError)
    assert str(err) == (f"404 Not Found for {https_server.url('/missing')}"
                        "?access_token=[REDACTED]&page=1")
    assert TEST_BEARER not in repr(err) and TEST_BEARER not in err.url
    assert (err.code, err.status, err.reason) == (404, 404, "Not Found")
    assert err.headers["content-type"] == "application/json"
    assert err.read() == b'{"error": "no such item"}'
    assert err.response is r
    assert err.response.json() == {"error": "no such item"}  # reading did not consume it
    r.close()


def test_raise_for_status_is_caught_as_securl_http_status_error_and_names_the_phrase(
        client: securl.Session) -> None:
    head = b"HTTP/1.1 503 \r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
    with serving(head, [b"busy"]) as server:
        r = client.get(server.url("/q"))
    with pytest.raises(securl.HTTPStatusError) as info:
        r.raise_for_status()
    assert str(info.value) == f"503 Service Unavailable for {server.url('/q')}"
    assert info.value.response.text == "busy"


def test_raise_for_status_returns_the_response_below_400(client: securl.Session,
                                                         http_server: LocalServer) -> None:
    r = client.get(http_server.url())
    assert r.raise_for_status() is r


def test_session_responses_carry_elapsed_and_the_request_as_sent(
        session: securl.Session, https_server: LocalServer) -> None:
    import datetime as _dt

    def slow(handler: object) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.05)
        return 200, {}, b"late"

    https_server.routes["/slow"] = slow
    response = session.get(https_server.url("/slow?token=s3cr3t"),
                           headers={"Authorization": "Bearer s3cr3t"})
    assert response.elapsed >= _dt.timedelta(milliseconds=50)
    assert response.request is not None and response.request.method == "GET"
    assert response.request.headers["Authorization"] == "Bearer s3cr3t"  # as sent
    assert "s3cr3t" not in repr(response.request)
