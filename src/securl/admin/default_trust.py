"""The admin's trust for every library: what "default trust" means under ``securl.install()``.

A context that asks for *default* trust gets securl's trust sources (see
`securl.tls.trust`: ``SSL_CERT_FILE``/``SSL_CERT_DIR``, else the operating system's
store) plus admin policy's ``extra_ca_certs``. Asking for default trust is:

* ``SSLContext.load_default_certs()`` for server authentication (what
  ``ssl.create_default_context()`` does when given no CA, so asyncio, httpx without certifi,
  aiohttp, websockets and ``http.client`` get it);
* ``SSLContext.set_default_verify_paths()`` (truststore on Linux, urllib3 with no CA given);
* ``SSLContext.load_verify_locations(cafile=B)`` where ``B`` is a library's own default
  bundle (`is_library_bundle`: certifi's ``cacert.pem``, pip's vendored copy,
  botocore's) -- what requests, botocore, httpx and older pip pass when the program named
  no CA.

A CA file, directory or PEM data a program names itself is loaded as given: explicit trust
wins. A broken ``SSL_CERT_FILE``/``SSL_CERT_DIR`` or ``extra_ca_certs`` fails closed with
`ConfigurationError` where the context asks for default trust.

Trust is loaded with the C-level ``load_verify_locations``, so securl's own loads (and the
certifi fallback) never come back through these methods.
"""

from __future__ import annotations

import _ssl
import os
import ssl
from typing import Any

from .._policy import get_policy
from ..exceptions import ConfigurationError
from ..tls.config import TLSConfig
from ..tls.trust import TrustInfo, resolve_trust
from .stdlib_class import STDLIB_SSLCONTEXT, set_methods

__all__ = ["disable", "enable", "is_library_bundle", "load_default_trust"]

_RAW_LOAD = _ssl._SSLContext.load_verify_locations
_RAW_DEFAULT_PATHS = _ssl._SSLContext.set_default_verify_paths
_LIBRARY_BUNDLES = ("/certifi/cacert.pem", "/botocore/cacert.pem")
_DEFAULT = TLSConfig()
_held: Any = STDLIB_SSLCONTEXT.__dict__.get("load_default_certs")
#: the stdlib's own method (the sitecustomize hook's stand-in, if any, remembers it)
_original_load_default_certs: Any = getattr(_held, "_securl_original", _held)


def is_library_bundle(cafile: Any) -> bool:
    """Whether ``cafile`` is a library's default CA bundle rather than a program's choice."""
    try:
        path = os.fsdecode(cafile)
    except TypeError:
        return False
    return path.replace("\\", "/").endswith(_LIBRARY_BUNDLES)


def load_default_trust(ctx: Any) -> TrustInfo:
    """Load securl's trust sources and the policy's ``extra_ca_certs`` into ``ctx``."""
    trust = resolve_trust(_DEFAULT)
    try:
        if trust.source == "truststore":  # macOS/Windows: OpenSSL's own defaults
            _RAW_DEFAULT_PATHS(ctx)
        elif trust.cafile or trust.capath:
            _RAW_LOAD(ctx, trust.cafile, trust.capath)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(
            f"cannot load the default trust ({trust.location}): {exc}") from None
    extra = get_policy().extra_ca_certs
    if extra:
        try:
            _RAW_LOAD(ctx, extra)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(
                f"policy extra_ca_certs {extra!r} cannot be loaded: {exc}") from None
    return trust


def _load_default_certs(self: Any, purpose: Any = ssl.Purpose.SERVER_AUTH) -> None:
    if purpose != ssl.Purpose.SERVER_AUTH or _original_load_default_certs is None:
        if _original_load_default_certs is not None:
            _original_load_default_certs(self, purpose)
        return
    if not isinstance(purpose, ssl._ASN1Object):  # pragma: no cover - as the stdlib checks
        raise TypeError(purpose)
    load_default_trust(self)


def _set_default_verify_paths(self: Any) -> None:
    load_default_trust(self)


def _load_verify_locations(self: Any, cafile: Any = None, capath: Any = None,
                           cadata: Any = None) -> None:
    if cafile is not None and capath is None and cadata is None and is_library_bundle(cafile):
        load_default_trust(self)
        return
    _RAW_LOAD(self, cafile, capath, cadata)


def enable() -> None:
    """Make default trust mean securl's trust (idempotent)."""
    set_methods({
        "load_default_certs": _load_default_certs,
        "set_default_verify_paths": _set_default_verify_paths,
        "load_verify_locations": _load_verify_locations,
    })


def disable() -> None:
    """Give the stdlib its own default trust back (``securl.uninstall()``)."""
    set_methods({"load_default_certs": None, "set_default_verify_paths": None,
                 "load_verify_locations": None})
