"""Per-call TLS modes and the resolved trust decision that keys connection pools.

A request's trust decision is a :class:`TLSPolicy`: the mode (``verified``, ``pinned`` or
``unverified``), the :class:`~securl.TLSConfig`, the pins that apply to the host, the
trust-on-first-use file, and the verifiers. It is hashable and is part of the pool key
(``securl._pool.PoolKey``), so two requests share a connection only when their whole trust
decision is equal: an unverified call can never leave behind a connection that a later
verified call to the same host would reuse, and a pinned pool is never shared with a
verified or unverified one.

Pins from pins files are part of the decision as a *snapshot* (:class:`HostPins`) taken when
the request is made. When a file changes (a pin recorded on first use, an operator edit), the
next request has a different decision and so a different pool: a connection made before a pin
existed is never reused by a request that must check that pin. Every check itself runs once
per connection, right after its handshake (``securl._connection``), and a connection is
reused only within the pool whose decision it passed.

Opting out is possible only per call, with ``tls=securl.unverified(reason=...)``. There is no
session-wide or process-wide switch, and ``verify=False`` is refused with a message showing
this form and the safer alternatives. ``tls=securl.pinned(...)`` is not an opt-out: it swaps
the CA chain for a key the caller trusts and keeps protection against interception.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ._config import TLSConfig
from ._context import create_context, create_unverified_context
from .exceptions import ConfigurationError, PolicyError

if TYPE_CHECKING:
    from ._pinning import HostPins, PinsFile

__all__ = ["Pinned", "TLSPolicy", "Unverified", "check_pin_syntax", "pinned",
           "reject_verify_argument", "unverified"]

#: A verifier: called with a :class:`securl.PeerInfo` before a request is sent; raises to reject.
Verifier = Callable[[Any], object]

OPT_OUT_HELP = (
    "Verification can only be turned off per call, with a stated reason, and every such call "
    "is audited:\n"
    "    securl.get(url, tls=securl.unverified(reason=\"lab switch, self-signed, INC-4711\"))\n"
    "Safer alternatives that keep protection against interception:\n"
    "  * trust the server's private CA:   securl.Session(ca_certs=\"ca.pem\")\n"
    "  * pin the server's public key:     pins=[\"sha256/...\"]  (see `securl pin URL`)"
)


@dataclass(frozen=True)
class Unverified:
    """A per-call opt-out of certificate verification; make it with :func:`unverified`."""

    reason: str

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ConfigurationError(
                "securl.unverified() needs a non-empty reason= saying why verification is "
                "skipped (it is written to the audit log)"
            )


def unverified(reason: str) -> Unverified:
    """Opt this one call out of certificate and hostname verification.

    ``reason`` is required and goes into the ``securl.unverified_request`` audit event with
    the calling file and line. Admin policy may forbid opt-outs (``allow_unverified = false``).
    """
    return Unverified(reason)


@dataclass(frozen=True)
class Pinned:
    """Trust a public key instead of a CA chain for one call; make it with :func:`pinned`."""

    pins: tuple[str, ...]
    reason: str
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ConfigurationError(
                "securl.pinned() needs a non-empty reason= saying why this server is trusted "
                "by its key rather than by a CA (it is written to the audit log)"
            )
        pins = self.pins
        if isinstance(pins, str):
            pins = (pins,)
        object.__setattr__(self, "pins", tuple(check_pin_syntax(p) for p in pins))
        if not isinstance(self.check_hostname, bool):
            raise ConfigurationError("securl.pinned(check_hostname=) must be True or False")


def pinned(*pins: str | tuple[str, ...] | list[str], reason: str,
           check_hostname: bool = True) -> Pinned:
    """Trust the server of this one call by its public key (SSH-style), not by a CA.

    For devices with self-signed certificates: the certificate chain is *not* validated;
    instead the server's SubjectPublicKeyInfo must match one of ``pins``
    (``"sha256/<base64>"``, printed by ``securl pin URL``) and, unless
    ``check_hostname=False``, the host name must be one the certificate's subjectAltName
    lists. Certificate dates are ignored, as SSH ignores them: the key is what is trusted.

    With no pins here, the host's pins come from the Session's ``pins_file=`` (or the admin
    policy's), and with ``Session(trust_on_first_use=True)`` the first key seen is recorded.
    ``reason`` is required and goes into the ``securl.pinned_request`` audit event. This is
    not an opt-out of verification, so ``allow_unverified = false`` in admin policy does not
    forbid it (it does forbid accepting a first key unseen, see trust on first use).
    """
    flat: list[str] = []
    for pin in pins:
        flat.extend([pin] if isinstance(pin, str) else pin)
    return Pinned(tuple(flat), reason, check_hostname)


def check_pin_syntax(pin: str) -> str:
    """Return ``pin`` if it is ``sha256/<base64 of 32 bytes>``, else raise ConfigurationError."""
    if isinstance(pin, str) and pin.startswith("sha256/"):
        try:
            if len(base64.b64decode(pin[7:], validate=True)) == 32:
                return pin
        except (binascii.Error, ValueError):
            pass
    raise ConfigurationError(
        f"pin {pin!r} is not of the form 'sha256/<base64 SHA-256 of the public key>'; "
        "`securl pin URL` prints a server's pin"
    )


def reject_verify_argument(verify: object, where: str) -> None:
    """Refuse ``verify=False`` (and other requests-style values) with guidance.

    ``verify=True`` is accepted as a no-op, so code migrating from requests keeps working.
    """
    if verify is True:
        return
    if verify is False:
        raise PolicyError(f"verify=False is not accepted by {where}.\n{OPT_OUT_HELP}")
    raise ConfigurationError(
        f"verify={verify!r} is not accepted by {where}: to trust a CA bundle, pass "
        "ca_certs=<path or PEM> instead"
    )


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
