"""Module-level securl.request/get/post/...: thin calls on one lazily created Session."""

from __future__ import annotations

import threading
from typing import Any

from .response import Response
from .session import Session

__all__ = ["default_session", "delete", "get", "head", "options", "patch", "post", "put",
           "request"]

_default: Session | None = None
_lock = threading.Lock()


def default_session() -> Session:
    """The shared Session behind the module-level functions (created on first use)."""
    global _default
    session = _default
    if session is None:
        with _lock:
            if _default is None:
                _default = Session()
            session = _default
    return session


def request(method: str, url: str, **kwargs: Any) -> Response:
    """Send a request with the default Session; see :meth:`securl.Session.request`."""
    return default_session().request(method, url, **kwargs)


def get(url: str, **kwargs: Any) -> Response:
    """GET ``url`` with the default Session."""
    return default_session().request("GET", url, **kwargs)


def head(url: str, **kwargs: Any) -> Response:
    """HEAD ``url`` with the default Session."""
    return default_session().head(url, **kwargs)


def options(url: str, **kwargs: Any) -> Response:
    """OPTIONS ``url`` with the default Session."""
    return default_session().request("OPTIONS", url, **kwargs)


def post(url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
    """POST to ``url`` with the default Session."""
    return default_session().request("POST", url, data=data, json=json, **kwargs)


def put(url: str, data: Any = None, **kwargs: Any) -> Response:
    """PUT to ``url`` with the default Session."""
    return default_session().request("PUT", url, data=data, **kwargs)


def patch(url: str, data: Any = None, **kwargs: Any) -> Response:
    """PATCH ``url`` with the default Session."""
    return default_session().request("PATCH", url, data=data, **kwargs)


def delete(url: str, **kwargs: Any) -> Response:
    """DELETE ``url`` with the default Session."""
    return default_session().request("DELETE", url, **kwargs)
