"""Keeping secrets out of what securl writes down: URLs, audit event fields, urllib3's logs.

Rules:

* `redact_url`: no userinfo, no fragment, and the value of every query parameter
  (``&`` or ``;`` separated) whose (decoded) name looks secret (token, key, passw, pwd,
  secret, signature, sig, auth, session, credential) replaced by ``[REDACTED]``; every other
  byte is kept. Malformed URLs too: whatever may be userinfo in them is stripped, and it
  never raises. It is the one function securl applies to every URL it shows: in errors,
  ``repr``, logs and audit events. Secrets in the path cannot be recognised and are not
  redacted.
* `clean_field` (what ``securl._audit.emit`` applies to every event field, a second
  line of defence behind emitters that pass no secrets): a field named like a credential
  (passw, pwd, authorization, cookie, token, secret, private_key, credential) is blanked,
  text holding PEM private-key material is blanked, raw bytes are blanked, a ``*url`` field
  goes through `redact_url`; tables and lists are cleaned item by item and made
  read-only, so one audit hook cannot change what the next one sees.
* `TransportLogFilter`: urllib3's DEBUG request lines carry the request target, query
  string included; `redact_transport_logs` puts the filter on its pool logger.
"""

from __future__ import annotations

import functools
import logging
import re
import urllib.parse
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "REDACTED",
    "TransportLogFilter",
    "clean_field",
    "redact_transport_logs",
    "redact_url",
]

REDACTED = "[REDACTED]"
_SECRET_PARAM = re.compile(
    r"(token|key|passw|pwd|secret|signature|sig|auth|session|credential)", re.IGNORECASE
)
_SECRET_FIELD = re.compile(
    r"passw|pwd|authorization|cookie|token|secret|private_key|credential", re.IGNORECASE
)
_PRIVATE_KEY_PEM = "PRIVATE KEY-----"


def redact_url(url: str) -> str:
    """``url`` without userinfo or fragment, with secret-looking query values replaced.

    A query parameter (separated by ``&`` or ``;``) whose (decoded) name contains token, key,
    passw, pwd, secret, signature, sig, auth, session or credential keeps its name, its value
    becomes ``[REDACTED]``; every other byte of the query is kept as it was. Secrets in the
    path cannot be recognised and are not redacted.

    Malformed URLs are shown safely too, and this never raises: userinfo is stripped wherever
    a browser or a careless reader would take it for one (``https:/user:pw@host``,
    ``https:user:pw@host``, backslashes for slashes, ``user:pw@host`` without a scheme, a
    password cut short by ``/``, ``?`` or ``#``), a port that is not a number is replaced by
    ``[REDACTED]``, and what ``urllib.parse`` cannot split at all is shown as
    ``[unparsable URL]``.
    """
    parts = _split(url)
    if "@" in url and (parts is None or not _plain_authority(parts.netloc)):
        url = _strip_userinfo(url)
        parts = _split(url)
    if parts is None:
        return "[unparsable URL]"
    query = parts.query
    if query:
        items = _QUERY_SEPARATOR.split(query)
        for i in range(0, len(items), 2):  # the separators sit at the odd indexes
            name = items[i].partition("=")[0]
            if _SECRET_PARAM.search(urllib.parse.unquote_plus(name)):
                items[i] = f"{name}={REDACTED}"
        query = "".join(items)
    if not parts.netloc:
        # No authority (a request target, or a malformed URL): shown as written, so that
        # "https:/host/" is not turned into the different-looking "https:///host/".
        head = _sanitise(url).partition("#")[0].partition("?")[0]
        return f"{head}?{query}" if query else head
    netloc = _redact_port(parts.netloc.rpartition("@")[2])
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


_QUERY_SEPARATOR = re.compile(r"([&;])")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
#: Schemes a browser gives an authority whatever the slashes (WHATWG "special" schemes).
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_AUTHORITY_END = re.compile(r"[/\\?#]")
#: What urllib.parse strips from the start of a URL, and removes from anywhere in it.
_LEADING_JUNK = "".join(chr(c) for c in range(0x21))
_REMOVED = str.maketrans("", "", "\t\r\n")


def _split(url: str) -> urllib.parse.SplitResult | None:
    try:
        return urllib.parse.urlsplit(url)
    except ValueError:
        return None


def _sanitise(url: str) -> str:
    """``url`` as ``urllib.parse`` reads it: leading controls and spaces, tabs and newlines
    removed."""
    return url.lstrip(_LEADING_JUNK).translate(_REMOVED)


def _port_is_odd(hostport: str) -> bool:
    """True if ``hostport`` has a port that is not a number (a password cut short, maybe)."""
    if hostport.startswith("["):
        hostport = hostport.rpartition("]")[2]
    port = hostport.partition(":")[2]
    return bool(port) and not (port.isascii() and port.isdigit())


def _plain_authority(netloc: str) -> bool:
    """A well-formed ``host[:port]``: nothing in it can be userinfo."""
    return bool(netloc) and "@" not in netloc and "\\" not in netloc and not _port_is_odd(netloc)


def _redact_port(hostport: str) -> str:
    if not _port_is_odd(hostport):
        return hostport
    if hostport.startswith("[") and "]" in hostport:
        host = hostport[: hostport.index("]") + 1]
    else:
        host = hostport.partition(":")[0]
    return f"{host}:{REDACTED}"


def _strip_userinfo(url: str) -> str:
    """``url`` with everything up to the ``@`` that ends what may be userinfo removed.

    The authority is read as a browser would (any number of slashes or backslashes after the
    scheme; for http, https and other special schemes, none at all); a name that only looks
    like a scheme (``user:pw@host``) counts as part of the userinfo. When the authority has
    no ``@`` but a port that is not a number, the password may have been cut short by ``/``,
    ``?`` or ``#``: everything up to the ``@`` before the next host is removed.
    """
    url = _sanitise(url)
    match = _SCHEME.match(url)
    if match and (match.group(1).lower() in _SPECIAL_SCHEMES
                  or url[match.end():match.end() + 1] in ("/", "\\")):
        start = match.end()
        while url[start:start + 1] in ("/", "\\"):
            start += 1
    elif match or url[:1] not in ("/", "\\"):
        start = 0  # "user:pw@host/" or "user@host/": no scheme, the authority comes first
    elif url[1:2] in ("/", "\\"):
        start = len(url) - len(url.lstrip("/\\"))  # "//user:pw@host/"
    else:
        return url  # a path ("/a@b"): nothing in it is an authority
    found = _AUTHORITY_END.search(url, start)
    end = found.start() if found else len(url)
    at = url.rfind("@", start, end)
    if at < 0:
        first = url.find("@", end)
        if first < 0 or not _port_is_odd(url[start:end]):
            return url
        found = _AUTHORITY_END.search(url, first)
        at = url.rfind("@", first, found.start() if found else len(url))
    return url[:start] + url[at + 1:]


@functools.lru_cache(maxsize=1024)
def _secret_field(key: str) -> bool:
    return _SECRET_FIELD.search(key) is not None  # cached: field names are a small set


def clean_field(key: str, value: Any) -> Any:
    """A field value made safe and immutable: the second line of defence against leaks."""
    if isinstance(value, str):
        if _secret_field(key) or _PRIVATE_KEY_PEM in value:
            return REDACTED
        if key.endswith("url"):
            return redact_url(value)
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return REDACTED if value is not None and _secret_field(key) else value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return REDACTED  # raw bytes could be key material; no event needs them
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): clean_field(str(k), v) for k, v in value.items()})
    if isinstance(value, (list, tuple, set, frozenset)):
        return _FrozenList(clean_field(key, v) for v in value)
    if value is not None and _secret_field(key):
        return REDACTED
    return value


class _FrozenList(list):  # type: ignore[type-arg]
    """A list that refuses changes: equal to, and JSON-encoded as, the list it was made from."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("audit event fields are read-only")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse


class TransportLogFilter(logging.Filter):
    """Redacts secret query values in urllib3's DEBUG request lines.

    urllib3 logs ``"GET /path?token=... HTTP/1.1" 200`` at DEBUG, so turning on DEBUG logging
    would write query-string secrets to logs. This filter rewrites every argument of such a
    record that looks like a URL or request target with `redact_url`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and "?" in a for a in args):
            record.args = tuple(
                redact_url(a) if isinstance(a, str) and "?" in a else a for a in args
            )
        return True


def redact_transport_logs() -> None:
    """Install `TransportLogFilter` on urllib3's pool logger (idempotent)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, TransportLogFilter) for f in logger.filters):
        logger.addFilter(TransportLogFilter())
