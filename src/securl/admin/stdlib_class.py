"""The standard library's ``ssl.SSLContext`` class, and the methods securl puts on it.

Every client TLS context in the process is an instance of this class or of a subclass
(truststore, gevent, eventlet, securl's sealed contexts), whatever ``ssl.SSLContext`` names
now. ``securl.install()`` defines a few methods on it (`securl.admin.handshake`,
`securl.admin.default_trust`); `set_methods` is the one place that does so, and
remembers what was there so ``uninstall()`` leaves the class exactly as it found it.
"""

from __future__ import annotations

import _ssl
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["STDLIB_ORIGINALS", "STDLIB_SSLCONTEXT", "set_methods", "stdlib_original"]


def _find() -> type:
    for cls in _ssl._SSLContext.__subclasses__():
        if cls.__module__ == "ssl" and cls.__qualname__ == "SSLContext":
            return cls
    raise ImportError("the ssl module's SSLContext class was not found")  # pragma: no cover


STDLIB_SSLCONTEXT: type = _find()


def _find_stdlib_function(name: str) -> Any:
    """The function ``name`` defined in ssl.py itself, found under any of its aliases."""
    for value in list(vars(ssl).values()):
        code = getattr(value, "__code__", None)
        if (
            code is not None
            and getattr(value, "__module__", None) == "ssl"
            and getattr(value, "__qualname__", None) == name
            and os.path.basename(code.co_filename) == "ssl.py"
        ):
            return value
    return None


#: The stdlib's own factories and class, whatever the ssl module's names hold now.
STDLIB_ORIGINALS: dict[str, Any] = {
    "create_default_context": _find_stdlib_function("create_default_context"),
    "_create_unverified_context": _find_stdlib_function("_create_unverified_context"),
    "SSLContext": STDLIB_SSLCONTEXT,
}


def stdlib_original(name: str) -> Any:
    """The stdlib's own ``create_default_context``, ``_create_unverified_context`` or
    ``SSLContext`` (None if it cannot be found)."""
    return STDLIB_ORIGINALS[name]
_MISSING: Any = object()
#: name -> what the class held before securl first set it (_MISSING: nothing of its own)
_before: dict[str, Any] = {}
_lock = threading.Lock()


def set_methods(methods: Mapping[str, Callable[..., Any] | None]) -> None:
    """Define (a callable) or restore (None) methods on the stdlib SSLContext class.

    What the class held before securl -- including the sitecustomize hook's stand-ins,
    which are replaced rather than remembered -- comes back on restore.
    """
    with _lock:
        for name, fn in methods.items():
            if fn is not None:
                if name not in _before:
                    held = STDLIB_SSLCONTEXT.__dict__.get(name, _MISSING)
                    if getattr(held, "_securl_stand_in", False):
                        held = getattr(held, "_securl_original", None)
                        held = _MISSING if held is None else held
                    _before[name] = held
                setattr(STDLIB_SSLCONTEXT, name, fn)
            elif name in _before:
                held = _before.pop(name)
                if held is _MISSING:
                    if name in STDLIB_SSLCONTEXT.__dict__:
                        delattr(STDLIB_SSLCONTEXT, name)
                else:
                    setattr(STDLIB_SSLCONTEXT, name, held)
