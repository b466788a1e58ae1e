"""The keyword arguments of a request, typed: one list for the Session and the module functions.

`RequestOptions` names every keyword `securl.Session.request` takes besides the
method, the URL and the body; ``get``, ``post``, ... take them as ``**kwargs:
Unpack[RequestOptions]`` (PEP 692), so a type checker catches a misspelt option
(``timout=``) or a wrong type, and editors list the options. `RequestMethods` holds
those verbs once for `securl.Session`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from ..tls.decision import CertInput
from ..tls.modes import Pinned, Unverified, Verifier
from .auth import AuthInput
from .hooks import HooksInput
from .proxies import ProxiesInput
from .retries import RetriesInput
from .target import HeadersInput
from .timeouts import TimeoutInput

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:  # annotations only: nothing is imported at run time
        from typing_extensions import Unpack

    from .response import Response

__all__ = ["BodyOptions", "JsonOption", "ParamsInput", "RequestMethods", "RequestOptions"]

ParamsInput = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


class RequestOptions(TypedDict, total=False):
    """Every keyword of `securl.Session.request` but the body (``data=``, ``json=``)."""

    params: ParamsInput
    headers: HeadersInput
    files: Any
    cookies: Any
    timeout: TimeoutInput
    tls: Unverified | Pinned | None
    cert: CertInput
    pins: Iterable[str] | None
    verifiers: Iterable[Verifier] | None
    allow_redirects: bool
    stream: bool
    auth: AuthInput
    allow_insecure_auth: bool
    max_body_size: int | None
    retries: RetriesInput
    hooks: HooksInput
    proxies: ProxiesInput
    verify: bool


class JsonOption(RequestOptions, total=False):
    """`RequestOptions` and ``json=`` (for ``put``/``patch``, whose ``data`` is named)."""

    json: Any


class BodyOptions(JsonOption, total=False):
    """`RequestOptions` with the body: ``data=`` and ``json=``."""

    data: Any


class RequestMethods:
    """``get``, ``post``, ... on top of ``request``, with typed keyword arguments."""

    if TYPE_CHECKING:
        def request(self, method: str, url: str, **kwargs: Unpack[BodyOptions]) -> Response:
            ...

    def get(self, url: str, **kwargs: Unpack[BodyOptions]) -> Response:
        """Send a GET request; keyword arguments as for `request`."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Unpack[BodyOptions]) -> Response:
        """Send a HEAD request (redirects are not followed unless asked)."""
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Unpack[BodyOptions]) -> Response:
        """Send an OPTIONS request."""
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str, data: Any = None, json: Any = None,
             **kwargs: Unpack[RequestOptions]) -> Response:
        """Send a POST request."""
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url: str, data: Any = None, **kwargs: Unpack[JsonOption]) -> Response:
        """Send a PUT request."""
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: str, data: Any = None, **kwargs: Unpack[JsonOption]) -> Response:
        """Send a PATCH request."""
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url: str, **kwargs: Unpack[BodyOptions]) -> Response:
        """Send a DELETE request."""
        return self.request("DELETE", url, **kwargs)
