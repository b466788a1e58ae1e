"""Total deadlines: a wall-clock limit for a whole call, enforced even against slow drips.

A per-read timeout cannot stop a server that sends one byte every second: every single read
finishes in time. So each call gets a `Deadline` (``Timeouts.total``) that covers
connecting, the TLS handshake, sending, the response headers, the body and every redirect.

Rules:

* Before each attempt the socket timeouts are capped at the time left
  (`Deadline.remaining`), so an idle server trips the deadline without help.
* While a connection works for the call it is *watched*: one shared watchdog thread shuts the
  connection's socket down (``shutdown(SHUT_RDWR)``, which wakes a blocked read) when the
  deadline passes. The blocked call then fails, and ``securl.http.errors`` reports
  `DeadlineExceeded` because `Deadline.expired` is set.
* A connection is unwatched before it goes back to the pool (`unwatch_returning`, called
  by securl's pools, and `Deadline.release` when the call ends), under the same lock the
  watchdog fires under, so a deadline can never touch a connection another call is using.
  A connection whose deadline fired is closed, never reused.
* The watchdog is one daemon thread for the whole process, started on first use; it costs
  nothing while idle.
* The watchdog never dies of a deadline: it waits at most `_LONGEST_WAIT` at a time
  (however far away the next expiry is; a deadline that can never pass, such as an infinite
  one, is not queued at all), and an error while firing a deadline is contained in that
  deadline (waking a socket is best effort: the call still ends at its socket timeouts), so
  the thread goes on serving every other call and no traceback is printed.
"""

from __future__ import annotations

import _socket
import contextlib
import heapq
import itertools
import math
import socket
import threading
import time
from typing import Any

__all__ = ["Deadline", "current", "unwatch_returning", "watch_current"]

#: The longest single wait of the watchdog thread, in seconds. A later expiry is waited for
#: in steps: an unbounded wait can overflow the platform's lock timeout (OverflowError).
_LONGEST_WAIT = 3600.0


class Deadline:
    """The wall-clock limit of one call; `watch` connections while they work for it."""

    __slots__ = ("__weakref__", "_conns", "_lock", "expired", "expires", "total")

    def __init__(self, total: float) -> None:
        self.total = total
        self.expires = time.monotonic() + total
        self.expired = False
        self._conns: list[Any] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.expires - time.monotonic())

    @property
    def passed(self) -> bool:
        """True once the deadline has fired or the time is up."""
        return self.expired or time.monotonic() >= self.expires

    def watch(self, conn: Any) -> None:
        """Shut ``conn``'s socket down if the deadline passes while it is watched."""
        with self._lock:
            if any(c is conn for c in self._conns):
                return
            self._conns.append(conn)
            fired = self.expired
        if fired:
            _shutdown(conn)
        else:
            _watchdog.add(self)

    def unwatch(self, conn: Any) -> None:
        """Stop watching ``conn`` alone: it is going back to its pool while the call goes on."""
        with self._lock:
            self._conns = [c for c in self._conns if c is not conn]

    def release(self) -> None:
        """Stop watching every connection (call before a connection returns to the pool)."""
        with self._lock:
            self._conns.clear()
        _watchdog.remove(self)

    def fire(self) -> None:
        """Called by the watchdog at the deadline: mark expired, wake every watched socket."""
        with self._lock:
            self.expired = True
            conns, self._conns = self._conns, []
            for conn in conns:
                _shutdown(conn)


def _shutdown(conn: Any) -> None:
    """Wake a read blocked on ``conn``'s socket without touching its TLS state.

    Best effort, and it never raises: it runs on the watchdog thread, which has no caller to
    report to, and the call it wakes still ends at its socket timeouts if it cannot be woken.
    """
    # The base-class call acts on the file descriptor; SSLSocket.shutdown would also
    # drop the TLS object under a read that another thread is still inside.
    with contextlib.suppress(Exception):
        sock = getattr(conn, "sock", None)
        if sock is not None:
            _socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread firing deadlines in expiry order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._queued: set[int] = set()
        self._cancelled = 0
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        if not math.isfinite(deadline.expires):
            return  # it never passes (and NaN would break the heap's order)
        with self._cond:
            if id(deadline) in self._queued:
                return
            self._queued.add(id(deadline))
            heapq.heappush(self._heap, (deadline.expires, next(self._seq), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="securl-deadline-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._cond.notify()

    def remove(self, deadline: Deadline) -> None:
        """Forget ``deadline`` (lazily: its heap entry is skipped, and compacted in bulk)."""
        with self._cond:
            if id(deadline) not in self._queued:
                return
            self._queued.discard(id(deadline))
            self._cancelled += 1
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if id(e[2]) in self._queued]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            deadline = self._next_due()
            with contextlib.suppress(Exception):  # contained in that deadline (module rules)
                deadline.fire()

    def _next_due(self) -> Deadline:
        """Wait for the first queued deadline to be due; take it off the queue."""
        with self._cond:
            while True:
                while not self._heap:
                    self._cond.wait()
                expires, _, deadline = self._heap[0]
                delay = expires - time.monotonic()
                if delay > 0:
                    self._cond.wait(min(delay, _LONGEST_WAIT))
                    continue
                heapq.heappop(self._heap)
                if id(deadline) not in self._queued:
                    self._cancelled = max(0, self._cancelled - 1)
                    continue
                self._queued.discard(id(deadline))
                return deadline

    def __len__(self) -> int:
        return len(self._heap)


_watchdog = _Watchdog()
_local = threading.local()


def current() -> Deadline | None:
    """The deadline of the call running in this thread, if any."""
    return getattr(_local, "deadline", None)


def set_current(deadline: Deadline | None) -> Deadline | None:
    """Make ``deadline`` this thread's current one; returns the previous one."""
    previous = current()
    _local.deadline = deadline
    return previous


class _HandedOverSocket:
    """The socket a response reads its body from, in the shape ``_shutdown`` expects."""

    __slots__ = ("sock",)

    def __init__(self, sock: Any) -> None:
        self.sock = sock


def watch_response(deadline: Deadline, raw: Any) -> None:
    """Watch the socket ``raw`` (a urllib3 response) reads its body from.

    After ``Connection: close`` http.client hands that socket to the response and its
    connection drops it (``conn.sock`` becomes None), so watching the connection alone
    would leave a dripped body beyond the deadline's reach.
    """
    response = getattr(raw, "_fp", None)  # http.client's response
    if not getattr(response, "will_close", False):
        return  # the connection keeps its socket, and the deadline watches the connection
    reader = getattr(response, "fp", None)  # http.client's buffered file
    sock = getattr(getattr(reader, "raw", None), "_sock", None)  # its socket.SocketIO
    if sock is not None:
        deadline.watch(_HandedOverSocket(sock))


def watch_current(conn: Any) -> None:
    """Watch ``conn`` for the call running in this thread (connections call this)."""
    deadline = current()
    if deadline is not None:
        deadline.watch(conn)
        conn.securl_deadline = deadline


def unwatch_returning(conn: Any) -> None:
    """``conn`` is going back to its pool (securl's pools call this): the deadline of the call
    that used it stops watching it first, so that it can never fire on a connection another
    call has taken. urllib3 hands a connection back as soon as its body is read, which is
    before the call itself ends and releases its deadline."""
    deadline = getattr(conn, "securl_deadline", None)
    if deadline is not None:
        conn.securl_deadline = None
        deadline.unwatch(conn)
