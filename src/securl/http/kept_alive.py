"""A request on an idle kept-alive connection, without urllib3's generic ``urlopen``.

``HTTPConnectionPool.urlopen`` prepares every request for every case urllib3 supports: it
re-parses and re-encodes the request target, builds retry and timeout objects, copies the
headers to merge proxy headers, records the body position for a rewind, and only then takes
a connection and sends. securl has decided all of that before (``securl.http.transport``:
its own redirects and retries, no proxy headers on a direct pool, a target already checked),
so for the common case, a kept-alive connection that is idle in its pool,
`send_on_kept_alive` takes the connection and goes straight to the pool's own
``_make_request``: the same connection checks, timeouts, request writer and response class
as ``urlopen`` uses, minus the preparation. It returns ``None`` (and the caller takes
``urlopen``) for everything else:

* a pool that talks through a proxy (tunnels and absolute-form targets are urllib3's);
* no idle connected connection (a new one: the TLS handshake and its checks run in
  ``urlopen``'s path, ``securl.http.connection``), including one that the server closed
  while it was idle (urllib3's ``_get_conn`` closes it, as ``urlopen`` would);
* a request target urllib3 would rewrite (a ``%`` escape it upper-cases, or a character it
  percent-encodes): sent as ``urlopen`` sends it, so the same call never goes out in two
  spellings.

Failures are what ``urlopen`` raises with retries off, so ``securl.http.errors`` maps them the
same way: an ``ssl`` error becomes urllib3's ``SSLError``, a socket or ``http.client`` error a
``ProtocolError("Connection aborted.")``, a timeout urllib3's ``ReadTimeoutError``; and the
connection is closed and never reused after any failure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http.client import HTTPException
from ssl import CertificateError
from ssl import SSLError as BaseSSLError
from typing import Any

from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ProtocolError, SSLError
from urllib3.util import Retry

__all__ = ["AVAILABLE", "send_on_kept_alive"]

#: Whether the pool steps used here exist (urllib3 2.x); if not, every request takes urlopen.
AVAILABLE = all(hasattr(HTTPConnectionPool, step)
                for step in ("_get_conn", "_put_conn", "_make_request"))

#: Characters urllib3 leaves as they are in an origin-form target (RFC 3986 unreserved,
#: sub-delims, ":", "@", "/" and "?"): a target of only these is sent unchanged by ``urlopen``.
_AS_URLLIB3_SENDS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*")

#: The stdlib exceptions ``urlopen`` converts (to urllib3's) and re-raises when retries are off.
_CAUGHT = (OSError, HTTPException, BaseSSLError, CertificateError)


def send_on_kept_alive(pool: Any, method: str, url: str, headers: Mapping[str, str],
                       body: bytes | None, timeout: Any, retries: Retry, *,
                       decode_content: bool) -> BaseHTTPResponse | None:
    """The response of ``method url`` on an idle connection of ``pool``, or None (module rules).

    ``pool`` is one of securl's urllib3 pools; the response is not preloaded and releases its
    connection back to ``pool`` when read to the end, as from ``urlopen``.
    """
    if pool.proxy is not None or not AVAILABLE or not _AS_URLLIB3_SENDS.fullmatch(url):
        return None
    idle = getattr(pool.pool, "queue", None)  # the LIFO's list: None marks a free slot
    last = idle[-1:] if idle is not None else []  # a slice: never raises if another thread
    if not last or last[0] is None:  # has just emptied the list
        return None  # no idle connection to take: a new one is made in urlopen's path
    conn = pool._get_conn()
    if conn.is_closed:  # a new connection, or an idle one the server had closed
        pool._put_conn(conn)
        return None
    done = False
    try:
        response: BaseHTTPResponse = pool._make_request(
            conn, method, url, body=body, headers=headers, retries=retries, timeout=timeout,
            chunked=False, response_conn=conn, preload_content=False,
            decode_content=decode_content,
        )
        done = True
    except _CAUGHT as exc:
        raise _as_urlopen_raises(exc)  # noqa: B904  # chained as urlopen chains it
    finally:
        if not done:
            conn.close()
            pool._put_conn(None)
    response.retries = retries
    response._pool = pool  # type: ignore[attr-defined]  # as urlopen sets it
    return response


def _as_urlopen_raises(exc: BaseException) -> BaseException:
    """What ``urlopen`` raises for ``exc`` with retries off (its except block, no proxy).

    Raised with ``exc`` as its context, as urlopen's re-raise leaves it.
    """
    if isinstance(exc, (BaseSSLError, CertificateError)):
        return SSLError(exc)
    if isinstance(exc, (OSError, HTTPException)):
        return ProtocolError("Connection aborted.", exc)
    return exc
