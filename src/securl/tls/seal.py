"""Sealing: a built, shared securl context refuses every change that could weaken it.

securl caches its contexts and shares each one with every Session, pool and thread that has
the same configuration (``securl.tls.context``). Once built, a context is *sealed*: anything
that would widen what it trusts, weaken its checks or leak its secrets raises
`PolicyError` instead of silently changing every other connection that uses
the same object. Setting a value the context already has is always allowed (urllib3
re-asserts ``verify_mode`` on every connection) and changes nothing.

What a sealed context refuses:

* loading anything: ``load_verify_locations``, ``load_default_certs``,
  ``set_default_verify_paths`` (more CAs: the whole system store on a private-CA context),
  ``load_cert_chain`` (another client identity), ``load_dh_params``;
* choosing algorithms: ``set_ciphers`` (``@SECLEVEL=0`` also lowers the key-size checks),
  ``set_ecdh_curve`` (narrows the key-exchange groups to one curve);
* ``verify_mode`` below its value (CERT_REQUIRED > CERT_OPTIONAL > CERT_NONE);
  ``check_hostname`` turned off; ``hostname_checks_common_name`` turned on; ``_host_flags``
  cleared or given any flag but the three that narrow matching (no wildcards, no partial
  wildcards, never the subject CN);
* ``verify_flags``: clearing any flag, or adding one that is not known to strengthen:
  only ``VERIFY_X509_STRICT``, ``VERIFY_CRL_CHECK_LEAF``/``_CHAIN`` (fail closed without
  CRLs) and ``VERIFY_X509_TRUSTED_FIRST`` may be added; ``X509_V_FLAG_NO_CHECK_TIME``,
  ``VERIFY_ALLOW_PROXY_CERTS``, ``VERIFY_X509_PARTIAL_CHAIN`` and anything unknown may not;
* ``options``: clearing any option, or adding one outside `_ADDABLE_OPTIONS`
  (switching off old protocols, compression, renegotiation, tickets; the middlebox mode,
  which only changes the shape of the TLS 1.3 handshake). Refused in particular:
  ``OP_LEGACY_SERVER_CONNECT`` (servers without secure renegotiation, RFC 5746),
  ``OP_IGNORE_UNEXPECTED_EOF`` (a truncated response would look complete), ``OP_NO_TLSv1_3``
  (a downgrade) and ``OP_ENABLE_KTLS``;
* ``minimum_version`` lowered; ``maximum_version`` lowered: it would move every user of the
  context to an older protocol (below the minimum it would only make connections fail, but one
  rule is simpler than two). Raising either is allowed;
* ``keylog_filename`` (every connection's secrets in a file), ``_msg_callback`` (sees every
  handshake message) and ``sni_callback`` set to anything but what they hold;
  ``post_handshake_auth`` turned on (any TLS 1.3 server could ask for the client certificate
  after the handshake); ``set_servername_callback``, ``set_psk_client_callback`` and
  ``set_psk_server_callback`` (Python 3.13+; a pre-shared key replaces the certificate check)
  given anything but None;
* any other attribute assignment or deletion: replacing ``sslsocket_class`` or
  ``sslobject_class``, shadowing a method on the instance (``ctx.wrap_socket = ...``),
  ``__class__``, ``__dict__``, or un-sealing. Only the settings above (under their rules) and
  ``num_tickets`` (server side only) can be assigned.

Harmless, so left alone: ``set_alpn_protocols`` and ``set_npn_protocols`` (which application
protocol to offer: no check or secret depends on it, a wrong one only breaks connections;
urllib3 sets ALPN on every connection), ``wrap_socket``/``wrap_bio`` and the readers
(``get_ca_certs``, ``get_ciphers``, ``cert_store_stats``, ``session_stats``).
``tests/test_sealing.py`` holds every name of ``ssl.SSLContext`` to one of these lists.

The seal guards against code that means well (a library tuning "its" context); it is not a
sandbox: ``object.__setattr__``, ``ctx.__dict__[...]`` or the C type's own descriptors reach
past it.
"""

from __future__ import annotations

import _ssl
import ssl
from collections.abc import Callable
from typing import Any

from ..exceptions import PolicyError
from .trust import TrustInfo

__all__ = ["SealMixin", "sealed_class", "truststore_context_class"]

#: verify_flags a sealed context may gain: each makes verification stricter or fail closed.
_ADDABLE_VERIFY_FLAGS = (
    getattr(ssl, "VERIFY_X509_STRICT", 0x20) | getattr(ssl, "VERIFY_CRL_CHECK_LEAF", 0x4)
    | getattr(ssl, "VERIFY_CRL_CHECK_CHAIN", 0xC)
    | getattr(ssl, "VERIFY_X509_TRUSTED_FIRST", 0x8000)
)
#: options a sealed context may gain: switching things off, or neutral for security.
_ADDABLE_OPTIONS = 0
for _name in ("OP_NO_SSLv2", "OP_NO_SSLv3", "OP_NO_TLSv1", "OP_NO_TLSv1_1", "OP_NO_TLSv1_2",
              "OP_NO_COMPRESSION", "OP_NO_RENEGOTIATION", "OP_NO_TICKET", "OP_SINGLE_DH_USE",
              "OP_SINGLE_ECDH_USE", "OP_CIPHER_SERVER_PREFERENCE",
              "OP_ENABLE_MIDDLEBOX_COMPAT"):
    _ADDABLE_OPTIONS |= int(getattr(ssl, _name, 0))
#: _host_flags a sealed context may gain: each only narrows which names match.
_ADDABLE_HOST_FLAGS = (
    getattr(_ssl, "HOSTFLAG_NO_WILDCARDS", 0x2)
    | getattr(_ssl, "HOSTFLAG_NO_PARTIAL_WILDCARDS", 0x4)
    | getattr(_ssl, "HOSTFLAG_NEVER_CHECK_SUBJECT", 0x20)
)
_VERIFY_ORDER: dict[object, int] = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 2}


def _version_rank(version: Any) -> int:
    """TLS versions in order, with the MINIMUM/MAXIMUM_SUPPORTED markers at the ends."""
    if version == ssl.TLSVersion.MINIMUM_SUPPORTED:
        return -1
    if version == ssl.TLSVersion.MAXIMUM_SUPPORTED:
        return 1 << 30
    return int(version)


def _flags(name: str, addable: int) -> Callable[[Any, Any], str | None]:
    # Plain ints: ~ of an IntFlag keeps only the flags the enum defines, so an unknown bit
    # (X509_V_FLAG_NO_CHECK_TIME has no ssl constant) would slip through.
    allowed = int(addable)

    def rule(current: Any, value: Any) -> str | None:
        cleared, added = int(current) & ~int(value), int(value) & ~int(current) & ~allowed
        if cleared:
            return f"clear {name} {cleared:#x}"
        if added:
            return f"add {name} {added:#x}, which would loosen its checks"
        return None
    return rule


#: setting -> rule(current, new): what the change would do if it weakens, else None.
_RULES: dict[str, Callable[[Any, Any], str | None]] = {
    "verify_mode": lambda cur, new: (
        f"set verify_mode={new!r}"
        if _VERIFY_ORDER.get(new, -1) < _VERIFY_ORDER.get(cur, 2) else None),
    "check_hostname": lambda cur, new: "turn off check_hostname" if cur and not new else None,
    "hostname_checks_common_name": lambda cur, new: (
        "match host names against the subject CN (hostname_checks_common_name=True)"
        if new and not cur else None),
    "_host_flags": _flags("_host_flags", _ADDABLE_HOST_FLAGS),
    "verify_flags": _flags("verify_flags", _ADDABLE_VERIFY_FLAGS),
    "options": _flags("options", _ADDABLE_OPTIONS),
    "minimum_version": lambda cur, new: (
        f"lower minimum_version to {new!r}" if _version_rank(new) < _version_rank(cur) else None),
    "maximum_version": lambda cur, new: (
        f"lower maximum_version to {new!r}" if _version_rank(new) < _version_rank(cur) else None),
    "keylog_filename": lambda cur, new: (
        "write the TLS secrets of every connection to a key log file (keylog_filename)"),
    "_msg_callback": lambda cur, new: "watch every handshake message (_msg_callback)",
    "post_handshake_auth": lambda cur, new: (
        "let servers ask for the client certificate after the handshake "
        "(post_handshake_auth=True)" if new and not cur else None),
    "sni_callback": lambda cur, new: "set sni_callback",
}
#: What a sealed context lets be assigned at all: the settings above, under their rules, and
#: ``num_tickets`` (how many TLS 1.3 tickets a *server* sends; client contexts refuse it).
_ASSIGNABLE = frozenset(_RULES) | {"num_tickets"}

_descriptors: dict[tuple[type, str], Any] = {}


def _parent_descriptor(obj: object, name: str) -> Any:
    """``name`` as the class after `SealMixin` in ``obj``'s MRO defines it.

    Looked up on every handshake (the ssl module and urllib3 read and set ``verify_mode``
    and ``check_hostname`` per connection), so the MRO walk is done once per class.
    """
    key = (type(obj), name)
    descriptor = _descriptors.get(key)
    if descriptor is None:
        mro = type(obj).__mro__
        for klass in mro[mro.index(SealMixin) + 1 :]:
            if name in klass.__dict__:
                descriptor = _descriptors[key] = klass.__dict__[name]
                break
        else:  # pragma: no cover
            raise AttributeError(name)
    return descriptor


def _setting(name: str) -> property:
    """A property for ``name`` that reads through and refuses weakening writes once sealed."""
    rule = _RULES[name]

    def get(self: SealMixin) -> Any:
        return _parent_descriptor(self, name).__get__(self)

    def set_(self: SealMixin, value: Any) -> None:
        if self._securl_sealed:
            current = get(self)
            if value is current or value == current:
                return  # a value it already has: nothing to do, nothing to refuse
            what = rule(current, value)
            if what:
                self._refuse(what)
        self._set(name, value)

    return property(get, set_, doc=f"``{name}``; see `securl.tls.seal` once sealed.")


class SealMixin:
    """Refuses changes that would weaken a built, shared context (see the module rules)."""

    _securl_sealed = False
    trust: TrustInfo | None = None

    def _refuse(self, what: str) -> None:
        kind = "verified" if _VERIFY_ORDER.get(getattr(self, "verify_mode", None), -1) == 2 \
            else "sealed"
        raise PolicyError(
            f"refusing to {what} on a shared, {kind} securl context: every connection that "
            "uses it would be weakened or exposed. Build your own ssl.SSLContext for that "
            "connection, or, to skip verification for one call, use a per-call opt-out: "
            "tls=securl.unverified(reason=...)"
        )

    def _set(self, name: str, value: object) -> None:
        descriptor = _parent_descriptor(self, name)
        if descriptor is _STDLIB_SETTERS.get(name):
            # ssl.SSLContext's Python setters call super(SSLContext, SSLContext), looking the
            # class up by name in the ssl module; once something (truststore.inject_into_ssl)
            # has replaced ssl.SSLContext that recurses forever. The C-level descriptor is
            # what those setters end up calling, so call it directly.
            descriptor = _C_SETTERS[name]
        descriptor.__set__(self, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if self._securl_sealed and name not in _ASSIGNABLE:
            self._refuse(f"set {name}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if self._securl_sealed:
            self._refuse(f"delete {name}")
        super().__delattr__(name)

    verify_mode = _setting("verify_mode")
    check_hostname = _setting("check_hostname")
    hostname_checks_common_name = _setting("hostname_checks_common_name")
    _host_flags = _setting("_host_flags")
    verify_flags = _setting("verify_flags")
    options = _setting("options")
    minimum_version = _setting("minimum_version")
    maximum_version = _setting("maximum_version")
    keylog_filename = _setting("keylog_filename")
    _msg_callback = _setting("_msg_callback")
    post_handshake_auth = _setting("post_handshake_auth")
    sni_callback = _setting("sni_callback")

    def _call(self, name: str, refusal: str | None, *args: Any, **kwargs: Any) -> Any:
        if self._securl_sealed and refusal:
            self._refuse(refusal)
        return _parent_descriptor(self, name)(self, *args, **kwargs)

    def load_verify_locations(self, *args: Any, **kwargs: Any) -> None:
        self._call("load_verify_locations", "load more CAs", *args, **kwargs)

    def load_default_certs(self, *args: Any, **kwargs: Any) -> None:
        self._call("load_default_certs", "load the default CAs", *args, **kwargs)

    def set_default_verify_paths(self) -> None:
        self._call("set_default_verify_paths", "trust the default CA paths (the system store)")

    def load_cert_chain(self, *args: Any, **kwargs: Any) -> None:
        self._call("load_cert_chain", "load a client certificate", *args, **kwargs)

    def load_dh_params(self, *args: Any, **kwargs: Any) -> None:
        self._call("load_dh_params", "load Diffie-Hellman parameters", *args, **kwargs)

    def set_ciphers(self, *args: Any, **kwargs: Any) -> None:
        self._call("set_ciphers", "change the cipher list", *args, **kwargs)

    def set_ecdh_curve(self, *args: Any, **kwargs: Any) -> None:
        self._call("set_ecdh_curve", "change the key-exchange curves", *args, **kwargs)

    def set_servername_callback(self, callback: Any) -> None:
        self._call("set_servername_callback",
                   None if callback is None else "set a servername callback", callback)

    if hasattr(ssl.SSLContext, "set_psk_client_callback"):  # Python 3.13+
        def set_psk_client_callback(self, callback: Any, *args: Any, **kwargs: Any) -> None:
            self._call("set_psk_client_callback",
                       None if callback is None else "authenticate with a pre-shared key",
                       callback, *args, **kwargs)

    if hasattr(ssl.SSLContext, "set_psk_server_callback"):  # Python 3.13+
        def set_psk_server_callback(self, callback: Any, *args: Any, **kwargs: Any) -> None:
            self._call("set_psk_server_callback",
                       None if callback is None else "authenticate with a pre-shared key",
                       callback, *args, **kwargs)

    def seal(self) -> None:
        """Freeze the security settings of this context (idempotent)."""
        if not self._securl_sealed:
            self._securl_sealed = True


#: ssl.SSLContext's Python setters that only hand the value to the C-level descriptor.
_STDLIB_SETTERS: dict[str, object] = {
    name: ssl.SSLContext.__dict__[name]
    for name in ("verify_mode", "minimum_version", "maximum_version", "verify_flags", "options")
    if name in ssl.SSLContext.__dict__
}
_C_SETTERS: dict[str, Any] = {
    name: _ssl._SSLContext.__dict__[name] for name in _STDLIB_SETTERS
}


_sealed_classes: dict[type, type[ssl.SSLContext]] = {}


def sealed_class(base: type[ssl.SSLContext]) -> type[ssl.SSLContext]:
    """A sealable context class over ``base``, a subclass of ssl.SSLContext (e.g. gevent's)."""
    cls = _sealed_classes.get(base)
    if cls is None:
        cls = _sealed_classes[base] = type("SealedSSLContext", (SealMixin, base), {})
    return cls


_truststore_class: type[ssl.SSLContext] | None = None


def truststore_context_class() -> type[ssl.SSLContext]:
    """The sealable truststore (native verifier) context class."""
    global _truststore_class
    if _truststore_class is None:
        import truststore

        class SealedTruststoreContext(SealMixin, truststore.SSLContext):  # type: ignore[misc, unused-ignore]
            """A truststore (native verifier) context that refuses to be weakened once sealed."""

        _truststore_class = SealedTruststoreContext
    return _truststore_class
