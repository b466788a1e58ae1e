"""securl.urllib.request: ``urllib.request``'s API over securl's verified, pooled transport.

What is the stdlib's and what is securl's:

* The opener and handler chain is the stdlib's (``OpenerDirector``, ``Request``, the auth,
  cookie, proxy, error and redirect handlers), so scripts behave as they do with ``urllib``.
* Only the transport and the rules are replaced (``securl.urllib.handlers``):
  `HTTPHandler` and `HTTPSHandler` send through securl's connection pools
  (``securl.http.transport.send``), keyed by the whole trust decision, with keep-alive,
  securl's timeouts and error mapping; they return a
  `SecurlHTTPResponse`. Through an ``https://`` proxy that a
  ``ProxyHandler`` chose, the CONNECT tunnel runs over verified TLS to the proxy.

Rules that are deliberately stricter than ``urllib``, each decided in one place:

* Schemes: only http and https are opened (`OpenerDirector.open`); file:, ftp:, data:
  and any other scheme raise ``URLError`` (local-file reads and SSRF through urlopen).
* Trust: decided for each request by the same function as for ``securl.Session``
  (``securl.tls.decision``): https is verified against the system trust store (securl's trust
  sources), the admin policy's pins file and minimum TLS version hold. A ``context=`` that
  verifies is used as given; one that does not verify is a per-call opt-out, allowed only as
  policy permits, warned and audited, covering the origin named in the call and not where
  it redirects. ``check_hostname=False`` turns off the host name check only: the chain is
  still verified.
* Redirects (`HTTPRedirectHandler`): the same rule as ``securl.Session``
  (``securl.http.redirects``): never from https to http, only to http/https, and
  Authorization, Proxy-Authorization and Cookie headers set on the request are not carried
  to another origin.
* Basic credentials are not sent over plain http (`HTTPBasicAuthHandler`) unless admin
  policy sets ``allow_basic_auth_over_http``.
* Timeouts: no request waits forever; the default and ``None`` mean securl's default; a number
  must be finite and positive (``inf``, ``nan``, 0 raise ``ValueError``).
* Headers (``Request(headers=)``, ``add_header``, ``add_unredirected_header``, an opener's
  ``addheaders``): checked as ``securl.Session`` checks them before anything is sent; a name
  that is not a token, or a value with CR, LF or NUL, raises `InvalidRequest`
  (a ``ValueError``, as for an invalid URL) that names the header, never its value.

Every other name of ``urllib.request`` is the stdlib's own (see `__getattr__`).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import tempfile
import threading
import urllib.request as _std
import warnings
import weakref
from collections.abc import Callable
from email.message import Message
from typing import IO, Any
from urllib.error import ContentTooShortError, HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import (
    AbstractBasicAuthHandler,
    AbstractDigestAuthHandler,
    AbstractHTTPHandler,
    BaseHandler,
    CacheFTPHandler,
    DataHandler,
    FileHandler,
    FTPHandler,
    HTTPCookieProcessor,
    HTTPDefaultErrorHandler,
    HTTPDigestAuthHandler,
    HTTPErrorProcessor,
    HTTPPasswordMgr,
    HTTPPasswordMgrWithDefaultRealm,
    HTTPPasswordMgrWithPriorAuth,
    ProxyBasicAuthHandler,
    ProxyDigestAuthHandler,
    ProxyHandler,
    Request,
    UnknownHandler,
    getproxies,
    parse_http_list,
    parse_keqv_list,
    pathname2url,
    url2pathname,
)

from .._redact import redact_url
from ..exceptions import (
    ConfigurationError,
    PolicyError,
)
from ..http.target import SCHEMES
from ..tls.config import TLSConfig
from ..tls.context import create_context
from .handlers import (
    ContextHTTPSHandler,
    HTTPBasicAuthHandler,
    HTTPHandler,
    HTTPRedirectHandler,
    HTTPSHandler,
    _pools,
)

__all__ = [
    "AbstractBasicAuthHandler",
    "AbstractDigestAuthHandler",
    "AbstractHTTPHandler",
    "BaseHandler",
    "CacheFTPHandler",
    "ContentTooShortError",
    "DataHandler",
    "FTPHandler",
    "FancyURLopener",
    "FileHandler",
    "HTTPBasicAuthHandler",
    "HTTPCookieProcessor",
    "HTTPDefaultErrorHandler",
    "HTTPDigestAuthHandler",
    "HTTPError",
    "HTTPErrorProcessor",
    "HTTPHandler",
    "HTTPPasswordMgr",
    "HTTPPasswordMgrWithDefaultRealm",
    "HTTPPasswordMgrWithPriorAuth",
    "HTTPRedirectHandler",
    "HTTPSHandler",
    "OpenerDirector",
    "ProxyBasicAuthHandler",
    "ProxyDigestAuthHandler",
    "ProxyHandler",
    "Request",
    "URLError",
    "URLopener",
    "UnknownHandler",
    "build_opener",
    "getproxies",
    "install_opener",
    "parse_http_list",
    "parse_keqv_list",
    "pathname2url",
    "url2pathname",
    "urlcleanup",
    "urlopen",
    "urlretrieve",
]


_opener: OpenerDirector | None = None
_url_tempfiles: list[str] = []


def __getattr__(name: str) -> Any:
    """Every name securl does not override is the stdlib ``urllib.request``'s own."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(_std, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | {n for n in dir(_std) if not n.startswith("__")})


# -- schemes ---------------------------------------------------------------------------------
def _refuse_scheme(url: str, scheme: str) -> URLError:
    return URLError(
        f"securl refuses {scheme}: URLs by design; it opens http and https only "
        f"({redact_url(url)}). Reading local files or other services through urlopen is a "
        "known hazard (local file disclosure, SSRF); open local files with open()"
    )


class OpenerDirector(_std.OpenerDirector):
    """urllib's OpenerDirector that opens http and https URLs only (see the module rules)."""

    def open(self, fullurl: str | Request, data: Any = None,
             timeout: float | None = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
             ) -> Any:
        if isinstance(fullurl, str):
            req = Request(fullurl, data)  # noqa: S310 - the scheme is checked just below
            data = None
        else:
            req = fullurl
        for scheme in (urlsplit(req.full_url).scheme.lower(), req.type.lower()):
            if scheme not in SCHEMES:
                raise _refuse_scheme(req.full_url, scheme)
        return super().open(req, data, timeout)


# -- openers and module functions ------------------------------------------------------------
def _securl_handler(handler: Any) -> Any:
    """An instance of exactly urllib's HTTP(S)Handler becomes securl's, same settings.

    Subclasses of urllib's handlers are application code and are used as written.
    """
    if type(handler) is _std.HTTPSHandler:
        # Python >= 3.12 applies check_hostname to the context at once and keeps no copy.
        return HTTPSHandler(handler._debuglevel, handler._context,  # type: ignore[attr-defined]
                            getattr(handler, "_check_hostname", None))
    if type(handler) is _std.HTTPHandler:
        return HTTPHandler(handler._debuglevel)  # type: ignore[attr-defined]
    return handler


def build_opener(*handlers: BaseHandler | Callable[[], BaseHandler]) -> OpenerDirector:
    """urllib's build_opener with securl's transport, redirect and Basic auth handlers.

    As in urllib, a handler (class or instance) that subclasses a default handler replaces
    it. The defaults are ProxyHandler, UnknownHandler, HTTPHandler, HTTPDefaultErrorHandler,
    HTTPRedirectHandler, HTTPErrorProcessor and HTTPSHandler; there is no FTPHandler,
    FileHandler or DataHandler (and `OpenerDirector` refuses those schemes anyway).
    """
    opener = OpenerDirector()
    stdlib_base: dict[type, type] = {
        HTTPHandler: _std.HTTPHandler, HTTPSHandler: _std.HTTPSHandler,
        HTTPRedirectHandler: _std.HTTPRedirectHandler,
    }
    default_classes: list[type[BaseHandler]] = [
        ProxyHandler, UnknownHandler, HTTPHandler, HTTPDefaultErrorHandler,
        HTTPRedirectHandler, HTTPErrorProcessor, HTTPSHandler,
    ]
    given = [_securl_handler(h) for h in handlers]
    skip = set()
    for klass in default_classes:
        bases = (klass, stdlib_base.get(klass, klass))
        for check in given:
            if (issubclass(check, bases) if isinstance(check, type)
                    else isinstance(check, bases)):
                skip.add(klass)
    for klass in default_classes:
        if klass not in skip:
            opener.add_handler(klass())
    for h in given:
        opener.add_handler(h() if isinstance(h, type) else h)
    return opener


def install_opener(opener: OpenerDirector | None) -> None:
    """Make ``opener`` the one `urlopen` uses; it must come from securl's build_opener.

    An opener built by the stdlib's ``urllib.request.build_opener`` is refused with a
    TypeError: it would bypass securl without any sign of it.
    """
    global _opener
    if opener is not None and not isinstance(opener, OpenerDirector):
        raise TypeError(
            "install_opener() needs an opener from securl.urllib.request.build_opener(); "
            "this one comes from the stdlib's urllib and would bypass securl's verification"
        )
    _opener = opener


def _cafile_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    warnings.warn("cafile, capath and cadefault are deprecated, use a custom context instead.",
                  DeprecationWarning, stacklevel=3)
    if cafile and capath:
        raise ConfigurationError("pass cafile= or capath=, not both (securl trusts one source)")
    return create_context(TLSConfig(ca_certs=cafile or capath))


#: The environment variables urllib's ProxyHandler reads (``getproxies_environment``) for the
#: two schemes securl opens; an opener kept for a context is rebuilt when one of them changes.
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
                    "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")
_context_openers: weakref.WeakKeyDictionary[
    ssl.SSLContext, tuple[tuple[str | None, ...], OpenerDirector]] = weakref.WeakKeyDictionary()
_context_openers_lock = threading.Lock()


def _context_opener(context: ssl.SSLContext) -> OpenerDirector:
    """The opener for ``urlopen(url, context=context)``, built once per context.

    urllib builds a new opener (seven handlers, each introspected) on every such call, which
    cost more than the request itself on a kept-alive connection. The opener holds nothing
    that decides trust: its HTTPSHandler judges ``context`` afresh on every request
    (``securl.tls.decision``, which re-judges a context changed since), and holds it weakly
    (`ContextHTTPSHandler`), so the context can still be
    garbage-collected. The proxy settings its ProxyHandler read from the environment are
    compared on every call: when they changed, a new opener is built, as urllib would.
    """
    environ = os.environ
    proxies = tuple(environ.get(name) for name in _PROXY_VARIABLES)
    kept = _context_openers.get(context)
    if kept is not None and kept[0] == proxies:
        return kept[1]
    opener = build_opener(ContextHTTPSHandler(context))
    with _context_openers_lock:
        _context_openers[context] = (proxies, opener)
    return opener


def urlopen(url: str | Request, data: Any = None,
            timeout: float | None = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
            *, cafile: str | None = None, capath: str | None = None, cadefault: bool = False,
            context: ssl.SSLContext | None = None) -> Any:
    """Open ``url`` (a string or a `Request`) as ``urllib.request.urlopen`` does.

    Returns a `SecurlHTTPResponse`. HTTP error statuses raise
    ``urllib.error.HTTPError``; network failures raise ``URLError`` subclasses
    (`TLSVerificationError` when the certificate is not trusted, with
    ``.reason`` the ``ssl.SSLCertVerificationError``). ``timeout`` (seconds) defaults to
    securl's, never to "wait forever". ``context`` follows `HTTPSHandler._policy`;
    ``cafile``/``capath`` (deprecated, as in urllib) trust only that CA file or directory.
    """
    global _opener
    if cafile or capath or cadefault:
        if context is not None:
            raise ValueError(
                "You can't pass both context and any of cafile, capath, and cadefault"
            )
        opener = build_opener(HTTPSHandler(context=_cafile_context(cafile, capath)))
    elif context is not None:
        opener = _context_opener(context)
    elif _opener is None:
        _opener = opener = build_opener()
    else:
        opener = _opener
    return opener.open(url, data, timeout)


def urlretrieve(url: str, filename: str | os.PathLike[str] | None = None,
                reporthook: Callable[[int, int, int], object] | None = None,
                data: Any = None) -> tuple[str, Message]:
    """Copy ``url`` to ``filename`` (a temporary file if None); returns (path, headers).

    As urllib's, except that only http and https are fetched. A body shorter than its
    Content-Length raises ``ContentTooShortError`` with the partial result.
    """
    with contextlib.closing(urlopen(url, data)) as fp:
        headers = fp.info()
        if filename:
            tfp: IO[bytes] = open(filename, "wb")  # noqa: SIM115 - closed by `with tfp`
            path = os.fspath(filename)
        else:
            tfp = tempfile.NamedTemporaryFile(delete=False)  # noqa: SIM115
            path = tfp.name
            _url_tempfiles.append(path)
        result = (path, headers)
        block, size, read, blocknum = 8192, -1, 0, 0
        if "content-length" in headers:
            size = int(headers["Content-Length"])
        with tfp:
            if reporthook:
                reporthook(blocknum, block, size)
            while True:
                try:
                    chunk = fp.read(block)
                except http.client.IncompleteRead:
                    chunk = b""  # the body ended early: ContentTooShortError below
                if not chunk:
                    break
                read += len(chunk)
                tfp.write(chunk)
                blocknum += 1
                if reporthook:
                    reporthook(blocknum, block, size)
    if size >= 0 and read < size:
        raise ContentTooShortError(
            f"retrieval incomplete: got only {read} out of {size} bytes", result
        )
    return result


def urlcleanup() -> None:
    """Remove urlretrieve's temporary files, forget the installed opener, close pooled
    connections."""
    global _opener
    for path in _url_tempfiles:
        with contextlib.suppress(OSError):
            os.unlink(path)
    del _url_tempfiles[:]
    _opener = None
    with _context_openers_lock:
        _context_openers.clear()
    _pools.clear()


class URLopener:
    """Refused: urllib's legacy opener (deprecated since Python 3.3) bypasses securl.

    It opens file:, ftp: and data: URLs and builds its own connections; use
    `urlopen` or `build_opener`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise PolicyError(
            f"securl.urllib does not provide {type(self).__name__} (deprecated since Python "
            "3.3; it opens local files and bypasses verification): use urlopen() or "
            "build_opener()"
        )


class FancyURLopener(URLopener):
    """Refused, as `URLopener`."""
