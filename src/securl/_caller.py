"""Finding the application code behind a call: for audit events, warnings and the guard.

The one rule: a frame is *internal* when its file is

* inside the securl package, except ``securl/cli/``: the CLI commands play the part of the
  application (``securl demo``'s calls are what the demo shows, ``securl get``'s requests
  are the command's own);
* inside urllib3 (a directory named ``urllib3``);
* the standard library's ``urllib/request.py``: ``OpenerDirector.open`` and the auth and
  redirect handlers run between application code and ``securl.urllib``'s transport (found
  by path, so that this module does not import ``urllib.request``).

The caller is the nearest frame that is not internal. A user of `find_caller` may
count more files as internal with ``also_internal``: the guard adds the ``ssl`` module's
own frames and the import machinery (``install()`` may run inside an import).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import FrameType

__all__ = ["CONNECTION_LIBRARIES", "Caller", "caller_location", "external_stacklevel",
           "find_application", "find_caller", "is_internal"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CLI_DIR = os.path.join(_PACKAGE_DIR, "cli") + os.sep
_URLLIB3_MARK = os.sep + "urllib3" + os.sep
_STDLIB_URLLIB_REQUEST = os.path.join(
    os.path.dirname(os.path.abspath(os.__file__)), "urllib", "request.py"
)


class Caller:
    """Where a call came from (a plain class: dataclasses cost import time).

    ``depth`` counts frames up from `find_caller`'s own, so a function that calls
    ``find_caller()`` and then ``warnings.warn()`` passes ``stacklevel=caller.depth``.
    """

    __slots__ = ("depth", "filename", "lineno", "module")

    def __init__(self, filename: str, lineno: int, module: str, depth: int) -> None:
        self.filename = filename
        self.lineno = lineno
        self.module = module
        self.depth = depth

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


def is_internal(filename: str) -> bool:
    """Whether a frame running ``filename`` is not the caller (the rule in the module doc)."""
    if filename.startswith(_PACKAGE_DIR):
        return not filename.startswith(_CLI_DIR)
    return _URLLIB3_MARK in filename or filename == _STDLIB_URLLIB_REQUEST


def _walk(depth: int, also_internal: Callable[[str], bool] | None,
          ) -> tuple[FrameType | None, int]:
    """The nearest external frame at least ``depth`` frames up from the function calling
    ``_walk``, and how many frames up it is (past the top of the stack: None, and one more
    than the top frame's count)."""
    try:
        frame: FrameType | None = sys._getframe(depth + 1)
    except ValueError:  # shallower stack than asked
        return None, depth
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (is_internal(filename) or (also_internal is not None and also_internal(filename))):
            break
        frame = frame.f_back
        depth += 1
    return frame, depth


def find_caller(depth: int = 1, *,
                also_internal: Callable[[str], bool] | None = None) -> Caller | None:
    """The nearest external frame, looking from ``depth`` frames up (1: the function calling
    find_caller; 2: its caller); None when every frame is internal.

    ``also_internal(filename)`` returning True makes more frames internal (see module doc).
    """
    frame, found = _walk(depth, also_internal)
    if frame is None:
        return None
    return Caller(frame.f_code.co_filename, frame.f_lineno,
                  str(frame.f_globals.get("__name__", "")), found)


def caller_location() -> str:
    """``file:line`` of the nearest external frame, from the function calling this one on
    (``<unknown>`` if there is none)."""
    caller = find_caller(2)
    return "<unknown>" if caller is None else str(caller)


def external_stacklevel() -> int:
    """The ``stacklevel`` for warnings.warn() called here, pointing at application code."""
    _, depth = _walk(1, None)
    return depth


# -- the code behind a TLS connection made by any library -----------------------------------

#: Top-level packages that stand between application code and a TLS connection: HTTP and
#: TLS libraries, their helpers, and the event-loop and green-thread libraries that run them.
CONNECTION_LIBRARIES = frozenset({
    "aiohappyeyeballs", "aiohttp", "anyio", "boto3", "botocore", "certifi", "eventlet",
    "gevent", "greenlet", "h11", "h2", "httpcore", "httpx", "niquests", "pip", "requests",
    "s3transfer", "securl", "sniffio", "trio", "truststore", "urllib3", "websocket",
    "websockets", "yarl",
})
_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__)) + os.sep
_SITE_MARKS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)


def _library_of(filename: str) -> str | None:
    """The library a frame belongs to: a known package's name, the stdlib module's dotted
    name, or None for application code."""
    for mark in _SITE_MARKS:
        at = filename.rfind(mark)
        if at >= 0:
            top = filename[at + len(mark):].split(os.sep, 1)[0]
            top = top[:-3] if top.endswith(".py") else top
            return top if top in CONNECTION_LIBRARIES else None
    if filename.startswith(_PACKAGE_DIR) and not filename.startswith(_CLI_DIR):
        return "securl"
    if filename.startswith(_STDLIB_DIR):
        rel = filename[len(_STDLIB_DIR):]
        return rel[:-3].replace(os.sep, ".").removesuffix(".__init__") if rel.endswith(
            ".py") else rel
    if filename.startswith("<frozen "):
        return filename[len("<frozen "):].rstrip(">")
    for name in CONNECTION_LIBRARIES:  # a source checkout or a vendored copy
        if f"{os.sep}{name}{os.sep}" in filename:
            return name
    return None


def find_application(depth: int = 1) -> tuple[Caller | None, str]:
    """The first frame outside the standard library and `CONNECTION_LIBRARIES`,
    looking up from ``depth``; and the library the application called (the outermost
    library frame below it, e.g. ``requests`` or ``urllib.request``).

    When every frame is library code (``python -m pip``), the outermost frame that is not
    the standard library stands for the application.
    """
    try:
        frame: FrameType | None = sys._getframe(depth + 1)
    except ValueError:
        return None, "unknown"
    library = "unknown"
    outermost: tuple[FrameType, int] | None = None
    found = depth
    while frame is not None:
        filename = frame.f_code.co_filename
        owner = _library_of(filename)
        if owner is None:
            return Caller(filename, frame.f_lineno, str(frame.f_globals.get("__name__", "")),
                          found), library
        if not filename.startswith(_STDLIB_DIR) and not filename.startswith("<frozen "):
            outermost = (frame, found)
        if owner not in ("ssl", "socket", "selectors") and not owner.startswith("importlib"):
            library = owner
        frame = frame.f_back
        found += 1
    if outermost is None:
        return None, library
    frame, found = outermost
    return Caller(frame.f_code.co_filename, frame.f_lineno,
                  str(frame.f_globals.get("__name__", "")), found), library
