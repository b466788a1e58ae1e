"""Retries: which failed attempts of a call are sent again, and how long to wait first.

Nothing is retried unless asked (``Session(retries=...)`` or ``retries=`` on a call). The
rules, each decided here:

* **Methods**: only idempotent ones (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) unless
  `Retries.allowed_methods` says otherwise.
* **Errors**: only failures to connect (`ConnectionError`,
  `ConnectTimeout`). A method outside the idempotent set is retried only when
  the connection was never made, so no byte of the request can have reached the server. A TLS
  verification failure, a pin mismatch, a policy refusal, a read timeout and the call's
  deadline are never retried: none of them is cured by asking again.
* **Statuses**: those in `Retries.status_forcelist` (default 429, 502, 503, 504).
* **Waits**: ``backoff_factor * 2 ** (retry - 1)`` seconds, at most ``backoff_max``; a
  ``Retry-After`` header (seconds or an HTTP-date) replaces it, up to ``retry_after_max``.
* **Deadline**: every attempt and every wait is inside the call's total deadline
  (``securl.http.deadline``). A wait that would end past it is not started: the last response
  is returned (or the last error raised) at once.
* **Body**: a streamed body (an iterator or file) cannot be sent twice, so it is never retried.
* **Audit**: every retry emits ``securl.retry`` (attempt, reason, status, wait, redacted URL,
  method) before it waits.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .._audit import emit
from .._redact import redact_url
from ..exceptions import ConfigurationError, ConnectionError, ConnectTimeout, TransportError

if TYPE_CHECKING:
    from .deadline import Deadline
    from .target import Target

__all__ = ["IDEMPOTENT_METHODS", "Retries", "RetriesInput", "RetryState", "coerce_retries"]

#: Methods RFC 9110 section 9.2.2 calls idempotent: sending them twice does no more harm.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Statuses retried by default: too many requests, bad gateway, unavailable, gateway timeout.
DEFAULT_STATUS_FORCELIST = frozenset({429, 502, 503, 504})


def _number(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"Retries({name}={value!r}): give a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        raise ConfigurationError(
            f"Retries({name}={value!r}): must be a finite number of seconds"
            + (" above 0" if positive else ", 0 or more")
        )
    return seconds


@dataclasses.dataclass(frozen=True)
class Retries:
    """When a call sends a failed attempt again (see ``docs/retries.md``).

    Attributes:
        total: the most retries per call (0: none). Each retry is one more attempt.
        backoff_factor: seconds; the n-th retry waits ``backoff_factor * 2 ** (n - 1)``
            (default 0: retry at once), at most ``backoff_max``.
        backoff_max: the longest backoff wait, in seconds (default 120).
        status_forcelist: statuses to retry (default 429, 502, 503, 504).
        allowed_methods: methods that may be retried (default the idempotent ones: GET, HEAD,
            OPTIONS, PUT, DELETE, TRACE). A method added here that is not idempotent is
            retried after a status in ``status_forcelist``, but after an error only when the
            connection was never made.
        respect_retry_after: wait as long as a ``Retry-After`` header asks (default True).
        retry_after_max: the longest ``Retry-After`` honoured, in seconds (default 60): a
            longer one is cut to this.

    Every wait stays inside the call's total deadline. Invalid values raise
    `ConfigurationError`.
    """

    total: int = 3
    backoff_factor: float = 0.0
    backoff_max: float = 120.0
    status_forcelist: frozenset[int] = DEFAULT_STATUS_FORCELIST
    allowed_methods: frozenset[str] = IDEMPOTENT_METHODS
    respect_retry_after: bool = True
    retry_after_max: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.total, bool) or not isinstance(self.total, int) or self.total < 0:
            raise ConfigurationError(f"Retries(total={self.total!r}): give a number, 0 or more")
        set_ = object.__setattr__
        set_(self, "backoff_factor", _number("backoff_factor", self.backoff_factor))
        set_(self, "backoff_max", _number("backoff_max", self.backoff_max))
        set_(self, "retry_after_max", _number("retry_after_max", self.retry_after_max))
        if not isinstance(self.respect_retry_after, bool):
            raise ConfigurationError("Retries(respect_retry_after=...) must be True or False")
        set_(self, "status_forcelist", _statuses(self.status_forcelist))
        set_(self, "allowed_methods", _methods(self.allowed_methods))

    def backoff(self, retry: int) -> float:
        """The wait before the ``retry``-th retry (1-based) when no Retry-After applies."""
        if self.backoff_factor == 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * 2.0 ** (retry - 1)))


def _statuses(value: object) -> frozenset[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"Retries(status_forcelist={value!r}): give a collection of status codes")
    out = frozenset(value)
    for status in out:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ConfigurationError(
                f"Retries(status_forcelist=...): {status!r} is not an HTTP status (100-599)")
    return out


def _methods(value: object) -> frozenset[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"Retries(allowed_methods={value!r}): give a collection of method names")
    out = set()
    for method in value:
        if not isinstance(method, str) or not method.isalpha():
            raise ConfigurationError(
                f"Retries(allowed_methods=...): {method!r} is not a method name")
        out.add(method.upper())
    return frozenset(out)


RetriesInput = Retries | int | None


def coerce_retries(value: object) -> Retries | None:
    """``retries=`` as `Retries`, or None for no retries (``None``, ``0``)."""
    if value is None:
        return None
    if isinstance(value, Retries):
        return value if value.total > 0 else None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigurationError(f"retries={value!r}: give a number, 0 or more")
        return Retries(total=value) if value else None
    raise ConfigurationError(
        f"retries= must be a number of retries or securl.Retries(...), not "
        f"{type(value).__name__}"
    )


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (RFC 9110 section 10.2.3), or None."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _connection_never_made(error: TransportError) -> bool:
    """True when ``error`` happened before the connection existed (nothing was sent)."""
    if isinstance(error, ConnectTimeout):
        return True
    from urllib3.exceptions import NewConnectionError

    return isinstance(error.reason, NewConnectionError)


class RetryState:
    """The retries of one call: counts them, decides each one, audits it and waits."""

    __slots__ = ("_deadline", "_done", "_rules")

    def __init__(self, rules: Retries, deadline: Deadline) -> None:
        self._rules = rules
        self._deadline = deadline
        self._done = 0

    def after_error(self, error: Exception, method: str, target: Target,
                    replayable: bool) -> bool:
        """True to send again after ``error`` (waited for already); False to raise it."""
        rules = self._rules
        if not isinstance(error, (ConnectionError, ConnectTimeout)) or not replayable:
            return False
        if method not in rules.allowed_methods:
            return False
        if method not in IDEMPOTENT_METHODS and not _connection_never_made(error):
            return False
        return self._retry(target, method, type(error).__name__, None, None)

    def wants(self, status: int, method: str) -> bool:
        """Whether a ``status`` answer to ``method`` is one to retry, if retries are left."""
        rules = self._rules
        return status in rules.status_forcelist and method in rules.allowed_methods

    def after_status(self, status: int, headers: Mapping[str, str], method: str,
                     target: Target, replayable: bool) -> bool:
        """True to send again after a ``status`` response (waited for already)."""
        rules = self._rules
        if not self.wants(status, method) or not replayable:
            return False
        asked = retry_after(headers) if rules.respect_retry_after else None
        if asked is not None:
            asked = min(asked, rules.retry_after_max)
        return self._retry(target, method, "status", status, asked)

    def _retry(self, target: Target, method: str, reason: str, status: int | None,
               asked: float | None) -> bool:
        rules = self._rules
        if self._done >= rules.total:
            return False
        wait = asked if asked is not None else rules.backoff(self._done + 1)
        if wait >= self._deadline.remaining():
            return False  # never sleep past the call's deadline
        self._done += 1
        emit("retry", host=target.host, port=target.port, attempt=self._done + 1,
             reason=reason, status=status, wait=round(wait, 3), url=redact_url(target.url),
             method=method)
        if wait > 0:
            time.sleep(wait)
        return True
