"""What may be assigned on a Session after it is made, checked as the constructor checks it.

``s.auth``, ``s.headers``, ``s.timeout``, ``s.retries``, ``s.hooks``, ``s.proxies``,
``s.max_body_size`` and ``s.max_redirects`` are assignable: each goes through the same check
as the constructor argument (`ASSIGNABLE`), so ``s.auth = ("user", "password")`` works
and ``s.timeout = None`` fails the way ``Session(timeout=None)`` does. Reading them is a plain
attribute read (the request loop pays nothing for this).

What decides trust (``ca_certs=``, ``cert=``, ``pins=``, ...) is fixed when the Session is
made. Assigning it, or a requests attribute securl does not have (``verify``, ``cert``,
``trust_env``, ``mount`` ...), raises `SessionAttributeError` (an ``AttributeError``
and a `ConfigurationError`) saying what to use instead. An attribute the
Session sets in its constructor may be assigned again; to check its value, add it to
`ASSIGNABLE`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType
from typing import Any

from urllib3 import HTTPHeaderDict

from .._version import __version__
from ..exceptions import ConfigurationError
from .auth import coerce_auth
from .hooks import coerce_hooks
from .proxies import coerce_proxies
from .retries import coerce_retries
from .target import check_headers
from .timeouts import make_timeout
from .transport import merge_headers

__all__ = ["ASSIGNABLE", "USER_AGENT", "SessionAttributeError", "check_max_body_size",
           "check_max_redirects", "checked_assignment", "missing_attribute", "session_headers",
           "unknown_attribute"]

USER_AGENT = f"securl/{__version__}"


class SessionAttributeError(ConfigurationError, AttributeError):
    """A Session attribute that cannot be assigned (or does not exist); says what to use."""


def check_max_body_size(value: object) -> int | None:
    """``max_body_size=``: bytes, 0 or more, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"max_body_size={value!r}: give a number of bytes (or None for no limit)"
        )
    return value


def check_max_redirects(value: object) -> int:
    """``max_redirects=``: a number, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError("max_redirects must be a non-negative int")
    return value


def session_headers(headers: Any) -> HTTPHeaderDict:
    """A Session's headers: securl's defaults with ``headers`` over them (None removes)."""
    out = HTTPHeaderDict({
        "User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "gzip, deflate",
    })
    merge_headers(out, check_headers(headers))
    return out


#: Assignable Session attributes and the check each value goes through.
ASSIGNABLE: dict[str, Callable[[Any], Any]] = {
    "auth": coerce_auth,
    "headers": session_headers,
    "timeout": make_timeout,
    "retries": coerce_retries,
    "hooks": coerce_hooks,
    "proxies": coerce_proxies,
    "max_body_size": check_max_body_size,
    "max_redirects": check_max_redirects,
}

_FIXED = ("is fixed when the Session is made, because it decides what the Session trusts: "
          "make a new securl.Session({name}=...)")

#: What to use instead of attributes a Session does not have (many are requests').
_INSTEAD: dict[str, str] = {
    "verify": ("securl verifies every request. To trust a private CA use "
               "securl.Session(ca_certs={value}); securl never turns verification off "
               "session-wide (a single call may opt out with "
               "tls=securl.unverified(reason=...), audited)"),
    "cert": ("the client certificate is fixed when the Session is made: use "
             "securl.Session(cert={value}), or cert= on one call"),
    "ca_certs": _FIXED, "pins": _FIXED, "minimum_version": _FIXED,
    "config": _FIXED.replace("{name}", "ca_certs/cert/pins/minimum_version"),
    "pins_file": _FIXED, "trust_on_first_use": _FIXED, "verifiers": _FIXED,
    "trust_env": ("securl reads proxy variables when the Session is made: use "
                  "securl.Session(proxies_from_env=False), or assign s.proxies = {{...}}; "
                  "trust comes from SSL_CERT_FILE/SSL_CERT_DIR or ca_certs=, and netrc files "
                  "are never read"),
    "proxies_from_env": ("it is read when the Session is made; assign s.proxies = {{...}} "
                         "to choose proxies in code"),
    "mount": ("securl has no transport adapters: TLS settings go to securl.Session(ca_certs=, "
              "cert=, pins=, minimum_version=) and retries to securl.Session(retries=...) "
              "or s.retries"),
    "adapters": ("securl has no transport adapters: TLS settings go to "
                 "securl.Session(ca_certs=, cert=, pins=, minimum_version=) and retries to "
                 "securl.Session(retries=...) or s.retries"),
    "tls": ("a tls= mode (securl.unverified, securl.pinned) applies to one call, never to a "
            "Session: pass tls= on the call"),
    "stream": "pass stream=True on the call",
    "params": "pass params= on the call",
    "max_retries": "use s.retries = N or securl.Retries(...)",
}


def unknown_attribute(name: str, value: Any = None, *, assigning: bool = True
                      ) -> SessionAttributeError:
    """The error for a Session attribute that cannot be assigned (or read), with a hint."""
    instead = _INSTEAD.get(name)
    shown = repr(value) if isinstance(value, str) else "..."
    what = "cannot be assigned" if assigning else "does not exist"
    if instead is None:
        assignable = ", ".join(sorted(ASSIGNABLE))
        return SessionAttributeError(
            f"securl.Session has no attribute {name!r} to assign; the assignable ones are "
            f"{assignable} (the rest is fixed when the Session is made)")
    return SessionAttributeError(
        f"securl.Session.{name} {what}: " + instead.format(value=shown, name=name))


def checked_assignment(obj: object, name: str, value: Any, frame: FrameType) -> Any:
    """``value`` as ``obj.name = value`` may store it; raises for what cannot be assigned.

    Checked names go through `ASSIGNABLE`. Private names, attributes the object
    already has, properties with a setter and anything its own ``__init__`` (``frame`` is the
    assigning code's) sets are stored as they are; anything else raises
    `SessionAttributeError` with a hint.
    """
    check = ASSIGNABLE.get(name)
    if check is not None:
        return check(value)
    if name[:1] == "_" or name in obj.__dict__:
        return value
    prop = getattr(type(obj), name, None)
    if isinstance(prop, property) and prop.fset is not None:
        return value
    if frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is obj:
        return value
    raise unknown_attribute(name, value)


def missing_attribute(obj: object, name: str) -> AttributeError:
    """The error for reading ``name``, which ``obj`` lacks: with a hint for requests' names."""
    if name[:1] != "_" and name in _INSTEAD:
        return unknown_attribute(name, assigning=False)
    return AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}",
                          name=name, obj=obj)
