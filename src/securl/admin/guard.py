"""The guard: watches the process-wide TLS defaults of the `ssl` module.

Watched attributes (``GUARDED``): ``ssl._create_default_https_context`` (what ``http.client``
and ``urllib.request`` use when given no context), ``ssl.create_default_context``,
``ssl._create_stdlib_context`` (smtplib, imaplib, poplib, ftplib) and ``ssl.SSLContext``.

The guard is the second line. The first is the check every client connection passes under
``securl.install()`` (`securl.admin.handshake`): whatever a slot holds, the context a
connection actually uses is judged there. The guard makes a process-wide disable visible at
the line that made it, and keeps the slots verifying where policy says so.

Rules:

* ``activate()`` (run by ``import securl``) swaps the ssl module's class for a
  `types.ModuleType` subclass whose ``__setattr__`` sees every ``ssl.X = value`` of a
  watched name. It reads no file and builds no context: it costs microseconds.
* An assignment is a *process-wide disable* when the new value does not verify and the name
  is protected (every watched name, except ``_create_stdlib_context`` unless ``install()``
  made it verify). "Verifies" means contexts it makes have ``verify_mode == CERT_REQUIRED``
  and ``check_hostname``; the guard finds out by making one, the way the slot is used
  (a factory with no arguments, the class with ``PROTOCOL_TLS_CLIENT``). Recognised by
  identity: the stdlib's ``create_default_context`` (verifies), ``_create_unverified_context``
  (does not), and ``ssl.SSLContext`` only in its own slot (as a factory it gives CERT_NONE).
  Anything that fails to make a context counts as not verifying.
* A disable is handled by the action in force: admin policy ``on_process_wide_unverified`` if
  set, else ``"refuse"`` after ``securl.install()`` and ``"warn"`` before it.
  ``refuse``: the assignment is *ignored* (the verifying value stays) with a
  `SecurityWarning` at the patching line -- never an exception, so a library
  with the classic line does not kill the program at import. ``warn``: the assignment
  happens, with a SecurityWarning at that line. ``allow``: it happens silently. Each case
  emits ``securl.monkeypatch`` (target, caller, action, detail); so does every accepted
  assignment.
* Changes that bypass ``__setattr__`` (``vars(ssl)[...] = ...``, resetting the module class,
  patches made before securl was imported) are caught by `check_process_wide`, a few
  identity comparisons run on every connection, and by ``install()``. Under ``refuse`` the
  safe value is put back (reverted) with a warning and an audit event.
* The code behind a patch is found by `securl._caller.find_caller`'s rule, with the
  ``ssl`` module's own frames and the import machinery skipped too.

The environment variables people use to turn verification off are
`securl.admin.environment`'s concern (reported by ``install()``).
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
import types
import warnings
from typing import Any, Literal

from .._caller import Caller, find_caller
from ..exceptions import SecurityWarning
from .stdlib_class import STDLIB_ORIGINALS as _STDLIB
from .stdlib_class import stdlib_original

__all__ = [
    "GUARDED",
    "activate",
    "check_process_wide",
    "classify",
    "current_action",
    "stdlib_original",
]

Action = Literal["refuse", "warn", "allow"]

GUARDED: tuple[str, ...] = (
    "_create_default_https_context",
    "create_default_context",
    "_create_stdlib_context",
    "SSLContext",
)
_GUARDED_SET = frozenset(GUARDED)
_MISSING: Any = object()
_SSL_MODULE: types.ModuleType = ssl
_SSL_DICT: dict[str, Any] = vars(ssl)
_SSL_FILE = os.path.abspath(getattr(ssl, "__file__", "ssl.py"))


#: What each watched name holds in a fresh interpreter.
_STDLIB_DEFAULT: dict[str, Any] = {
    "_create_default_https_context": _STDLIB["create_default_context"],
    "create_default_context": _STDLIB["create_default_context"],
    "_create_stdlib_context": _STDLIB["_create_unverified_context"],
    "SSLContext": _STDLIB["SSLContext"],
}


# --- state ---------------------------------------------------------------------------------

_lock = threading.RLock()
_installed = False
#: value the guard last saw or accepted, per watched name (the per-request check compares)
_expected: dict[str, Any] = {}
_expected_items: tuple[tuple[str, Any], ...] = ()
#: the verifying value to keep (refuse) or put back (revert), per protected name
_safe: dict[str, Any] = {}
#: names where a non-verifying value counts as a disable
_protected: set[str] = {"_create_default_https_context", "create_default_context", "SSLContext"}
#: values known to verify (identity), so the common case never builds a context
_known_verified: dict[int, Any] = {}
#: file:line of the code that made the current value of a name, when the guard saw it
_made_by: dict[str, str] = {}
_guarded_class: type | None = None


def _set_expected(name: str, value: Any) -> None:
    global _expected_items
    _expected[name] = value
    _expected_items = tuple(_expected.items())


def register_verified(value: Any) -> None:
    """Tell the guard that ``value`` (one of securl's factories) verifies."""
    _known_verified[id(value)] = value


# Not ssl.SSLContext: called with no argument, as a factory slot calls it, the class gives
# PROTOCOL_TLS and CERT_NONE (classify() accepts it only at ssl.SSLContext itself).
if _STDLIB["create_default_context"] is not None:
    register_verified(_STDLIB["create_default_context"])


# --- the module class ------------------------------------------------------------------------

class _GuardedModule(types.ModuleType):
    """The ssl module's class while the guard is active: intercepts watched assignments."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _GUARDED_SET and self is _SSL_MODULE:
            _on_assign(name, value)
        else:
            super().__setattr__(name, value)


def _guard_class_for(current: type) -> type:
    if getattr(current, "_securl_stand_in", False):
        current = current.__mro__[1]  # the sitecustomize hook's stand-in: take its place
    if current is types.ModuleType:
        return _GuardedModule
    # Someone else already subclassed the module type: keep their behaviour underneath.
    return type("GuardedModule", (_GuardedModule, current), {})


def activate() -> None:
    """Put the guard on the ssl module (idempotent; no I/O, no policy read, no context)."""
    global _guarded_class
    if _guarded_class is not None and type(_SSL_MODULE) is _guarded_class:
        return
    with _lock:
        if not _expected:
            for name in GUARDED:
                default = _STDLIB_DEFAULT[name]
                current = _SSL_DICT.get(name, _MISSING)
                # Expect the stdlib value, so a patch made before securl was imported shows up
                # at the first check_process_wide(); fall back to what is there if unknown.
                _set_expected(name, default if default is not None else current)
                if default is not None and name in _protected:
                    _safe[name] = default
        cls = type(_SSL_MODULE)
        if _guarded_class is None or cls is not _guarded_class:
            try:
                new = _guard_class_for(cls) if not issubclass(cls, _GuardedModule) else cls
                _SSL_MODULE.__class__ = new
                _guarded_class = new
            except TypeError:  # pragma: no cover - an incompatible module class
                _guarded_class = cls


def deactivate() -> None:
    """Take the guard off and forget its state (tests only)."""
    global _guarded_class, _installed, _expected_items
    with _lock:
        if isinstance(_SSL_MODULE, _GuardedModule):
            bases = [b for b in type(_SSL_MODULE).__mro__[1:] if b is not _GuardedModule]
            plain: type = next(b for b in bases if issubclass(b, types.ModuleType))
            _SSL_MODULE.__class__ = plain
        _guarded_class = None
        _installed = False
        _expected.clear()
        _expected_items = ()
        _safe.clear()
        _made_by.clear()
        _protected.clear()
        _protected.update(("_create_default_https_context", "create_default_context", "SSLContext"))


# --- deciding -----------------------------------------------------------------------------

def current_action() -> Action:
    """The action for a process-wide disable now: policy, else refuse after install, else warn."""
    from .._policy import get_policy

    configured = get_policy().on_process_wide_unverified
    if configured is not None:
        return configured
    return "refuse" if _installed else "warn"


def describe(value: Any) -> str:
    """A short name for a watched value, e.g. ``ssl._create_unverified_context``."""
    if value is _MISSING:
        return "<deleted>"
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if module and qualname:
        return f"{module}.{qualname}"
    return repr(value)[:80]


def _context_verifies(ctx: Any, what: str) -> tuple[bool, str]:
    try:
        mode = ctx.verify_mode
        hostname = ctx.check_hostname
    except Exception:
        return False, f"{what} did not give an SSLContext"
    if mode == ssl.CERT_REQUIRED and hostname is True:
        return True, f"{what} gives contexts that verify certificates and host names"
    return False, (
        f"{what} gives contexts with verify_mode={ssl.VerifyMode(mode).name}, "
        f"check_hostname={hostname}"
    )


def classify(name: str, value: Any) -> tuple[bool, str]:
    """Does ``value``, put at ``ssl.<name>``, make verifying contexts? ``(verifies, why)``.

    Known values are recognised by identity; anything else is tried once (see module rules),
    and whatever fails to produce a context counts as not verifying (fail closed).
    """
    if value is _MISSING:
        return False, f"ssl.{name} was deleted"
    if value is _STDLIB["SSLContext"]:
        if name == "SSLContext":
            return True, "the standard library's ssl.SSLContext"
        return False, ("ssl.SSLContext called with no argument, as this slot is called, gives "
                       "PROTOCOL_TLS contexts with verify_mode=CERT_NONE")
    if (id(value) in _known_verified and _known_verified[id(value)] is value
            and name != "SSLContext"):
        return True, f"{describe(value)} verifies certificates and host names"
    if value is _STDLIB["_create_unverified_context"]:
        return False, "ssl._create_unverified_context skips certificate and host name checks"
    what = describe(value)
    try:
        if name == "SSLContext":
            if not isinstance(value, type):
                return False, f"{what} is not a class"
            ctx = value(ssl.PROTOCOL_TLS_CLIENT)
            what = f"{what}(PROTOCOL_TLS_CLIENT)"
        else:
            if not callable(value):
                return False, f"{what} is not callable"
            ctx = value()
            what = f"{what}()"
    except Exception as exc:  # includes RecursionError from a naive SSLContext subclass
        return False, f"securl could not check {what}: {type(exc).__name__}: {exc}"[:300]
    return _context_verifies(ctx, what)


# --- acting ---------------------------------------------------------------------------------

def ssl_or_import_machinery(filename: str) -> bool:
    """Frames the guard skips besides `securl._caller`'s internal ones: ssl.py itself,
    and the import machinery (``install()`` may run inside an import)."""
    return filename.startswith("<frozen importlib") or os.path.abspath(filename) == _SSL_FILE


def security_warning(message: str, caller: Caller | None, *,
                     may_raise: bool = True) -> None:
    """A SecurityWarning attributed to ``caller``, shown every time (fresh registry).

    ``may_raise=False`` (install time, after-the-fact findings): a warning filter set to
    "error" must not abort install() -- that would leave the process unguarded -- so the
    message goes to stderr instead.
    """
    try:
        if caller is None:
            warnings.warn(message, SecurityWarning, stacklevel=3)
        else:
            warnings.warn_explicit(message, SecurityWarning, caller.filename, caller.lineno,
                                   module=caller.module or None, registry=None)
    except Warning as exc:
        if may_raise:
            raise
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)


def _advice() -> str:
    from .._policy import get_policy

    policy = get_policy().path or "/etc/securl/policy.toml"
    return (
        "To reach a server whose certificate does not verify, trust its CA instead "
        f"(SSL_CERT_FILE, or extra_ca_certs in the admin policy {policy}); an administrator "
        'can set on_process_wide_unverified = "warn" there to let such patches through with '
        "a warning. Connections are still checked one by one: with allow_unverified = true "
        "an unverified one is warned about and audited, with false it is refused"
    )


def _policy_words(action: Action) -> str:
    from .._policy import get_policy

    policy = get_policy()
    if policy.on_process_wide_unverified is not None:
        return (f"admin policy on_process_wide_unverified = {action!r} "
                f"({policy.origin_of('on_process_wide_unverified')})")
    if _installed:
        return ("securl.install() is active (the admin's sitecustomize hook, or a call in "
                "code), whose default is refuse")
    return "securl.install() was not called (default: warn)"


def _emit(name: str, value: Any, *, action: str, verified: bool, detail: str,
          caller: object, phase: str, mode: str | None) -> None:
    from .._audit import emit

    emit("monkeypatch", target=f"ssl.{name}", value=describe(value), caller=
         str(caller) if caller else None, action=action, verified=verified, detail=detail,
         phase=phase, mode=mode)


def _raw_set(name: str, value: Any) -> None:
    if value is _MISSING:
        _SSL_DICT.pop(name, None)
    else:
        _SSL_DICT[name] = value


def _accept(name: str, value: Any, verified: bool, caller: object) -> None:
    with _lock:
        _raw_set(name, value)
        _set_expected(name, value)
        if verified and name in _protected:
            _safe[name] = value
        if caller:
            _made_by[name] = str(caller)
        else:
            _made_by.pop(name, None)


def _on_assign(name: str, value: Any) -> None:
    """``ssl.<name> = value`` through the guard (see the module rules)."""
    sitehook = sys.modules.get("_securl_sitehook")
    if sitehook is not None:  # the admin's install() decides how this assignment is handled
        sitehook.activate()
    caller = find_caller(3, also_internal=ssl_or_import_machinery)
    verified, detail = classify(name, value)
    if verified or name not in _protected:
        _emit(name, value, action="accepted", verified=verified, detail=detail, caller=caller,
              phase="assignment", mode=None)
        _accept(name, value, verified, caller)
        return
    action = current_action()
    _emit(name, value, action={"refuse": "refused", "warn": "warned", "allow": "allowed"}[action],
          verified=False, detail=detail, caller=caller, phase="assignment", mode=action)
    if action == "refuse":
        # Ignored, not raised: a library doing this at import must not kill the program;
        # every connection is still judged at the handshake (securl.admin.handshake).
        security_warning(
            f"securl ignored `ssl.{name} = {describe(value)}`: it would turn off certificate "
            f"verification for this whole process ({detail}); the verifying value stays in "
            f"place. Ignored because {_policy_words(action)}. {_advice()}.",
            caller, may_raise=False,
        )
        return
    if action == "warn":
        security_warning(
            f"`ssl.{name} = {describe(value)}` turns off certificate verification for "
            f"this whole process ({detail}). Allowed with this warning because "
            f"{_policy_words(action)}. {_advice()}.",
            caller,
        )
    _accept(name, value, False, caller)


def check_process_wide() -> None:
    """Cheap per-request check that the watched ssl attributes are what the guard accepted.

    A few identity comparisons when nothing changed. A change that bypassed the guard is
    handled like an assignment, except that under ``refuse`` the safe value is put back
    (reverted) with a warning instead of an exception. Never raises PolicyError.
    """
    if _guarded_class is not None and type(_SSL_MODULE) is _guarded_class:
        get = _SSL_DICT.get
        for name, value in _expected_items:
            if get(name, _MISSING) is not value:
                break
        else:
            return
    review(phase="request")


def review(*, phase: str, names: tuple[str, ...] | None = None,
           full: bool = False) -> list[str]:
    """Find and handle changes the guard did not see; returns the names that were reverted.

    ``full=True`` (install) re-examines every protected name, even one the guard accepted
    earlier under a looser action; otherwise only names that differ from what it expects.
    """
    reverted: list[str] = []
    if _guarded_class is None or type(_SSL_MODULE) is not _guarded_class:
        was = type(_SSL_MODULE)
        activate()
        if was is not type(_SSL_MODULE):
            from .._audit import emit

            emit("monkeypatch", target="ssl.__class__", value=describe(was), caller=None,
                 action="reactivated", verified=False, phase=phase, mode=None,
                 detail="the ssl module's class had been reset; the guard put itself back")
    for name in names or GUARDED:
        value = _SSL_DICT.get(name, _MISSING)
        changed = value is not _expected.get(name, _MISSING)
        if not changed and not (full and name in _protected and _safe.get(name) is not value):
            continue
        verified, detail = classify(name, value)
        made_by = _made_by.get(name) if not changed else None
        if verified or name not in _protected:
            if changed:
                _emit(name, value, action="accepted", verified=verified, detail=detail,
                      caller=None, phase=phase, mode=None)
                _accept(name, value, verified, None)
            continue
        action = current_action()
        origin = (f"made at {made_by}" if made_by
                  else "made where securl's guard could not see it")
        if action == "refuse" and _safe.get(name) is not None:
            _emit(name, value, action="reverted", verified=False, detail=detail,
                  caller=made_by, phase=phase, mode=action)
            _accept(name, _safe[name], True, None)
            reverted.append(name)
            security_warning(
                f"securl found `ssl.{name} = {describe(value)}` ({origin}), which turns off "
                f"certificate verification process-wide ({detail}), and put the verifying "
                f"value back because {_policy_words(action)}. {_advice()}.",
                find_caller(2, also_internal=ssl_or_import_machinery), may_raise=False,
            )
            continue
        if action == "refuse":  # no verifying value to put back: the handshake check stays
            action = "warn"
        _emit(name, value, action="warned" if action == "warn" else "allowed", verified=False,
              detail=detail, caller=made_by, phase=phase, mode=action)
        if action == "warn":
            security_warning(
                f"`ssl.{name} = {describe(value)}` ({origin}) turns off certificate "
                f"verification for this whole process ({detail}). Allowed with this warning "
                f"because {_policy_words(action)}. {_advice()}.",
                find_caller(2, also_internal=ssl_or_import_machinery), may_raise=False,
            )
        if changed:
            _accept(name, value, False, made_by)
    return reverted


def set_installed(flag: bool) -> None:
    """Record whether ``securl.install()`` is in force (changes the default action)."""
    global _installed
    _installed = flag


def put(name: str, value: Any, *, protect: bool | None = None) -> None:
    """Set ``ssl.<name>`` for securl itself (install/uninstall), bypassing the checks.

    ``protect=True`` makes a non-verifying replacement of ``name`` count as a disable from now
    on, ``False`` stops that; ``None`` leaves it as it is.
    """
    with _lock:
        if protect is True:
            _protected.add(name)
        elif protect is False:
            _protected.discard(name)
            _safe.pop(name, None)
        verified = id(value) in _known_verified or value is _STDLIB_DEFAULT.get(name)
        _accept(name, value, verified, None)


def is_protected(name: str) -> bool:
    """Whether a non-verifying value at ``ssl.<name>`` counts as a disable now."""
    return name in _protected
