"""Request input checks: everything is refused before a byte is sent.

Rules: only ``http`` and ``https``; a host is required; no CR, LF, NUL, space or other
control characters anywhere in the URL; ports 1-65535; no credentials in the URL (pass
``auth=``: a URL's userinfo ends up in logs and redirects); header names are HTTP tokens and
header values hold no CR/LF/NUL. The host that connects is the one ``urllib.parse`` reports,
and the certificate is checked for that same host.

Unicode host names are sent as their A-labels (``xn--...``) under UTS 46 / IDNA 2008,
non-transitional (as browsers do): ``straße.example`` is ``xn--strae-oqa.example``, never the
different name ``strasse.example``. That A-label is ``Target.host``, so the connection, the
Host header, SNI, the certificate check, pins and pools all see one form of the name. Only
lowercasing and Unicode normalisation (NFC) are applied, as ``urllib.parse`` lowercases ASCII
names; a name IDNA 2008 disallows (symbols such as U+2260, a label starting with a combining
mark, a bidi-rule violation, ...) or that would only be reached by mapping it to a *different*
name (full-width letters, ligatures, soft hyphens, ...) is refused, naming the host and the
reason, so the host contacted is always the one the caller wrote. ASCII ``xn--`` labels must
be valid IDNA 2008 A-labels. Plain ASCII names never load the ``idna`` package.

Error messages show URLs without their userinfo and with secret-looking query values
redacted (``securl._redact.redact_url``): a refused URL never leaks a password into a log.

Checking a URL is a pure function of its text, so results are memoised (a bounded LRU: a
client calling the same URLs pays the parse once); refusals are never cached, they raise.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from .._redact import redact_url
from ..exceptions import InvalidRequest

__all__ = ["SCHEMES", "Target", "check_headers", "check_method", "parse_target"]

#: The only URL schemes securl opens, requests and redirects alike.
SCHEMES = ("http", "https")

HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]] | None

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
_BAD_VALUE_CHARS = re.compile(r"[\r\n\x00]")


class Target(NamedTuple):
    """A checked absolute URL, split the way the connection will use it."""

    url: str
    scheme: str
    host: str
    port: int
    request_target: str  # path and query, as sent in the request line

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def parse_target(url: object) -> Target:
    """Check ``url`` and split it; raise `InvalidRequest` on anything unsafe."""
    if isinstance(url, bytes):
        url = url.decode("ascii", errors="replace")
    if not isinstance(url, str):
        raise InvalidRequest(f"URL must be a str, got {type(url).__name__}")
    return _parse_str(str(url))


@functools.lru_cache(maxsize=256)
def _parse_str(url: str) -> Target:
    shown = redact_url(url)
    bad = _BAD_URL_CHARS.search(url)
    if bad:
        raise InvalidRequest(
            f"URL contains a forbidden character {bad.group()!r} (control characters, CR, LF, "
            f"NUL and spaces are refused; percent-encode them): {shown!r}"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        why: str | None = _split_error(exc)
    else:
        why = None
    if why is not None:  # raised outside the handler: no __context__ quoting the userinfo
        raise InvalidRequest(f"invalid URL {shown!r}: {why}")
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        # The scheme as the redacted URL has it: in "user:pw@host" the "scheme" is a user name.
        shown_scheme = parts.scheme if shown.lower().startswith(parts.scheme + ":") else ""
        raise InvalidRequest(
            f"securl only fetches http and https URLs, not "
            f"{shown_scheme or 'a URL without a scheme'} ({shown!r}); file:, ftp:, data: and "
            "other schemes are refused by design"
        )
    if "@" in parts.netloc:
        raise InvalidRequest(
            f"credentials in the URL are refused ({parts.scheme}://...@{parts.hostname}); "
            "pass auth=(user, password) instead"
        )
    host = parts.hostname
    if not host:
        raise InvalidRequest(f"URL has no host: {shown!r}")
    if port is None:
        port = 443 if scheme == "https" else 80
    elif port == 0:
        raise InvalidRequest(f"port 0 is not a valid destination: {shown!r}")
    host = idna_host(host)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not target.isascii():
        target = urllib.parse.quote(target, safe="/?&=%:@!$'()*+,;~-._")
    return Target(url, scheme, host, port, target)


def _split_error(exc: ValueError) -> str:
    """Why ``urllib.parse`` refused a URL, without its text (which can quote the userinfo)."""
    text = str(exc)
    if text.startswith("Port"):
        return "the port is not a number from 1 to 65535"
    if "IPv6" in text:
        return "the brackets of an IPv6 address do not match or hold no valid address"
    if "NFKC" in text:
        return ("the host holds characters that Unicode (NFKC) normalisation turns into URL "
                "delimiters such as / ? # @ :")
    return "it cannot be split into scheme, host, port and path"


def idna_host(host: str) -> str:
    """``host`` as sent on the wire: A-labels for Unicode (UTS 46 / IDNA 2008, module rules).

    Plain ASCII names are returned as they are, without loading the ``idna`` package.
    """
    if host.isascii():
        if "xn--" in host:
            _check_a_labels(host)
        return host
    import unicodedata

    import idna

    written = unicodedata.normalize("NFC", host.lower())
    try:
        encoded = idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidRequest(
            f"host {host!r} is not a valid IDNA name: {_printable(exc)}"
        ) from None
    try:
        exact = idna.encode(written).decode("ascii")  # no mapping: the name as written
    except (idna.IDNAError, UnicodeError):
        exact = None
    if exact != encoded:
        raise InvalidRequest(
            f"host {host!r} is not in IDNA canonical form: IDNA would send it as {encoded!r}, "
            "a different name, so it is refused. Write that name if it is the host you mean, "
            "or give the host's xn-- form (A-label) directly"
        )
    return encoded


def _check_a_labels(host: str) -> None:
    """Refuse ``xn--`` labels that are not the A-label of a valid IDNA 2008 name."""
    import idna

    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise InvalidRequest(
                    f"host {host!r} has an invalid IDNA (xn--) label: {_printable(exc)}"
                ) from None


def _printable(exc: BaseException) -> str:
    """An error's text with anything unprintable escaped, as ``repr`` would show it."""
    text = str(exc)
    return text if text.isprintable() else repr(text)[1:-1]


_STANDARD_METHODS = {m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


def check_method(method: object) -> str:
    """Return the method if it is an HTTP token, uppercased."""
    if type(method) is str and method in _STANDARD_METHODS:
        return method
    if not isinstance(method, str) or not _TOKEN.match(method):
        raise InvalidRequest(f"invalid HTTP method {method!r}")
    return method.upper()


def check_headers(headers: HeadersInput) -> list[tuple[str, str]]:
    """Check header names and values; ``None`` values are kept to mean "remove"."""
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[str, str]] = []
    for name, value in items:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise InvalidRequest(
                f"invalid header name {name!r}: header names must be HTTP tokens"
            )
        if value is None:
            out.append((name, value))  # type: ignore[arg-type]
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str):
            raise InvalidRequest(f"header {name!r} must be a str, got {type(value).__name__}")
        if _BAD_VALUE_CHARS.search(value):
            raise InvalidRequest(
                f"header {name!r} contains CR, LF or NUL (header injection refused)"
            )
        out.append((name, value))
    return out
