"""Reading an HTTP/1.x response head: strictly, and without the email parser.

``http.client`` hands every response head to the ``email`` package, a general MIME parser:
about 60 µs per response on the benchmark machine (a tenth of a kept-alive GET), and lenient
where HTTP is not. `StrictHeadResponse` replaces only ``begin()`` (the head); the body
framing it sets up (``chunked``, ``length``, ``will_close``) is decided exactly as
``http.client`` decides it, and everything after the head is ``http.client``'s own code.
`StrictFramingResponse`, the class securl's connections use, then applies RFC 9112
section 6.3 where ``http.client`` is lenient: a ``Content-Length`` that is not a number, or
two different ones, is refused; with both ``Transfer-Encoding`` and ``Content-Length`` the
Transfer-Encoding frames the body and the connection is closed afterwards.

Rules (RFC 9112 sections 2-5), each failure an ``http.client.HTTPException`` that
``securl.http.errors`` turns into `ProtocolError`:

* the status line is ``HTTP/1.x SP 3DIGIT [SP reason]``: anything else is ``BadStatusLine``
  or ``UnknownProtocol``, and nothing at all is ``RemoteDisconnected``, as in ``http.client``;
* every line ends in LF: a status line or header block cut off by the end of the connection
  is `TruncatedResponseHead` (``http.client`` would take the fragment for a complete,
  empty response);
* a field line is ``name ":" OWS value OWS`` with a token for a name: a line with no colon,
  whitespace before the colon, a continuation line first, a bare CR or a NUL is
  `MalformedResponseHead` (``http.client`` would end the headers there, or split the
  line in two at the CR). The message names the line, never its value (it may be a cookie);
* an obsolete line folding (a line starting with SP or HTAB) is joined to the field before it
  with one SP (section 5.2), and surrounding OWS is not part of a value;
* at most 100 lines per head and 64 KiB per line (``http.client``'s limits, with its
  ``LineTooLong`` and "got more than 100 headers" errors);
* interim 1xx responses (``100 Continue``, ``103 Early Hints``, ...) are read and skipped,
  except ``101 Switching Protocols``, which is final. ``http.client`` skips only 100, and
  would return a 103 as the response, leaving the real one unread on the connection.

A head that has already arrived whole (the common case: one TLS record) is read in one pass,
one regular expression over the buffered block, when every line is a plain ``name:value``
ending in CRLF within the limits; anything else is read line by line under the rules above,
so both ways give the same result (a differential test holds them to it).

``headers``/``msg`` is an `http.client.HTTPMessage` (urllib3, ``urllib`` and user code
rely on it), filled through ``set_raw``; its ``get``/``items`` read the stored pairs directly.
"""

from __future__ import annotations

import http.client
import re
from typing import Any

__all__ = [
    "InvalidFraming", "MalformedResponseHead", "StrictFramingResponse", "StrictHeadResponse",
    "TruncatedResponseHead",
]

_MAXLINE = 65536  # http.client's limits
_MAXLINES = 100
# A field line: token, colon, value without CR, LF or NUL, line end. Linear to match: the
# name cannot contain the colon and the value cannot contain the line end, so a failed
# match backtracks each at most once (no OWS group next to the value to trade characters
# with; the value is stripped afterwards).
_FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\r\n\x00]*)\r?\n")
# A whole header block of well-formed CRLF field lines and its blank line, matched at the
# start of what is already buffered (each repetition is one line, so it is linear too).
_FIELD_BLOCK = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n\x00]*\r\n)*\r\n")
_FIELD_CRLF = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\r\n\x00]*)\r\n")


class MalformedResponseHead(http.client.HTTPException):
    """The response head breaks HTTP/1.1's syntax."""


class TruncatedResponseHead(MalformedResponseHead):
    """The connection ended inside the status line or the header block."""

    def __init__(self, message: str = "the connection closed in the middle of the response "
                 "status line or headers") -> None:
        super().__init__(message)  # the message is the one argument: it pickles


class _Fields(http.client.HTTPMessage):
    """An HTTPMessage of plain ``(name, value)`` pairs, read back without email's hooks.

    The ``compat32`` policy's read hook only rewrites values with surrogates, which a
    Latin-1-decoded value cannot contain, so skipping it returns the same strings.
    """

    def get(self, name: str, failobj: Any = None) -> Any:
        wanted = name.lower()
        for key, value in self.raw_items():
            if key.lower() == wanted:
                return value
        return failobj

    def items(self) -> list[tuple[str, str]]:
        return list(self.raw_items())


def _read_fields(fp: Any) -> tuple[_Fields, dict[str, str], list[str]]:
    """The header block up to its blank line, by the module's rules.

    Also returns the first value of each field by lower-case name, which is what
    ``http.client`` looks at (``get``) to decide the body framing, and every
    ``Content-Length`` value, which `StrictFramingResponse` checks.
    """
    pairs = _buffered_block(fp)
    if pairs is None:
        pairs = _read_lines(fp)
    fields = _Fields()
    first: dict[str, str] = {}
    lengths: list[str] = []
    for name, value in pairs:
        fields.set_raw(name, value)
        lower = name.lower()
        first.setdefault(lower, value)
        if lower == "content-length":
            lengths.append(value)
    return fields, first, lengths


def _buffered_block(fp: Any) -> list[tuple[str, str]] | None:
    """The field lines, if the whole block is already buffered and plainly well-formed.

    The common case, read in one pass: every line is ``name:value`` ending in CRLF, within
    http.client's limits (so no rule of `_read_lines` could refuse it). Anything else, or a
    block not yet received in full, returns None with nothing consumed, for `_read_lines`.
    """
    peek = getattr(fp, "peek", None)
    if peek is None:
        return None
    buffered: bytes = peek(_MAXLINE)
    match = _FIELD_BLOCK.match(buffered, 0, _MAXLINE)
    if match is None:
        return None
    block = buffered[:match.end()]
    found = _FIELD_CRLF.findall(block)
    if len(found) >= _MAXLINES:
        return None  # `_read_lines` raises http.client's error for it
    fp.read(len(block))
    return [(name.decode("ascii"), value.strip(b" \t").decode("iso-8859-1"))
            for name, value in found]


def _read_lines(fp: Any) -> list[tuple[str, str]]:
    """The field lines read one at a time, with every rule of the module."""
    pairs: list[tuple[str, str]] = []
    readline = fp.readline
    fullmatch = _FIELD_LINE.fullmatch
    count = 0  # lines read, folded ones included (http.client's limit counts lines)
    while True:
        line: bytes = readline(_MAXLINE + 1)
        if line == b"\r\n" or line == b"\n":
            break
        if len(line) > _MAXLINE:
            raise http.client.LineTooLong("header line")
        count += 1
        if count >= _MAXLINES:
            raise http.client.HTTPException(f"got more than {_MAXLINES} headers")
        match = fullmatch(line)
        if match is not None:  # the common case: one well-formed field line
            name, value = match.groups()
            pairs.append((name.decode("ascii"), value.strip(b" \t").decode("iso-8859-1")))
            continue
        if not line.endswith(b"\n"):
            raise TruncatedResponseHead()
        text = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if b"\r" in text or b"\x00" in text:
            raise MalformedResponseHead(
                f"response header line {count} contains a bare CR or a NUL byte")
        if line[0] not in b" \t":
            raise MalformedResponseHead(
                f"response header line {count} is not 'name: value' (no colon, an empty "
                "name, or a character not allowed in a field name such as a space before "
                "the colon)")
        if not pairs:  # obs-fold with nothing to continue
            raise MalformedResponseHead("the first response header line starts with whitespace")
        folded_name, before = pairs[-1]
        more = text.strip(b" \t").decode("iso-8859-1")
        pairs[-1] = (folded_name, f"{before} {more}" if before and more else before or more)
    return pairs


def _will_close(version: int, first: dict[str, str]) -> bool:
    """``http.client.HTTPResponse._check_close``, on the first values by lower-case name."""
    connection = first.get("connection", "").lower()
    if version == 11:
        return "close" in connection
    if first.get("keep-alive") or "keep-alive" in connection:
        return False
    return "keep-alive" not in first.get("proxy-connection", "").lower()


class StrictHeadResponse(http.client.HTTPResponse):
    """An ``http.client`` response whose head is read by the module's rules."""

    def _status(self) -> tuple[str, int, str]:
        line: bytes = self.fp.readline(_MAXLINE + 1)
        if len(line) > _MAXLINE:
            raise http.client.LineTooLong("status line")
        if not line:
            raise http.client.RemoteDisconnected(
                "Remote end closed connection without response")
        if not line.endswith(b"\n"):
            raise TruncatedResponseHead()
        text = line.decode("iso-8859-1")
        parts = text.split(None, 2)
        version = parts[0] if len(parts) >= 2 else ""
        if not version.startswith("HTTP/"):
            self._close_conn()  # type: ignore[attr-defined]
            raise http.client.BadStatusLine(text)
        status = parts[1]
        if len(status) != 3 or not status.isdigit() or not status.isascii():
            raise http.client.BadStatusLine(text)
        code = int(status)
        if code < 100:
            raise http.client.BadStatusLine(text)
        return version, code, parts[2].strip() if len(parts) == 3 else ""

    def begin(self) -> None:
        if self.headers is not None:  # already read
            return
        try:
            while True:
                version, status, reason = self._status()
                if not (100 <= status < 200) or status == 101:
                    break
                _read_fields(self.fp)  # an interim response: its fields are dropped
            if version in ("HTTP/1.0", "HTTP/0.9"):
                self.version = 10
            elif version.startswith("HTTP/1."):
                self.version = 11
            else:
                raise http.client.UnknownProtocol(version)
            fields, first, lengths = _read_fields(self.fp)
        except MalformedResponseHead:
            self.close()
            raise
        self.code = self.status = status
        self.reason = reason
        self.headers = self.msg = fields
        self._frame(status, first, lengths)

    def _frame(self, status: int, first: dict[str, str], lengths: list[str]) -> None:
        """Body framing, exactly as http.client.HTTPResponse.begin decides it (``lengths``:
        every Content-Length value, for a subclass's checks)."""
        encoding = first.get("transfer-encoding", "")
        self.chunked = encoding.lower() == "chunked"
        if self.chunked:
            self.chunk_left = None
        self.will_close = _will_close(self.version, first)
        self.length = None
        length = first.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        method = self._method  # type: ignore[attr-defined]
        if status in (204, 304) or 100 <= status < 200 or method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class InvalidFraming(MalformedResponseHead):
    """The response's Content-Length cannot frame its body (RFC 9112 section 6.3)."""


_DIGITS = re.compile(r"[0-9]+")


def _content_length(values: list[str]) -> int:
    """The one length that every Content-Length field line states, by RFC 9112 6.3 item 5.

    Each field value is a comma-separated list; every element must be ``1*DIGIT`` (ASCII
    digits only: no sign, no empty element, no other text) and all of them, across every
    Content-Length line, must be the same number. Anything else raises
    `InvalidFraming`, whose message never shows the values. An empty element
    (``5,,5``, ``5,``) is refused too: RFC 9110 section 5.6.1 lets list parsers skip empty
    elements, but no sender writes one in a length, and the body's length is exactly where
    two parsers must never disagree.
    """
    lengths = set()
    for value in values:
        for element in value.split(","):
            element = element.strip(" \t")
            if not _DIGITS.fullmatch(element):
                raise InvalidFraming(
                    "the response's Content-Length is not a decimal number of bytes (RFC 9112 "
                    "section 6.3: an unrecoverable framing error); the response is discarded")
            lengths.add(int(element))
    if len(lengths) != 1:
        raise InvalidFraming(
            "the response states different Content-Length values (RFC 9112 section 6.3: an "
            "unrecoverable framing error); the response is discarded")
    return lengths.pop()


class StrictFramingResponse(StrictHeadResponse):
    """`StrictHeadResponse` whose body framing follows RFC 9112 section 6.3.

    The response class of securl's connections. Where ``http.client`` (and so
    `StrictHeadResponse`, which decides the framing exactly as it does) is lenient:

    * every ``Content-Length`` line is checked (`_content_length`): a value that is not a
      number (``6x``, ``-3``, ``+5``, empty), in any of the lines, or two different numbers,
      raise `InvalidFraming`, an unrecoverable error (item 5), and the connection is
      closed. ``http.client`` reads the first line only, and ignores a value it cannot parse.
      Identical values, in one list (``5, 5``) or on several lines, are one length, as item 5
      allows. An invalid Content-Length is refused even next to ``Transfer-Encoding``;
    * with both ``Transfer-Encoding`` and ``Content-Length``, the Transfer-Encoding frames the
      body and the Content-Length is ignored (item 3), and the connection is closed after the
      response, never reused: the two framings disagree, which is how responses are smuggled.
    """

    def _frame(self, status: int, first: dict[str, str], lengths: list[str]) -> None:
        if not lengths:
            super()._frame(status, first, lengths)
            return
        # The common case, one line of plain ASCII digits, is the length as http.client reads it.
        plain = len(lengths) == 1 and lengths[0].isdigit() and lengths[0].isascii()
        if "transfer-encoding" not in first and plain:
            super()._frame(status, first, lengths)
            return
        try:
            length = _content_length(lengths)
        except InvalidFraming:
            self.close()  # unrecoverable: the connection is closed, as for a malformed head
            raise
        framing = dict(first)
        if "transfer-encoding" in first:
            del framing["content-length"]
            super()._frame(status, framing, lengths)
            self.will_close = True
        else:
            framing["content-length"] = str(length)
            super()._frame(status, framing, lengths)
