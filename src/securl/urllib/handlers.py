"""securl's handlers for the urllib drop-in: the transport, the redirect rule, Basic auth.

The opener and the rest of the handler chain are the stdlib's (``securl.urllib.request``);
these classes replace the ones that decide something:

* `HTTPHandler` and `HTTPSHandler` send through securl's connection pools
  (``securl.http.transport.send``), with the trust decision of ``securl.tls.decision`` (the
  same as for ``securl.Session``), securl's timeouts and error mapping, after checking every
  header as ``securl.Session`` does (``securl.http.target.check_headers``). That machinery
  (``securl.urllib.sending``, and urllib3) is imported by the first request, not by
  ``import securl.urllib.request``.
* `HTTPRedirectHandler` applies ``securl.http.redirects`` (as ``securl.Session``), and
  marks a request whose redirect left the origin the call named: an opt-out in ``context=``
  or ``check_hostname=False`` covers that origin only (``TrustSettings.decide``'s
  ``left_origin``).
* An ``https://`` proxy a ``ProxyHandler`` chose for a tunnel is reached over verified TLS
  (`_note_https_proxy`; urllib sends the CONNECT, and the proxy's credentials, in
  clear to every proxy).
* `HTTPBasicAuthHandler` does not send Basic credentials over plain http unless admin
  policy sets ``allow_basic_auth_over_http``.
"""

from __future__ import annotations

import ssl
import threading
import urllib.request as _std
import weakref
from collections.abc import Callable, Iterable
from email.message import Message
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import AbstractHTTPHandler, Request

from .._audit import emit
from .._policy import get_policy
from .._redact import redact_url
from ..admin.guard import check_process_wide
from ..exceptions import AuthError, InsecureRedirectError, PolicyError
from ..http.redirects import Redirect, next_request
from ..http.target import Target, check_headers, check_method, parse_target
from .error import InsecureRedirectHTTPError
from .response import SecurlHTTPResponse

if TYPE_CHECKING:
    from ..tls.decision import TrustDecision
    from .sending import Sender

__all__ = ["ContextHTTPSHandler", "HTTPBasicAuthHandler", "HTTPHandler", "HTTPRedirectHandler",
           "HTTPSHandler"]


class _Pools:
    """The drop-in's `Sender` (``securl.urllib.sending``), made by the first request.

    It holds securl's default trust and the connection pools of every opener in the process
    (one `PoolRegistry`: its key decides what may share a connection, not the opener). Its
    module imports urllib3 and the trust decision, which ``import securl.urllib.request``
    does not load, as ``import urllib.request`` opens no connection.
    """

    def __init__(self) -> None:
        self._sender: Sender | None = None
        self._lock = threading.Lock()

    def sender(self) -> Sender:
        """The process's `Sender`, made (with its imports) on the first call."""
        sender = self._sender
        if sender is None:
            from .sending import Sender

            with self._lock:
                if self._sender is None:
                    self._sender = Sender()
                sender = self._sender
        return sender

    def clear(self) -> None:
        """Close every pooled connection (there is none before the first request)."""
        if self._sender is not None:
            self._sender.pools.clear()


_pools = _Pools()


# -- transport -------------------------------------------------------------------------------
def _route(req: Request, headers: dict[str, str]
           ) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The proxy the ProxyHandler chose for ``req``, and the headers for its CONNECT.

    ProxyHandler rewrites the request as urllib's transport expects: for https it sets
    ``_tunnel_host`` (a CONNECT tunnel through ``req.host``); for http it makes the selector
    the absolute URL, ``req.type`` the proxy's scheme and ``req.host`` the proxy. As urllib
    does, a Proxy-Authorization header goes to the tunnel's CONNECT and never to the origin
    server; the tunnel runs over TLS to the proxy when it is an ``https://`` one
    (`_note_https_proxy`; ``securl.http.pool`` verifies it).
    """
    if getattr(req, "_tunnel_host", None):
        auth = headers.pop("Proxy-Authorization", None)
        tls = getattr(req, "_securl_https_proxy", None) == req.host
        return (f"{'https' if tls else 'http'}://{req.host}",
                (("Proxy-Authorization", auth),) if auth else ())
    if req.has_proxy():
        return f"{req.type}://{req.host}", ()
    return None, ()


def _checked_headers(headers: dict[str, Any]) -> dict[str, str]:
    """The request's headers, checked by ``securl.Session``'s rule (``check_headers``).

    Every header reaches this point: the ``Request``'s own, ``add_header()``,
    ``add_unredirected_header()`` and the opener's ``addheaders``. A name that is not an HTTP
    token or a value with CR, LF or NUL raises `InvalidRequest` (a
    ``ValueError``, as for an invalid URL) before anything is sent, naming the header and
    never showing its value (``http.client`` would show it: a token read from a file with its
    newline would end up in the error and the logs). An ``int`` value is sent as its digits,
    as ``http.client`` sends it.
    """
    return dict(check_headers(
        [(name, str(value) if isinstance(value, int) else value)
         for name, value in headers.items()]))


def _transport(req: Request, decide: Callable[[Target], TrustDecision]) -> SecurlHTTPResponse:
    """Send ``req`` on a pooled connection, as urllib's ``do_open`` would on a new one."""
    check_process_wide()
    target = parse_target(req.full_url)
    method = req.get_method()
    check_method(method)
    headers = dict(req.unredirected_hdrs)
    headers.update({k: v for k, v in req.headers.items() if k not in headers})
    if headers.get("Host") == req.host and not req.host.isascii():
        headers["Host"] = _authority(target)  # urllib wrote the name as typed: send A-labels
    headers = _checked_headers({name.title(): value for name, value in headers.items()})
    proxy, proxy_headers = _route(req, headers)
    decision = decide(target)
    raw = _pools.sender().send(req, method, target, headers, decision, proxy, proxy_headers)
    return SecurlHTTPResponse(raw, req.get_full_url(), target.host, target.port)


def _authority(target: Target) -> str:
    """``host[:port]`` for a Host header: the IDNA A-label form, the port only if not the
    scheme's default."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _note_https_proxy(req: Request, handlers: Iterable[object]) -> None:
    """Mark ``req`` when the proxy its tunnel goes through is an ``https://`` one.

    urllib's ProxyHandler keeps only the proxy's host:port for an https request
    (``Request.set_proxy``), and urllib reaches every proxy with a plain-text CONNECT. The
    proxy URL is the ``https`` entry of one of the opener's ProxyHandlers (any subclass)
    with that host:port; if it says ``https://``, `_route` sends the tunnel over TLS to
    the proxy. A proxy URL without a scheme is a plain-http proxy, as for curl.
    """
    req._securl_https_proxy = None  # type: ignore[attr-defined]
    if not getattr(req, "_tunnel_host", None):
        return
    for handler in handlers:
        if not isinstance(handler, _std.ProxyHandler):
            continue
        for kind, url in (getattr(handler, "proxies", None) or {}).items():
            if kind.lower() != "https":
                continue
            try:
                scheme, _, _, hostport = _std._parse_proxy(url)  # type: ignore[attr-defined]
            except ValueError:
                continue
            if scheme == "https" and unquote(hostport) == req.host:
                req._securl_https_proxy = req.host  # type: ignore[attr-defined]
                return


class HTTPHandler(_std.HTTPHandler):
    """urllib's HTTPHandler, sending through securl's pooled keep-alive connections."""

    def http_open(self, req: Request) -> Any:
        return _transport(req, _pools.sender().trust.decide)


class HTTPSHandler(_std.HTTPSHandler):
    """urllib's HTTPSHandler, verified by securl; ``context=`` as described in `_decide`.

    Unlike urllib's, making one without a context builds no SSLContext: securl's shared,
    cached verified context is used.
    """

    def __init__(self, debuglevel: int | None = None, context: ssl.SSLContext | None = None,
                 check_hostname: bool | None = None) -> None:
        AbstractHTTPHandler.__init__(self, 0 if debuglevel is None else debuglevel)
        self._context = context
        self._check_hostname = check_hostname

    def https_open(self, req: Request) -> Any:
        _note_https_proxy(req, getattr(self.parent, "handlers", ()))
        if getattr(req, "_securl_left_origin", False):
            return _transport(req, lambda target: self._decide(target, left_origin=True))
        return _transport(req, self._decide)

    def _decide(self, target: Target, *, left_origin: bool = False) -> TrustDecision:
        """The trust decision for one request through this handler (``securl.tls.decision``).

        No context means securl's verified default; a context is used as it is if it checks
        both the chain and the host name, and is an audited opt-out otherwise (refused if
        admin policy forbids opt-outs, or if it allows older TLS than policy's minimum).
        ``check_hostname=False`` turns off the host name check only: the chain is still
        verified, against the context's CAs, else securl's trust (mode ``chain-only``, an
        audited opt-out). An opt-out covers the origin the call named: once a redirect has
        left it (``left_origin``), the request is verified as if no opt-out had been asked.
        """
        ctx = self._caller_context()
        if ctx is None:
            if self._check_hostname is False and not left_origin:
                from ..tls.modes import Unverified

                what = "HTTPSHandler(check_hostname=False)"
                reason = f"urllib {what}: host name check off, certificate chain verified"
                return _pools.sender().trust.decide(
                    target, tls=Unverified(reason, what=what, keeps_chain=True))
            return _pools.sender().trust.decide(target)
        if self._check_hostname is not None:
            ctx.check_hostname = self._check_hostname  # as urllib does, on every request
        return _pools.sender().trust.decide(target, context=ctx, left_origin=left_origin)

    def _caller_context(self) -> ssl.SSLContext | None:
        return self._context


class ContextHTTPSHandler(HTTPSHandler):
    """The HTTPSHandler of the opener ``urlopen(url, context=ctx)`` keeps for ``ctx``.

    It holds ``ctx`` weakly, so that the opener kept for a context (``securl.urllib.request``)
    does not keep that context alive; while a call runs, its caller holds the context.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self._context_ref = weakref.ref(context)

    def _caller_context(self) -> ssl.SSLContext | None:
        ctx = self._context_ref()
        if ctx is None:  # pragma: no cover - the opener is only used while its context lives
            raise RuntimeError("the SSLContext of this opener was garbage-collected")
        return ctx


# -- redirects and auth ----------------------------------------------------------------------
class HTTPRedirectHandler(_std.HTTPRedirectHandler):
    """urllib's redirect handling (methods, loop limits), plus securl's redirect rule.

    Rules (``securl.http.redirects``, as for ``securl.Session``): only to http or https, never
    from https to http; a refused redirect raises
    `InsecureRedirectHTTPError` (an ``HTTPError`` with the
    redirect's code, and a ``securl.InsecureRedirectError``). Authorization,
    Proxy-Authorization and Cookie headers set on the request are dropped when the redirect
    leaves the origin (urllib would send them to any host). A request whose redirect left the
    origin the call named, and every later hop, is marked ``_securl_left_origin``: the call's
    opt-out does not apply to it (`HTTPSHandler._decide`), as for ``securl.Session``.
    """

    @staticmethod
    def _rule(req: Request, fp: IO[bytes], code: int, headers: Message, newurl: str
              ) -> Redirect:
        try:
            return next_request(code, req.get_method(), parse_target(req.full_url), newurl,
                                req.headers)
        except InsecureRedirectError as exc:
            raise InsecureRedirectHTTPError(redact_url(newurl), code, str(exc), headers,
                                            fp) from None

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
        current = parse_target(req.full_url)
        new._securl_left_origin = (  # type: ignore[attr-defined]
            getattr(req, "_securl_left_origin", False) or redirect.target.origin != current.origin)
        redirect._replace(method=new.get_method()).audit(current, code)
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

    Answering a challenge over http raises `AuthError` (a 401 ``HTTPError``)
    instead; preemptive credentials (``HTTPPasswordMgrWithPriorAuth``) over http raise
    `PolicyError` before anything is sent. Admin policy
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
            raise AuthError(redact_url(req.full_url), f"HTTP Error 401: {_BASIC_OVER_HTTP}",
                            challenge, ("Basic",))
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
