"""Reading the ``Link`` header (RFC 8288) into the dict requests' ``Response.links`` returns.

``<url>; name=value; name="quoted, value"`` link values, comma separated, in one or more
``Link`` headers. Each link is a dict of ``url`` and its parameters (names lower-cased; the
first occurrence of a parameter wins, as RFC 8288 section 3 says; a parameter without a value
is ``""``), keyed by each relation type its ``rel`` names (lower-cased), or by its URL when it
has no ``rel``. The URL is returned as written, not resolved. Malformed input never raises:
what cannot be read is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["parse_links"]

_WHITESPACE = " \t"


def parse_links(values: Iterable[str]) -> dict[str, dict[str, str]]:
    """The links of the ``Link`` header values ``values``, keyed by relation type (or URL)."""
    links: dict[str, dict[str, str]] = {}
    for value in values:
        for link in _link_values(value):
            relations = link.get("rel", "").lower().split()
            for key in relations or [link["url"]]:
                links[key] = link
    return links


def _link_values(value: str) -> Iterator[dict[str, str]]:
    pos, end = 0, len(value)
    while pos < end:
        start = value.find("<", pos)
        close = value.find(">", start + 1) if start >= 0 else -1
        if close < 0:
            return
        link = {"url": value[start + 1 : close].strip()}
        pos = close + 1
        while pos < end:
            char = value[pos]
            if char in _WHITESPACE:
                pos += 1
            elif char == ",":
                pos += 1
                break
            elif char != ";":  # junk: skip to the next parameter or link
                pos = _next_separator(value, pos)
            else:
                name, param, pos = _param(value, pos + 1)
                if name and name not in link:
                    link[name] = param
        yield link


def _param(value: str, pos: int) -> tuple[str, str, int]:
    """``name[=value]`` from ``pos``: (lower-cased name, value, position after it)."""
    stop = _next_separator(value, pos, "=")
    name = value[pos:stop].strip(_WHITESPACE).lower()
    if stop >= len(value) or value[stop] != "=":
        return name, "", stop
    pos = stop + 1
    while pos < len(value) and value[pos] in _WHITESPACE:
        pos += 1
    if pos < len(value) and value[pos] == '"':
        text, pos = _quoted(value, pos + 1)
        return name, text, pos
    stop = _next_separator(value, pos)
    return name, value[pos:stop].strip(_WHITESPACE), stop


def _quoted(value: str, pos: int) -> tuple[str, int]:
    """The quoted-string whose text starts at ``pos``: (its text, position after it)."""
    out: list[str] = []
    while pos < len(value):
        char = value[pos]
        if char == "\\" and pos + 1 < len(value):
            out.append(value[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    return "".join(out), pos  # not closed: the rest of the header


def _next_separator(value: str, pos: int, also: str = "") -> int:
    """The position of the next ``;`` or ``,`` (or a character of ``also``) from ``pos``."""
    for index in range(pos, len(value)):
        if value[index] in ";," or value[index] in also:
            return index
    return len(value)
