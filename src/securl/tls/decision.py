"""The trust decision: what one request trusts. The one place it is made, for both front-ends.

`TrustSettings.decide` turns what a front-end holds (a Session's ``TLSConfig``,
``pins_file``, ``trust_on_first_use`` and ``verifiers``; the urllib drop-in's defaults) plus
what one call asks for (``tls=``, ``cert=``, ``pins=``, ``verifiers=``, or urllib's
``context=``) into a `TrustDecision`. ``securl.Session`` and ``securl.urllib`` both
call it and neither builds trust on its own, so these rules hold for both by construction:

* **Admin pins**: the admin policy's ``pins_file`` is consulted for every https request; a
  host it lists must present one of its pins (it is never written to, and a missing or
  malformed file fails the request).
* **The front-end's pins file**: a host listed there must present one of its pins; with
  trust on first use a host not yet listed is recorded on first contact, never for an
  opt-out (an opt-out trusts nothing, so it records nothing).
* **Opting out** (``tls=securl.unverified(reason=...)``; urllib: a ``context=`` that does
  not check the chain or the host name, or ``HTTPSHandler(check_hostname=False)``) passes
  `_allow_opt_out`: admin policy ``allow_unverified = false`` refuses it with
  `PolicyError` before anything is sent; otherwise it is audited
  (``securl.unverified_request``, with the caller's file:line and what was off) and warned
  (`InsecureRequestWarning`), whatever the warning filters say. urllib's
  ``check_hostname=False`` with a context that still checks the chain (or with no context)
  turns off the host name check only: mode ``chain-only``, the chain still verified
  (against the context's CAs, else securl's trust); ``verify_mode=CERT_NONE`` turns off
  certificate verification (mode ``unverified``).
* **An opt-out covers the origin named in the call**: after a redirect to another origin
  the front-end decides again without it (``securl.Session`` drops ``tls=``; the drop-in
  passes ``left_origin=True``, which sets aside a ``context=`` that does not verify), and
  it is not regained by a redirect back. A ``context=`` that verifies only names whom to
  trust, so it applies to every hop.
* **Pinned calls** (``tls=securl.pinned(...)``) are audited (``securl.pinned_request``) and
  are not opt-outs, except trusting a first key unseen, which ``allow_unverified = false``
  refuses.
* **Minimum TLS version**: securl's own contexts take admin policy's
  ``minimum_tls_version`` (``securl.tls.context``); a caller's ``context=`` that allows
  less is refused.

A `TrustDecision` is hashable and is part of the pool key (``securl.http.pool``), so
two requests share a connection only when their whole decision is equal: an unverified call
never leaves behind a connection that a later verified call to the same host would reuse.
Pins from pins files are part of it as a *snapshot* (`HostPins`)
taken when the request is made: when a file changes, the next request has a different
decision and so a different pool. The checks themselves run once per connection, right after
its handshake (``securl.http.connection``).
"""

from __future__ import annotations

import dataclasses
import ssl
import threading
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .._audit import emit
from .._caller import caller_location, external_stacklevel
from .._policy import check_unverified_allowed, get_policy
from .._redact import redact_url
from ..exceptions import ConfigurationError, InsecureRequestWarning, InvalidRequest, PolicyError
from .config import TLSConfig
from .context import build_context, create_context, create_unverified_context
from .given_context import ContextDecisions, ContextState, context_state
from .modes import Pinned, Unverified, Verifier
from .pins import HostPins, PinsFile, check_pin_syntax, policy_pins_file

if TYPE_CHECKING:
    from ..http.target import Target

__all__ = ["CertInput", "Mode", "TrustDecision", "TrustSettings", "cert_fields",
           "check_verifiers"]

Mode = Literal["verified", "chain-only", "unverified", "pinned"]
#: ``cert=``: ``'both.pem'``, ``(cert, key)`` or ``(cert, key, password)``.
CertInput = str | tuple[str, str] | tuple[str, str, str] | None


@dataclasses.dataclass(frozen=True)
class TrustDecision:
    """The complete trust decision for one request; equal decisions may share connections.

    Attributes:
        mode: ``verified`` (CA chain + host name, by OpenSSL/the OS), ``pinned`` (the key
            replaces the chain; see `securl.pinned`), ``chain-only`` (the CA chain is
            verified, the host name is not: the drop-in's audited ``check_hostname=False``)
            or ``unverified`` (audited opt-out).
        config: trust anchors, client certificate, TLS version, ``pins=`` (on top of the
            chain: the server's key must be one of them).
        pinned: the per-call `Pinned` token (mode ``pinned`` only).
        host_pins: this host's entries in pins files, snapshot at request time; each entry
            is a separate requirement (the key must be among that file's pins).
        tofu: the pins file to record this host's key in on first contact (set only when
            the host had no entry in it); the record is made atomically per connection.
        verifiers: callables run on every new connection before a request is sent.
        ssl_context: a context the caller supplied (``securl.urllib``'s ``context=``), used
            as it is and compared by identity, so each such context gets its own pools;
            ``mode`` then says what it does: ``verified`` only if it checks both the chain and
            the host name, ``chain-only`` if it checks the chain alone.
        context_state: the fingerprint of ``ssl_context`` when the decision was made
            (``securl.tls.given_context``): a context changed since gets other pools, so a
            connection made under its old state is never reused under the new one.
    """

    mode: Mode
    config: TLSConfig
    pinned: Pinned | None = None
    host_pins: tuple[HostPins, ...] = ()
    tofu: PinsFile | None = None
    verifiers: tuple[Verifier, ...] = ()
    ssl_context: ssl.SSLContext | None = None
    context_state: ContextState | None = None
    _hash: ClassVar[int]  # computed once: a decision is hashed on every request (pool key)

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

    @property
    def chain_verified(self) -> bool:
        """Whether OpenSSL (or the OS) verifies the certificate chain (``verified``,
        ``chain-only``)."""
        return self.mode in ("verified", "chain-only")

    def _key(self) -> tuple[Any, ...]:
        return (self.mode, self.config, self.pinned, self.host_pins, self.tofu,
                self.verifiers, self.ssl_context, self.context_state)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, self._key())  # recomputes the cached hash

    def context(self, *, recheck_files: bool = False) -> ssl.SSLContext:
        """The SSLContext for this decision (cached: one per distinct mode and config).

        ``recheck_files`` is for a new connection: a verified context whose trust or key files
        changed is rebuilt first (see `securl.create_context`).

        ``pinned`` and ``unverified`` contexts do not validate the chain at the OpenSSL level
        (CERT_NONE); for ``pinned`` the connection then checks the key and the host name
        itself before anything is sent. A ``chain-only`` context is the verified one's twin
        without ``check_hostname`` (`_chain_only_context`). Each mode has its own cached
        context object. A caller-supplied ``ssl_context`` is returned as it is.
        """
        if self.ssl_context is not None:
            return self.ssl_context
        if self.mode == "verified":
            return create_context(self.config, recheck_files=recheck_files)
        if self.mode == "chain-only":
            return _chain_only_context(self.config, recheck_files=recheck_files)
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


_chain_only_cache: dict[TLSConfig, tuple[ssl.SSLContext, ssl.SSLContext]] = {}


def _chain_only_context(config: TLSConfig, *, recheck_files: bool) -> ssl.SSLContext:
    """A context that verifies the chain like ``create_context(config)`` but not the name.

    Rule: it is rebuilt whenever the verified context for ``config`` is (a trust or key file
    changed, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` changed, the cache was cleared), and fails
    as that one fails, so it never verifies against CAs the verified context no longer
    trusts. It is shared by every chain-only pool with this config, so it is sealed as
    built (urllib3 re-asserts ``check_hostname=False`` on it, which the seal allows), and it
    is never handed to a verified pool.
    """
    verified = create_context(config, recheck_files=recheck_files)
    cached = _chain_only_cache.get(config)
    if cached is not None and cached[0] is verified:
        return cached[1]
    with _chainless_lock:
        cached = _chain_only_cache.get(config)
        if cached is None or cached[0] is not verified:
            ctx = build_context(config, seal=False)
            ctx.check_hostname = False
            ctx.seal()  # type: ignore[attr-defined]
            cached = _chain_only_cache[config] = (verified, ctx)
    return cached[1]


def cert_fields(cert: CertInput) -> dict[str, Any]:
    """``cert=`` as TLSConfig fields (``client_cert``, ``client_key``, ``client_key_password``)."""
    if cert is None:
        return {}
    if isinstance(cert, str):
        return {"client_cert": cert}
    if isinstance(cert, tuple) and len(cert) in (2, 3):
        out: dict[str, Any] = {"client_cert": cert[0], "client_key": cert[1]}
        if len(cert) == 3:
            out["client_key_password"] = cert[2]
        return out
    raise ConfigurationError(
        "cert= must be 'client.pem', ('client.pem', 'client.key') or "
        "('client.pem', 'client.key', password)"
    )


def check_verifiers(verifiers: Iterable[Verifier] | None, where: str) -> tuple[Verifier, ...]:
    """``verifiers=`` as a tuple of hashable callables (they are part of the pool key)."""
    if verifiers is None:
        return ()
    if callable(verifiers):
        verifiers = (verifiers,)
    out = tuple(verifiers)
    for fn in out:
        if not callable(fn):
            raise ConfigurationError(f"{where}: verifiers= must hold callables, got {fn!r}")
        try:
            hash(fn)
        except TypeError:
            raise ConfigurationError(
                f"{where}: verifier {fn!r} is not hashable; verifiers are part of the "
                "connection-pool key (use a function or a frozen dataclass)"
            ) from None
    return out


def _context_opt_out(ctx: ssl.SSLContext, target: Target) -> Unverified | None:
    """What a caller's ``context=`` means: None if it verifies, else the opt-out it is.

    Rule: a context that allows older TLS than admin policy's ``minimum_tls_version`` is
    refused whatever it verifies; one that checks both the chain (``verify_mode`` not
    ``CERT_NONE``) and the host name is used as it is; one that checks the chain but not the
    name is an opt-out of the name check only (mode ``chain-only``); one with ``CERT_NONE``
    is an opt-out of certificate verification.
    """
    floor = get_policy().minimum_tls_version
    if ctx.minimum_version < floor:
        raise PolicyError(
            f"the context= given for {target.host} allows {ctx.minimum_version.name}, "
            f"below the minimum TLS version admin policy requires ({floor.name}); set "
            f"ctx.minimum_version = ssl.TLSVersion.{floor.name}"
        )
    if ctx.verify_mode == ssl.CERT_NONE:
        return Unverified("urllib context= with verify_mode=CERT_NONE: certificate "
                          "verification off", what="an SSLContext with verify_mode=CERT_NONE")
    if not ctx.check_hostname:
        return Unverified("urllib context= with check_hostname=False: host name check off, "
                          "certificate chain verified",
                          what="an SSLContext with check_hostname=False", keeps_chain=True)
    return None


class TrustSettings:
    """What a front-end trusts for every request: a Session's settings, or urllib's defaults.

    Args:
        config: trust anchors, client certificate, TLS version and ``pins=``.
        pins_file: the front-end's own pins file (the admin policy's is always consulted).
        trust_on_first_use: record a host's key in ``pins_file`` on first contact.
        verifiers: run on every new connection (per-call ones are added to them).
    """

    __slots__ = ("_given", "config", "pins_file", "trust_on_first_use", "verified",
                 "verifiers")

    def __init__(self, config: TLSConfig, *, pins_file: PinsFile | None = None,
                 trust_on_first_use: bool = False, verifiers: tuple[Verifier, ...] = ()
                 ) -> None:
        self.config = config
        self.pins_file = pins_file
        self.trust_on_first_use = trust_on_first_use
        self.verifiers = verifiers
        #: The decision of a request that asks for nothing else (the common case), made once.
        self.verified = TrustDecision("verified", config)
        #: Decisions for callers' contexts (``context=``), by context and its state.
        self._given = ContextDecisions()

    def decide(self, target: Target, *, tls: object = None, cert: CertInput = None,
               pins: Iterable[str] | None = None, verifiers: tuple[Verifier, ...] = (),
               context: ssl.SSLContext | None = None, left_origin: bool = False
               ) -> TrustDecision:
        """The trust decision for one request to ``target`` (see the module rules).

        ``tls`` is a per-call mode (`securl.pinned`, `securl.unverified`);
        ``cert``/``pins``/``verifiers`` add to the front-end's; ``context`` is a caller's own
        SSLContext (the urllib drop-in's ``context=``). ``left_origin`` says a redirect has
        left the origin the call named: a ``context`` that does not verify is then set aside
        (nothing is audited or warned), one that verifies is used. Pins files are read here,
        per request, for this host.
        """
        https = target.scheme == "https"
        state: ContextState | None = None
        plain = tls is None and cert is None and pins is None and not verifiers
        if context is not None and https:
            state = context_state(context)
            if plain:
                kept = self._given.get(context, state, get_policy())
                if kept is not None:
                    return kept  # this context, in this state, was judged already
            opt_out = _context_opt_out(context, target)
            if opt_out is not None and left_origin:
                context = None
            elif opt_out is not None:
                tls = opt_out
        else:
            context = None
        if (tls is None and cert is None and pins is None and not verifiers and https
                and context is None and not self.verifiers and self.pins_file is None
                and policy_pins_file() is None):
            return self.verified  # the common case, decided without building anything
        config = self.config
        changes = cert_fields(cert)
        if pins is not None:
            changes["pins"] = (*config.pins, *pins)
        if changes:
            config = dataclasses.replace(config, **changes)
        host_pins, tofu = self._host_pins(target, tls) if https else ((), None)
        token = tls if isinstance(tls, Pinned) else None
        mode: Mode = "verified"
        if token is not None:
            mode = "pinned"
            self._check_pinned(token, target, host_pins, tofu)
        elif isinstance(tls, Unverified) and tls.keeps_chain:
            mode = "chain-only"
        elif tls is not None:
            mode = "unverified"
        _check_opt_out(tls, target, host_pins=host_pins,
                       first_contact=token is not None and not token.pins and not host_pins)
        verifiers = self.verifiers + verifiers
        if (mode == "verified" and config is self.config and not host_pins and tofu is None
                and not verifiers and context is None):
            return self.verified
        decision = TrustDecision(mode, config, pinned=token, host_pins=host_pins, tofu=tofu,
                                 verifiers=verifiers, ssl_context=context,
                                 context_state=state if context is not None else None)
        if (context is not None and state is not None and plain
                and mode == "verified" and self.pins_file is None and not verifiers
                and policy_pins_file() is None):
            self._given.put(context, state, get_policy(), decision)
        return decision

    def _host_pins(self, target: Target, tls: object
                   ) -> tuple[tuple[HostPins, ...], PinsFile | None]:
        """This host's entries in the admin's and the front-end's pins files, and the file to
        record its key in on first contact (None when it is listed, or for an opt-out)."""
        host_pins: list[HostPins] = []
        tofu: PinsFile | None = None
        admin = policy_pins_file()
        for pins_file in (admin, self.pins_file):
            if pins_file is None:
                continue
            required = pins_file is admin or not self.trust_on_first_use
            entry = pins_file.lookup(target.host, target.port, required=required)
            if entry is not None:
                host_pins.append(entry)
            elif pins_file is self.pins_file and self.trust_on_first_use and not isinstance(
                    tls, Unverified):
                tofu = pins_file
        return tuple(host_pins), tofu

    def _check_pinned(self, token: Pinned, target: Target, host_pins: tuple[HostPins, ...],
                      tofu: PinsFile | None) -> None:
        if target.scheme != "https":
            raise InvalidRequest(
                f"tls=securl.pinned() was given for {redact_url(target.url)}: plain http "
                "has no key to pin and would be sent unencrypted; use an https URL"
            )
        if not token.pins and not host_pins and tofu is None:
            where = (f"in {self.pins_file.path}" if self.pins_file is not None
                     else "(this Session has no pins_file=)")
            raise ConfigurationError(
                f"tls=securl.pinned() was given no pin, and no pin is recorded for "
                f"{target.host}:{target.port} {where}. Pass the pin "
                "(securl.pinned('sha256/...', reason=...); `securl pin URL` prints it), "
                "record it with `securl pin URL --add FILE`, or use "
                "Session(pins_file=FILE, trust_on_first_use=True)"
            )


def _check_opt_out(tls: object, target: Target, *, host_pins: tuple[HostPins, ...] = (),
                   first_contact: bool = False) -> None:
    """Validate a per-call ``tls=`` value; audit a pinned call; audit and warn an opt-out.

    Rules: ``tls=securl.pinned()`` is not an opt-out (the key replaces the CA chain and still
    stops interception), so ``allow_unverified = false`` does not forbid it, except when no
    pin is known yet and trust on first use would accept whatever key answers: that first
    contact is unverified, and admin policy decides.
    """
    if tls is None:
        return
    if isinstance(tls, Pinned):
        caller = caller_location()
        refused = first_contact and not get_policy().allow_unverified
        emit("pinned_request", host=target.host, port=target.port, reason=tls.reason,
             caller=caller, url=redact_url(target.url), pins=list(tls.pins),
             pins_files=[e.where for e in host_pins], check_hostname=tls.check_hostname,
             trust_on_first_use=first_contact, action="refused" if refused else "allowed")
        if refused:
            raise PolicyError(
                f"admin policy ({get_policy().path}) forbids unverified requests, and "
                f"{target.host}:{target.port} has no pin yet: trusting its first key unseen "
                "would be one. Record the pin after checking it out of band "
                "(`securl pin URL --add FILE`), or pass it: securl.pinned('sha256/...', "
                "reason=...)"
            )
        return
    if not isinstance(tls, Unverified):
        raise ConfigurationError(
            f"tls={tls!r} is not a TLS mode; use tls=securl.pinned('sha256/...', reason=...) "
            "or tls=securl.unverified(reason=...) (or leave it out to verify)"
        )
    _allow_opt_out(tls, target)


def _allow_opt_out(token: Unverified, target: Target) -> None:
    """The one check every per-call opt-out of verification passes.

    Rules: admin policy ``allow_unverified = false`` refuses it (`PolicyError`);
    otherwise it is allowed, and every use emits ``securl.unverified_request`` with the
    caller's file:line and warns `InsecureRequestWarning` (the audit event is
    emitted whatever the warning filters say).
    """
    caller = caller_location()
    check_unverified_allowed(host=target.host, port=target.port, reason=token.reason,
                             caller=caller, url=redact_url(target.url), what=token.what)
    emit("unverified_request", host=target.host, port=target.port, reason=token.reason,
         caller=caller, url=redact_url(target.url), action="allowed")
    where = f"{target.host}:{target.port}"
    if token.keeps_chain:
        text = (f"the host name check is OFF for this request to {where}; the certificate "
                f"chain is verified (reason: {token.reason}); a server with any certificate "
                "from a trusted CA can answer for this host")
    else:
        text = (f"certificate verification is OFF for this request to {where} "
                f"(reason: {token.reason}); the connection can be intercepted")
    warnings.warn(text, InsecureRequestWarning, stacklevel=external_stacklevel())
