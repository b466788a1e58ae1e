"""Building verified SSLContexts: the only place securl decides TLS settings.

Every context made here has ``PROTOCOL_TLS_CLIENT``, ``check_hostname=True``,
``CERT_REQUIRED``, a minimum of TLS 1.2 (admin policy or the config may raise it to 1.3),
``VERIFY_X509_STRICT`` (unless admin policy sets ``x509_strict = false``) and
``VERIFY_X509_PARTIAL_CHAIN`` where the Python has them, and ALPN ``http/1.1``.

Contexts are cached per (TLSConfig, trust-relevant environment, policy): loading a trust store
costs milliseconds and the thousandth request must not pay it. A cached context is shared by
every pool and thread, so it is *sealed*: once built, any attempt to weaken it (turn off
verification or hostname checks, lower the TLS version, drop X.509 flags, load other CAs or a
client certificate) raises :class:`~securl.PolicyError` instead of silently weakening every
other user of the same object. Setting a value it already has is allowed (urllib3 re-asserts
``verify_mode`` on every connection).

A cached context remembers the files it was built from (CA bundle or directory, client
certificate and key, the policy's ``extra_ca_certs``) and their identity (device, inode,
size, mtime, ctime). :func:`create_context` re-checks them on every call -- a few ``stat``
calls, made once per new connection -- and rebuilds the context when one changed. So a
rotated trust store or client certificate takes effect on the next new connection, and one
that was removed or made unreadable fails with :class:`~securl.ConfigurationError` naming the
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
from ..exceptions import ConfigurationError, PolicyError
from .config import TLSConfig
from .trust import TrustInfo, resolve_trust

__all__ = ["SealedSSLContext", "create_context", "create_unverified_context"]

ALPN_PROTOCOLS = ["http/1.1"]
_STRICT = getattr(ssl, "VERIFY_X509_STRICT", 0)
_PARTIAL_CHAIN = getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)


_descriptors: dict[tuple[type, str], Any] = {}


def _parent_descriptor(obj: object, name: str) -> Any:
    """``name`` as the class after :class:`_SealMixin` in ``obj``'s MRO defines it.

    Looked up on every handshake (the ssl module and urllib3 read and set ``verify_mode``
    and ``check_hostname`` per connection), so the MRO walk is done once per class.
    """
    key = (type(obj), name)
    descriptor = _descriptors.get(key)
    if descriptor is None:
        mro = type(obj).__mro__
        for klass in mro[mro.index(_SealMixin) + 1 :]:
            if name in klass.__dict__:
                descriptor = _descriptors[key] = klass.__dict__[name]
                break
        else:  # pragma: no cover
            raise AttributeError(name)
    return descriptor


class _SealMixin:
    """Refuses changes that would weaken a built, shared context (see module docstring)."""

    _securl_sealed = False
    trust: TrustInfo | None = None

    def _refuse(self, what: str) -> None:
        raise PolicyError(
            f"refusing to {what} on a shared, verified securl context: every connection that "
            "uses it would be weakened. Build your own ssl.SSLContext for that connection, or "
            "use a per-call opt-out: tls=securl.unverified(reason=...)"
        )

    def _set(self, name: str, value: object) -> None:
        descriptor = _parent_descriptor(self, name)
        if descriptor is _STDLIB_SETTERS.get(name):
            # ssl.SSLContext's Python setters call super(SSLContext, SSLContext), looking the
            # class up by name in the ssl module; once something (truststore.inject_into_ssl)
            # has replaced ssl.SSLContext that recurses forever. The C-level descriptor is
            # what those setters end up calling, so call it directly.
            descriptor = _C_SETTERS[name]
        descriptor.__set__(self, value)

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        return _parent_descriptor(self, "verify_mode").__get__(self)  # type: ignore[no-any-return]

    @verify_mode.setter
    def verify_mode(self, value: ssl.VerifyMode) -> None:
        if self._securl_sealed and value != ssl.CERT_REQUIRED:
            self._refuse(f"set verify_mode={value!r}")
        self._set("verify_mode", value)

    @property
    def check_hostname(self) -> bool:
        return _parent_descriptor(self, "check_hostname").__get__(self)  # type: ignore[no-any-return]

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        if self._securl_sealed and not value:
            self._refuse("turn off check_hostname")
        self._set("check_hostname", value)

    @property
    def minimum_version(self) -> ssl.TLSVersion:
        return _parent_descriptor(self, "minimum_version").__get__(self)  # type: ignore[no-any-return]

    @minimum_version.setter
    def minimum_version(self, value: ssl.TLSVersion) -> None:
        if self._securl_sealed and value < self.minimum_version:
            self._refuse(f"lower minimum_version to {value!r}")
        self._set("minimum_version", value)

    @property
    def verify_flags(self) -> ssl.VerifyFlags:
        return _parent_descriptor(self, "verify_flags").__get__(self)  # type: ignore[no-any-return]

    @verify_flags.setter
    def verify_flags(self, value: ssl.VerifyFlags) -> None:
        if self._securl_sealed and (self.verify_flags & ~value):
            self._refuse(f"clear verify_flags to {value!r}")
        self._set("verify_flags", value)

    def load_verify_locations(self, *args: Any, **kwargs: Any) -> None:
        if self._securl_sealed:
            self._refuse("load more CAs")
        _parent_descriptor(self, "load_verify_locations")(self, *args, **kwargs)

    def load_default_certs(self, *args: Any, **kwargs: Any) -> None:
        if self._securl_sealed:
            self._refuse("load more CAs")
        _parent_descriptor(self, "load_default_certs")(self, *args, **kwargs)

    def load_cert_chain(self, *args: Any, **kwargs: Any) -> None:
        if self._securl_sealed:
            self._refuse("load a client certificate")
        _parent_descriptor(self, "load_cert_chain")(self, *args, **kwargs)

    def set_ciphers(self, *args: Any, **kwargs: Any) -> None:
        if self._securl_sealed:
            self._refuse("change the cipher list")
        _parent_descriptor(self, "set_ciphers")(self, *args, **kwargs)

    def seal(self) -> None:
        """Freeze the security settings of this context (idempotent)."""
        self._securl_sealed = True


class SealedSSLContext(_SealMixin, ssl.SSLContext):  # type: ignore[misc]
    """An OpenSSL-verified context that refuses to be weakened once sealed."""


_STDLIB_SETTERS: dict[str, object] = {
    name: ssl.SSLContext.__dict__[name]
    for name in ("verify_mode", "minimum_version", "verify_flags")
    if name in ssl.SSLContext.__dict__
}
_C_SETTERS: dict[str, Any] = {
    name: _ssl._SSLContext.__dict__[name] for name in _STDLIB_SETTERS
}


_truststore_class: type[ssl.SSLContext] | None = None


def _truststore_context_class() -> type[ssl.SSLContext]:
    global _truststore_class
    if _truststore_class is None:
        import truststore

        class SealedTruststoreContext(_SealMixin, truststore.SSLContext):  # type: ignore[misc, unused-ignore]
            """A truststore (native verifier) context that refuses to be weakened once sealed."""

        _truststore_class = SealedTruststoreContext
    return _truststore_class


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


_sealed_classes: dict[type, type[ssl.SSLContext]] = {}


def _sealed_class(base: type[ssl.SSLContext]) -> type[ssl.SSLContext]:
    """SealedSSLContext over ``base``, a subclass of ssl.SSLContext (e.g. gevent's)."""
    cls = _sealed_classes.get(base)
    if cls is None:
        cls = _sealed_classes[base] = type("SealedSSLContext", (_SealMixin, base), {})
    return cls


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
        ctx = _truststore_context_class()(ssl.PROTOCOL_TLS_CLIENT)
    else:
        ctx = (_sealed_class(base) if base else SealedSSLContext)(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = max(config.minimum_version, policy.minimum_tls_version)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
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
    """A context that skips chain and hostname checks; only for an audited per-call opt-out.

    Everything else (TLS >= 1.2, ALPN, client certificate) stays as in a verified context.
    Never cached, never shared with verified pools.
    """
    config = config or _DEFAULT
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = max(config.minimum_version, get_policy().minimum_tls_version)
    ctx.set_alpn_protocols(ALPN_PROTOCOLS)
    if config.client_cert is not None:
        _load_client_cert(ctx, config)
    return ctx
