"""``files=``: a multipart/form-data body (RFC 7578), streamed from the files it sends.

Rules:

* **Shapes** (as requests takes them): ``{"field": fileobj}``, ``{"field": (filename, value[,
  content_type[, headers]])}`` or a list of ``(field, that)`` pairs; ``value`` is a binary
  file object, bytes or str. ``data=`` (a mapping or a list of pairs) is sent first, one part
  per value.
* **Streaming**: file contents are read in 64 KiB pieces while the body is sent, never whole.
  When every part's size is known (bytes, and seekable files: ``fstat`` or seek/tell from
  their current position), the body has a ``Content-Length``; otherwise it is sent chunked.
  A file that turns out shorter than its size raises `InvalidRequest`.
* **Replay** (a 307/308 redirect, an answered 401): iterating the body again seeks every file
  back to where it started. A body with a file that cannot seek is not replayable, and the
  Session raises its usual error for streams instead.
* **Names**: a field name or filename holding CR, LF or NUL is refused; ``"`` and ``\\`` are
  percent-encoded (``%22``, ``%5C``), so nothing can end the quoted string early and add
  parameters or headers. Field names are sent as UTF-8, as browsers do; a non-ASCII filename
  is sent as an ASCII fallback in ``filename=`` plus ``filename*=utf-8''...`` (RFC 5987).
* **Boundary**: 128 random bits from `secrets`.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
import unicodedata
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from ..exceptions import InvalidRequest
from .target import check_headers

__all__ = ["MultipartBody", "encode_multipart"]

CHUNK_SIZE = 64 * 1024
_REFUSED = ("\r", "\n", "\0")
_ESCAPES = str.maketrans({'"': "%22", "\\": "%5C"})
_OWN_HEADERS = ("content-disposition", "content-type")


class _Part(NamedTuple):
    head: bytes  # boundary line and part headers, up to the blank line
    data: bytes | None  # the contents, when they are bytes
    file: Any  # else a file object, read from ``start``
    start: int | None  # its position at the start (None: cannot seek)
    size: int | None  # the bytes it holds from there (None: unknown)


class MultipartBody:
    """A multipart/form-data body: iterable (again, when `replayable`) in pieces."""

    def __init__(self, parts: list[_Part], boundary: str) -> None:
        self._parts = parts
        self._tail = f"--{boundary}--\r\n".encode()
        self.content_type = f"multipart/form-data; boundary={boundary}"
        sizes = [p.size for p in parts]
        #: The body's length, if every part's size is known; else None (send it chunked).
        self.content_length: int | None = None
        if all(size is not None for size in sizes):
            self.content_length = sum(len(p.head) + 2 + (p.size or 0) for p in parts) + len(
                self._tail)
        #: Whether the body can be sent again (every file can seek back).
        self.replayable = all(p.file is None or p.start is not None for p in parts)
        self._started = False

    def __iter__(self) -> Iterator[bytes]:
        if self._started:
            if not self.replayable:
                raise InvalidRequest("a multipart body with a file that cannot seek cannot be "
                                     "sent twice")
            for part in self._parts:
                if part.file is not None:
                    part.file.seek(part.start)
        self._started = True
        return self._pieces()

    def _pieces(self) -> Iterator[bytes]:
        for part in self._parts:
            yield part.head
            if part.data is not None:
                yield part.data
            else:
                yield from _read(part.file, part.size)
            yield b"\r\n"
        yield self._tail


def _read(file: Any, size: int | None) -> Iterator[bytes]:
    """``size`` bytes of ``file`` (all of it if None), in pieces; a short file raises."""
    left = size
    while left is None or left > 0:
        piece = file.read(CHUNK_SIZE if left is None else min(CHUNK_SIZE, left))
        if not piece:
            if left:
                raise InvalidRequest(
                    f"a file sent with files= ended {left} bytes before the size it had when "
                    "the request started (was it truncated?)"
                )
            return
        if isinstance(piece, str):
            piece = piece.encode("utf-8")
        if left is not None:
            left -= len(piece)
        yield bytes(piece) if not isinstance(piece, bytes) else piece


def encode_multipart(data: Any, files: Any) -> MultipartBody:
    """The body for ``files=`` (and ``data=`` form fields); InvalidRequest on bad input."""
    boundary = f"securl-{secrets.token_hex(16)}"
    parts = [_field_part(boundary, name, value) for name, value in _pairs(data, "data")]
    parts += [_file_part(boundary, name, value) for name, value in _pairs(files, "files")]
    return MultipartBody(parts, boundary)


def _pairs(value: Any, what: str) -> list[tuple[str, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.items()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise InvalidRequest(
            f"with files=, {what}= must be a mapping or a list of (name, value) pairs, got "
            f"{type(value).__name__}"
        )
    pairs: list[tuple[str, Any]] = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise InvalidRequest(f"{what}= must hold (name, value) pairs")
        name, v = item
        if what == "data" and isinstance(v, (list, tuple)):
            pairs.extend((name, each) for each in v)  # one part per value, as requests
        else:
            pairs.append((name, v))
    return [(_checked_name(name, "field name"), v) for name, v in pairs if v is not None]


def _checked_name(name: Any, what: str) -> str:
    if isinstance(name, bytes):
        name = name.decode("utf-8")
    if not isinstance(name, str):
        raise InvalidRequest(f"a multipart {what} must be a str, got {type(name).__name__}")
    if any(c in name for c in _REFUSED):
        raise InvalidRequest(f"a multipart {what} contains CR, LF or NUL (refused: it could "
                             "inject part headers)")
    return name


def _quoted(value: str) -> str:
    return '"' + value.translate(_ESCAPES) + '"'


def _disposition(name: str, filename: str | None) -> str:
    line = f"Content-Disposition: form-data; name={_quoted(name)}"
    if filename is None:
        return line
    if filename.isascii():
        return f"{line}; filename={_quoted(filename)}"
    fallback = "".join(c if c.isascii() else (
        unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode() or "_")
        for c in filename)
    return (f"{line}; filename={_quoted(fallback)}; "
            f"filename*=utf-8''{urllib.parse.quote(filename, safe='')}")


def _head(boundary: str, lines: list[str]) -> bytes:
    return ("--" + boundary + "\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n"
            ).encode("utf-8")


def _field_part(boundary: str, name: str, value: Any) -> _Part:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        data = str(value).encode("utf-8")
    return _Part(_head(boundary, [_disposition(name, None)]), data, None, None, len(data))


def _file_part(boundary: str, name: str, value: Any) -> _Part:
    filename: Any
    content_type: str | None = None
    extra: Any = None
    if isinstance(value, tuple):
        if not 2 <= len(value) <= 4:
            raise InvalidRequest(f"files[{name!r}]: give (filename, file[, content_type[, "
                                 "headers]])")
        filename, content, *rest = value
        content_type = rest[0] if rest else None
        extra = rest[1] if len(rest) > 1 else None
    else:
        content = value
        filename = _file_name(value) or name
    if filename is not None:
        filename = _checked_name(filename, "filename")
    if content_type is not None:
        check_headers([("Content-Type", content_type)])  # a str without CR, LF or NUL
    lines = [_disposition(name, filename)]
    if content_type is not None or filename is not None:
        lines.append(f"Content-Type: {content_type or 'application/octet-stream'}")
    for header, text in check_headers(extra):
        if header.lower() in _OWN_HEADERS or text is None:
            raise InvalidRequest(f"files[{name!r}]: the part's {header} cannot be set in its "
                                 "headers (give the filename and content type in the tuple)")
        lines.append(f"{header}: {text}")
    head = _head(boundary, lines)
    if isinstance(content, str):
        content = content.encode("utf-8")
    if isinstance(content, (bytes, bytearray, memoryview)):
        return _Part(head, bytes(content), None, None, len(content))
    if not callable(getattr(content, "read", None)):
        raise InvalidRequest(f"files[{name!r}]: send a file object opened in binary mode, "
                             f"bytes or str, not {type(content).__name__}")
    start, size = _extent(content)
    return _Part(head, None, content, start, size)


def _file_name(value: Any) -> str | None:
    """A file object's base name, as requests guesses it (not ``<stdin>`` and the like)."""
    name = getattr(value, "name", None)
    if isinstance(name, str) and name and not (name[0] == "<" and name[-1] == ">"):
        return os.path.basename(name)
    return None


def _extent(file: Any) -> tuple[int | None, int | None]:
    """Where ``file`` is now and how many bytes it holds from there (None: unknown)."""
    try:
        if not file.seekable():
            return None, None
        start = int(file.tell())
    except (AttributeError, OSError, ValueError):
        return None, None
    if isinstance(file, io.TextIOBase):
        return start, None  # characters, not bytes: the length is known only once encoded
    try:
        info = os.fstat(file.fileno())
        if stat.S_ISREG(info.st_mode):
            # Files in /proc and the like say 0 whatever they hold: read those to the end.
            return start, (max(info.st_size - start, 0) if info.st_size else None)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    try:
        end = int(file.seek(0, io.SEEK_END))
        file.seek(start)
    except (AttributeError, OSError, ValueError):
        return None, None
    return start, max(end - start, 0)
