"""securl: secure-by-default HTTPS for Python.

Verified TLS from the system trust store on every call, a drop-in for ``urllib``, per-call
opt-outs that are explicit and audited, and an admin guard against process-wide disables.
"""

from __future__ import annotations

from . import (
    audit,
    urllib,  # the drop-in: `from securl import urllib`
    verifiers,
)
from ._api import delete, get, head, options, patch, post, put, request
from ._audit import AuditEvent, add_audit_hook, remove_audit_hook
from ._auth import BasicAuth, DigestAuth
from ._config import TLSConfig
from ._context import create_context
from ._install import install, uninstall
from ._install import on_import as _on_import
from ._peer import PeerInfo
from ._response import Response
from ._session import Session
from ._tls import pinned, unverified
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

__all__ = [
    "AuditEvent",
    "AuthError",
    "BasicAuth",
    "ClientCertificateRequired",
    "ConfigurationError",
    "ConnectTimeout",
    "ConnectionError",
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
