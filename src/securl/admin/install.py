"""``securl.install()``: verified stdlib HTTPS for a whole interpreter, plus the guard.

What ``install()`` does, in order (idempotent: a second call returns at once):

1. Loads the admin policy (``policy=FILE`` pins that file; else ``$SECURL_POLICY`` or
   ``/etc/securl/policy.toml``). A malformed policy raises ConfigurationError *before anything
   changes*. If the policy names ``audit.log_file``, audit events go there from now on.
2. Puts the guard on the ssl module (see `securl.admin.guard`); from now on its default action
   for a process-wide disable is ``refuse`` unless policy says otherwise.
3. Reports the environment variables people use to turn verification off (warning + audit
   event each; see `securl.admin.environment`) and re-examines the watched ssl
   attributes: a disable made before ``install()`` is reverted under ``refuse``, warned about
   under ``warn``, audited under ``allow``.
4. Sets ``ssl._create_default_https_context`` (used by ``http.client``, ``urllib.request``,
   ``xmlrpc.client``) to `https_context` -- unless policy kept an earlier disable there.
   With policy ``verify_stdlib_clients = true`` it also sets ``ssl._create_stdlib_context``
   (smtplib, imaplib, poplib, ftplib) to `stdlib_client_context`. It does not touch
   ``ssl.create_default_context`` (already verifying) nor ``ssl.SSLContext``.
5. Emits ``securl.installed``.

``uninstall()`` puts back the values step 4 replaced (where they are still in place), returns
the guard to its import-time default (warn) and emits ``securl.uninstalled``. Disables
reverted in step 3 stay reverted, and the policy stays loaded with its audit log (a process
reads it once; the log is attached when the policy loads, see ``securl._policy``).

Why `https_context` returns a *fresh, unsealed* context per call: its result goes to code
securl does not control. ``http.client`` sets ALPN and post-handshake auth on it, and
application code may legitimately configure the context it asked for (load a client
certificate, or even turn off hostname checks for its own connection). A shared sealed context
would break those callers; a shared unsealed one would let one caller weaken every other. Each
context starts verified (securl's trust sources, TLS >= 1.2, strict X.509) and belongs to its
caller alone. Building one is cheap with a hashed CA directory or a small SSL_CERT_FILE.
"""

from __future__ import annotations

import ssl
import sys
import threading
from typing import Any

from .._audit import emit, hold_events, release_events
from .._policy import Policy, get_policy, load_process_policy
from ..tls.config import TLSConfig
from ..tls.context import build_context
from . import default_trust as _default_trust
from . import guard as _guard
from . import handshake as _handshake
from .environment import report_environment
from .stdlib_class import stdlib_original

__all__ = ["https_context", "install", "is_installed", "status", "stdlib_client_context",
           "uninstall"]

_DEFAULT_CONFIG = TLSConfig()
_UNSET: Any = object()
_CLIENT_PROTOCOLS = (None, ssl.PROTOCOL_TLS_CLIENT, getattr(ssl, "PROTOCOL_TLS", None))


def https_context(purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, *, cafile: Any = None,
                  capath: Any = None, cadata: Any = None) -> ssl.SSLContext:
    """securl's ``ssl._create_default_https_context``: a fresh verified context per call.

    Same signature as ``ssl.create_default_context``. With no arguments (how ``http.client``
    calls it) the context trusts securl's sources (``SSL_CERT_FILE``/``SSL_CERT_DIR``, else the
    system store) and fails closed with ConfigurationError when those are broken. With
    explicit CAs, or for server-side use, it is the stdlib's own ``create_default_context``
    (which verifies against exactly what the caller named). Runs the guard's cheap check.
    """
    _guard.check_process_wide()
    if purpose != ssl.Purpose.SERVER_AUTH or cafile is not None or capath is not None \
            or cadata is not None:
        original = stdlib_original("create_default_context")
        return original(purpose, cafile=cafile, capath=capath, cadata=cadata)  # type: ignore[no-any-return]
    return build_context(_DEFAULT_CONFIG, seal=False, base=_current_class())


def _current_class() -> type[ssl.SSLContext] | None:
    """``ssl.SSLContext`` now, when it is a subclass of the stdlib's (gevent's and eventlet's
    green contexts make their own socket classes; a stdlib socket under them crashes)."""
    current = vars(ssl).get("SSLContext")
    stdlib = stdlib_original("SSLContext")
    if (isinstance(current, type) and current is not stdlib and issubclass(current, stdlib)
            and not current.__module__.startswith("truststore")):
        return current
    return None


def stdlib_client_context(protocol: Any = None, *, cert_reqs: Any = _UNSET,
                          check_hostname: Any = _UNSET,
                          purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
                          certfile: Any = None, keyfile: Any = None, cafile: Any = None,
                          capath: Any = None, cadata: Any = None) -> ssl.SSLContext:
    """securl's ``ssl._create_stdlib_context`` (policy ``verify_stdlib_clients = true``).

    Called as the mail and FTP clients call it (no ``cert_reqs``/``check_hostname``), it
    returns a fresh verified context without ALPN (these are not HTTP), with the client
    certificate loaded if one was named. A caller that explicitly passes ``cert_reqs`` or
    ``check_hostname`` (``ssl.get_server_certificate`` passes ``CERT_NONE`` on purpose), asks
    for a server-side context, or an old protocol constant gets the stdlib function unchanged:
    that is a per-call decision in code, not a process-wide default.
    """
    _guard.check_process_wide()
    original = stdlib_original("_create_unverified_context")
    if cert_reqs is not _UNSET or check_hostname is not _UNSET \
            or purpose != ssl.Purpose.SERVER_AUTH or protocol not in _CLIENT_PROTOCOLS:
        given = {k: v for k, v in (("cert_reqs", cert_reqs), ("check_hostname", check_hostname))
                 if v is not _UNSET}
        return original(protocol, purpose=purpose, certfile=certfile,  # type: ignore[no-any-return]
                        keyfile=keyfile, cafile=cafile, capath=capath, cadata=cadata, **given)
    if cafile is not None or capath is not None or cadata is not None:
        return original(ssl.PROTOCOL_TLS_CLIENT, cert_reqs=ssl.CERT_REQUIRED,  # type: ignore[no-any-return]
                        check_hostname=True, purpose=purpose, certfile=certfile,
                        keyfile=keyfile, cafile=cafile, capath=capath, cadata=cadata)
    if keyfile and not certfile:
        raise ValueError("certfile must be specified")
    base = _current_class()
    ctx = build_context(_DEFAULT_CONFIG, seal=False, alpn=False, base=base)
    if base is None:
        ctx.sslsocket_class = _MailClientSocket
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


class _MailClientSocket(ssl.SSLSocket):
    """The socket of `stdlib_client_context`: a failed verification says why it is
    checked at all (mail and FTP clients do not verify without securl's policy key)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except ssl.SSLCertVerificationError as exc:
            policy = get_policy()
            explained = ssl.SSLCertVerificationError(
                exc.errno, f"{exc.strerror or exc}. securl checks this certificate because "
                f"admin policy sets verify_stdlib_clients = true "
                f"({policy.origin_of('verify_stdlib_clients')}): trust the server's CA "
                "(SSL_CERT_FILE or the policy's extra_ca_certs)")
            explained.verify_code = exc.verify_code
            explained.verify_message = exc.verify_message
            explained.reason = exc.reason
            explained.library = exc.library
            raise explained from exc


_guard.register_verified(https_context)
_guard.register_verified(stdlib_client_context)


class _Installation:
    """What one install() did, so uninstall() can undo exactly that."""

    __slots__ = ("placed", "policy", "previous")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.previous: dict[str, Any] = {}  # name -> value install() replaced
        self.placed: dict[str, Any] = {}  # name -> value install() put there


_lock = threading.Lock()
_installation: _Installation | None = None


def install(*, policy: str | None = None, defer_events: bool = False) -> None:
    """Make this interpreter's stdlib HTTPS verify with securl's trust and guard it.

    Safe to call from ``sitecustomize.py``; idempotent and cheap (no context is built until the
    first connection). ``policy=FILE`` pins the admin policy file (``$SECURL_POLICY`` is then
    ignored); naming another file than the one already loaded raises ConfigurationError. A
    malformed policy raises ConfigurationError and leaves everything as it was. See the module
    docstring for the steps. ``defer_events=True`` (the sitecustomize hook) keeps the
    ``policy_loaded`` and ``installed`` events back until the first TLS connection.
    """
    global _installation
    with _lock:
        if _installation is not None:
            if policy is not None:
                load_process_policy(policy)
            return
        if defer_events:
            hold_events("policy_loaded", "installed")
            _handshake.on_first_connection(release_events)
        try:
            loaded = load_process_policy(policy) if policy is not None else get_policy()
        except BaseException:
            release_events()
            raise
        # The policy's audit log was attached when the policy was loaded (_policy._apply).
        inst = _Installation(loaded)
        try:
            _guard.activate()
            _guard.set_installed(True)
            _default_trust.enable()
            _handshake.enable()
            findings = report_environment()
            reverted = _guard.review(phase="install", full=True)
            _place(inst, "_create_default_https_context", https_context)
            if loaded.verify_stdlib_clients:
                _place(inst, "_create_stdlib_context", stdlib_client_context)
        except BaseException:
            release_events()
            _unplace(inst)
            _handshake.disable()
            _default_trust.disable()
            _guard.set_installed(False)
            raise
        _installation = inst
        https_now = vars(ssl).get("_create_default_https_context")
        emit(
            "installed",
            policy=loaded.path,
            on_process_wide_unverified=_guard.current_action(),
            https_context=_guard.describe(https_now),
            verify_stdlib_clients=loaded.verify_stdlib_clients,
            reverted=[f"ssl.{n}" for n in reverted],
            insecure_environment=[f.variable for f in findings],
            python=sys.executable,
        )


def _place(inst: _Installation, name: str, value: Any) -> None:
    current = vars(ssl).get(name)
    if name == "_create_default_https_context" and not _guard.classify(name, current)[0]:
        return  # policy (warn/allow) kept an earlier disable here; review() reported it
    inst.previous[name] = current
    inst.placed[name] = value
    _guard.put(name, value, protect=True)


def _unplace(inst: _Installation) -> None:
    """Put back what `_place` replaced, where securl's value is still in place."""
    for name, value in inst.placed.items():
        if vars(ssl).get(name) is value:
            _guard.put(name, inst.previous[name],
                       protect=False if name == "_create_stdlib_context" else None)


def uninstall() -> None:
    """Undo `install` (see the module docstring for exactly what is put back)."""
    global _installation
    with _lock:
        inst = _installation
        if inst is None:
            return
        release_events()  # held since a hook install: the log shows installed, then this
        _unplace(inst)
        _handshake.disable()
        _default_trust.disable()
        _guard.set_installed(False)
        _installation = None
        emit("uninstalled", policy=inst.policy.path)


def on_import() -> None:
    """Run as the last step of ``import securl``: the guard goes on (warn mode until
    ``install()``), and the sitecustomize hook, if it waits for the first TLS use, installs
    now (see _sitehook): a program that imports securl gets the admin's policy first."""
    _guard.activate()
    sitehook = sys.modules.get("_securl_sitehook")
    activate = getattr(sitehook, "activate", None)
    if activate is not None:
        activate(from_securl=True)


def is_installed() -> bool:
    """Whether `install` is in force in this interpreter."""
    return _installation is not None


def status() -> dict[str, Any]:
    """What ``securl doctor`` reports: is install() active, and what guards this interpreter."""
    hook = sys.modules.get("sitecustomize")
    sitehook = sys.modules.get("_securl_sitehook")
    inst = _installation
    return {
        "installed": inst is not None,
        "policy": inst.policy.path if inst else None,
        "sitecustomize": getattr(hook, "__file__", None),
        "sitecustomize_hook": sitehook is not None,
        "hook_failure": repr(sitehook.failure()) if sitehook is not None
        and getattr(sitehook, "failure", None) and sitehook.failure() else None,
        "https_context": _guard.describe(vars(ssl).get("_create_default_https_context")),
        "stdlib_clients_verified": bool(inst and "_create_stdlib_context" in inst.placed),
        "guard_active": isinstance(ssl, _guard._GuardedModule),
        "skipped_site": bool(sys.flags.no_site),
    }
