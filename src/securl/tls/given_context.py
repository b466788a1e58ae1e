"""A caller's own SSLContext (the urllib drop-in's ``context=``): its state, and the trust
decisions derived from it, cached.

Deriving a `TrustDecision` from a context (what it verifies, the
policy's TLS floor, a new decision object to hash) on every request cost as much as the rest
of a keep-alive request. So the decision made for a context is kept, keyed by two things:

* the context object itself (identity), held weakly: a context the caller drops can be
  garbage-collected, and its entries go with it;
* `context_state`, a fingerprint of everything in the context that decides what it
  trusts, read on every request (a few C-level reads, no allocation of enums): verify mode,
  host name check, minimum and maximum TLS version, verification flags, options, and the
  certificate store's counts (CAs, certificates, CRLs), which change when a CA file or CRL is
  loaded into it.

Rules:

* A context whose state differs from the one a decision was made for is judged again, from
  scratch; its decision carries the new state (``TrustDecision.context_state``), so it also
  gets new connection pools: a connection (or a TLS session) made under the old state is
  never reused under the new one, whichever of the two was stronger.
* The admin policy object is part of the entry: a different policy re-derives everything.
* Only decisions that depend on nothing but the context are kept (a context that verifies,
  no pins file, no per-call pins, certificate or verifiers); an opt-out is decided, audited
  and warned on every request, never served from here.
* An entry holds its decision weakly: the decision lives as long as the connection pool keyed
  by it (which holds the context), and a decision never keeps its context alive through this
  cache.

What the fingerprint cannot see: a CA directory added with ``load_verify_locations(capath=)``
(OpenSSL reads it lazily, so the counts move only once a certificate is read from it). Adding
trust anchors only widens what a context accepts, and nothing can remove one from a context,
so a connection verified before such a change was verified under a narrower trust than the
context now has; every change that can narrow trust (mode, flags, options, versions, a CRL)
is in the fingerprint.
"""

from __future__ import annotations

import _ssl
import ssl
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .decision import TrustDecision

__all__ = ["ContextDecisions", "ContextState", "context_state"]

#: verify_mode, check_hostname, minimum_version, maximum_version, verify_flags, options, the
#: host name flags (hostname_checks_common_name), OpenSSL's security level, then the
#: certificate store's counts (x509_ca, x509, crl).
ContextState = tuple[int, ...]

# The C-level getters: raw integers, as OpenSSL holds them (ssl.SSLContext's properties wrap
# most of them in enum objects, which costs more than the rest of the fingerprint).
_C: Any = _ssl._SSLContext
_GETTERS = tuple(_C.__dict__[name].__get__ for name in (
    "verify_mode", "check_hostname", "minimum_version", "maximum_version", "verify_flags",
    "options", "_host_flags", "security_level"))
_STORE_STATS = _C.cert_store_stats


def context_state(ctx: ssl.SSLContext) -> ContextState:
    """The fingerprint of what ``ctx`` trusts and how it verifies (module docstring)."""
    stats = _STORE_STATS(ctx)
    return (*[int(get(ctx)) for get in _GETTERS],
            stats["x509_ca"], stats["x509"], stats["crl"])


class ContextDecisions:
    """The decisions made for callers' contexts, by context identity and state (module rules)."""

    __slots__ = ("_entries", "_lock")

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[
            ssl.SSLContext, tuple[ContextState, object, weakref.ref[TrustDecision]]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, ctx: ssl.SSLContext, state: ContextState, policy: object
            ) -> TrustDecision | None:
        """The decision made for ``ctx`` in exactly this ``state`` under ``policy``, if kept."""
        try:
            entry = self._entries.get(ctx)
        except TypeError:  # pragma: no cover - an unhashable or unweakrefable context
            return None
        if entry is None or entry[0] != state or entry[1] is not policy:
            return None
        return entry[2]()

    def put(self, ctx: ssl.SSLContext, state: ContextState, policy: object,
            decision: TrustDecision) -> None:
        """Keep ``decision`` for ``ctx`` in ``state`` (replacing what was kept for it)."""
        try:
            with self._lock:
                self._entries[ctx] = (state, policy, weakref.ref(decision))
        except TypeError:  # pragma: no cover - a context that cannot be weakly referenced
            pass
