"""Enforcement at the connection: every client-side TLS connection the process makes.

Under ``securl.install()`` the standard library's ``ssl.SSLContext`` gets its own
``_wrap_socket`` and ``_wrap_bio``. ``SSLContext.wrap_socket`` / ``wrap_bio`` call these for
every TLS socket or memory BIO -- whatever library asked, and whatever subclass the context
is (truststore, gevent, eventlet and urllib3 all end there) -- so the check runs before the
first TLS byte, let alone an HTTP byte.

The rule, for a client-side connection (server-side ones are never touched):

1. Minimum TLS version: a context that would accept older TLS than admin policy's
   ``minimum_tls_version`` has its ``minimum_version`` raised to it (a strengthening; a
   server that speaks only older TLS then fails the handshake).
2. The connection *verifies* when the context checks the chain (``verify_mode`` is not
   ``CERT_NONE``) and the host name (``check_hostname``). Also sound, and let through:
   a connection securl's own code made (its one trust decision judged and audited it: see
   `securl.tls.judged`), and on macOS/Windows truststore's native verification (which
   turns OpenSSL's checks off inside its own ``wrap_socket`` and verifies after the handshake).
3. Any other connection is *unverified*. Policy ``allow_unverified = true`` (the default):
   it goes ahead, with a `SecurityWarning` once per calling line and host and a
   ``securl.unverified_connection`` event for every connection. ``allow_unverified = false``:
   `PolicyError` before the handshake, naming the host, the calling file:line,
   the policy file and the key.

The calling line is the first frame outside the standard library and the HTTP libraries
(`securl._caller.find_application`). Each connection also runs the ssl-module guard's
cheap check (`securl.admin.guard.check_process_wide`).

What this cannot see: C extensions with their own OpenSSL (pycurl, grpc), and code that
calls ``_ssl._SSLContext._wrap_socket`` directly.
"""

from __future__ import annotations

import _ssl
import socket
import ssl
import sys
import threading
from typing import Any

from .._audit import emit
from .._caller import Caller, find_application
from .._policy import get_policy
from ..exceptions import PolicyError
from ..tls.judged import current_judgement
from . import guard as _guard
from .stdlib_class import STDLIB_SSLCONTEXT, set_methods

__all__ = ["check_connection", "disable", "enable"]

_RAW_WRAP_SOCKET: Any = _ssl._SSLContext.__dict__["_wrap_socket"]
_RAW_WRAP_BIO: Any = _ssl._SSLContext.__dict__["_wrap_bio"]
_MIN_VERSION = _ssl._SSLContext.__dict__["minimum_version"]
_NATIVE_VERIFIER = sys.platform in ("darwin", "win32")
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()
_WARNED_MAX = 10_000
_first_connection_hooks: list[Any] = []
_hooks_lock = threading.Lock()


def _raise_minimum(ctx: Any) -> None:
    floor = get_policy().minimum_tls_version
    current = _MIN_VERSION.__get__(ctx)
    if current < floor:  # MINIMUM_SUPPORTED (-2) is below every real version
        _MIN_VERSION.__set__(ctx, floor)


def _native_verifier(owner: object) -> bool:
    """truststore on macOS/Windows: its socket classes verify after the handshake."""
    if not _NATIVE_VERIFIER or owner is None:
        return False
    cls = type(owner)
    return cls.__module__ == "truststore._api" and cls.__name__ in (
        "TruststoreSSLSocket", "TruststoreSSLObject")


def _what_is_off(ctx: Any) -> str | None:
    off = []
    try:
        verify_mode, check_hostname = ctx.verify_mode, ctx.check_hostname
    except Exception as exc:  # a context class that cannot be judged counts as unverified
        return f"a context securl could not read ({type(exc).__name__})"
    if verify_mode == ssl.CERT_NONE:
        off.append("certificate verification (verify_mode=CERT_NONE)")
    if not check_hostname:
        off.append("host name check (check_hostname=False)")
    return " and ".join(off) or None


def _peer(sock: Any, depth: int) -> tuple[str | None, int | None]:
    """The port the connection goes to: the socket's peer, or (memory BIO, as asyncio uses)
    a connected socket the calling frames hold."""
    candidates = [sock] if sock is not None else []
    if not candidates:
        frame = sys._getframe(depth)
        for _ in range(12):
            if frame is None:
                break
            value = frame.f_locals.get("sock")
            if isinstance(value, socket.socket):
                candidates.append(value)
                break
            frame = frame.f_back  # type: ignore[assignment]
    for candidate in candidates:
        try:
            peer = candidate.getpeername()
        except (OSError, AttributeError):
            continue
        if isinstance(peer, tuple) and len(peer) >= 2:
            return str(peer[0]), int(peer[1])
    return None, None


def check_connection(ctx: Any, server_side: bool, server_hostname: Any, owner: object,
                     sock: Any = None) -> None:
    """The connection guard's rule (module docstring) for one connection being set up."""
    if server_side:
        return
    if _first_connection_hooks:
        _run_first_connection_hooks()
    _guard.check_process_wide()
    _raise_minimum(ctx)
    off = _what_is_off(ctx)
    if off is None or current_judgement() is not None or _native_verifier(owner):
        return
    host = server_hostname if isinstance(server_hostname, str) else (
        server_hostname.decode("ascii", "replace") if server_hostname else None)
    _unverified(ctx, off, host, sock)


def _unverified(ctx: Any, off: str, host: str | None, sock: Any) -> None:
    caller, library = find_application(3)
    peer_host, port = _peer(sock, 4)
    host = host or peer_host
    policy = get_policy()
    where = str(caller) if caller else None
    if not policy.allow_unverified:
        emit("unverified_connection", host=host, port=port, off=off, library=library,
             caller=where, action="refused")
        raise PolicyError(
            f"{where + ': ' if where else ''}securl refused an unverified TLS connection to "
            f"{host or 'an unnamed host'}{f':{port}' if port else ''} made through {library} "
            f"({off}): admin policy forbids unverified connections (allow_unverified = false "
            f"in {policy.origin_of('allow_unverified')}). Nothing was sent. Trust the server's "
            "CA instead (SSL_CERT_FILE, the policy's extra_ca_certs, or the library's own CA "
            "option) rather than turning verification off."
        )
    emit("unverified_connection", host=host, port=port, off=off, library=library,
         caller=where, action="allowed")
    _warn_once(caller, host, port, library, off)


def _warn_once(caller: Caller | None, host: str | None, port: int | None, library: str,
               off: str) -> None:
    key = (str(caller), host or "")
    with _warned_lock:
        if key in _warned:
            return
        if len(_warned) >= _WARNED_MAX:
            _warned.clear()
        _warned.add(key)
    _guard.security_warning(
        f"unverified TLS connection to {host or 'an unnamed host'}{f':{port}' if port else ''} "
        f"through {library}: {off} is off, so anyone on the network path can read and change "
        "this traffic. securl allows it (admin policy allow_unverified = true) and audits "
        "every such connection; trust the server's CA instead (SSL_CERT_FILE or the library's "
        "CA option). Shown once per calling line and host.",
        caller, may_raise=False,
    )


def _checked_wrap_socket(self: Any, sock: Any, server_side: bool, server_hostname: Any,
                         *args: Any, **kwargs: Any) -> Any:
    check_connection(self, server_side, server_hostname, kwargs.get("owner"), sock)
    return _RAW_WRAP_SOCKET(self, sock, server_side, server_hostname, *args, **kwargs)


def _checked_wrap_bio(self: Any, incoming: Any, outgoing: Any, server_side: bool,
                      server_hostname: Any, *args: Any, **kwargs: Any) -> Any:
    check_connection(self, server_side, server_hostname, kwargs.get("owner"))
    return _RAW_WRAP_BIO(self, incoming, outgoing, server_side, server_hostname, *args,
                         **kwargs)


def on_first_connection(hook: Any) -> None:
    """Run ``hook()`` once, at the first client connection (deferred install events)."""
    _first_connection_hooks.append(hook)


def _run_first_connection_hooks() -> None:
    with _hooks_lock:
        hooks = _first_connection_hooks[:]
        _first_connection_hooks.clear()
    for hook in hooks:
        hook()


def enable() -> None:
    """Put the check on ``ssl.SSLContext`` (idempotent)."""
    set_methods({"_wrap_socket": _checked_wrap_socket, "_wrap_bio": _checked_wrap_bio})


def disable() -> None:
    """Take the check off again (``securl.uninstall()``)."""
    set_methods({"_wrap_socket": None, "_wrap_bio": None})


def enabled() -> bool:
    """Whether the connection check is on ``ssl.SSLContext`` now."""
    return STDLIB_SSLCONTEXT.__dict__.get("_wrap_socket") is _checked_wrap_socket
