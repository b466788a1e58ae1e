"""securl's response head reader against http.client's, on well-formed heads.

``securl.http.head.StrictHeadResponse`` replaces ``http.client``'s email-based head parser for
speed and strictness (malformed heads: tests/test_hostile.py, against real sockets). On a
well-formed head the two must agree on everything the body framing and the caller depend
on: status, reason, version, chunked, length, will_close and the header pairs. This is a
differential test: each head is parsed by both, from the same bytes.
"""

from __future__ import annotations

import http.client
import io
import itertools
import pickle
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securl.http.head import MalformedResponseHead, StrictHeadResponse, TruncatedResponseHead

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


class _Bytes:
    """What HTTPResponse needs of a socket: makefile() over fixed bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.data))  # type: ignore[arg-type]


def _parse(cls: type[http.client.HTTPResponse], head: bytes,
           method: str) -> tuple[object, ...]:
    response = cls(_Bytes(head + b"body"), method=method)  # type: ignore[arg-type]
    response.begin()
    return (response.status, response.reason, response.version, response.chunked,
            response.length, response.will_close, response.msg.items(),
            response.msg.get("content-type"), response.msg.get_all("x-dup"))


VERSIONS = [b"HTTP/1.1", b"HTTP/1.0"]
STATUSES = [b"200 OK", b"204 No Content", b"304 Not Modified", b"404 Not Found",
            b"500 Internal Server Error", b"200", b"301 Moved  Permanently"]
FRAMINGS = [
    [],
    [b"Content-Length: 4"],
    [b"Content-Length: 2", b"Content-Length: 9"],
    [b"Content-Length: -3"],
    [b"Content-Length: x"],
    [b"Transfer-Encoding: chunked"],
    [b"Transfer-Encoding: Chunked", b"Content-Length: 4"],
    [b"Transfer-Encoding: gzip, chunked"],
]
CONNECTIONS = [[], [b"Connection: close"], [b"Connection: Keep-Alive"], [b"Keep-Alive: 5"],
               [b"Proxy-Connection: keep-alive"], [b"Connection: upgrade, close"]]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_framing_matches_http_client_on_every_combination(method: str) -> None:
    cases = 0
    for version, status, framing, connection in itertools.product(
            VERSIONS, STATUSES, FRAMINGS, CONNECTIONS):
        lines = [version + b" " + status, b"Content-Type: text/plain", *framing, *connection,
                 b"X-Dup: 1", b"X-Dup: 2"]
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        assert _parse(StrictHeadResponse, head, method) == _parse(
            http.client.HTTPResponse, head, method), head
        cases += 1
    assert cases == 2 * 7 * 8 * 6


def test_100_continue_is_skipped_like_http_client() -> None:
    head = (b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
    ours = _parse(StrictHeadResponse, head, "GET")
    assert ours == _parse(http.client.HTTPResponse, head, "GET")
    assert ours[0] == 200 and ours[4] == 4


_TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
_NAME = st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=20)
# Values without leading/trailing whitespace (securl strips OWS; http.client keeps the
# trailing part), without CR, LF or NUL, in Latin-1.
_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                        blacklist_characters="\x7f"), max_size=40).map(
    lambda v: v.strip(" \t"))


@PROPERTY
@given(fields=st.lists(st.tuples(_NAME, _VALUE), max_size=30),
       line_end=st.sampled_from([b"\r\n", b"\n"]))
def test_any_well_formed_head_reads_like_http_client(fields: list[tuple[str, str]],
                                                     line_end: bytes) -> None:
    lines = [b"HTTP/1.1 200 OK"] + [f"{n}: {v}".encode("latin-1") for n, v in fields]
    head = line_end.join(lines) + line_end + line_end
    assert _parse(StrictHeadResponse, head, "GET") == _parse(
        http.client.HTTPResponse, head, "GET")


def test_head_errors_pickle_with_their_message() -> None:
    for error in (TruncatedResponseHead(), MalformedResponseHead("line 3 is not 'name: value'")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)


def test_folded_lines_count_against_the_100_line_limit() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-A: a\r\n" + b" more\r\n" * 200 + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        _parse(StrictHeadResponse, head, "GET")


class _LineByLine(_Bytes):
    """makefile() without ``peek``: the head is read a line at a time (the general path)."""

    def makefile(self, mode: str) -> io.BufferedReader:
        class NoPeek(io.BufferedReader):
            peek = None  # type: ignore[assignment]

        return NoPeek(io.BytesIO(self.data))  # type: ignore[arg-type]


def _outcome(source: _Bytes) -> tuple[object, ...]:
    response = StrictHeadResponse(source, method="GET")  # type: ignore[arg-type]
    try:
        response.begin()
    except http.client.HTTPException as exc:
        return (type(exc), str(exc))
    return (response.status, response.length, response.will_close, response.msg.items(),
            response.fp.read())


_LINE = st.one_of(
    st.tuples(_NAME, _VALUE).map(lambda f: f"{f[0]}: {f[1]}".encode("latin-1") + b"\r\n"),
    st.tuples(_NAME, _VALUE).map(lambda f: f"{f[0]}:{f[1]}  ".encode("latin-1") + b"\n"),
    st.sampled_from([b" folded on\r\n", b"\tfolded\r\n", b"No-Colon\r\n", b"Bad Name: x\r\n",
                     b"X-Cr: a\rb\r\n", b"X-Nul: a\x00b\r\n", b"Content-Length: 4\r\n",
                     b"Content-Length: 4x\r\n", b"Transfer-Encoding: chunked\r\n"]),
)


@PROPERTY
@given(lines=st.lists(_LINE, max_size=40), long_value=st.sampled_from([0, 70_000]),
       cut=st.booleans())
def test_a_head_read_in_one_pass_reads_as_line_by_line(lines: list[bytes], long_value: int,
                                                       cut: bool) -> None:
    """Reading a buffered head in one pass must give what the line-by-line rules give, for
    well-formed and malformed heads, over-long lines and heads cut off, and leave the body
    where it was."""
    block = b"".join(lines) + (b"X-Long: " + b"v" * long_value + b"\r\n" if long_value else b"")
    head = b"HTTP/1.1 200 OK\r\n" + block + (b"" if cut else b"\r\nbody")
    assert _outcome(_Bytes(head)) == _outcome(_LineByLine(head))


def test_a_head_of_100_lines_is_refused_in_one_pass_as_line_by_line() -> None:
    for count, refused in ((99, False), (100, True)):
        head = b"HTTP/1.1 200 OK\r\n" + b"X-N: 1\r\n" * count + b"\r\n"
        assert (_outcome(_Bytes(head))[0] is http.client.HTTPException) is refused
        assert _outcome(_Bytes(head)) == _outcome(_LineByLine(head))
