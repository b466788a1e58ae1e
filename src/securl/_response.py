"""securl.Response: what a request returns."""

from __future__ import annotations

import codecs
import json as _json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from urllib3 import BaseHTTPResponse, HTTPHeaderDict

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Response"]

_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


class Response:
    """An HTTP response.

    ``headers`` is case-insensitive and multi-valued (``headers.getlist(name)``). With
    ``stream=True`` the body is not read until :attr:`content` or :meth:`iter_bytes`; close
    the response (or use it as a context manager) to return the connection to the pool.
    """

    def __init__(self, raw: BaseHTTPResponse, url: str, method: str,
                 history: list[Response] | None = None) -> None:
        self.raw = raw
        self.status: int = raw.status
        self.reason: str = raw.reason or ""
        self.headers: HTTPHeaderDict = raw.headers
        self.url = url
        self.method = method
        self.history: list[Response] = history or []
        self._content: bytes | None = None

    def __repr__(self) -> str:
        return f"<Response [{self.status}] {self.method} {self.url}>"

    @property
    def ok(self) -> bool:
        """True for status codes below 400."""
        return self.status < 400

    @property
    def content(self) -> bytes:
        """The whole body (decoded from gzip/deflate); read once, then kept."""
        if self._content is None:
            try:
                self._content = self.raw.read(decode_content=True)
            finally:
                self.raw.release_conn()
        return self._content

    @property
    def encoding(self) -> str | None:
        """The charset the Content-Type header names, if any (and known to Python)."""
        match = _CHARSET.search(self.headers.get("Content-Type", ""))
        if match:
            try:
                return codecs.lookup(match.group(1)).name
            except LookupError:
                return None
        return None

    @property
    def text(self) -> str:
        """The body as text: the header's charset, else UTF-8, replacing undecodable bytes."""
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON (UTF-8/16/32 detected as RFC 8259 allows)."""
        return _json.loads(self.content, **kwargs)

    def iter_bytes(self, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Yield the (decoded) body in chunks, without holding it all in memory."""
        if self._content is not None:
            for i in range(0, len(self._content), chunk_size):
                yield self._content[i : i + chunk_size]
            return
        try:
            yield from self.raw.stream(chunk_size, decode_content=True)
        finally:
            self.raw.release_conn()

    def raise_for_status(self) -> Response:
        """Raise :class:`urllib.error.HTTPError` for a 4xx/5xx status; else return self."""
        if self.status >= 400:
            from ._errors import http_error

            raise http_error(self)
        return self

    def close(self) -> None:
        """Release the connection; an unread body is discarded with the connection."""
        if self._content is None:
            self.raw.close()
        self.raw.release_conn()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
