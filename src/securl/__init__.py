"""securl: secure-by-default HTTPS for Python.

Verified TLS from the system trust store on every call, a drop-in for ``urllib``, per-call
opt-outs that are explicit and audited, and an admin guard against process-wide disables.
"""

from __future__ import annotations

from ._api import delete, get, head, options, patch, post, put, request
from ._audit import AuditEvent, add_audit_hook, remove_audit_hook
from ._config import TLSConfig
from ._context import create_context
from ._response import Response
from ._session import Session, Timeouts
from ._tls import unverified
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

__all__ = [
    "AuditEvent",
    "AuthError",
    "ClientCertificateRequired",
    "ConfigurationError",
    "ConnectTimeout",
    "ConnectionError",
    "DeadlineExceeded",
    "InsecureRedirectError",
    "InsecureRequestWarning",
    "InvalidRequest",
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
