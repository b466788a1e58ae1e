"""The sitecustomize hook: securl for the whole interpreter, paid for only when TLS is used.

``securl admin install-sitecustomize`` writes a block that loads this file *by path*, as the
module ``_securl_sitehook``, without importing the securl package, and calls `arm`.

Rules:

* Arming costs one small file: nothing else is imported. A finder at the front of
  ``sys.meta_path`` waits for ``import ssl`` (or, if ssl is already imported, the next step
  runs at once).
* When ssl has executed, the finder gives the module back its real loader, removes itself and
  puts *stand-ins* in place -- still without importing securl: on the standard library's
  ``ssl.SSLContext`` class the methods every client connection and every request for default
  trust pass through (``_wrap_socket``, ``_wrap_bio``, ``load_default_certs``,
  ``set_default_verify_paths``, ``load_verify_locations``), and on the ssl module its class
  (which sees ``ssl.X = ...``) and the factories ``_create_default_https_context`` and
  ``_create_stdlib_context``.
* The first call of any stand-in *activates* securl: it puts the module-level stand-ins back
  as they were, imports securl and runs ``securl.install(defer_events=True)``, which replaces
  the class stand-ins with the real checks; then the call goes on through them. Other threads
  calling a stand-in meanwhile wait for the activation. A call made by the activation itself
  (securl's own import) goes to the standard library directly.
* So a process that never makes a TLS connection (or asks for default trust, or patches ssl)
  never imports securl, reads no policy and writes no audit event.
* If activation fails (a malformed policy, an audit log that cannot be opened), it says so on
  stderr once, and it fails closed: every client TLS connection in this process raises that
  error. The trust stand-ins then load the standard library's defaults (never less trust
  checking, only not the admin's extra CAs).

This file must stay importable on its own: standard library only, no relative imports, and
nothing imported at module level that ``python -c pass`` does not already load.
"""

import sys
from _thread import allocate_lock, get_ident

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

__all__ = ["activate", "arm", "armed", "failure", "pinned_policy"]

_CLASS_METHODS = ("_wrap_socket", "_wrap_bio", "load_default_certs",
                  "set_default_verify_paths", "load_verify_locations")
_FACTORIES = ("_create_default_https_context", "_create_stdlib_context")
_WATCHED = frozenset(("_create_default_https_context", "create_default_context",
                      "_create_stdlib_context", "SSLContext"))

_lock = allocate_lock()
_state: "dict[str, Any]" = {"policy": None, "ssl": None, "done": False, "owner": None,
                            "failure": None, "factories": {}, "module_class": None}


def pinned_policy() -> "str | None":
    """The policy file the hook pins (``--policy``), if any: securl loads only that one."""
    return _state["policy"]  # type: ignore[no-any-return]


def failure() -> "BaseException | None":
    """Why activation failed in this process (None: it did not fail, or has not run)."""
    return _state["failure"]  # type: ignore[no-any-return]


def _securl_initializing() -> bool:
    module = sys.modules.get("securl")
    return module is not None and bool(getattr(module.__spec__, "_initializing", False))


def activate(*, from_securl: bool = False) -> None:
    """Import securl and run ``install()`` once (see the module rules); never raises.

    ``from_securl=True``: called by the last step of ``import securl`` (the package is
    complete, though still marked as initialising), so a program that uses securl itself
    gets the admin's installation, and its policy, before its first call.
    """
    if _state["done"] or _state["owner"] == get_ident() or (
            _securl_initializing() and not from_securl) or _state["ssl"] is None:
        return
    with _lock:
        if _state["done"]:
            return
        _state["owner"] = get_ident()
        try:
            _put_back_module_stand_ins()
            import securl

            policy = _state["policy"]
            if policy:
                securl.install(policy=policy, defer_events=True)
            else:
                securl.install(defer_events=True)
        except Exception as exc:
            _state["failure"] = exc
            print(
                f"securl: install() from sitecustomize failed: {type(exc).__name__}: {exc}. "
                "Client TLS connections in this process are refused until it is fixed (fix "
                "the policy, or remove the hook with `securl admin uninstall-sitecustomize`).",
                file=sys.stderr,
            )
        finally:
            _state["done"] = True
            _state["owner"] = None


def _refuse_connection() -> None:
    exc = _state["failure"]
    if exc is None:
        return
    message = (
        f"securl refuses this TLS connection: install() from sitecustomize failed in this "
        f"process ({type(exc).__name__}: {exc}). Fix that, or remove the hook with `securl "
        "admin uninstall-sitecustomize`."
    )
    try:
        from securl.exceptions import PolicyError
    except Exception:
        raise RuntimeError(message) from exc
    raise PolicyError(message) from exc


def _class_stand_in(cls: type, name: str) -> "Any":
    original = cls.__dict__.get(name)
    inherited = getattr(cls.__mro__[1], name, None)

    def stand_in(self: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        activate()
        method = cls.__dict__.get(name)
        if method is stand_in or method is None:
            if name in ("_wrap_socket", "_wrap_bio") and not _state["owner"]:
                _refuse_connection()
            method = original or inherited
        return method(self, *args, **kwargs)  # type: ignore[misc]

    stand_in._securl_stand_in = True  # type: ignore[attr-defined]
    stand_in._securl_original = original  # type: ignore[attr-defined]
    stand_in.__name__ = stand_in.__qualname__ = name
    return stand_in


def _factory_stand_in(module: "ModuleType", name: str, original: "Any") -> "Any":
    def stand_in(*args: "Any", **kwargs: "Any") -> "Any":
        activate()
        factory = vars(module).get(name)
        if factory is stand_in or factory is None:
            factory = original
        return factory(*args, **kwargs)

    stand_in._securl_stand_in = True  # type: ignore[attr-defined]
    stand_in.__name__ = stand_in.__qualname__ = name
    return stand_in


def _module_class(base: "Any") -> type:
    class StandInModule(base):  # type: ignore[misc]
        """The ssl module's class until activation: a watched assignment activates securl,
        whose guard then judges it."""

        _securl_stand_in = True

        def __setattr__(self, name: str, value: "Any") -> None:
            if name in _WATCHED and self is _state["ssl"]:
                activate()
                if type(self) is not StandInModule:
                    setattr(self, name, value)  # through securl's guard now
                    return
            base.__setattr__(self, name, value)

    return StandInModule


def _put_stand_ins(module: "ModuleType") -> None:
    _state["ssl"] = module
    cls = module.SSLContext
    for name in _CLASS_METHODS:
        setattr(cls, name, _class_stand_in(cls, name))
    for name in _FACTORIES:
        original = vars(module).get(name)
        if original is not None:
            _state["factories"][name] = original
            vars(module)[name] = _factory_stand_in(module, name, original)
    base = type(module)
    try:
        module.__class__ = _module_class(base)
        _state["module_class"] = base
    except TypeError:  # pragma: no cover - an unusual module class: the handshake still counts
        pass


def _put_stand_ins_safely(module: "ModuleType") -> None:
    """`_put_stand_ins`, never breaking ``import ssl``: on failure, securl installs now."""
    try:
        _put_stand_ins(module)
    except Exception as exc:  # pragma: no cover - an ssl module unlike CPython's
        print(f"securl: the sitecustomize hook could not wait for the first TLS use "
              f"({type(exc).__name__}: {exc}); installing now", file=sys.stderr)
        activate()


def _put_back_module_stand_ins() -> None:
    """Before install(): the ssl module's own factories and class back, so securl's guard
    sees (and remembers) the real values."""
    module = _state["ssl"]
    if module is None:
        return
    for name, original in _state["factories"].items():
        if getattr(vars(module).get(name), "_securl_stand_in", False):
            vars(module)[name] = original
    base = _state["module_class"]
    if base is not None and getattr(type(module), "_securl_stand_in", False):
        module.__class__ = base


class _Loader:
    """Wraps ssl's real loader: execute it, then put the stand-ins in place."""

    def __init__(self, real: "Any", hook: "SSLImportHook") -> None:
        self._real = real
        self._hook = hook

    def create_module(self, spec: "ModuleSpec") -> "ModuleType | None":
        return self._real.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: "ModuleType") -> None:
        self._real.exec_module(module)
        module.__loader__ = self._real
        if module.__spec__ is not None:
            module.__spec__.loader = self._real
        self._hook.disarm()
        _put_stand_ins_safely(module)

    def __getattr__(self, name: str) -> "Any":
        return getattr(self._real, name)


class SSLImportHook:
    """A meta-path finder that only acts on the first ``import ssl``."""

    def find_spec(self, name: str, path: "Any" = None, target: "Any" = None
                  ) -> "ModuleSpec | None":
        if name != "ssl":
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None  # let the other finders try; we stay armed
        spec.loader = _Loader(spec.loader, self)  # type: ignore[assignment]
        return spec

    def disarm(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def armed() -> bool:
    """Whether the hook is still waiting for ``import ssl``."""
    return any(isinstance(f, SSLImportHook) for f in sys.meta_path)


def arm(policy: "str | None" = None) -> None:
    """Put the stand-ins on ssl now if it is loaded, else at the first ``import ssl``."""
    _state["policy"] = policy
    if _state["ssl"] is not None:
        return
    module = sys.modules.get("ssl")
    if module is not None:
        _put_stand_ins_safely(module)
    elif not armed():
        sys.meta_path.insert(0, SSLImportHook())
