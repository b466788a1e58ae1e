"""securl: secure-by-default HTTPS for Python.

Verified TLS from the system trust store on every call, a drop-in for ``urllib``, per-call
opt-outs that are explicit and audited, and an admin guard against process-wide disables.

``import securl`` stays cheap because ``sitecustomize`` may import it in every interpreter:
the request layer (Session, Response, get/post/...), which needs urllib3, is imported on first
use of one of those names, not by ``import securl`` itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._audit import AuditEvent, add_audit_hook, remove_audit_hook
from ._config import TLSConfig
from ._context import create_context
from ._tls import unverified
from ._trust import TrustInfo, trust_info
from ._version import __version__
from .exceptions import (
    AuthError,
    ClientCertificateRequired,
    ConfigurationError,
    ConnectionError,
    ConnectTimeout,
    InsecureRedirectError,
    InsecureRequestWarning,
    InvalidRequest,
    PinMismatchError,
    PolicyError,
    ProtocolError,
    ReadTimeout,
    RedirectError,
    SecurityWarning,
    SecurlError,
    Timeout,
    TLSVerificationError,
    TooManyRedirects,
    TransportError,
)

if TYPE_CHECKING:
    from ._api import delete, get, head, options, patch, post, put, request
    from ._response import Response
    from ._session import Session

#: Public names whose module imports urllib3: loaded on first access (PEP 562).
_LAZY = {
    "Session": "._session", "Response": "._response", "request": "._api", "get": "._api",
    "head": "._api", "options": "._api", "post": "._api", "put": "._api", "patch": "._api",
    "delete": "._api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'securl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AuditEvent",
    "AuthError",
    "ClientCertificateRequired",
    "ConfigurationError",
    "ConnectTimeout",
    "ConnectionError",
    "InsecureRedirectError",
    "InsecureRequestWarning",
    "InvalidRequest",
    "PinMismatchError",
    "PolicyError",
    "ProtocolError",
    "ReadTimeout",
    "RedirectError",
    "Response",
    "SecurityWarning",
    "SecurlError",
    "Session",
    "TLSConfig",
    "TLSVerificationError",
    "Timeout",
    "TooManyRedirects",
    "TransportError",
    "TrustInfo",
    "__version__",
    "add_audit_hook",
    "create_context",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "remove_audit_hook",
    "request",
    "trust_info",
    "unverified",
]
