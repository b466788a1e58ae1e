"""securl: secure-by-default HTTPS for Python.

Verified TLS from the system trust store on every call, a drop-in for ``urllib``, per-call
opt-outs that are explicit and audited, and an admin guard against process-wide disables.

``import securl`` stays cheap because ``sitecustomize`` may import it in every interpreter:
the request layer (Session, Response, get/post/..., the urllib drop-in), which needs urllib3,
and the certificate reader behind ``verifiers`` and ``PeerInfo`` are imported on first use of
one of those names, not by ``import securl`` itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import audit
from ._audit import AuditEvent, add_audit_hook, remove_audit_hook
from ._config import TLSConfig
from ._context import create_context
from ._install import install, uninstall
from ._install import on_import as _on_import
from ._tls import pinned, unverified
from ._trust import TrustInfo, trust_info
from ._version import __version__
from .exceptions import (
    AuthError,
    ClientCertificateRequired,
    ConfigurationError,
    ConnectionError,
    ConnectTimeout,
    DeadlineExceeded,
    InsecureRedirectError,
    InsecureRequestWarning,
    InvalidRequest,
    PinMismatchError,
    PolicyError,
    ProtocolError,
    ReadTimeout,
    RedirectError,
    ResponseTooLarge,
    SecurityWarning,
    SecurlError,
    Timeout,
    TLSVerificationError,
    TooManyRedirects,
    TransportError,
)

if TYPE_CHECKING:
    from . import urllib, verifiers
    from ._api import delete, get, head, options, patch, post, put, request
    from ._auth import BasicAuth, DigestAuth
    from ._peer import PeerInfo
    from ._response import Response
    from ._session import Session, Timeouts

#: Public names whose module imports urllib3 (or the certificate reader): loaded on first
#: access (PEP 562).
_LAZY = {
    "PeerInfo": "._peer",
    "BasicAuth": "._auth",
    "DigestAuth": "._auth",
    "Response": "._response",
    "Session": "._session",
    "Timeouts": "._session",
    "delete": "._api",
    "get": "._api",
    "head": "._api",
    "options": "._api",
    "patch": "._api",
    "post": "._api",
    "put": "._api",
    "request": "._api",
}


def __getattr__(name: str) -> Any:
    if name in ("urllib", "verifiers"):  # subpackages: `from securl import urllib`
        value: Any = importlib.import_module(f".{name}", __name__)
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'securl' has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "urllib", "verifiers"})


__all__ = [
    "AuditEvent",
    "AuthError",
    "BasicAuth",
    "ClientCertificateRequired",
    "ConfigurationError",
    "ConnectTimeout",
    "ConnectionError",
    "DeadlineExceeded",
    "DigestAuth",
    "InsecureRedirectError",
    "InsecureRequestWarning",
    "InvalidRequest",
    "PeerInfo",
    "PinMismatchError",
    "PolicyError",
    "ProtocolError",
    "ReadTimeout",
    "RedirectError",
    "Response",
    "ResponseTooLarge",
    "SecurityWarning",
    "SecurlError",
    "Session",
    "TLSConfig",
    "TLSVerificationError",
    "Timeout",
    "Timeouts",
    "TooManyRedirects",
    "TransportError",
    "TrustInfo",
    "__version__",
    "add_audit_hook",
    "audit",
    "create_context",
    "delete",
    "get",
    "head",
    "install",
    "options",
    "patch",
    "pinned",
    "post",
    "put",
    "remove_audit_hook",
    "request",
    "trust_info",
    "uninstall",
    "unverified",
    "urllib",
    "verifiers",
]

# Importing securl puts the guard on the ssl module (warn mode until install()); see
# securl._guard. Keep this the last statement: the deferred sitecustomize hook relies on it.
_on_import()
