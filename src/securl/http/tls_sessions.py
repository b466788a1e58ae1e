"""TLS session resumption: a new connection to a server securl has already verified resumes
the TLS session of an earlier one (TLS 1.3 tickets, TLS 1.2 session IDs or tickets), which
spares the server's signature and the client's chain verification.

Where a session may be offered, and where it may not:

* **One slot per pool** (`SessionSlot`), so per ``securl.http.pool.PoolKey``: scheme,
  host, port, the whole trust decision (verified, pinned, unverified, chain-only, which CAs,
  which client certificate, which pins, a caller's ``context=`` and its state) and the proxy.
  A session is never offered across trust decisions, hosts or ports.
* **Tied to the context object** that made it: a context rebuilt since (a trust or key file
  changed: ``create_context(recheck_files=True)``) does not get it; the slot is emptied.
* **Fresh**: a session is offered only within its lifetime (the server's ticket lifetime
  hint, ``SSLSession.timeout``) and never after `MAX_AGE` seconds.
* **Bounded**: one session per pool (the latest one kept), pools are bounded by their
  registry, and at most `MAX_SESSIONS` sessions are kept in the whole process (the
  least recently kept are forgotten first).
* **Kept only from a connection that passed every check** (``securl.http.connection``), once
  its response has been read (a TLS 1.3 client receives its ticket after the handshake), when
  the connection goes back to its pool or is closed.
* **Checks still run**: a resumed connection carries the server's certificate from the
  session, and the pins, pinned host name, verifiers and trust-on-first-use checks run on it
  as on any new connection. One that fails them empties the slot.

A TLS 1.3 ticket is offered **once** (RFC 8446, C.4: a client should not reuse a ticket, so
that a passive observer cannot link connections by it): offering it takes it out of the
slot, and every connection, resumed or not, gives the slot the new ticket the server sent
it. A TLS 1.2 session (an ID or a ticket) is offered until it is no longer fresh, as TLS 1.2
clients do. This costs speed: Python's ``ssl`` copies a session (serialises and parses it,
with the server's certificate) each time it is read from a connection and each time it is
offered, about 0.2 ms each, which eats much of what resuming a TLS 1.3 session saves. The
privacy rule wins over that (see docs/performance.md).

A server that cannot use what is offered (a ticket it cannot decrypt, an expired one, a
session it forgot) answers with a full handshake, which OpenSSL completes as usual. Turned
off with ``Session(tls_session_cache=False)``.

**Only where Python can read a session without leaking it** (`session_reads_are_safe`):
CPython 3.10 and 3.11, 3.12 before 3.12.8 and 3.13.0 keep a copy of the session (with the
server's certificate, about 6.6 KB on the benchmark machine) every time
``SSLSocket.session`` is read, and never free it (python/cpython#116810), and spend
0.13-0.19 ms making that copy, about what resuming saves the client. There, sessions are kept only
when asked for (``tls_session_cache=True``); the default is off.
"""

from __future__ import annotations

import functools
import ssl
import sys
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

__all__ = [
    "MAX_AGE", "MAX_SESSIONS", "ResumingContext", "SessionSlot", "session_reads_are_safe",
    "was_resumed",
]

#: The longest a session is offered after the server issued it, whatever its ticket says.
MAX_AGE = 3600.0
#: The most sessions kept in the process.
MAX_SESSIONS = 256

_kept: OrderedDict[int, weakref.ref[SessionSlot]] = OrderedDict()
_kept_lock = threading.RLock()  # a weakref callback may run inside it (garbage collection)


class SessionSlot:
    """The TLS session one pool may offer on its next new connection (module rules)."""

    __slots__ = ("__weakref__", "_entry", "_offered_id")

    def __init__(self) -> None:
        #: (the context that made it, the session, whether it is single-use TLS 1.3): one
        #: attribute, replaced whole, so that a thread never pairs one connection's session
        #: with another's context.
        self._entry: tuple[weakref.ref[ssl.SSLContext], ssl.SSLSession, bool] | None = None
        #: the id of the last single-use ticket offered, never to be kept again
        self._offered_id = b""

    def offer(self, ctx: ssl.SSLContext) -> ssl.SSLSession | None:
        """The session to offer on a new connection made with ``ctx``, if one may be (a
        TLS 1.3 ticket is taken out: it is offered once)."""
        entry = self._entry
        if entry is None:
            return None
        made_by, session, single_use = entry
        if made_by() is not ctx or not _fresh(session):
            self.clear()
            return None
        if single_use:
            self._offered_id = session.id
            self.clear()
        return session

    def keep(self, sock: Any, *, resumed: bool = False) -> bool:
        """Keep the session of ``sock`` (a connection that passed its checks), if resumable.

        A TLS 1.2 connection that resumed the session kept here leaves it in place while it is
        fresh (reading a session out of Python's ``ssl`` copies it); a TLS 1.3 one gives the
        new ticket it received (tickets are single-use, see the module docstring). Returns
        whether the connection is done with its session (False: ask again later, a TLS 1.3
        ticket may not have arrived yet).
        """
        obj = getattr(sock, "sslobj", sock)  # urllib3's SSLTransport (TLS in TLS)
        tls13 = obj.version() == "TLSv1.3"
        entry = self._entry
        if resumed and not tls13 and entry is not None and _fresh(entry[1]):
            return True
        session = getattr(obj, "session", None)
        ctx = getattr(obj, "context", None)
        if session is None or ctx is None or not _fresh(session):
            return False
        if not session.has_ticket and (not session.id or tls13):
            return False  # nothing the server could resume from
        if tls13 and session.id in (self._offered_id, entry[1].id if entry else None):
            return False  # a ticket already offered or kept: wait for the new one
        self._entry = (weakref.ref(ctx), session, tls13)
        _note_kept(self)
        return True

    def clear(self) -> None:
        """Forget the session (a failed check, a context rebuilt, the pool closed)."""
        self._entry = None
        with _kept_lock:
            _kept.pop(id(self), None)

    @property
    def holds(self) -> bool:
        """Whether a session is kept here (for tests and diagnostics)."""
        return self._entry is not None


def session_reads_are_safe(implementation: str = sys.implementation.name,
                           version: tuple[int, int, int] = sys.version_info[:3]) -> bool:
    """Whether reading ``SSLSocket.session`` here neither leaks nor copies the session.

    CPython's ``ssl`` leaks a copy of the session on every read from 3.10 until the fix of
    python/cpython#116810, released in 3.12.8 and 3.13.1 (3.10 and 3.11 take security fixes
    only and keep the leak). Other implementations do not share that C code.
    """
    if implementation != "cpython":
        return True
    return version >= (3, 13, 1) or (3, 12, 8) <= version < (3, 13, 0)


def _fresh(session: ssl.SSLSession) -> bool:
    return time.time() - session.time < min(float(session.timeout), MAX_AGE)


def _note_kept(slot: SessionSlot) -> None:
    """Count ``slot`` among the most recent; forget the oldest beyond `MAX_SESSIONS`."""
    evicted: list[SessionSlot] = []
    with _kept_lock:
        key = id(slot)
        _kept.pop(key, None)
        _kept[key] = weakref.ref(slot, functools.partial(_forget, key))
        while len(_kept) > MAX_SESSIONS:
            _, ref = _kept.popitem(last=False)
            old = ref()
            if old is not None:
                evicted.append(old)
    for old in evicted:
        old._entry = None


def _forget(key: int, _ref: object = None) -> None:
    with _kept_lock:
        _kept.pop(key, None)


def was_resumed(sock: Any) -> bool:
    """Whether the handshake of ``sock`` (an SSLSocket or urllib3's SSLTransport) resumed."""
    obj = getattr(sock, "sslobj", sock)
    return bool(getattr(obj, "session_reused", False))


class ResumingContext:
    """``ctx`` for one new connection, offering ``session`` in its handshake.

    urllib3 wraps the socket with ``ssl_context.wrap_socket(sock, server_hostname=...)`` (or
    ``wrap_bio`` inside a proxy tunnel) and has no way to pass ``session=``: this stands in
    for the context during that one ``connect()``, passes ``session=`` through, and forwards
    everything else, attribute reads and writes alike, to ``ctx`` itself.
    """

    __slots__ = ("_ctx", "_session")
    _ctx: ssl.SSLContext
    _session: ssl.SSLSession

    def __init__(self, ctx: ssl.SSLContext, session: ssl.SSLSession) -> None:
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "_session", session)

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs.setdefault("session", self._session)
        return self._ctx.wrap_socket(sock, *args, **kwargs)

    def wrap_bio(self, incoming: Any, outgoing: Any, *args: Any, **kwargs: Any
                 ) -> ssl.SSLObject:
        kwargs.setdefault("session", self._session)
        return self._ctx.wrap_bio(incoming, outgoing, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._ctx, name, value)
