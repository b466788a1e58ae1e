"""Response body framing by RFC 9112 section 6.3, against raw servers that write exact bytes.

* A Content-Length that is not ``1*DIGIT`` (in any of its lines or list elements), or two
  different lengths, is an unrecoverable error: ``securl.ProtocolError``, and the connection
  is closed, never reused (item 5). Identical lengths (``5, 5``, or two ``5`` lines) are one
  length, as item 5 allows.
* With both Transfer-Encoding and Content-Length, the Transfer-Encoding frames the body
  (item 3) and the connection is closed after the response: the next request opens a new
  TCP connection. A response framed one way keeps its connection (the control).

Each test runs through ``securl.Session`` and through the urlopen drop-in (``open_url``), and
counts the TCP connections the server accepted. The server answers every request on a
connection, so a connection the client wrongly reuses is answered too (and counted once).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import securl
from _open_url import OpenURL
from _servers import RawServer

GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"


def _read_head(sock: socket.socket) -> bool:
    """Read one request head; False when the client closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return False
        if not chunk:
            return False
        data += chunk
    return True


@contextmanager
def serving(first: bytes, then: bytes = GOOD) -> Iterator[RawServer]:
    """A server answering the first request of its first connection with ``first`` and
    every other request (on that connection or a new one) with ``then``."""
    answered = [0]

    def behaviour(sock: socket.socket) -> None:
        sock.settimeout(10)
        while _read_head(sock):
            answered[0] += 1
            sock.sendall(first if answered[0] == 1 else then)

    server = RawServer(behaviour)
    with server:
        try:
            yield server
        finally:
            for conn in list(server.accepted):  # wake behaviours blocked in recv
                try:
                    socket.socket.shutdown(conn, socket.SHUT_RDWR)
                except OSError:
                    pass


def _url(server: RawServer) -> str:
    return f"http://127.0.0.1:{server.port}/"


def _head(*fields: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


INVALID_LENGTHS = {
    "5-then-6x": [b"Content-Length: 5", b"Content-Length: 6x"],
    "6x-then-5": [b"Content-Length: 6x", b"Content-Length: 5"],
    "5-then-6": [b"Content-Length: 5", b"Content-Length: 6"],
    "list-5-6": [b"Content-Length: 5, 6"],
    "list-5-6x": [b"Content-Length: 5, 6x"],
    "list-empty-element": [b"Content-Length: 5,,5"],
    "plus-sign": [b"Content-Length: +5"],
    "negative": [b"Content-Length: -5"],
    "hex": [b"Content-Length: 0x5"],
    "space-inside": [b"Content-Length: 5 5"],
    "empty": [b"Content-Length: "],
    "superscript-digit": [b"Content-Length: 5\xb2"],
}


@pytest.mark.parametrize("fields", INVALID_LENGTHS.values(), ids=INVALID_LENGTHS.keys())
def test_an_invalid_content_length_is_refused_and_the_connection_is_not_reused(
        open_url: OpenURL, fields: list[bytes]) -> None:
    with serving(_head(*fields) + b"hello") as server:
        with pytest.raises(securl.ProtocolError, match="Content-Length") as info:
            open_url(_url(server), timeout=2)
        assert "broke the HTTP protocol" in str(info.value)
        assert open_url(_url(server), timeout=5) == b"hello"
        assert len(server.accepted) == 2


def test_an_invalid_content_length_is_refused_even_next_to_transfer_encoding(
        open_url: OpenURL) -> None:
    head = _head(b"Transfer-Encoding: chunked", b"Content-Length: 6x")
    with serving(head + CHUNKED_HELLO) as server:
        with pytest.raises(securl.ProtocolError, match="Content-Length"):
            open_url(_url(server), timeout=2)
        assert open_url(_url(server), timeout=5) == b"hello"
        assert len(server.accepted) == 2


IDENTICAL_LENGTHS = {
    "list-5-5": [b"Content-Length: 5, 5"],
    "list-5-5-no-space": [b"Content-Length: 5,5"],
    "two-lines-of-5": [b"Content-Length: 5", b"Content-Length: 5"],
    "leading-zero": [b"Content-Length: 5", b"Content-Length: 05"],
}


@pytest.mark.parametrize("fields", IDENTICAL_LENGTHS.values(), ids=IDENTICAL_LENGTHS.keys())
def test_identical_content_lengths_are_one_length(open_url: OpenURL,
                                                  fields: list[bytes]) -> None:
    response = _head(*fields) + b"hello"
    with serving(response, then=response) as server:
        assert open_url(_url(server), timeout=2) == b"hello"
        assert open_url(_url(server), timeout=2) == b"hello"
        assert len(server.accepted) == 1  # the length was understood: the connection is reused


BOTH = {
    "content-length-first": _head(b"Content-Length: 3", b"Transfer-Encoding: chunked"),
    "transfer-encoding-first": _head(b"Transfer-Encoding: chunked", b"Content-Length: 3"),
    "content-length-matches-the-chunk": _head(b"Content-Length: 5",
                                              b"Transfer-Encoding: chunked"),
}


@pytest.mark.parametrize("head", BOTH.values(), ids=BOTH.keys())
def test_transfer_encoding_wins_over_content_length_and_the_connection_is_closed(
        open_url: OpenURL, head: bytes) -> None:
    response = head + CHUNKED_HELLO
    with serving(response, then=response) as server:
        assert open_url(_url(server), timeout=5) == b"hello"  # read as chunked
        assert open_url(_url(server), timeout=5) == b"hello"
        assert len(server.accepted) == 2  # a new TCP connection for the second request


CONTROLS = {
    "content-length": GOOD,
    "chunked": _head(b"Transfer-Encoding: chunked") + CHUNKED_HELLO,
}


@pytest.mark.parametrize("response", CONTROLS.values(), ids=CONTROLS.keys())
def test_a_response_framed_one_way_keeps_its_connection(open_url: OpenURL,
                                                        response: bytes) -> None:
    with serving(response, then=response) as server:
        assert open_url(_url(server), timeout=5) == b"hello"
        assert open_url(_url(server), timeout=5) == b"hello"
        assert len(server.accepted) == 1
