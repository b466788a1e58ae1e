"""Module-level securl.request/get/post/...: thin calls on one lazily created Session.

Their keyword arguments are typed (`RequestOptions`, PEP 692), as the
Session's are.
"""

from __future__ import annotations

import sys
import threading
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any

from .options import BodyOptions, JsonOption, RequestOptions
from .response import Response
from .session import Session

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:  # annotations only: nothing is imported at run time
        from typing_extensions import Unpack

__all__ = ["default_session", "delete", "get", "head", "options", "patch", "post", "put",
           "request"]

_default: Session | None = None
_lock = threading.Lock()


class _ModuleSession(Session):
    """The module functions' Session: pooled connections are shared, cookies are not. Each
    call gets a fresh jar (kept across that call's redirects), as requests' module functions
    do, so one part of a program never receives a cookie another part logged in with."""

    def _jar_for_call(self) -> CookieJar:
        return CookieJar()


def default_session() -> Session:
    """The shared Session behind the module-level functions (created on first use)."""
    global _default
    session = _default
    if session is None:
        with _lock:
            if _default is None:
                _default = _ModuleSession()
            session = _default
    return session


def request(method: str, url: str, **kwargs: Unpack[BodyOptions]) -> Response:
    """Send a request with the default Session; see `securl.Session.request`."""
    return default_session().request(method, url, **kwargs)


def get(url: str, **kwargs: Unpack[BodyOptions]) -> Response:
    """GET ``url`` with the default Session."""
    return default_session().request("GET", url, **kwargs)


def head(url: str, **kwargs: Unpack[BodyOptions]) -> Response:
    """HEAD ``url`` with the default Session."""
    return default_session().head(url, **kwargs)


def options(url: str, **kwargs: Unpack[BodyOptions]) -> Response:
    """OPTIONS ``url`` with the default Session."""
    return default_session().request("OPTIONS", url, **kwargs)


def post(url: str, data: Any = None, json: Any = None,
         **kwargs: Unpack[RequestOptions]) -> Response:
    """POST to ``url`` with the default Session."""
    return default_session().request("POST", url, data=data, json=json, **kwargs)


def put(url: str, data: Any = None, **kwargs: Unpack[JsonOption]) -> Response:
    """PUT to ``url`` with the default Session."""
    return default_session().request("PUT", url, data=data, **kwargs)


def patch(url: str, data: Any = None, **kwargs: Unpack[JsonOption]) -> Response:
    """PATCH ``url`` with the default Session."""
    return default_session().request("PATCH", url, data=data, **kwargs)


def delete(url: str, **kwargs: Unpack[BodyOptions]) -> Response:
    """DELETE ``url`` with the default Session."""
    return default_session().request("DELETE", url, **kwargs)
