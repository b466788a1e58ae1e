"""Finding the application code behind a call, for audit events and warnings."""

from __future__ import annotations

import os
import sys

__all__ = ["caller_location", "external_stacklevel"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_URLLIB3_MARK = os.sep + "urllib3" + os.sep
# The stdlib's urllib.request runs the handler chain (OpenerDirector.open, the auth and
# redirect handlers) between application code and securl.urllib's transport: its frames are
# not the caller either. Found by path, so that this module does not import urllib.request.
_STDLIB_URLLIB_REQUEST = os.path.join(
    os.path.dirname(os.path.abspath(os.__file__)), "urllib", "request.py"
)
# `securl demo` plays the part of an application: its calls are what the demo shows.
_APPLICATION_FILES = (os.path.join(_PACKAGE_DIR, "cli", "demo.py"),)


def _is_internal(filename: str) -> bool:
    if filename in _APPLICATION_FILES:
        return False
    return (filename.startswith(_PACKAGE_DIR) or _URLLIB3_MARK in filename
            or filename == _STDLIB_URLLIB_REQUEST)


def caller_location() -> str:
    """``file:line`` of the nearest frame outside securl (and urllib3)."""
    frame = sys._getframe(1)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def external_stacklevel() -> int:
    """The ``stacklevel`` for warnings.warn() called here, pointing at application code."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
