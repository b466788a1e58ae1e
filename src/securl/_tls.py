"""Per-call TLS modes and the resolved trust decision that keys connection pools.

A request's trust decision is a :class:`TLSPolicy`: the mode (``verified`` or
``unverified``), the :class:`~securl.TLSConfig`, and any pins. It is hashable and is part of
the pool key (``securl._pool.PoolKey``), so two requests share a connection only when their
whole trust decision is equal: an unverified call can never leave behind a connection that
a later verified call to the same host would reuse.

Opting out is possible only per call, with ``tls=securl.unverified(reason=...)``. There is no
session-wide or process-wide switch, and ``verify=False`` is refused with a message showing
this form and the safer alternatives.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import threading
from dataclasses import dataclass
from typing import ClassVar, Literal

from ._config import TLSConfig
from ._context import create_context, create_unverified_context
from .exceptions import ConfigurationError, PolicyError

__all__ = ["TLSPolicy", "Unverified", "check_pin_syntax", "reject_verify_argument", "unverified"]

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


@dataclass(frozen=True)
class TLSPolicy:
    """The complete trust decision for one request; equal policies may share connections."""

    mode: Literal["verified", "unverified"]
    config: TLSConfig
    _hash: ClassVar[int]  # computed once: a policy is hashed on every request (pool key)

    def __post_init__(self) -> None:
        for pin in self.config.pins:
            check_pin_syntax(pin)
        object.__setattr__(self, "_hash", hash((self.mode, self.config)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, (self.mode, self.config))  # recomputes the cached hash

    def context(self) -> ssl.SSLContext:
        """The SSLContext for this decision (cached: one per distinct policy)."""
        if self.mode == "verified":
            return create_context(self.config)
        return _unverified_context(self.config)


_unverified_cache: dict[TLSConfig, ssl.SSLContext] = {}
_unverified_lock = threading.Lock()


def _unverified_context(config: TLSConfig) -> ssl.SSLContext:
    ctx = _unverified_cache.get(config)
    if ctx is None:
        with _unverified_lock:
            ctx = _unverified_cache.get(config)
            if ctx is None:
                ctx = _unverified_cache[config] = create_unverified_context(config)
    return ctx
