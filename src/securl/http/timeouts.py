"""Timeouts: every network wait of a call has one, and every call has a total deadline.

Rule: securl never waits forever. `Timeouts` holds ``connect``, ``read`` and
``total``; `make_timeout` accepts the shapes callers pass (a number, a tuple, a
urllib3 ``Timeout``) and refuses ``None``, infinite, NaN and non-positive values (and
``bool``: ``True`` is not a number of seconds) with `ConfigurationError`, a
``ValueError`` naming the field. The total deadline is enforced by ``securl.http.deadline``.

A finite value may be as large as the caller likes: a single socket wait is capped at
`LONGEST_SOCKET_WAIT` (CPython's socket and TLS waits are only correct up to
2**31 - 1 milliseconds, about 24.8 days: a longer one wraps around, possibly to "forever").
"""

from __future__ import annotations

import dataclasses
import math

from urllib3.util import Timeout as Urllib3Timeout

from ..exceptions import ConfigurationError
from .deadline import Deadline

__all__ = [
    "DEFAULT_TIMEOUT", "DEFAULT_TOTAL", "LONGEST_SOCKET_WAIT", "TimeoutInput", "Timeouts",
    "make_timeout",
]

#: Default total deadline of a call, in seconds (as aiohttp's default ``total``).
DEFAULT_TOTAL = 300.0

#: The longest single socket wait (connect or read) handed to the socket, in seconds: about
#: 23 days, under the 2**31 - 1 ms where CPython's socket and TLS waits wrap around.
LONGEST_SOCKET_WAIT = 2_000_000.0


def _positive(name: str | None, value: object) -> float:
    """``value`` in seconds if it is a finite number above 0, else ConfigurationError.

    ``name`` is the field (``connect``, ``read``, ``total``) or ``None`` for a plain
    ``timeout=`` number. ``bool`` is refused (``True`` is not a number of seconds), and so are
    ``inf`` and ``nan``: they would reach the socket and the deadline watchdog.
    """
    seconds = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond float's range
            seconds = math.inf
    if not (math.isfinite(seconds) and seconds > 0):
        shown = "timeout" if name is None else f"timeout {name}"
        raise ConfigurationError(
            f"{shown}={value!r}: every timeout must be a finite, positive number of seconds; "
            "securl never waits forever"
        )
    return seconds


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Every wait of a call, in seconds.

    Attributes:
        connect: the TCP connection and the TLS handshake (default 10).
        read: the longest wait for the next bytes of the response (default 30).
        total: the whole call -- connect, TLS, request, headers, body and every redirect --
            however steadily the server keeps sending (default 300). A server that drips one
            byte per second defeats ``read`` but not ``total``: it fails with
            `DeadlineExceeded`. With ``stream=True`` reading the body counts too.

    Every value must be a finite, positive number (``int`` or ``float``, not ``bool``):
    there is no "wait forever"; ``inf``, ``nan``, 0 and negative values raise
    `ConfigurationError` (a ``ValueError``) naming the field.
    """

    connect: float = 10.0
    read: float = 30.0
    total: float = DEFAULT_TOTAL

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        # urllib3 clones the Timeout it is given and never changes it, so the uncapped one
        # is made once (not a field: equality, hash and repr are unchanged).
        object.__setattr__(self, "_uncapped", Urllib3Timeout(
            connect=min(self.connect, LONGEST_SOCKET_WAIT),
            read=min(self.read, LONGEST_SOCKET_WAIT)))

    def for_attempt(self, deadline: Deadline) -> Urllib3Timeout:
        """Socket timeouts for one attempt: ``connect``/``read``, capped at the time left
        (and at `LONGEST_SOCKET_WAIT`)."""
        left = deadline.remaining()
        if left >= self.connect and left >= self.read:
            return self._uncapped  # type: ignore[attr-defined, no-any-return]
        left = min(max(left, 0.001), LONGEST_SOCKET_WAIT)
        return Urllib3Timeout(connect=min(self.connect, left), read=min(self.read, left))


TimeoutInput = (
    float | tuple[float, float] | tuple[float, float, float] | Timeouts | Urllib3Timeout | None
)

#: Connect (TCP + TLS handshake), read (between bytes) and total (whole call), in seconds.
DEFAULT_TIMEOUT = Timeouts()


def make_timeout(timeout: TimeoutInput) -> Timeouts:
    """``timeout`` as `Timeouts`.

    Accepts a number (connect and read), ``(connect, read)``, ``(connect, read, total)``,
    a `Timeouts` or a urllib3 ``Timeout`` (its ``total``, if set, becomes ours).
    Where no total is given it is `DEFAULT_TOTAL`. Rule: never an infinite wait, so
    ``None`` components, ``inf``, ``nan``, ``bool`` and non-positive values are refused
    (`ConfigurationError`, naming the field, or ``timeout`` for a number).
    """
    if isinstance(timeout, Timeouts):
        return timeout
    if isinstance(timeout, Urllib3Timeout):
        total = timeout.total
        return Timeouts(timeout.connect_timeout, timeout.read_timeout,  # type: ignore[arg-type]
                        total if isinstance(total, (int, float)) else DEFAULT_TOTAL)
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        seconds = _positive(None, timeout)
        return Timeouts(seconds, seconds)
    if isinstance(timeout, tuple) and len(timeout) in (2, 3):
        return Timeouts(*timeout)
    raise ConfigurationError(
        f"timeout={timeout!r}: give seconds as a number, a (connect, read) tuple or "
        "securl.Timeouts(connect=, read=, total=); securl never waits forever"
    )
