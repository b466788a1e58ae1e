"""The sitecustomize hook: run ``securl.install()`` when the ssl module is first imported.

``securl admin install-sitecustomize`` writes a block that loads this file *by path*, as the
module ``_securl_sitehook``, without importing the securl package, and calls :func:`arm`.
So an interpreter that never uses TLS pays for one small file, not for ``ssl`` + securl
(see benchmarks/RESULTS.md, "Start-up cost of install()").

Rules:

* If ``ssl`` is already imported (a ``.pth`` file did it), ``install()`` runs at once.
* Otherwise a finder at the front of ``sys.meta_path`` waits for ``import ssl``. It finds ssl
  exactly as the path finder would, lets the module execute, gives the module back its real
  loader, removes itself, and calls ``securl.install()`` before the import statement returns,
  so no code can touch the ssl module before the guard is on it.
* If that first ``import ssl`` comes from securl's own import (``import securl`` before
  anything else used ssl), the package is half-initialised; the install is then left
  *pending* and securl's ``__init__`` runs it as its last step (:func:`take_pending`).
* ``install()`` failing (e.g. a malformed policy) never breaks ``import ssl``: the error is
  printed to stderr, saying this interpreter runs without securl's guard.

This file must stay importable on its own: standard library only, no relative imports.
"""

import sys
from importlib.machinery import ModuleSpec, PathFinder

# Start-up cost matters here: no typing/__future__/types import at run time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = ["arm", "armed", "run_install", "take_pending"]

_pending: "list[str | None]" = []


def take_pending() -> "list[str | None]":
    """The install left pending while securl was being imported (at most one), now taken."""
    taken = _pending[:]
    _pending.clear()
    return taken


def _securl_initializing() -> bool:
    module = sys.modules.get("securl")
    return module is not None and bool(getattr(module.__spec__, "_initializing", False))


def run_install(policy: "str | None") -> None:
    """``securl.install(policy=...)``; on failure, say so on stderr (never raises)."""
    _install(policy)


def _install(policy: "str | None") -> None:
    try:
        import securl

        if policy:
            securl.install(policy=policy)
        else:
            securl.install()
    except Exception as exc:
        print(
            f"securl: install() from sitecustomize failed; this interpreter runs WITHOUT "
            f"securl's guard: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )


class _Loader:
    """Wraps ssl's real loader: execute it, then install securl."""

    def __init__(self, real: "Any", hook: "SSLImportHook") -> None:
        self._real = real
        self._hook = hook

    def create_module(self, spec: ModuleSpec) -> "ModuleType | None":
        return self._real.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: "ModuleType") -> None:
        self._real.exec_module(module)
        module.__loader__ = self._real
        if module.__spec__ is not None:
            module.__spec__.loader = self._real
        self._hook.disarm()
        if _securl_initializing():
            _pending.append(self._hook.policy)
        else:
            _install(self._hook.policy)

    def __getattr__(self, name: str) -> "Any":
        return getattr(self._real, name)


class SSLImportHook:
    """A meta-path finder that only acts on the first ``import ssl``."""

    def __init__(self, policy: "str | None") -> None:
        self.policy = policy

    def find_spec(self, name: str, path: "Any" = None, target: "Any" = None
                  ) -> "ModuleSpec | None":
        if name != "ssl":
            return None
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
    """Install securl now if ssl is loaded, else on the first ``import ssl``."""
    if "ssl" in sys.modules:
        _install(policy)
    elif not armed():
        sys.meta_path.insert(0, SSLImportHook(policy))
