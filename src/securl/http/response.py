"""securl.Response: what a request returns.

Reading the body follows three rules, all in `Response._chunks`:

* the body is decoded (gzip/deflate) in bounded steps and counted *after* decompression; more
  than ``max_body_size`` bytes raise `ResponseTooLarge` and close the
  connection, so a small compressed "bomb" cannot exhaust memory;
* the call's total deadline keeps running while the body is read (also with ``stream=True``);
* every failure while reading is mapped by ``securl.http.errors`` (a body cut short is a
  `ProtocolError`); a connection whose body was not read to the end (an error,
  or a caller that stopped iterating) is closed, never reused.
"""

from __future__ import annotations

import codecs
import datetime
import http
import http.cookiejar
import io
import json as _json
import re
import time
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from urllib3 import BaseHTTPResponse, HTTPHeaderDict

from .._redact import redact_url
from ..exceptions import HTTPStatusError, JSONDecodeError, ResponseTooLarge, SecurlError
from .deadline import Deadline, watch_response
from .errors import map_transport_error
from .links import parse_links
from .sent_request import SentRequest

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Response", "SentRequest"]

_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_NOT_SET: Any = object()
_Text = TypeVar("_Text", str, bytes)
#: A line end; a "\r" at the very end of the text so far is not one yet ("\n" may follow).
_LINE_END: dict[type, re.Pattern[Any]] = {
    str: re.compile(r"\r\n|\n|\r(?=[\s\S])"), bytes: re.compile(rb"\r\n|\n|\r(?=[\s\S])")}
#: The chunk size of ``iter_content(None)``: at most this much of what has arrived at once.
_AS_AVAILABLE = 64 * 1024
#: The largest body `_read_whole` reads with one ``http.client`` read of its own.
_ONE_READ = 1 << 20


class _BodyReader(io.RawIOBase):
    """The body of a response as a file, read (and kept by the response) on first use."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self._response = response
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._response.content[self._pos : self._pos + len(buffer)]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class Response:
    """An HTTP response.

    ``headers`` is case-insensitive and multi-valued (``headers.getlist(name)``). With
    ``stream=True`` the body is not read until `content`, `iter_bytes`,
    `iter_content` or `iter_lines`; close the response (or use it as a context
    manager) to return the connection to the pool.

    Attributes:
        status: The status code (``status_code`` is the same, as in requests).
        reason: The reason phrase the server sent.
        headers: The response headers (``urllib3.HTTPHeaderDict``).
        url: The URL of this response (the last one, after redirects).
        method: The request method.
        history: The redirect responses that led here, oldest first.
        elapsed: A `datetime.timedelta`: from sending the request to the response
            head arriving.
        request: A `SentRequest`: ``method``, ``url`` and ``headers`` (read-only) of
            what was sent.
        cookies: An `http.cookiejar.CookieJar` with the cookies the response set.
        max_body_size: The limit on the decompressed body, in bytes (``None``: none).
        raw: The underlying ``urllib3`` response.
    """

    def __init__(self, raw: BaseHTTPResponse, url: str, method: str,
                 history: list[Response] | None = None, *, host: str | None = None,
                 port: int | None = None, deadline: Deadline | None = None,
                 max_body_size: int | None = None, sent_at: float | None = None,
                 request: SentRequest | tuple[str, str, Any] | None = None,
                 cookies: http.cookiejar.CookieJar | None = None) -> None:
        """Made by the Session. ``sent_at`` is the `time.monotonic` reading taken when
        the request was sent (``elapsed`` counts from it; by default, from now);
        ``request`` is what was sent (by default, ``method`` and ``url`` with no headers);
        ``cookies`` the cookies the response set (by default, none)."""
        if host is None:
            parts = urllib.parse.urlsplit(url)
            host, port = parts.hostname or "", port or parts.port
        self._host = host
        self._port = port
        self._deadline = deadline
        if deadline is not None:
            watch_response(deadline, raw)
        self.max_body_size = max_body_size
        self.raw = raw
        self.status: int = raw.status
        self.reason: str = raw.reason or ""
        self.headers: HTTPHeaderDict = raw.headers
        self.url = url
        self.method = method
        self.history: list[Response] = history or []
        self._content: bytes | None = None
        self._encoding: str | None = _NOT_SET
        self.elapsed = datetime.timedelta(
            seconds=0.0 if sent_at is None else max(0.0, time.monotonic() - sent_at))
        self._request: SentRequest | tuple[str, str, Any] | None = request
        self._cookies = cookies

    def __repr__(self) -> str:
        return f"<Response [{self.status}] {self.method} {redact_url(self.url)}>"

    @property
    def cookies(self) -> http.cookiejar.CookieJar:
        """The cookies the response set (an `http.cookiejar.CookieJar`; empty if none)."""
        if self._cookies is None:  # made on first use: most responses set no cookie
            self._cookies = http.cookiejar.CookieJar()
        return self._cookies

    @cookies.setter
    def cookies(self, jar: http.cookiejar.CookieJar) -> None:
        self._cookies = jar

    @property
    def request(self) -> SentRequest:
        """What was sent for this response: method, URL and headers (a `SentRequest`)."""
        sent = self._request
        if not isinstance(sent, SentRequest):
            # Made on first use: the session hands over a snapshot of the headers it sent.
            sent = SentRequest(self.method, self.url) if sent is None else SentRequest(
                sent[0], sent[1], HTTPHeaderDict(sent[2]))
            self._request = sent
        return sent

    @request.setter
    def request(self, sent: SentRequest) -> None:
        self._request = sent

    @property
    def status_code(self) -> int:
        """The status code: the same as `status` (the name requests uses)."""
        return self.status

    @property
    def ok(self) -> bool:
        """True for status codes below 400."""
        return self.status < 400

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header (RFC 8288) as requests returns it: keyed by relation type
        (each one of a ``rel`` naming several; the URL when there is no ``rel``), each a
        dict of ``url`` (as written, not resolved) and the link's parameters. A malformed
        header gives what could be read of it, never an error."""
        return parse_links(self.headers.getlist("Link"))

    @property
    def content(self) -> bytes:
        """The whole body (decoded from gzip/deflate); read once, then kept."""
        if self._content is None:
            self._content = b"".join(self._chunks(64 * 1024, whole=True))
        return self._content

    def _too_large(self, what: str) -> ResponseTooLarge:
        limit = self.max_body_size or 0
        return ResponseTooLarge(
            f"the response from {self._host}:{self._port} {what} the limit of {limit} bytes "
            "(max_body_size); the connection is closed. Raise max_body_size on the Session "
            "or the call if such a large body is expected",
            limit=limit, host=self._host, port=self._port,
        )

    def _chunks(self, chunk_size: int, whole: bool = False,
                as_available: bool = False) -> Iterator[bytes]:
        """The decoded body in chunks, under the size limit and the deadline (module rules).

        ``whole=True`` (for `content`) allows one chunk of any size: a body with a
        known length and no content coding is then read with a single read, as raw urllib3's
        ``.data`` does, instead of 64 KiB at a time and joined. ``as_available=True`` yields
        what has arrived (up to ``chunk_size``) instead of waiting for ``chunk_size`` bytes.
        """
        limit = self.max_body_size
        complete = False
        try:
            headers = self.headers
            identity = "Content-Encoding" not in headers or headers[
                "Content-Encoding"].strip().lower() in ("", "identity")
            # The length the body is framed by, as http.client reads it: none for a chunked or
            # close-delimited body (a Content-Length next to Transfer-Encoding frames nothing),
            # 0 for HEAD, 204 and 304. Never the header alone.
            announced = _framed_length(self.raw) if identity else None
            if limit is not None and announced is not None and announced > limit:
                raise self._too_large(f"announces {announced} bytes, over")
            if announced is not None and (whole or announced <= chunk_size) and (
                    not self.raw.chunked and not as_available):
                # Nothing to decompress and the length is known (and within the limit,
                # checked above): one read, bounded by the announced length (a shorter body
                # is still an IncompleteRead).
                data = _read_whole(self.raw)
                if data:
                    yield data
                complete = True
                return
            seen = 0
            source = (self._arrivals(chunk_size) if as_available
                      else self.raw.stream(chunk_size, decode_content=True))
            for chunk in source:
                seen += len(chunk)
                if limit is not None and seen > limit:
                    raise self._too_large("decompresses to more than")
                yield chunk
            complete = True
        except SecurlError:
            self.raw.close()
            raise
        except Exception as exc:
            self.raw.close()
            raise map_transport_error(exc, self._host, self._port,
                                      deadline=self._deadline) from exc
        finally:
            if not complete:  # an error, or the caller stopped early: never reuse it
                self.raw.close()
            self._release()

    def _arrivals(self, chunk_size: int) -> Iterator[bytes]:
        """What has arrived of the decoded body, up to ``chunk_size`` bytes at a time."""
        while chunk := self.raw.read1(chunk_size, decode_content=True):
            yield chunk

    def _release(self) -> None:
        """Stop the deadline watching the connection, then hand the connection back."""
        if self._deadline is not None:
            self._deadline.release()
        self.raw.release_conn()

    @property
    def encoding(self) -> str | None:
        """The body's text encoding: the one set on the response, else the charset the
        Content-Type header names (if it is a text encoding Python knows), else ``None``.

        Settable, as in requests: `text`, `json` and the ``decode_unicode``
        iterators then use it; ``None`` means UTF-8. Setting an unknown or non-text
        encoding raises `LookupError`.
        """
        if self._encoding is not _NOT_SET:
            return self._encoding
        match = _CHARSET.search(self.headers.get("Content-Type", ""))
        if match:
            try:
                return _text_encoding(match.group(1))
            except LookupError:
                return None
        return None

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = None if value is None else _text_encoding(value)

    @property
    def text(self) -> str:
        """The body as text: decoded with `encoding` (else UTF-8), replacing
        undecodable bytes."""
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON (``kwargs`` go to `json.loads`).

        Decoded with `encoding` when it names a non-Unicode charset, else as RFC 8259
        says (UTF-8, or UTF-16/32 detected). A body that is empty, not valid in that
        encoding, or not JSON raises `securl.JSONDecodeError` (a
        `json.JSONDecodeError` and a `ValueError`).
        """
        body, encoding = self.content, self.encoding
        kind = _media_type(self.headers)
        if not body:
            raise JSONDecodeError(f"the response body is empty, not JSON ({kind})", "", 0)
        try:
            doc = body if encoding is None or encoding.startswith("utf") else body.decode(
                encoding)
            return _json.loads(doc, **kwargs)
        except UnicodeDecodeError as exc:
            error = JSONDecodeError(f"the response body is not valid {exc.encoding} ({kind})",
                                    body.decode("latin-1"), exc.start)
        except _json.JSONDecodeError as exc:
            error = JSONDecodeError(f"the response body is not valid JSON ({kind}): {exc.msg}",
                                    exc.doc, exc.pos)
        except RecursionError:
            error = JSONDecodeError(f"the response body is JSON nested too deeply ({kind})",
                                    "", 0)
        # Raised here, with no context: a UnicodeDecodeError's repr quotes the whole body.
        raise error

    def iter_bytes(self, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Yield the (decoded) body in chunks, without holding it all in memory."""
        if self._content is not None:
            for i in range(0, len(self._content), chunk_size):
                yield self._content[i : i + chunk_size]
            return
        yield from self._chunks(chunk_size)

    @overload
    def iter_content(self, chunk_size: int | None = ...,
                     decode_unicode: Literal[False] = ...) -> Iterator[bytes]: ...
    @overload
    def iter_content(self, chunk_size: int | None, decode_unicode: Literal[True]
                     ) -> Iterator[str]: ...
    @overload
    def iter_content(self, chunk_size: int | None = ..., *,
                     decode_unicode: Literal[True]) -> Iterator[str]: ...
    @overload
    def iter_content(self, chunk_size: int | None = ...,
                     decode_unicode: bool = ...) -> Iterator[bytes] | Iterator[str]: ...

    def iter_content(self, chunk_size: int | None = 1,
                     decode_unicode: bool = False) -> Iterator[bytes] | Iterator[str]:
        """The body in chunks, as requests' ``iter_content``: `iter_bytes`, with the
        same size limit and deadline.

        ``chunk_size=None`` yields whatever has arrived (up to 64 KiB at a time) instead of
        waiting for ``chunk_size`` bytes. ``decode_unicode=True`` yields text, decoded
        incrementally with `encoding` (else UTF-8), replacing undecodable bytes.
        """
        if chunk_size is not None and (not isinstance(chunk_size, int)
                                       or isinstance(chunk_size, bool)):
            raise TypeError(f"chunk_size must be an int or None, not {chunk_size!r}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        if chunk_size is not None:
            chunks = self.iter_bytes(chunk_size)
        elif self._content is not None:
            chunks = iter([self._content] if self._content else [])
        else:
            chunks = self._chunks(_AS_AVAILABLE, as_available=True)
        return self._decoded(chunks) if decode_unicode else chunks

    def _decoded(self, chunks: Iterator[bytes]) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding or "utf-8")(errors="replace")
        for chunk in chunks:
            if text := decoder.decode(chunk):
                yield text
        if text := decoder.decode(b"", final=True):
            yield text

    @overload
    def iter_lines(self, chunk_size: int | None = ..., decode_unicode: Literal[False] = ...,
                   delimiter: bytes | None = ...) -> Iterator[bytes]: ...
    @overload
    def iter_lines(self, chunk_size: int | None, decode_unicode: Literal[True],
                   delimiter: str | None = ...) -> Iterator[str]: ...
    @overload
    def iter_lines(self, chunk_size: int | None = ..., *, decode_unicode: Literal[True],
                   delimiter: str | None = ...) -> Iterator[str]: ...
    @overload
    def iter_lines(self, chunk_size: int | None = ..., decode_unicode: bool = ...,
                   delimiter: str | bytes | None = ...) -> Iterator[bytes] | Iterator[str]: ...

    def iter_lines(self, chunk_size: int | None = 512, decode_unicode: bool = False,
                   delimiter: str | bytes | None = None) -> Iterator[bytes] | Iterator[str]:
        """The body line by line, as it arrives (`iter_content` underneath), without
        the line ends: ``\\r\\n``, ``\\n`` and ``\\r``, also when a chunk ends between
        ``\\r`` and ``\\n``; or split on ``delimiter`` (``str`` with ``decode_unicode``,
        else ``bytes``). Only the current line is held in memory.
        """
        kind = str if decode_unicode else bytes
        if delimiter is not None and not isinstance(delimiter, kind):
            raise TypeError(f"delimiter must be {kind.__name__} when decode_unicode is "
                            f"{bool(decode_unicode)}")
        if delimiter is not None and not delimiter:
            raise ValueError("delimiter must not be empty")
        pieces: Iterator[Any] = self.iter_content(chunk_size, decode_unicode=decode_unicode)
        return _split_lines(pieces, delimiter)

    def raise_for_status(self) -> Response:
        """Raise `securl.HTTPStatusError` (also a `urllib.error.HTTPError`)
        for a 4xx/5xx status; else return self.

        The error's message names the status and the redacted URL; ``err.response`` is this
        response, and ``err.read()`` reads the body without consuming it (with
        ``stream=True`` it is read on first use, so before the response is closed).
        """
        if self.status >= 400:
            url = redact_url(self.url)
            words = (str(self.status), self.reason or _phrase(self.status), "for", url)
            raise HTTPStatusError(
                " ".join(word for word in words if word), url=url, status=self.status,
                reason=self.reason, headers=self.headers,
                body=io.BufferedReader(_BodyReader(self)), response=self,
            )
        return self

    def close(self) -> None:
        """Release the connection; an unread body is discarded with the connection."""
        if self._content is None:
            self.raw.close()
        self._release()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _framed_length(raw: BaseHTTPResponse) -> int | None:
    """How many body bytes ``raw`` has left by its framing (http.client's ``length``), or
    None when the body is not framed by a length (or urllib3 hides it)."""
    length = getattr(getattr(raw, "_fp", None), "length", None)
    return length if type(length) is int else None


def _read_whole(raw: BaseHTTPResponse) -> bytes:
    """The whole body of ``raw``: a known length, no content coding (the caller checked).

    urllib3's ``read()`` wraps one ``http.client`` read in machinery for every case (decoder
    set-up, buffers, chunked reads for old ``ssl`` modules), a tenth of a kept-alive GET. A
    body of up to `_ONE_READ` bytes is read here with that one read, under urllib3's own
    error handling (``_error_catcher``: the same exceptions, the connection closed on a
    failure and handed back once the body is complete), and urllib3's byte counts are kept.
    Anything else, or a urllib3 without these attributes, goes through ``read()``.
    """
    fp: Any = getattr(raw, "_fp", None)  # http.client's response
    catcher = getattr(raw, "_error_catcher", None)
    length = getattr(fp, "length", None)
    if (catcher is None or length is None or length > _ONE_READ or fp.closed
            or not hasattr(raw, "_fp_bytes_read")):
        return raw.read(decode_content=True)
    with catcher():
        data: bytes = fp.read()
    raw._fp_bytes_read += len(data)
    if raw.length_remaining is not None:
        raw.length_remaining -= len(data)
    return data


def _text_encoding(name: str) -> str:
    """The canonical name of the text encoding ``name``; `LookupError` if Python
    knows no such encoding or it is not a text one (``base64``, ``zlib``, ...)."""
    info = codecs.lookup(name)
    if not getattr(info, "_is_text_encoding", True):
        raise LookupError(f"{name!r} is not a text encoding")
    return info.name


def _media_type(headers: HTTPHeaderDict) -> str:
    """The Content-Type's media type, short and printable, for error messages."""
    value = headers.get("Content-Type", "").partition(";")[0].strip()[:60]
    value = "".join(c for c in value if c.isprintable())
    return f"Content-Type {value}" if value else "no Content-Type"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _split_lines(pieces: Iterator[_Text], delimiter: _Text | None) -> Iterator[_Text]:
    """The lines of the text or bytes ``pieces`` join to, without their ends (see
    `Response.iter_lines`); a final line without an end too."""
    pending: _Text | None = None
    for piece in pieces:
        buf = piece if pending is None else pending + piece
        if delimiter is not None:
            lines = buf.split(delimiter)
            pending = lines.pop()
            yield from lines
            continue
        pos = 0
        for match in _LINE_END[type(buf)].finditer(buf):
            yield buf[pos : match.start()]
            pos = match.end()
        pending = buf[pos:]  # ends in "\r" if "\n" may follow in the next piece
    if pending:
        cr = "\r" if isinstance(pending, str) else b"\r"
        yield pending[:-1] if delimiter is None and pending.endswith(cr) else pending
