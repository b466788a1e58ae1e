"""Request and response hooks: the caller's own code, run inside the request loop.

``hooks={"request": [fn, ...], "response": [fn, ...]}`` on a Session or a call (a call's
hooks run after the Session's). The rules:

* a **request hook** gets the `PreparedRequest` of every send (redirects and
  retries included) just before it goes out: ``method`` and ``url`` to read, ``headers`` to
  change (a copy for this one send: the Session's headers are never touched); the changed
  headers are checked again (no CR, LF or NUL), as headers given to a call are;
* a **response hook** gets every `Response`, redirects and retried ones
  included, before securl looks at it; what it returns is ignored;
* an exception raised by a hook propagates to the caller, as it is the caller's code (unlike
  audit hooks, which are never allowed to break a request);
* no hook costs nothing: the request loop skips all of this when none is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from urllib3 import HTTPHeaderDict

from ..exceptions import ConfigurationError
from .target import check_headers

if TYPE_CHECKING:
    from .authflow import AuthFlow
    from .response import Response
    from .target import Target

__all__ = ["NO_HOOKS", "Hooks", "HooksInput", "PreparedRequest", "coerce_hooks", "merge_hooks",
           "prepare_send"]


class PreparedRequest:
    """One send of a request, as hooks and custom auth see it.

    ``method`` and ``url`` are read-only (a redirect or another call is how to go elsewhere);
    ``headers`` is a mutable `urllib3.HTTPHeaderDict` of the headers this send carries.
    """

    __slots__ = ("_method", "_url", "headers")

    def __init__(self, method: str, url: str, headers: HTTPHeaderDict) -> None:
        self._method = method
        self._url = url
        self.headers = headers

    @property
    def method(self) -> str:
        """The request method, e.g. ``"GET"``."""
        return self._method

    @property
    def url(self) -> str:
        """The absolute URL of this send (query included)."""
        return self._url

    def __repr__(self) -> str:
        from .._redact import redact_url

        return f"<PreparedRequest [{self._method}] {redact_url(self._url)}>"


RequestHook = Callable[[PreparedRequest], Any]
ResponseHook = Callable[["Response"], Any]
HooksInput = Mapping[str, Callable[..., Any] | Iterable[Callable[..., Any]]] | None


class Hooks(NamedTuple):
    """Hooks to run, in order; empty tuples when none."""

    request: tuple[RequestHook, ...] = ()
    response: tuple[ResponseHook, ...] = ()


def _callables(event: str, value: object) -> tuple[Callable[..., Any], ...]:
    if callable(value):
        return (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"hooks[{event!r}] must be a callable or a list of callables, not "
            f"{type(value).__name__}")
    out = tuple(value)
    for fn in out:
        if not callable(fn):
            raise ConfigurationError(
                f"hooks[{event!r}] holds {type(fn).__name__} {fn!r}, which is not callable")
    return out


#: No hooks: what a Session holds until some are set.
NO_HOOKS = Hooks()


def coerce_hooks(value: object) -> Hooks:
    """``hooks=`` as `Hooks` (`NO_HOOKS` for ``None``)."""
    if value is None:
        return NO_HOOKS
    if isinstance(value, Hooks):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"hooks= must be a dict such as {{'response': [fn]}}, not {type(value).__name__}")
    unknown = set(value) - {"request", "response"}
    if unknown:
        raise ConfigurationError(
            f"hooks= has unknown events {sorted(map(str, unknown))}: securl runs 'request' "
            "hooks (with the prepared request) and 'response' hooks (with each response)")
    return Hooks(_callables("request", value.get("request", ())),
                 _callables("response", value.get("response", ())))


def merge_hooks(session: Hooks, call: Hooks) -> Hooks:
    """The Session's hooks, then the call's."""
    if call is NO_HOOKS:
        return session
    return Hooks(session.request + call.request, session.response + call.response)


def prepare_send(request_hooks: tuple[RequestHook, ...], flow: AuthFlow | None, method: str,
                 target: Target, headers: HTTPHeaderDict) -> HTTPHeaderDict:
    """The headers of one send after a custom auth and the request hooks ran on a copy.

    The custom auth (only for the call's origin: the flow decides) runs first, so hooks see
    the request as it will be sent. The result is checked as a call's headers are.
    """
    request = PreparedRequest(method, target.url, HTTPHeaderDict(headers))
    if flow is not None and flow.edits_request:
        flow.apply(request, target)
    for hook in request_hooks:
        hook(request)
    checked = HTTPHeaderDict()
    for name, value in check_headers(request.headers):
        if value is not None:
            checked.add(name, value)
    return checked
