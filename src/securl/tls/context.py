"""Building verified SSLContexts: the only place securl decides TLS settings.

Every context made here has ``PROTOCOL_TLS_CLIENT``, ``check_hostname=True``,
``CERT_REQUIRED``, a minimum of TLS 1.2 (admin policy or the config may raise it to 1.3),
``VERIFY_X509_STRICT`` (unless admin policy sets ``x509_strict = false``) and
``VERIFY_X509_PARTIAL_CHAIN`` where the Python has them, ALPN ``http/1.1``, and
``hostname_checks_common_name=False``: the host must be named by the certificate's
subjectAltName, as RFC 6125 and browsers require; a name only in the subject CN is refused
(reason ``no-subject-alt-name``, see `rejected_certificate`).

Contexts are cached per (TLSConfig, trust-relevant environment, policy): loading a trust store
costs milliseconds and the thousandth request must not pay it. A cached context is shared by
every pool and thread, so it is *sealed* (`securl.tls.seal`): once built, any attempt to
weaken it (turn off verification or hostname checks, lower the TLS version, loosen X.509 flags
or options, load other CAs or a client certificate, set a key log file...) raises
`PolicyError` instead of silently weakening every other user of the same
object. Setting a value it already has is allowed (urllib3 re-asserts ``verify_mode`` on
every connection). The chainless contexts of pinned and opted-out requests
(`create_unverified_context`) are shared the same way and sealed as they are built.

A cached context remembers the files it was built from (CA bundle or directory, client
certificate and key, the policy's ``extra_ca_certs``) and their identity (device, inode,
size, mtime, ctime). `create_context` re-checks them on every call -- a few ``stat``
calls, made once per new connection -- and rebuilds the context when one changed. So a
rotated trust store or client certificate takes effect on the next new connection, and one
that was removed or made unreadable fails with `ConfigurationError` naming the
file: never a silent fallback to the CAs still in memory, to another trust source, or to no
verification. Connections already open stay as they were verified.
"""

from __future__ import annotations

import _ssl
import os
import ssl
import threading
from typing import Any

from .._policy import Policy, get_policy
from ..exceptions import ConfigurationError
from .config import TLSConfig
from .seal import SealMixin, sealed_class, truststore_context_class
from .trust import TrustInfo, resolve_trust

__all__ = ["SealedSSLContext", "create_context", "create_unverified_context",
           "rejected_certificate"]

ALPN_PROTOCOLS = ["http/1.1"]
_STRICT = getattr(ssl, "VERIFY_X509_STRICT", 0)
_PARTIAL_CHAIN = getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)


class _SSLSocket(ssl.SSLSocket):
    """The TLS socket of securl's contexts: a failed verification keeps the leaf it rejected.

    OpenSSL's error names no certificate; securl's error mapping reads this one to tell a
    certificate with no subjectAltName at all from one issued for another name
    (`rejected_certificate`).
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except ssl.SSLCertVerificationError as err:
            _keep_rejected_leaf(err, getattr(self, "_sslobj", None))
            raise


class _SSLObject(ssl.SSLObject):
    """`_SSLSocket` for memory BIOs (urllib3's TLS inside an HTTPS proxy tunnel)."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except ssl.SSLCertVerificationError as err:
            _keep_rejected_leaf(err, getattr(self, "_sslobj", None))
            raise


_REJECTED = "securl_rejected_certificate"


def _keep_rejected_leaf(err: ssl.SSLCertVerificationError, sslobj: Any) -> None:
    """Attach the DER leaf certificate the peer sent to ``err`` (nothing if unavailable)."""
    try:
        chain = sslobj.get_unverified_chain() or ()
        if not chain:
            return
        leaf = chain[0]  # bytes from Python 3.13, an _ssl.Certificate before
        der = leaf if isinstance(leaf, bytes) else leaf.public_bytes(_ssl.ENCODING_DER)
    except (AttributeError, ValueError, ssl.SSLError):
        return
    if isinstance(der, bytes):
        setattr(err, _REJECTED, der)


def rejected_certificate(err: BaseException) -> bytes | None:
    """The DER leaf certificate a verification failure of a securl context rejected, if known."""
    der = getattr(err, _REJECTED, None)
    return der if isinstance(der, bytes) else None


class SealedSSLContext(SealMixin, ssl.SSLContext):
    """An OpenSSL-verified context that refuses to be weakened once sealed."""

    sslsocket_class = _SSLSocket
    sslobject_class = _SSLObject


def _load_client_cert(ctx: ssl.SSLContext, config: TLSConfig) -> None:
    """Load the client certificate, mapping every failure to a ConfigurationError.

    The message names the files and the cause; it never contains the password.
    """
    cert, key, password = config.client_cert, config.client_key, config.client_key_password
    assert cert is not None
    for label, path in (("client certificate", cert), ("client key", key)):
        if path is not None and not os.path.isfile(path):
            raise ConfigurationError(f"{label} file {path!r} does not exist or is not a file")
        if path is not None and not os.access(path, os.R_OK):
            raise ConfigurationError(f"{label} file {path!r} is not readable")
    files = f"certificate {cert!r}" + (f" with key {key!r}" if key else "")
    encrypted = _key_is_encrypted(key or cert)
    if encrypted and not password:
        raise ConfigurationError(
            f"cannot load client {files}: the private key is encrypted; pass its password "
            "(cert=(cert_file, key_file, password))"
        )
    try:
        # A callable password stops OpenSSL from ever prompting on the terminal.
        ctx.load_cert_chain(cert, key, password=lambda: password or b"")
    except ssl.SSLError as exc:
        text = f"{exc.reason or ''} {exc}".lower()
        if "key values mismatch" in text or "key_values_mismatch" in text:
            cause = "the private key does not match the certificate"
        elif encrypted:
            cause = "the private key is encrypted and the password is wrong"
        elif "no start line" in text or "pem" in text or "asn1" in text:
            cause = "the file is not a PEM certificate/key"
        else:
            cause = f"OpenSSL said: {exc.reason or exc.__class__.__name__}"
        raise ConfigurationError(f"cannot load client {files}: {cause}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot load client {files}: {exc.strerror}") from None


def _key_is_encrypted(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return False
    return b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data


def _apply_trust(ctx: ssl.SSLContext, trust: TrustInfo, policy: Policy) -> None:
    if trust.source == "truststore":
        pass  # the native verifier brings its own anchors
    else:
        origin = {"ca_certs": "ca_certs", "environment": "SSL_CERT_FILE/SSL_CERT_DIR"}.get(
            trust.source, f"{trust.source} trust store"
        )
        try:
            if trust.cadata is not None:
                cadata = trust.cadata
                ctx.load_verify_locations(
                    cadata=cadata.decode("ascii") if isinstance(cadata, bytes) else cadata
                )
            if trust.cafile or trust.capath:
                ctx.load_verify_locations(cafile=trust.cafile, capath=trust.capath)
        except (ssl.SSLError, OSError, ValueError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"{origin}: cannot load CA certificates from {trust.location}: {exc}"
            ) from None
    if policy.extra_ca_certs and trust.source != "ca_certs":
        try:
            ctx.load_verify_locations(cafile=policy.extra_ca_certs)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(
                f"policy extra_ca_certs {policy.extra_ca_certs!r} cannot be loaded: {exc}"
            ) from None


FileSignature = tuple[tuple[str, "tuple[int, ...] | None"], ...]


def _source_paths(trust: TrustInfo, config: TLSConfig, policy: Policy) -> tuple[str, ...]:
    """The files and directories a context for ``config`` is loaded from."""
    paths: list[str] = []
    if trust.cafile:
        paths.append(trust.cafile)
    if trust.capath:
        paths.extend(d for d in trust.capath.split(os.pathsep) if d)
    for path in (config.client_cert, config.client_key, policy.extra_ca_certs):
        if path:
            paths.append(str(path))
    return tuple(paths)


def file_signature(paths: tuple[str, ...]) -> FileSignature:
    """Identity of each path now: (device, inode, size, mtime, ctime), or None if missing."""
    out: list[tuple[str, tuple[int, ...] | None]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((path, None))
            continue
        out.append((path, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)))
    return tuple(out)


def _sources_changed(ctx: ssl.SSLContext) -> bool:
    paths: tuple[str, ...] = getattr(ctx, "_securl_paths", ())
    return bool(paths) and file_signature(paths) != getattr(ctx, "_securl_signature", None)


def build_context(config: TLSConfig, policy: Policy | None = None, *, seal: bool = True,
                  alpn: bool = True, base: type[ssl.SSLContext] | None = None
                  ) -> ssl.SSLContext:
    """Build (uncached) a verifying context for ``config``; see the module rules.

    ``seal=False`` leaves it unsealed, for a caller that gets its own fresh context and may
    legitimately configure it (``securl.install()``'s stdlib factories); ``alpn=False`` leaves
    out the ``http/1.1`` ALPN offer (for non-HTTP protocols such as SMTP or IMAP);
    ``base`` makes the context a subclass of that ssl.SSLContext subclass (gevent's and
    eventlet's green contexts) instead of the stdlib class.
    """
    policy = policy or get_policy()
    trust = resolve_trust(config)
    # Taken before loading: a file that changes during the load is seen as changed later.
    paths = _source_paths(trust, config, policy)
    signature = file_signature(paths)
    ctx: ssl.SSLContext
    if trust.source == "truststore":
        ctx = truststore_context_class()(ssl.PROTOCOL_TLS_CLIENT)
    else:
        ctx = (sealed_class(base) if base else SealedSSLContext)(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = max(config.minimum_version, policy.minimum_tls_version)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.hostname_checks_common_name = False  # RFC 6125: the subjectAltName names the host
    flags = _PARTIAL_CHAIN | (_STRICT if policy.x509_strict else 0)
    ctx.verify_flags |= flags
    if alpn:
        ctx.set_alpn_protocols(ALPN_PROTOCOLS)
    _apply_trust(ctx, trust, policy)
    if config.client_cert is not None:
        _load_client_cert(ctx, config)
    ctx.trust = trust  # type: ignore[attr-defined]
    ctx._securl_paths = paths  # type: ignore[attr-defined]
    ctx._securl_signature = signature  # type: ignore[attr-defined]
    if seal:
        ctx.seal()  # type: ignore[attr-defined]
    return ctx


_cache: dict[tuple[object, ...], ssl.SSLContext] = {}
_cache_lock = threading.Lock()
_DEFAULT = TLSConfig()


def create_context(config: TLSConfig | None = None, *, recheck_files: bool = False
                   ) -> ssl.SSLContext:
    """A verifying context for ``config`` (default: system trust), shared and cached.

    The cache key is the config plus ``SSL_CERT_FILE``/``SSL_CERT_DIR`` (read now, not at
    import) plus the policy, so changing any of them yields a new context while equal inputs
    return the very same (sealed) object. Thread-safe.

    ``recheck_files=True`` (what securl's connections pass, once per new connection) also
    compares the trust and client-key files with what the cached context was built from: a
    context whose files changed is rebuilt, and one whose files became unusable fails (see
    the module docstring). Without it the lookup is a dictionary hit, a few microseconds.
    """
    # Load the policy before taking the cache lock: loading emits securl.policy_loaded, and
    # an audit hook that itself uses securl would otherwise wait for this lock forever.
    get_policy()
    environ = os.environ
    key = (config or _DEFAULT, environ.get("SSL_CERT_FILE"), environ.get("SSL_CERT_DIR"))
    ctx = _cache.get(key)
    if ctx is None or (recheck_files and _sources_changed(ctx)):
        with _cache_lock:
            ctx = _cache.get(key)
            if ctx is None or (recheck_files and _sources_changed(ctx)):
                _cache.pop(key, None)
                ctx = build_context(config or _DEFAULT)
                _cache[key] = ctx
    return ctx


def clear_cache() -> None:
    """Drop every cached context (new connections will build fresh ones)."""
    with _cache_lock:
        _cache.clear()


def create_unverified_context(config: TLSConfig | None = None) -> ssl.SSLContext:
    """A context that skips chain and hostname checks; only for an audited per-call opt-out
    and for pinned requests (which check the key, and the host name, themselves).

    Everything else (TLS >= 1.2, ALPN, client certificate) stays as in a verified context.
    Never cached here and never shared with verified pools; sealed, because its callers
    cache it and share it between every pinned or opted-out pool with the same config.
    """
    config = config or _DEFAULT
    ctx = SealedSSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.hostname_checks_common_name = False
    ctx.minimum_version = max(config.minimum_version, get_policy().minimum_tls_version)
    ctx.set_alpn_protocols(ALPN_PROTOCOLS)
    if config.client_cert is not None:
        _load_client_cert(ctx, config)
    ctx.seal()
    return ctx
