"""Where verification anchors come from: the one place securl decides the trust source.

Rule (first match wins):

1. ``ca_certs=`` given in code (file, hashed directory or PEM data): only those CAs.
2. ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` set in the environment: those, with OpenSSL.
   A variable that is set but empty, missing or holds no certificate fails closed with
   `ConfigurationError` -- it never silently means "trust nothing" or
   "trust everything".
3. The operating system's store. On macOS and Windows through ``truststore`` (the native
   verifier). Elsewhere the system's hashed directory or bundle, loaded once per context:
   truststore on Linux re-loads the same paths on every ``wrap_socket``, which costs a bundle
   load per connection for no gain in trust.
4. certifi's bundle, only where no system store exists, with a one-time warning.

The environment is read when a context is built, never at import time.
"""

from __future__ import annotations

import os
import re
import ssl
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..exceptions import ConfigurationError, SecurityWarning
from .config import TLSConfig

__all__ = ["TrustInfo", "resolve_trust", "trust_info"]

TrustSource = Literal["ca_certs", "environment", "system", "truststore", "certifi"]

#: Platforms where truststore calls a native verifier that plain OpenSSL cannot replace.
USE_TRUSTSTORE = sys.platform in ("darwin", "win32")
#: Tests only (tests/test_truststore_path.py): take the truststore path on any platform, so
#: its integration runs where the native verifiers do not. On Linux truststore verifies with
#: OpenSSL's default paths, which honour SSL_CERT_FILE and SSL_CERT_DIR themselves.
_force_truststore = False

# Bundle files of the common Linux/BSD distributions, checked when OpenSSL's compiled-in
# defaults hold nothing (the same list truststore and certifi-system-store use).
_SYSTEM_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora, RHEL
    "/etc/pki/tls/cert.pem",  # older Fedora, RHEL, CentOS
    "/etc/ssl/cert.pem",  # Alpine, Arch, BSD
    "/etc/ssl/ca-bundle.pem",  # SUSE
)
_SYSTEM_CA_DIRS = ("/etc/ssl/certs",)
_HASHED_NAME = re.compile(r"^[0-9a-fA-F]{8}\.[0-9]+$")
_certifi_warned = False


@dataclass(frozen=True)
class TrustInfo:
    """Which trust source is in force, where it lives, and why it was chosen."""

    source: TrustSource
    cafile: str | None = None
    capath: str | None = None
    cadata: str | bytes | None = None
    reason: str = ""
    #: the admin policy's extra CA file, added to every source but ``ca_certs``
    extra_ca_certs: str | None = None
    #: who gets this trust in this process (filled by `trust_info`)
    scope: str = ""

    @property
    def location(self) -> str:
        """A readable description of where the CAs come from."""
        parts = []
        if self.cafile:
            parts.append(f"file {self.cafile}")
        if self.capath:
            parts.append(f"directory {self.capath}")
        if self.cadata is not None:
            parts.append("PEM data given in code")
        if not parts:
            parts.append("the operating system's native verifier")
        return " and ".join(parts)

    def __str__(self) -> str:
        extra = f", plus policy extra_ca_certs {self.extra_ca_certs}" if self.extra_ca_certs \
            else ""
        scope = f"; {self.scope}" if self.scope else ""
        return f"trust source: {self.source} ({self.location}{extra}); {self.reason}{scope}"


def _has_hashed_certs(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(_HASHED_NAME.match(entry.name) for entry in entries)
    except OSError:
        return False


def _check_ca_file(path: str, origin: str) -> None:
    """Fail closed on a CA file that is missing, unreadable or holds no certificate."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except FileNotFoundError:
        raise ConfigurationError(f"{origin}: CA file {path!r} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(
            f"{origin}: CA file {path!r} cannot be read ({exc.strerror})"
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in head and b"-----BEGIN TRUSTED CERTIFICATE" not in head:
        raise ConfigurationError(
            f"{origin}: CA file {path!r} holds no PEM certificate; securl refuses to "
            "verify against an empty trust store"
        )


def _from_ca_certs(config: TLSConfig) -> TrustInfo:
    ca = config.ca_certs
    assert ca is not None
    reason = "ca_certs= was given in code, so only those CAs are trusted"
    if config.ca_certs_is_data:
        return TrustInfo("ca_certs", cadata=ca, reason=reason)
    path = ca if isinstance(ca, str) else ca.decode()
    if os.path.isdir(path):
        return TrustInfo("ca_certs", capath=path, reason=reason)
    _check_ca_file(path, "ca_certs")
    return TrustInfo("ca_certs", cafile=path, reason=reason)


def _from_environment(environ: Mapping[str, str]) -> TrustInfo | None:
    cafile = environ.get("SSL_CERT_FILE")
    capath = environ.get("SSL_CERT_DIR")
    if cafile is None and capath is None:
        return None
    if cafile is not None:
        if not cafile:
            raise ConfigurationError(
                "SSL_CERT_FILE is set but empty; securl refuses to guess what to trust. "
                "Point it at a PEM bundle or unset it to use the system trust store"
            )
        _check_ca_file(cafile, "SSL_CERT_FILE")
    if capath is not None:
        # OpenSSL accepts a list of directories separated by os.pathsep.
        dirs = [d for d in capath.split(os.pathsep) if d]
        if not dirs or not all(os.path.isdir(d) for d in dirs):
            raise ConfigurationError(
                f"SSL_CERT_DIR={capath!r} is not an existing directory; point it at an "
                "OpenSSL hashed directory (see `openssl rehash`) or unset it"
            )
    names = " and ".join(n for n, v in (("SSL_CERT_FILE", cafile), ("SSL_CERT_DIR", capath)) if v)
    return TrustInfo(
        "environment",
        cafile=cafile or None,
        capath=capath or None,
        reason=f"{names} set in the environment "
        f"{'override' if cafile and capath else 'overrides'} the system trust store",
    )


def _from_system() -> TrustInfo | None:
    if USE_TRUSTSTORE:
        return TrustInfo(
            "truststore", reason=f"the native trust store of {sys.platform}, via truststore"
        )
    defaults = ssl.get_default_verify_paths()
    # Prefer a hashed directory: OpenSSL reads it lazily, one small file per issuer looked
    # up, so building a context costs microseconds instead of parsing a whole bundle.
    for capath in (defaults.openssl_capath, *_SYSTEM_CA_DIRS):
        if capath and _has_hashed_certs(capath):
            return TrustInfo("system", capath=capath, reason="the system's hashed CA directory")
    for cafile in (defaults.openssl_cafile, *_SYSTEM_CA_FILES):
        if cafile and os.path.isfile(cafile) and os.path.getsize(cafile) > 0:
            return TrustInfo("system", cafile=cafile, reason="the system's CA bundle")
    return None


def _from_certifi() -> TrustInfo:
    global _certifi_warned
    import certifi

    if not _certifi_warned:
        _certifi_warned = True
        warnings.warn(
            "securl found no system trust store and falls back to certifi's CA bundle; "
            "install your system's CA certificates (e.g. the ca-certificates package) or set "
            "SSL_CERT_FILE",
            SecurityWarning,
            stacklevel=4,
        )
    return TrustInfo(
        "certifi", cafile=certifi.where(), reason="no system trust store was found"
    )


def resolve_trust(config: TLSConfig, environ: Mapping[str, str] | None = None) -> TrustInfo:
    """Decide where the CAs for ``config`` come from (see the module docstring for the rule)."""
    if config.ca_certs is not None:
        return _from_ca_certs(config)
    if _force_truststore:
        return TrustInfo("truststore", reason="truststore, forced for tests on "
                         f"{sys.platform} (OpenSSL's default paths)")
    if environ is None:
        environ = os.environ
        if ("SSL_CERT_FILE" in environ or "SSL_CERT_DIR" in environ) and _setuid():
            environ = {}  # the invoking user's environment: ignored, as OpenSSL does
    env = _from_environment(environ)
    if env is not None:
        return env
    return _from_system() or _from_certifi()


def _setuid() -> bool:
    """A setuid/setgid process (AT_SECURE): audited once per variable, see securl._policy."""
    from .._policy import _ignore_environment

    ignored = [_ignore_environment(n) for n in ("SSL_CERT_FILE", "SSL_CERT_DIR")
               if n in os.environ]
    return any(ignored)


def trust_info(config: TLSConfig | None = None) -> TrustInfo:
    """Report which trust source a context built now for ``config`` would use, and why.

    ``extra_ca_certs`` and ``scope`` say what else is trusted and who gets it: under
    ``securl.install()`` the default trust of every library in the process (see
    `securl.admin.default_trust`), otherwise securl's own connections only.
    """
    from dataclasses import replace

    from .._policy import get_policy

    info = resolve_trust(config or TLSConfig())
    extra = get_policy().extra_ca_certs if info.source != "ca_certs" else None
    handshake = sys.modules.get("securl.admin.handshake")
    installed = bool(handshake and handshake.enabled())
    if config is not None and config.ca_certs is not None:
        scope = "the connections made with this ca_certs= only"
    elif installed:
        scope = ("the default trust of every library in this process (securl.install() is "
                 "active): a CA file a program names itself is used as given")
    else:
        scope = ("securl's own connections; other libraries use their own defaults "
                 "(securl.install() is not active in this process)")
    return replace(info, extra_ca_certs=extra, scope=scope)
