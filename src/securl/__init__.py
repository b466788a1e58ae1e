"""securl: secure-by-default HTTPS for Python.

Verified TLS from the system trust store on every call, a drop-in for ``urllib``, per-call
opt-outs that are explicit and audited, and an admin guard against process-wide disables.
"""

from __future__ import annotations

from ._audit import AuditEvent, add_audit_hook, remove_audit_hook
from ._config import TLSConfig
from ._context import create_context
from ._install import install, uninstall
from ._install import on_import as _on_import
from ._trust import TrustInfo, trust_info
from .exceptions import (
    AuthError,
    ClientCertificateRequired,
    ConfigurationError,
    ConnectionError,
    ConnectTimeout,
    InsecureRedirectError,
    InsecureRequestWarning,
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

__version__ = "0.1.0.dev0"

# Importing securl puts the guard on the ssl module (warn mode until install()); see _guard.
_on_import()

__all__ = [
    "AuditEvent",
    "AuthError",
    "ClientCertificateRequired",
    "ConfigurationError",
    "ConnectTimeout",
    "ConnectionError",
    "InsecureRedirectError",
    "InsecureRequestWarning",
    "PinMismatchError",
    "PolicyError",
    "ProtocolError",
    "ReadTimeout",
    "RedirectError",
    "SecurityWarning",
    "SecurlError",
    "TLSConfig",
    "TLSVerificationError",
    "Timeout",
    "TooManyRedirects",
    "TransportError",
    "TrustInfo",
    "__version__",
    "add_audit_hook",
    "create_context",
    "install",
    "remove_audit_hook",
    "trust_info",
    "uninstall",
]
