"""Is the ``urllib3`` that Python imports the one securl is built on?

Other packages can replace it: ``urllib3-future`` (pulled in by niquests) installs a package
also named ``urllib3`` with a different API, and securl then fails at its first request with
an ``ImportError`` deep inside its transport. `urllib3_error` turns that into a
`ConfigurationError` naming the distribution that provides ``urllib3`` now and
the fix; `urllib3_problem` is the same finding for ``securl doctor``.
"""

from __future__ import annotations

from ..exceptions import ConfigurationError

__all__ = ["urllib3_error", "urllib3_problem"]


def _providers() -> list[str]:
    """The installed distributions that ship a top-level ``urllib3`` package."""
    try:
        from importlib.metadata import packages_distributions

        return sorted(set(packages_distributions().get("urllib3", [])))
    except Exception:  # pragma: no cover - broken metadata: say nothing rather than fail
        return []


def urllib3_problem() -> str | None:
    """Why securl cannot use the installed urllib3, or None when it can."""
    try:
        import urllib3
        from urllib3.connection import ProxyConfig  # noqa: F401 - what urllib3-future lacks
    except ImportError as exc:
        cause = f"{type(exc).__name__}: {exc}"
    else:
        major = str(getattr(urllib3, "__version__", "0")).split(".", 1)[0]
        if major == "2":
            return None
        cause = f"urllib3 {getattr(urllib3, '__version__', '?')}"
    others = [p for p in _providers() if p.lower() != "urllib3"]
    who = (f"the package 'urllib3' is provided by {', '.join(others)}"
           if others else "the installed urllib3 is not urllib3 2.x")
    return (
        f"securl needs urllib3 2.x, but {who} ({cause}). urllib3-future (installed with "
        "niquests) replaces urllib3 with a different API. Fix: keep securl in an environment "
        "without it, or `pip uninstall urllib3-future` and then "
        "`pip install --force-reinstall 'urllib3>=2,<3'`"
    )


def urllib3_error(exc: ImportError) -> ConfigurationError:
    """The error to raise instead of ``exc`` when importing from urllib3 failed."""
    return ConfigurationError(urllib3_problem() or f"securl cannot use urllib3: {exc}")
