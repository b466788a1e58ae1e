"""Cookies for ``securl.Session``: the stdlib jar (``http.cookiejar``, RFC 6265) at every hop.

Rules (the jar's ``DefaultCookiePolicy`` decides domain, path, ``Secure`` and expiry):

* Every response's ``Set-Cookie`` goes into the Session's jar, redirect hops included, and
  into that response's own ``cookies`` jar.
* Each request (each hop) gets a ``Cookie`` header from the jar for the host, path and scheme
  it goes to: a ``Secure`` cookie never goes over http, and a redirect to another site gets
  only what the jar holds for that site. A ``Cookie`` header set by hand wins over the jar,
  and the redirect rule drops it across origins (``securl.http.redirects``).
* ``cookies=`` on a call (a mapping or a jar) is a per-call credential, like ``auth=``: sent
  only while the call is at the origin it named (never again after a redirect leaves it), and
  never stored in the Session's jar.
* Nothing here runs for a call without cookies: the Session checks first that its jar is not
  empty, that a call gave ``cookies=`` or that a response has ``Set-Cookie``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from http.cookiejar import Cookie, CookieJar
from typing import TYPE_CHECKING, Any, cast

from urllib3 import HTTPHeaderDict

from ..exceptions import ConfigurationError, InvalidRequest
from .target import Target

if TYPE_CHECKING:
    from urllib.request import Request

__all__ = ["CallCookies", "CookieInput", "CookieRequest", "check_jar", "per_call_jar"]

#: What ``cookies=`` accepts on a call: name -> value, or a jar.
CookieInput = Mapping[str, str] | CookieJar | None

# RFC 6265 4.1.1: a cookie name is a token; a value has no controls, spaces, DQUOTE, comma,
# semicolon or backslash (it may be wrapped in DQUOTEs).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_COOKIE_VALUE = re.compile(r'(?:"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"|'
                           r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*)\Z")


def check_jar(value: object) -> CookieJar:
    """``value`` if it is an ``http.cookiejar.CookieJar``; else ConfigurationError."""
    if not isinstance(value, CookieJar):
        raise ConfigurationError(
            f"Session.cookies must be an http.cookiejar.CookieJar, got {type(value).__name__}"
        )
    return value


class CookieRequest:
    """The part of ``urllib.request.Request`` that ``http.cookiejar`` reads, for one hop.

    ``origin_req_host`` is the host the call named; a hop to another host is
    ``unverifiable`` (the user did not choose it), as urllib marks redirects.
    """

    __slots__ = ("_headers", "_url", "host", "origin_req_host", "type", "unverifiable")

    def __init__(self, target: Target, origin_host: str, *, has_cookie: bool = False) -> None:
        self._url = target.url
        self.type = target.scheme
        self.host = urllib.parse.urlsplit(target.url).netloc
        self.origin_req_host = origin_host
        self.unverifiable = target.host != origin_host
        self._headers: dict[str, str] = {"Cookie": ""} if has_cookie else {}

    def get_full_url(self) -> str:
        return self._url

    def get_host(self) -> str:
        return self.host

    def get_type(self) -> str:
        return self.type

    def get_origin_req_host(self) -> str:
        return self.origin_req_host

    def is_unverifiable(self) -> bool:
        return self.unverifiable

    def has_header(self, name: str) -> bool:
        return name.capitalize() in self._headers

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name.capitalize(), default)

    def header_items(self) -> list[tuple[str, str]]:
        return list(self._headers.items())

    def add_unredirected_header(self, name: str, value: str) -> None:
        self._headers[name.capitalize()] = value

    def as_request(self) -> Request:
        """This adapter, typed as what ``http.cookiejar`` asks for."""
        return cast("Request", self)


class _SetCookieResponse:
    """The part of ``http.client.HTTPResponse`` that ``CookieJar.make_cookies`` reads."""

    __slots__ = ("_headers",)

    def __init__(self, headers: HTTPHeaderDict) -> None:
        self._headers = headers

    def info(self) -> _SetCookieResponse:
        return self

    def get_all(self, name: str, default: list[str]) -> list[str]:
        return self._headers.getlist(name) or default


def per_call_jar(cookies: CookieInput, target: Target) -> CookieJar | None:
    """The jar of a call's ``cookies=``: a mapping's cookies belong to the call's host only.

    Names must be tokens and values RFC 6265 cookie-octets (so nothing can be injected into
    the ``Cookie`` header); the error never quotes a value.
    """
    if cookies is None:
        return None
    if isinstance(cookies, CookieJar):
        return cookies
    if not isinstance(cookies, Mapping):
        raise InvalidRequest(
            f"cookies= must be a mapping of names to values or an http.cookiejar.CookieJar, "
            f"got {type(cookies).__name__}"
        )
    jar = CookieJar()
    for name, value in cookies.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise InvalidRequest(f"invalid cookie name {name!r}: cookie names are HTTP tokens")
        if not isinstance(value, str) or not _COOKIE_VALUE.match(value):
            raise InvalidRequest(
                f"the value of cookie {name!r} is not a str of RFC 6265 cookie characters "
                "(no controls, spaces, quotes, commas, semicolons or backslashes)"
            )
        jar.set_cookie(_host_only_cookie(name, value, target))
    return jar


_PORT = re.compile(r":\d+\Z")


def _host_only_cookie(name: str, value: str, target: Target) -> Cookie:
    # The host as http.cookiejar reads it from the URL, spelled as its "effective host name"
    # (RFC 2965: ".local" added to a name without a dot), which its policy matches against.
    host = _PORT.sub("", urllib.parse.urlsplit(target.url).netloc).lower()
    domain = host if "." in host else f"{host}.local"
    return Cookie(
        version=0, name=name, value=value, port=None, port_specified=False, domain=domain,
        domain_specified=False, domain_initial_dot=False, path="/", path_specified=True,
        secure=False, expires=None, discard=True, comment=None, comment_url=None,
        rest={}, rfc2109=False,
    )


class CallCookies:
    """The cookies of one call, across its redirects: the Session's jar and ``cookies=``."""

    __slots__ = ("_call_jar", "_jar", "_origin")

    def __init__(self, jar: CookieJar, call_jar: CookieJar | None, origin: Target) -> None:
        self._jar = jar
        self._call_jar = call_jar
        self._origin = origin

    def active(self) -> bool:
        """Whether a request may need a Cookie header (cheap: the hot path asks it)."""
        return self._call_jar is not None or bool(self._jar)

    def on_redirect(self, target: Target) -> None:
        """Forget ``cookies=`` once the call leaves its origin (for the rest of the call)."""
        if target.origin != self._origin.origin:
            self._call_jar = None

    def with_header(self, target: Target, headers: HTTPHeaderDict) -> HTTPHeaderDict:
        """``headers`` for a request to ``target``, with the jars' Cookie header if any (then
        as a copy: ``headers`` may be the Session's own)."""
        value = self.header(target, headers)
        if value is None:
            return headers
        headers = HTTPHeaderDict(headers)
        headers["Cookie"] = value
        return headers

    def header(self, target: Target, headers: Mapping[str, str]) -> str | None:
        """The ``Cookie`` header value for a request to ``target``, or None.

        A ``Cookie`` header already in ``headers`` wins (as in requests and urllib). The
        call's cookies come first; the Session's cookies of the same name are left out.
        """
        if "Cookie" in headers:
            return None
        pairs: list[str] = []
        names: set[str] = set()
        for jar in (self._call_jar, self._jar):
            if jar is None or not jar:
                continue
            request = CookieRequest(target, self._origin.host)
            jar.add_cookie_header(request.as_request())
            value = request.get_header("Cookie")
            if not value:
                continue
            for pair in value.split("; "):
                name = pair.partition("=")[0]
                if name not in names:
                    pairs.append(pair)
            if jar is self._call_jar:
                names.update(pair.partition("=")[0] for pair in value.split("; "))
        return "; ".join(pairs) or None

    def store(self, headers: HTTPHeaderDict, target: Target) -> CookieJar:
        """Keep what a response's ``Set-Cookie`` sets (the jars' policies permitting).

        Returns the response's own jar: the cookies it set that the default policy accepts.
        The Session's jar keeps those its own policy accepts; ``cookies=`` is left as given.
        """
        request = CookieRequest(target, self._origin.host).as_request()
        response: Any = _SetCookieResponse(headers)
        own = CookieJar()
        for cookie in self._jar.make_cookies(response, request):
            self._jar.set_cookie_if_ok(cookie, request)
            own.set_cookie_if_ok(cookie, request)
        return own
