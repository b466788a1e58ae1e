"""Keeping secrets out of what securl writes down: URLs, audit event fields, urllib3's logs.

Rules:

* :func:`redact_url`: no userinfo, no fragment, and the value of every query parameter whose
  (decoded) name looks secret (token, key, passw, pwd, secret, signature, sig, auth,
  session, credential) replaced by ``[REDACTED]``; every other byte is kept. It is what
  securl applies to the URLs it shows in errors, logs and audit events. Secrets in the path
  cannot be recognised and are not redacted.
* :func:`clean_field` (what ``securl._audit.emit`` applies to every event field, a second
  line of defence behind emitters that pass no secrets): a field named like a credential
  (passw, pwd, authorization, cookie, token, secret, private_key, credential) is blanked,
  text holding PEM private-key material is blanked, raw bytes are blanked, a ``*url`` field
  goes through :func:`redact_url`; tables and lists are cleaned item by item and made
  read-only, so one audit hook cannot change what the next one sees.
* :class:`TransportLogFilter`: urllib3's DEBUG request lines carry the request target, query
  string included; :func:`redact_transport_logs` puts the filter on its pool logger.
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

    A query parameter whose (decoded) name contains token, key, passw, pwd, secret,
    signature, sig, auth, session or credential keeps its name, its value becomes
    ``[REDACTED]``; every other byte of the query is kept as it was. Secrets in the path
    cannot be recognised and are not redacted.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "[unparsable URL]"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        out = []
        for item in query.split("&"):
            name = item.partition("=")[0]
            if _SECRET_PARAM.search(urllib.parse.unquote_plus(name)):
                item = f"{name}={REDACTED}"
            out.append(item)
        query = "&".join(out)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


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
    record that looks like a URL or request target with :func:`redact_url`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and "?" in a for a in args):
            record.args = tuple(
                redact_url(a) if isinstance(a, str) and "?" in a else a for a in args
            )
        return True


def redact_transport_logs() -> None:
    """Install :class:`TransportLogFilter` on urllib3's pool logger (idempotent)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, TransportLogFilter) for f in logger.filters):
        logger.addFilter(TransportLogFilter())
