"""securl: secure-by-default HTTPS for Python.

Verified TLS from the system trust store on every call, a drop-in for ``urllib``, per-call
opt-outs that are explicit and audited, and an admin guard against process-wide disables.

``import securl`` stays cheap because ``sitecustomize`` may import it in every interpreter:
the request layer (Session, Response, get/post/..., the urllib drop-in), which needs urllib3,
the certificate reader behind ``verifiers`` and ``PeerInfo``, and the ``tls=`` tokens
(``pinned``, ``unverified``) are imported on first use of one of those names, not by
``import securl`` itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import audit
from ._audit import AuditEvent, add_audit_hook, remove_audit_hook
from ._version import __version__
from .admin.install import install, uninstall
from .admin.install import on_import as _on_import
from .exceptions import (
    AuthError,
    ClientCertificateRequired,
    ConfigurationError,
    ConnectionError,
    ConnectTimeout,
    DeadlineExceeded,
    HTTPStatusError,
    InsecureRedirectError,
    InsecureRequestWarning,
    InvalidRequest,
    JSONDecodeError,
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
from .tls.config import TLSConfig
from .tls.context import create_context
from .tls.trust import TrustInfo, trust_info

if TYPE_CHECKING:
    from . import urllib, verifiers
    from .http.api import delete, get, head, options, patch, post, put, request
    from .http.auth import Auth as Auth
    from .http.auth import BasicAuth, DigestAuth
    from .http.auth import BearerAuth as BearerAuth
    from .http.auth import ChallengeAuth as ChallengeAuth
    from .http.hooks import PreparedRequest as PreparedRequest
    from .http.options import RequestOptions as RequestOptions
    from .http.response import Response
    from .http.retries import Retries as Retries
    from .http.session import Session
    from .http.settings import SessionAttributeError as SessionAttributeError
    from .http.timeouts import Timeouts
    from .tls.modes import pinned, unverified
    from .tls.peer import PeerInfo

#: Public names whose module imports urllib3 (or the certificate reader), or that nothing
#: `import securl` runs needs (the ``tls=`` tokens): loaded on first access (PEP 562).
_LAZY = {
    "PeerInfo": ".tls.peer",
    "Auth": ".http.auth",
    "BasicAuth": ".http.auth",
    "BearerAuth": ".http.auth",
    "ChallengeAuth": ".http.auth",
    "DigestAuth": ".http.auth",
    "PreparedRequest": ".http.hooks",
    "RequestOptions": ".http.options",
    "Retries": ".http.retries",
    "SessionAttributeError": ".http.settings",
    "Response": ".http.response",
    "Session": ".http.session",
    "Timeouts": ".http.timeouts",
    "delete": ".http.api",
    "get": ".http.api",
    "head": ".http.api",
    "options": ".http.api",
    "patch": ".http.api",
    "post": ".http.api",
    "put": ".http.api",
    "request": ".http.api",
    "pinned": ".tls.modes",
    "unverified": ".tls.modes",
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
    "Auth",
    "AuthError",
    "BasicAuth",
    "BearerAuth",
    "ChallengeAuth",
    "ClientCertificateRequired",
    "ConfigurationError",
    "ConnectTimeout",
    "ConnectionError",
    "DeadlineExceeded",
    "DigestAuth",
    "HTTPStatusError",
    "InsecureRedirectError",
    "InsecureRequestWarning",
    "InvalidRequest",
    "JSONDecodeError",
    "PeerInfo",
    "PinMismatchError",
    "PolicyError",
    "PreparedRequest",
    "ProtocolError",
    "ReadTimeout",
    "RedirectError",
    "RequestOptions",
    "Response",
    "ResponseTooLarge",
    "Retries",
    "SecurityWarning",
    "SecurlError",
    "Session",
    "SessionAttributeError",
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
# securl.admin.guard. Keep this the last statement: the deferred sitecustomize hook relies on it.
_on_import()
