"""Per-call TLS modes and the resolved trust decision that keys connection pools.

A request's trust decision is a :class:`TLSPolicy`: the mode (``verified``, ``pinned`` or
``unverified``), the :class:`~securl.TLSConfig`, the pins that apply to the host, the
trust-on-first-use file, and the verifiers. It is hashable and is part of the pool key
(``securl.http.pool.PoolKey``), so two requests share a connection only when their whole trust
decision is equal: an unverified call can never leave behind a connection that a later
verified call to the same host would reuse, and a pinned pool is never shared with a
verified or unverified one.

Pins from pins files are part of the decision as a *snapshot* (:class:`HostPins`) taken when
the request is made. When a file changes (a pin recorded on first use, an operator edit), the
next request has a different decision and so a different pool: a connection made before a pin
existed is never reused by a request that must check that pin. Every check itself runs once
per connection, right after its handshake (``securl.http.connection``), and a connection is
reused only within the pool whose decision it passed.

Opting out is possible only per call, with ``tls=securl.unverified(reason=...)``. There is no
session-wide or process-wide switch, and ``verify=False`` is refused with a message showing
this form and the safer alternatives. ``tls=securl.pinned(...)`` is not an opt-out: it swaps
the CA chain for a key the caller trusts and keeps protection against interception.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..exceptions import ConfigurationError
from .config import TLSConfig
from .context import create_context, create_unverified_context
from .modes import Pinned, Verifier
from .pins import check_pin_syntax

if TYPE_CHECKING:
    from .pins import HostPins, PinsFile

__all__ = ["Mode", "TLSPolicy"]

Mode = Literal["verified", "unverified", "pinned"]


@dataclass(frozen=True)
class TLSPolicy:
    """The complete trust decision for one request; equal policies may share connections.

    Attributes:
        mode: ``verified`` (CA chain + host name, by OpenSSL/the OS), ``pinned`` (the key
            replaces the chain; see :func:`pinned`) or ``unverified`` (audited opt-out).
        config: trust anchors, client certificate, TLS version, ``pins=`` (on top of the
            chain: the server's key must be one of them).
        pinned: the per-call :class:`Pinned` token (mode ``pinned`` only).
        host_pins: this host's entries in pins files, snapshot at request time; each entry
            is a separate requirement (the key must be among that file's pins).
        tofu: the pins file to record this host's key in on first contact (set only when
            the host had no entry in it); the record is made atomically per connection.
        verifiers: callables run on every new connection before a request is sent.
        ssl_context: a context the caller supplied (``securl.urllib``'s ``context=``), used
            as it is and compared by identity, so each such context gets its own pools;
            ``mode`` then says what it does: ``verified`` only if it checks both the chain and
            the host name (decided in ``securl.urllib.request``).
    """

    mode: Mode
    config: TLSConfig
    pinned: Pinned | None = None
    host_pins: tuple[HostPins, ...] = ()
    tofu: PinsFile | None = None
    verifiers: tuple[Verifier, ...] = ()
    ssl_context: ssl.SSLContext | None = None
    _hash: ClassVar[int]  # computed once: a policy is hashed on every request (pool key)

    def __post_init__(self) -> None:
        for pin in self.config.pins:
            check_pin_syntax(pin)
        if (self.mode == "pinned") != (self.pinned is not None):
            raise ValueError("mode 'pinned' goes with a Pinned token, and only it")
        if self.mode == "pinned" and not self.any_pins and self.tofu is None:
            raise ConfigurationError("tls=securl.pinned() without any pin for this host")
        object.__setattr__(self, "_hash", hash(self._key()))

    @property
    def any_pins(self) -> bool:
        """Whether any pin at all constrains the server's key."""
        return bool(self.config.pins or (self.pinned and self.pinned.pins)
                    or any(e.pins for e in self.host_pins))

    def _key(self) -> tuple[Any, ...]:
        return (self.mode, self.config, self.pinned, self.host_pins, self.tofu,
                self.verifiers, self.ssl_context)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, self._key())  # recomputes the cached hash

    def context(self, *, recheck_files: bool = False) -> ssl.SSLContext:
        """The SSLContext for this decision (cached: one per distinct mode and config).

        ``recheck_files`` is for a new connection: a verified context whose trust or key files
        changed is rebuilt first (see :func:`securl.create_context`).

        ``pinned`` and ``unverified`` contexts do not validate the chain at the OpenSSL level
        (CERT_NONE); for ``pinned`` the connection then checks the key and the host name
        itself before anything is sent. Each mode has its own cached context object. A
        caller-supplied ``ssl_context`` is returned as it is.
        """
        if self.ssl_context is not None:
            return self.ssl_context
        if self.mode == "verified":
            return create_context(self.config, recheck_files=recheck_files)
        return _chainless_context(self.mode, self.config)


_chainless_cache: dict[tuple[str, TLSConfig], ssl.SSLContext] = {}
_chainless_lock = threading.Lock()


def _chainless_context(mode: str, config: TLSConfig) -> ssl.SSLContext:
    key = (mode, config)
    ctx = _chainless_cache.get(key)
    if ctx is None:
        with _chainless_lock:
            ctx = _chainless_cache.get(key)
            if ctx is None:
                ctx = _chainless_cache[key] = create_unverified_context(config)
    return ctx
