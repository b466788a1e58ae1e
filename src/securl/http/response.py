"""securl.Response: what a request returns.

Reading the body follows three rules, all in :meth:`Response._chunks`:

* the body is decoded (gzip/deflate) in bounded steps and counted *after* decompression; more
  than ``max_body_size`` bytes raise :class:`~securl.ResponseTooLarge` and close the
  connection, so a small compressed "bomb" cannot exhaust memory;
* the call's total deadline keeps running while the body is read (also with ``stream=True``);
* every failure while reading is mapped by ``securl.http.errors`` (a body cut short is a
  :class:`~securl.ProtocolError`); a connection whose body was not read to the end (an error,
  or a caller that stopped iterating) is closed, never reused.
"""

from __future__ import annotations

import codecs
import io
import json as _json
import re
import urllib.error
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from urllib3 import BaseHTTPResponse, HTTPHeaderDict

from .._redact import redact_url
from ..exceptions import ResponseTooLarge, SecurlError
from .errors import map_transport_error

if TYPE_CHECKING:
    from types import TracebackType

    from .deadline import Deadline

__all__ = ["Response"]

_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


class Response:
    """An HTTP response.

    ``headers`` is case-insensitive and multi-valued (``headers.getlist(name)``). With
    ``stream=True`` the body is not read until :attr:`content` or :meth:`iter_bytes`; close
    the response (or use it as a context manager) to return the connection to the pool.
    """

    def __init__(self, raw: BaseHTTPResponse, url: str, method: str,
                 history: list[Response] | None = None, *, host: str | None = None,
                 port: int | None = None, deadline: Deadline | None = None,
                 max_body_size: int | None = None) -> None:
        if host is None:
            parts = urllib.parse.urlsplit(url)
            host, port = parts.hostname or "", port or parts.port
        self._host = host
        self._port = port
        self._deadline = deadline
        self.max_body_size = max_body_size
        self.raw = raw
        self.status: int = raw.status
        self.reason: str = raw.reason or ""
        self.headers: HTTPHeaderDict = raw.headers
        self.url = url
        self.method = method
        self.history: list[Response] = history or []
        self._content: bytes | None = None

    def __repr__(self) -> str:
        return f"<Response [{self.status}] {self.method} {redact_url(self.url)}>"

    @property
    def ok(self) -> bool:
        """True for status codes below 400."""
        return self.status < 400

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

    def _chunks(self, chunk_size: int, whole: bool = False) -> Iterator[bytes]:
        """The decoded body in chunks, under the size limit and the deadline (module rules).

        ``whole=True`` (for :attr:`content`) allows one chunk of any size: a body with a
        known length and no content coding is then read with a single read, as raw urllib3's
        ``.data`` does, instead of 64 KiB at a time and joined.
        """
        limit = self.max_body_size
        complete = False
        try:
            length = self.headers.get("Content-Length", "")
            identity = self.headers.get("Content-Encoding", "identity").strip().lower() in (
                "", "identity")
            announced = int(length) if identity and length.isdigit() else None
            if limit is not None and announced is not None and announced > limit:
                raise self._too_large(f"announces {announced} bytes, over")
            if announced is not None and (whole or announced <= chunk_size) and (
                    not self.raw.chunked):
                # Nothing to decompress and the length is known (and within the limit,
                # checked above): one read, bounded by the announced length (a shorter body
                # is still an IncompleteRead).
                data = self.raw.read(decode_content=True)
                if data:
                    yield data
                complete = True
                return
            seen = 0
            for chunk in self.raw.stream(chunk_size, decode_content=True):
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

    def _release(self) -> None:
        """Stop the deadline watching the connection, then hand the connection back."""
        if self._deadline is not None:
            self._deadline.release()
        self.raw.release_conn()

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
        yield from self._chunks(chunk_size)

    def raise_for_status(self) -> Response:
        """Raise :class:`urllib.error.HTTPError` for a 4xx/5xx status (body readable, as urllib
        does); else return self."""
        if self.status >= 400:
            raise urllib.error.HTTPError(
                self.url, self.status, self.reason, self.headers,  # type: ignore[arg-type]
                io.BytesIO(self.content),
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
