"""securl.urllib.response: the stdlib's response wrappers, and the response urlopen returns.

``addbase``, ``addclosehook``, ``addinfo`` and ``addinfourl`` are the stdlib classes
themselves. `SecurlHTTPResponse` is what ``securl.urllib.request.urlopen`` returns: the
interface of the `http.client.HTTPResponse` that ``urllib`` returns, over a pooled
connection.

Rules it follows:

* The body is streamed: ``read(n)``, ``read1()``, ``readline()`` and iteration never hold more
  than what was asked for (plus at most one network read) in memory.
* The body is returned as the server sent it, like ``urllib`` (no gzip decoding).
* The connection goes back to the pool when the body has been read to its end; ``close()``
  on a partly read body reads a small, known remainder (up to 64 KiB) to keep the connection,
  and otherwise closes the connection.
* Error and redirect responses whose body is declared and small (up to 64 KiB) are read
  when they arrive, so the connection is freed even when a handler never reads them (the
  auth handlers retry without reading the 401).
* Errors while reading are securl's `TransportError` subclasses (so
  ``urllib.error.URLError``); a body shorter than its Content-Length raises
  `http.client.IncompleteRead`, as ``urllib`` does.
"""

from __future__ import annotations

import http.client
import io
from typing import TYPE_CHECKING, Any
from urllib.response import addbase, addclosehook, addinfo, addinfourl

from .._redact import redact_url

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse, HTTPResponse

__all__ = ["SecurlHTTPResponse", "addbase", "addclosehook", "addinfo", "addinfourl"]

#: Bodies up to this size are read to keep a connection that would otherwise be dropped.
SMALL_BODY = 64 * 1024
_LINE_CHUNK = 8192


def _message(raw: BaseHTTPResponse) -> http.client.HTTPMessage:
    """The response headers as the `http.client.HTTPMessage` urllib hands out.

    urllib3 keeps the parsed message of the underlying http.client response (requests relies
    on the same attribute); it has the headers in the order and case the server sent them.
    """
    original = getattr(raw, "_original_response", None)
    headers = getattr(original, "headers", None)
    if isinstance(headers, http.client.HTTPMessage):
        return headers
    message = http.client.HTTPMessage()
    for name, value in raw.headers.items():
        message[name] = value
    return message


class SecurlHTTPResponse(io.BufferedIOBase):
    """An HTTP response with the interface of the one ``urllib.request.urlopen`` returns.

    ``status``/``code``/``getcode()``, ``reason``, ``msg`` (the reason phrase, as urllib
    sets it), ``headers``/``info()`` (an `http.client.HTTPMessage`), ``url``/
    ``geturl()``, ``getheader()``, ``getheaders()``, ``version``, ``read()``, ``read1()``,
    ``readline()``, ``readlines()``, iteration over lines, ``close()`` and ``with``.
    """

    def __init__(self, raw: HTTPResponse, url: str, host: str, port: int) -> None:
        super().__init__()
        self._raw = raw
        self._host = host
        self._port = port
        self._buf = bytearray()
        self.url = url
        self.status: int = raw.status
        self.code: int = raw.status
        self.reason: str = raw.reason or ""
        self.msg: str = self.reason
        self.version: int = raw.version
        self.headers: http.client.HTTPMessage = _message(raw)
        self.debuglevel = 0
        remaining = raw.length_remaining
        if remaining is not None and remaining <= SMALL_BODY and (
            remaining == 0 or raw.status >= 300
        ):
            self._buf += self._call(raw.read, None)

    def __repr__(self) -> str:
        return f"<SecurlHTTPResponse [{self.status}] {redact_url(self.url)}>"

    # -- urllib's accessors ----------------------------------------------------------------
    def info(self) -> http.client.HTTPMessage:
        """The headers (an `http.client.HTTPMessage`)."""
        return self.headers

    def geturl(self) -> str:
        """The URL of this response (after redirects: the last one)."""
        return self.url

    def getcode(self) -> int:
        """The HTTP status code."""
        return self.status

    def getheader(self, name: str, default: Any = None) -> Any:
        """The value of header ``name`` (several values joined by ", "), else ``default``."""
        values = self.headers.get_all(name)
        if not values:
            return default
        return ", ".join(values)

    def getheaders(self) -> list[tuple[str, str]]:
        """All ``(name, value)`` header pairs, in the order received."""
        return list(self.headers.items())

    @property
    def length(self) -> int | None:
        """Body bytes not yet read, when the server declared a length (as http.client)."""
        remaining = self._raw.length_remaining
        return None if remaining is None else remaining + len(self._buf)

    def isclosed(self) -> bool:
        """True once the body has been read to its end or the response was closed."""
        return self.closed or (not self._buf and self._raw.isclosed())

    def fileno(self) -> int:
        return self._raw.fileno()

    # -- reading -------------------------------------------------------------------------
    def _call(self, method: Any, *args: Any) -> bytes:
        try:
            data = method(*args, decode_content=False)
        except Exception as exc:
            for err in (exc, exc.__cause__, exc.__context__, *exc.args):
                if isinstance(err, http.client.IncompleteRead):
                    raise err from exc
            from ..http.errors import map_transport_error  # the error path only

            raise map_transport_error(exc, self._host, self._port) from exc
        return bytes(data or b"")

    def readable(self) -> bool:
        return True

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes (all the rest if ``amt`` is None or negative); b"" at the end."""
        if self.closed:
            return b""
        if amt is None or amt < 0:
            data = bytes(self._buf) + self._call(self._raw.read, None)
            self._buf.clear()
            return data
        if len(self._buf) >= amt:
            data = bytes(self._buf[:amt])
            del self._buf[:amt]
            return data
        data = bytes(self._buf)
        self._buf.clear()
        return data + self._call(self._raw.read, amt - len(data))

    def read1(self, size: int = -1) -> bytes:
        """What is available, with at most one read from the network."""
        if self.closed:
            return b""
        if self._buf:
            size = len(self._buf) if size < 0 else min(size, len(self._buf))
            data = bytes(self._buf[:size])
            del self._buf[:size]
            return data
        if size == 0:
            return b""
        return self._call(self._raw.read1, None if size < 0 else size)

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def peek(self, size: int = 0) -> bytes:
        """Buffered bytes without consuming them (reading once from the network if none)."""
        if not self._buf and not self.closed:
            self._buf += self._call(self._raw.read1, _LINE_CHUNK)
        return bytes(self._buf)

    def readline(self, size: int | None = -1) -> bytes:
        """One line (up to and including b"\\n"), at most ``size`` bytes; b"" at the end."""
        if self.closed:
            return b""
        limit = -1 if size is None else size
        while b"\n" not in self._buf and (limit < 0 or len(self._buf) < limit):
            chunk = self._call(self._raw.read1, _LINE_CHUNK)
            if not chunk:
                break
            self._buf += chunk
        end = self._buf.find(b"\n") + 1 or len(self._buf)
        if limit >= 0:
            end = min(end, limit)
        line = bytes(self._buf[:end])
        del self._buf[:end]
        return line

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    # -- releasing the connection ------------------------------------------------------------
    def close(self) -> None:
        """Free the connection: back to the pool if the body was read, else closed."""
        if self.closed:
            return
        raw = self._raw
        try:
            remaining = raw.length_remaining
            if not raw.isclosed() and remaining is not None and remaining <= SMALL_BODY:
                try:
                    raw.read(decode_content=False)  # drain a small remainder, keep the conn
                except Exception:
                    raw.close()
            if not raw.isclosed():
                raw.close()  # an unread body of unknown or large size: drop the connection
            raw.release_conn()
        finally:
            self._buf.clear()
            super().close()
