"""securl's handlers for the urllib drop-in: the transport, the redirect rule, Basic auth.

The opener and the rest of the handler chain are the stdlib's (``securl.urllib.request``);
these classes replace the ones that decide something:

* :class:`HTTPHandler` and :class:`HTTPSHandler` send through securl's connection pools
  (``securl.http.transport.send``), with the trust decision of ``securl.tls.decision`` (the
  same as for ``securl.Session``), securl's timeouts and error mapping.
* :class:`HTTPRedirectHandler` applies ``securl.http.redirects`` (as ``securl.Session``).
* :class:`HTTPBasicAuthHandler` does not send Basic credentials over plain http unless admin
  policy sets ``allow_basic_auth_over_http``.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import urllib.request as _std
from collections.abc import Callable
from email.message import Message
from typing import IO, Any
from urllib.parse import urljoin, urlsplit
from urllib.request import AbstractHTTPHandler, Request

from urllib3 import HTTPResponse

from .._audit import emit
from .._policy import get_policy
from .._redact import redact_url
from ..admin.guard import check_process_wide
from ..exceptions import AuthError, InsecureRedirectError, PolicyError
from ..http.deadline import Deadline
from ..http.pool import PoolRegistry
from ..http.redirects import Redirect, next_request
from ..http.target import Target, check_method, parse_target
from ..http.timeouts import DEFAULT_TIMEOUT, Timeouts, make_timeout
from ..http.transport import send
from ..tls.config import TLSConfig
from ..tls.decision import TrustDecision, TrustSettings
from ..tls.modes import Unverified
from .error import InsecureRedirectHTTPError
from .response import SecurlHTTPResponse

__all__ = ["HTTPBasicAuthHandler", "HTTPHandler", "HTTPRedirectHandler", "HTTPSHandler"]

#: What every request through the drop-in starts from: securl's default trust.
_TRUST = TrustSettings(TLSConfig())
#: The connection pools of every opener in the process; the key (scheme, host, port, the
#: whole trust decision, proxy) decides what may share a connection, not the opener.
_pools = PoolRegistry()


# -- transport -------------------------------------------------------------------------------
def _timeout(value: object) -> Timeouts:
    """urllib's timeout as securl's: the "no timeout given" default and None mean securl's
    default (10 s connect, 30 s between bytes, 300 s total); a number applies to connect and
    read; a :class:`securl.Timeouts` is used as it is.

    urllib's timeout is per operation, so a number (or ``(connect, read)``) never gets a
    total deadline shorter than connecting plus one read: ``timeout=600`` keeps its meaning.
    """
    if value is None or value is socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
        return DEFAULT_TIMEOUT
    timeouts = make_timeout(value)  # type: ignore[arg-type]
    per_operation = isinstance(value, (int, float)) or (
        isinstance(value, tuple) and len(value) == 2)
    if per_operation and timeouts.connect + timeouts.read > timeouts.total:
        timeouts = dataclasses.replace(timeouts, total=timeouts.connect + timeouts.read)
    return timeouts


def _route(req: Request, headers: dict[str, str]
           ) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The proxy the ProxyHandler chose for ``req``, and the headers for its CONNECT.

    ProxyHandler rewrites the request as urllib's transport expects: for https it sets
    ``_tunnel_host`` (a CONNECT tunnel through ``req.host``); for http it makes the selector
    the absolute URL and ``req.host`` the proxy. As urllib does, a Proxy-Authorization
    header goes to the tunnel's CONNECT and never to the origin server.
    """
    if getattr(req, "_tunnel_host", None):
        auth = headers.pop("Proxy-Authorization", None)
        return f"http://{req.host}", ((("Proxy-Authorization", auth),) if auth else ())
    if req.has_proxy():
        return f"{req.type}://{req.host}", ()
    return None, ()


def _transport(req: Request, decide: Callable[[Target], TrustDecision]) -> SecurlHTTPResponse:
    """Send ``req`` on a pooled connection, as urllib's ``do_open`` would on a new one."""
    check_process_wide()
    target = parse_target(req.full_url)
    method = req.get_method()
    check_method(method)
    headers = dict(req.unredirected_hdrs)
    headers.update({k: v for k, v in req.headers.items() if k not in headers})
    headers = {name.title(): value for name, value in headers.items()}
    proxy, proxy_headers = _route(req, headers)
    decision = decide(target)
    timeouts = _timeout(req.timeout)
    # The total deadline covers connecting, sending and the response head (a server that
    # drips its headers one byte at a time is stopped at `total`); the body is then read
    # under the per-read timeout, as urllib reads it, so long downloads keep working.
    deadline = Deadline(timeouts.total)
    try:
        raw = send(
            _pools, method, target, headers, req.data, decision, timeouts, deadline=deadline,
            proxy=proxy, proxy_headers=proxy_headers,
            chunked=req.has_header("Transfer-encoding"), decode_content=False,
        )
    finally:
        deadline.release()
    assert isinstance(raw, HTTPResponse)  # what a urllib3 pool returns
    return SecurlHTTPResponse(raw, req.get_full_url(), target.host, target.port)


class HTTPHandler(_std.HTTPHandler):
    """urllib's HTTPHandler, sending through securl's pooled keep-alive connections."""

    def http_open(self, req: Request) -> Any:
        return _transport(req, _TRUST.decide)


class HTTPSHandler(_std.HTTPSHandler):
    """urllib's HTTPSHandler, verified by securl; ``context=`` as described in :meth:`_decide`.

    Unlike urllib's, making one without a context builds no SSLContext: securl's shared,
    cached verified context is used.
    """

    def __init__(self, debuglevel: int | None = None, context: ssl.SSLContext | None = None,
                 check_hostname: bool | None = None) -> None:
        AbstractHTTPHandler.__init__(self, 0 if debuglevel is None else debuglevel)
        self._context = context
        self._check_hostname = check_hostname

    def https_open(self, req: Request) -> Any:
        return _transport(req, self._decide)

    def _decide(self, target: Target) -> TrustDecision:
        """The trust decision for one request through this handler (``securl.tls.decision``).

        No context means securl's verified default; a context is used as it is if it checks
        both the chain and the host name, and is an audited opt-out otherwise (refused if
        admin policy forbids opt-outs, or if it allows older TLS than policy's minimum).
        ``check_hostname=False`` without a context is an opt-out too.
        """
        ctx = self._context
        if ctx is None:
            if self._check_hostname is False:
                what = "HTTPSHandler(check_hostname=False)"
                return _TRUST.decide(target, tls=Unverified(what, what=what))
            return _TRUST.decide(target)
        if self._check_hostname is not None:
            ctx.check_hostname = self._check_hostname  # as urllib does, on every request
        return _TRUST.decide(target, context=ctx)


# -- redirects and auth ----------------------------------------------------------------------
class HTTPRedirectHandler(_std.HTTPRedirectHandler):
    """urllib's redirect handling (methods, loop limits), plus securl's redirect rule.

    Rules (``securl.http.redirects``, as for ``securl.Session``): only to http or https, never
    from https to http; a refused redirect raises
    :class:`~securl.urllib.error.InsecureRedirectHTTPError` (an ``HTTPError`` with the
    redirect's code, and a ``securl.InsecureRedirectError``). Authorization,
    Proxy-Authorization and Cookie headers set on the request are dropped when the redirect
    leaves the origin (urllib would send them to any host).
    """

    @staticmethod
    def _rule(req: Request, fp: IO[bytes], code: int, headers: Message, newurl: str
              ) -> Redirect:
        try:
            return next_request(code, req.get_method(), parse_target(req.full_url), newurl,
                                req.headers)
        except InsecureRedirectError as exc:
            raise InsecureRedirectHTTPError(newurl, code, str(exc), headers, fp) from None

    def http_error_302(self, req: Request, fp: IO[bytes], code: int, msg: str,
                       headers: Message) -> Any:
        # urllib refuses some schemes (file:, data:) itself, with a plain HTTPError, before
        # redirect_request runs: securl's rule goes first, so every refusal is the same error.
        location = headers.get("location") or headers.get("uri")
        if location:
            self._rule(req, fp, code, headers, urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)  # type: ignore[arg-type]

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req: Request, fp: IO[bytes], code: int, msg: str,
                         headers: Message, newurl: str) -> Request | None:
        redirect = self._rule(req, fp, code, headers, newurl)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]
        if new is None:
            return None
        for name in redirect.drop_headers:
            new.headers.pop(name, None)
        redirect._replace(method=new.get_method()).audit(parse_target(req.full_url), code)
        return new


def _basic_refused(req: Request) -> bool:
    return (urlsplit(req.full_url).scheme.lower() == "http"
            and not get_policy().allow_basic_auth_over_http)


_BASIC_OVER_HTTP = (
    "securl does not send Basic credentials over plain http (anyone on the network can read "
    "them): use https, or Digest; an admin may set allow_basic_auth_over_http = true in the "
    "securl policy"
)


class HTTPBasicAuthHandler(_std.HTTPBasicAuthHandler):
    """urllib's Basic auth handler that does not send credentials over plain http.

    Answering a challenge over http raises :class:`~securl.AuthError` (a 401 ``HTTPError``)
    instead; preemptive credentials (``HTTPPasswordMgrWithPriorAuth``) over http raise
    :class:`~securl.PolicyError` before anything is sent. Admin policy
    ``allow_basic_auth_over_http = true`` restores urllib's behaviour.
    """

    def http_error_401(self, req: Request, fp: IO[bytes], code: int, msg: str,
                       headers: Message) -> Any:
        req._securl_challenge = headers  # type: ignore[attr-defined]  # for the retry below
        return super().http_error_401(req, fp, code, msg, headers)  # type: ignore[arg-type]

    def retry_http_basic_auth(self, host: str, req: Request, realm: str) -> Any:
        _, password = self.passwd.find_user_password(realm, host)
        target = parse_target(req.full_url)
        if password is not None and _basic_refused(req):
            emit("auth_challenge", host=target.host, port=target.port, scheme="Basic",
                 url=redact_url(req.full_url), action="refused-insecure")
            challenge = getattr(req, "_securl_challenge", None) or Message()
            raise AuthError(req.full_url, f"HTTP Error 401: {_BASIC_OVER_HTTP}", challenge,
                            ("Basic",))
        if password is not None:
            emit("auth_challenge", host=target.host, port=target.port, scheme="Basic",
                 url=redact_url(req.full_url), action="answered")
        return super().retry_http_basic_auth(host, req, realm)

    def http_request(self, req: Request) -> Request:
        is_authenticated = getattr(self.passwd, "is_authenticated", None)
        if (is_authenticated is not None and is_authenticated(req.full_url)
                and not req.has_header("Authorization") and _basic_refused(req)):
            raise PolicyError(f"{_BASIC_OVER_HTTP} ({redact_url(req.full_url)})")
        return super().http_request(req)

    https_request = http_request
