"""securl._caller: the one rule for which frame is the application's (audit, warnings, guard)."""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request
import warnings

import urllib3

import securl
from securl import _caller
from securl.admin import guard

PACKAGE = os.path.dirname(securl.__file__)


def test_securl_urllib3_and_the_stdlib_urllib_request_are_internal() -> None:
    assert _caller.is_internal(os.path.join(PACKAGE, "http", "session.py"))
    assert _caller.is_internal(os.path.join(PACKAGE, "_audit.py"))
    assert _caller.is_internal(urllib3.__file__)
    assert _caller.is_internal(urllib.request.__file__)
    assert not _caller.is_internal(__file__)
    assert not _caller.is_internal(ssl.__file__)  # only the guard skips ssl.py
    # a sibling directory whose name starts like the package is not the package
    assert not _caller.is_internal(PACKAGE + "_extras" + os.sep + "x.py")


def test_the_cli_commands_play_the_application() -> None:
    for name in ("demo.py", "get.py", "main.py"):
        assert not _caller.is_internal(os.path.join(PACKAGE, "cli", name))


def test_the_guard_also_skips_ssl_and_the_import_machinery() -> None:
    assert guard.ssl_or_import_machinery(ssl.__file__)
    assert guard.ssl_or_import_machinery("<frozen importlib._bootstrap>")
    assert not guard.ssl_or_import_machinery(__file__)


def _through_internal_frames(code: str) -> dict[str, object]:
    """Run ``code`` two frames deep inside a function compiled as a securl file."""
    source = f"def inner():\n    {code}\ndef outer():\n    return inner()\n"
    namespace: dict[str, object] = {"_caller": _caller, "warnings": warnings}
    exec(compile(source, os.path.join(PACKAGE, "fake_internal.py"), "exec"), namespace)
    return namespace


def test_find_caller_names_the_first_application_frame_and_its_stacklevel() -> None:
    ns = _through_internal_frames("return _caller.find_caller()")
    line = sys._getframe().f_lineno + 1
    caller = ns["outer"]()  # type: ignore[operator]
    assert (caller.filename, caller.lineno, caller.module) == (__file__, line, __name__)
    assert caller.depth == 3  # inner, outer, then this test
    assert str(caller) == f"{__file__}:{line}"


def test_caller_location_and_external_stacklevel_point_at_the_application() -> None:
    ns = _through_internal_frames("return _caller.caller_location()")
    line = sys._getframe().f_lineno + 1
    assert ns["outer"]() == f"{__file__}:{line}"  # type: ignore[operator]
    ns = _through_internal_frames(
        "warnings.warn('x', UserWarning, stacklevel=_caller.external_stacklevel())")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        ns["outer"]()  # type: ignore[operator]
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]
