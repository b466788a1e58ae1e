"""securl.Session: verified HTTP(S) requests over pooled urllib3 connections.

Decisions made here, each in one function:

* the trust decision of a request (:meth:`Session._tls_policy`): the session's TLSConfig,
  made stricter by per-call ``cert=``/``pins=``, or a per-call opt-out;
* the opt-out check (:func:`_check_opt_out`): admin policy may forbid it; every use is
  audited and warned, whatever warning filters say;
* the redirect rule (:func:`redirect_rule`);
* timeouts (:func:`make_timeout`): every network wait has one, and every call has a total
  deadline (:class:`Timeouts`), enforced by ``securl._deadline``;
* the body size limit (``max_body_size``): what a response may decompress to, enforced by
  ``securl.Response``.
"""

from __future__ import annotations

import dataclasses
import io
import json as _json
import threading
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from urllib3 import BaseHTTPResponse, HTTPHeaderDict
from urllib3.util import Timeout as Urllib3Timeout

from ._audit import emit, redact_url
from ._caller import caller_location, external_stacklevel
from ._config import CAInput, TLSConfig
from ._deadline import Deadline, set_current
from ._errors import deadline_exceeded, map_transport_error
from ._policy import get_policy
from ._pool import PoolKey, PoolRegistry
from ._response import Response
from ._tls import OPT_OUT_HELP, TLSPolicy, Unverified, reject_verify_argument
from ._validate import HeadersInput, Target, check_headers, check_method, parse_target
from ._version import __version__
from .exceptions import (
    ConfigurationError,
    InsecureRedirectError,
    InsecureRequestWarning,
    InvalidRequest,
    PolicyError,
    SecurlError,
    TooManyRedirects,
)

__all__ = ["DEFAULT_MAX_BODY_SIZE", "DEFAULT_TIMEOUT", "Session", "Timeouts", "make_timeout"]

CertInput = str | tuple[str, str] | tuple[str, str, str] | None

#: Default total deadline of a call, in seconds (as aiohttp's default ``total``).
DEFAULT_TOTAL = 300.0
#: Default limit on a response body after decompression: 100 MiB.
DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"timeout {name}={value!r}: every timeout must be a positive number of seconds; "
            "securl never waits forever"
        )
    return float(value)


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Every wait of a call, in seconds.

    Attributes:
        connect: the TCP connection and the TLS handshake (default 10).
        read: the longest wait for the next bytes of the response (default 30).
        total: the whole call -- connect, TLS, request, headers, body and every redirect --
            however steadily the server keeps sending (default 300). A server that drips one
            byte per second defeats ``read`` but not ``total``: it fails with
            :class:`~securl.DeadlineExceeded`. With ``stream=True`` reading the body counts too.

    Every value must be a positive number: there is no "wait forever".
    """

    connect: float = 10.0
    read: float = 30.0
    total: float = DEFAULT_TOTAL

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))

    def for_attempt(self, deadline: Deadline) -> Urllib3Timeout:
        """Socket timeouts for one attempt: ``connect``/``read``, capped at the time left."""
        left = max(deadline.remaining(), 0.001)
        return Urllib3Timeout(connect=min(self.connect, left), read=min(self.read, left))


TimeoutInput = (
    float | tuple[float, float] | tuple[float, float, float] | Timeouts | Urllib3Timeout | None
)

#: Connect (TCP + TLS handshake), read (between bytes) and total (whole call), in seconds.
DEFAULT_TIMEOUT = Timeouts()
_UNSET: Any = object()
USER_AGENT = f"securl/{__version__}"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SENSITIVE_ON_CROSS_ORIGIN = ("Authorization", "Proxy-Authorization", "Cookie")


def make_timeout(timeout: TimeoutInput) -> Timeouts:
    """``timeout`` as :class:`Timeouts`.

    Accepts a number (connect and read), ``(connect, read)``, ``(connect, read, total)``,
    a :class:`Timeouts` or a urllib3 ``Timeout`` (its ``total``, if set, becomes ours).
    Where no total is given it is :data:`DEFAULT_TOTAL`. Rule: never an infinite wait, so
    ``None`` components and non-positive values are refused.
    """
    if isinstance(timeout, Timeouts):
        return timeout
    if isinstance(timeout, Urllib3Timeout):
        total = timeout.total
        return Timeouts(timeout.connect_timeout, timeout.read_timeout,  # type: ignore[arg-type]
                        total if isinstance(total, (int, float)) else DEFAULT_TOTAL)
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return Timeouts(timeout, timeout)
    if isinstance(timeout, tuple) and len(timeout) in (2, 3):
        return Timeouts(*timeout)
    raise ConfigurationError(
        f"timeout={timeout!r}: give seconds as a number, a (connect, read) tuple or "
        "securl.Timeouts(connect=, read=, total=); securl never waits forever"
    )


def _check_max_body_size(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"max_body_size={value!r}: give a number of bytes (or None for no limit)"
        )
    return value


def _cert_fields(cert: CertInput) -> dict[str, Any]:
    if cert is None:
        return {}
    if isinstance(cert, str):
        return {"client_cert": cert}
    if isinstance(cert, tuple) and len(cert) in (2, 3):
        out: dict[str, Any] = {"client_cert": cert[0], "client_key": cert[1]}
        if len(cert) == 3:
            out["client_key_password"] = cert[2]
        return out
    raise ConfigurationError(
        "cert= must be 'client.pem', ('client.pem', 'client.key') or "
        "('client.pem', 'client.key', password)"
    )


def _check_opt_out(tls: object, target: Target) -> TLSPolicy | None:
    """Validate a per-call ``tls=`` value; audit and warn an opt-out. None means "verified"."""
    if tls is None:
        return None
    if not isinstance(tls, Unverified):
        raise ConfigurationError(
            f"tls={tls!r} is not a TLS mode; use tls=securl.unverified(reason=...) "
            "(or leave it out to verify)"
        )
    caller = caller_location()
    if not get_policy().allow_unverified:
        emit("unverified_request", host=target.host, port=target.port, reason=tls.reason,
             caller=caller, url=redact_url(target.url), action="refused")
        raise PolicyError(
            f"admin policy ({get_policy().path}) forbids unverified requests; "
            f"tls=securl.unverified() refused for {target.host}. Trust the server's CA with "
            "ca_certs= or pin its key instead"
        )
    emit("unverified_request", host=target.host, port=target.port, reason=tls.reason,
         caller=caller, url=redact_url(target.url), action="allowed")
    warnings.warn(
        f"certificate verification is OFF for this request to {target.host}:{target.port} "
        f"(reason: {tls.reason}); the connection can be intercepted",
        InsecureRequestWarning,
        stacklevel=external_stacklevel(),
    )
    return None


class _Body(NamedTuple):
    data: Any
    content_type: str | None
    replayable: bool


def _encode_body(data: Any, json: Any) -> _Body:
    if data is not None and json is not None:
        raise InvalidRequest("pass data= or json=, not both")
    if json is not None:
        return _Body(_json.dumps(json, separators=(",", ":")).encode(), "application/json", True)
    if data is None:
        return _Body(None, None, True)
    if isinstance(data, str):
        return _Body(data.encode("utf-8"), "text/plain; charset=utf-8", True)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _Body(bytes(data), None, True)
    if isinstance(data, Mapping) or (isinstance(data, list) and all(
            isinstance(i, tuple) for i in data)):
        return _Body(urllib.parse.urlencode(data, doseq=True).encode(),
                     "application/x-www-form-urlencoded", True)
    if isinstance(data, io.IOBase) or hasattr(data, "read") or isinstance(data, Iterable):
        return _Body(data, None, False)  # streamed; cannot be replayed on a redirect
    raise InvalidRequest(f"data= of type {type(data).__name__} cannot be sent")


def redirect_rule(status: int, method: str, current: Target, location: str) -> tuple[Target, str]:
    """Where a redirect goes, with which method; refuses unsafe redirects.

    Rules: only http/https targets; never from https to http (InsecureRedirectError);
    301/302 turn POST into GET and 303 turns anything but HEAD into GET, as browsers do;
    307/308 keep the method and body.
    """
    absolute = urllib.parse.urljoin(current.url, location)
    try:
        nxt = parse_target(absolute)
    except InvalidRequest as exc:
        raise InsecureRedirectError(
            f"refusing redirect from {redact_url(current.url)} to {redact_url(absolute)}: {exc}"
        ) from None
    if current.scheme == "https" and nxt.scheme != "https":
        raise InsecureRedirectError(
            f"refusing redirect from https to {nxt.scheme}: {redact_url(current.url)} -> "
            f"{redact_url(nxt.url)} would send the request unencrypted"
        )
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    return nxt, method


def _trust_of(policy: TLSPolicy) -> Any:
    """The trust source behind ``policy`` for an error message; None if it cannot be built."""
    try:
        return getattr(policy.context(), "trust", None)
    except SecurlError:
        return None


class Session:
    """Verified HTTP(S) requests with connection pooling; safe to share between threads.

    Args:
        ca_certs: trust only these CAs (file, hashed directory or PEM data) instead of the
            system store.
        cert: client certificate for 2-way TLS: ``'both.pem'``, ``(cert, key)`` or
            ``(cert, key, password)``; sent only when a server asks for one.
        timeout: seconds, ``(connect, read)`` or :class:`Timeouts` (adds ``total``, the
            deadline of a whole call); default 10 s connect, 30 s read, 300 s total.
        max_body_size: the most bytes a response body may decode to (default 100 MiB);
            more raises :class:`~securl.ResponseTooLarge`. ``None`` removes the limit.
        headers: sent with every request (per-call headers override; ``None`` removes).
        max_redirects: redirects followed before :class:`~securl.TooManyRedirects`.
        proxies_from_env: use ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (read now).
        pins: ``sha256/...`` public-key pins checked on top of normal verification.
        minimum_version: ``"1.2"`` (default) or ``"1.3"``.

    There is deliberately no way to make a Session unverified: ``verify=False`` and
    ``tls=securl.unverified(...)`` here raise :class:`~securl.PolicyError`; opt out per call.
    """

    def __init__(
        self,
        *,
        ca_certs: CAInput | None = None,
        cert: CertInput = None,
        timeout: TimeoutInput = DEFAULT_TIMEOUT,
        headers: HeadersInput = None,
        max_redirects: int = 10,
        proxies_from_env: bool = True,
        pins: Iterable[str] | None = None,
        minimum_version: str = "1.2",
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        verify: Any = _UNSET,
        tls: Any = None,
    ) -> None:
        if verify is not _UNSET:
            reject_verify_argument(verify, "securl.Session()")
        if tls is not None:
            raise PolicyError(
                f"a Session cannot be made unverified or given a session-wide tls= mode.\n"
                f"{OPT_OUT_HELP}"
            )
        self.config = TLSConfig(
            ca_certs=ca_certs, minimum_version=minimum_version,  # type: ignore[arg-type]
            pins=tuple(pins or ()), **_cert_fields(cert),
        )
        self._verified = TLSPolicy("verified", self.config)
        self._verified.context()  # fail now, not at the first request, on bad trust input
        self.timeout = make_timeout(timeout)
        self.max_body_size = _check_max_body_size(max_body_size)
        self.headers = HTTPHeaderDict({
            "User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "gzip, deflate",
        })
        for name, value in check_headers(headers):
            if value is None:
                self.headers.discard(name)
            else:
                self.headers[name] = value
        if not isinstance(max_redirects, int) or max_redirects < 0:
            raise ConfigurationError("max_redirects must be a non-negative int")
        self.max_redirects = max_redirects
        self._proxies = urllib.request.getproxies_environment() if proxies_from_env else {}
        self._pools = PoolRegistry()
        self._closed = False
        self._lock = threading.Lock()

    # -- trust decision -------------------------------------------------------------------
    def _tls_policy(self, target: Target, tls: object, cert: CertInput,
                    pins: Iterable[str] | None) -> TLSPolicy:
        """The trust decision for one request (see the module docstring)."""
        _check_opt_out(tls, target)
        config = self.config
        changes = _cert_fields(cert)
        if pins is not None:
            changes["pins"] = (*config.pins, *pins)
        if changes:
            config = dataclasses.replace(config, **changes)
        if tls is not None:
            return TLSPolicy("unverified", config)
        return self._verified if config is self.config else TLSPolicy("verified", config)

    def _proxy_for(self, target: Target) -> str | None:
        if not self._proxies:
            return None
        if urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
            target.host, self._proxies
        ):
            return None
        return self._proxies.get(target.scheme) or self._proxies.get("all")

    # -- requests -------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        headers: HeadersInput = None,
        data: Any = None,
        json: Any = None,
        timeout: TimeoutInput = None,
        tls: Any = None,
        cert: CertInput = None,
        pins: Iterable[str] | None = None,
        allow_redirects: bool = True,
        stream: bool = False,
        max_body_size: int | None = _UNSET,
        verify: Any = _UNSET,
    ) -> Response:
        """Send one request (following redirects) and return its :class:`Response`.

        The whole call, redirects and body included, runs under one total deadline
        (``timeout``'s ``total``); with ``stream=True`` the deadline keeps running while the
        body is read. ``max_body_size`` overrides the Session's limit for this call.
        """
        if self._closed:
            raise InvalidRequest("this Session is closed")
        if verify is not _UNSET:
            reject_verify_argument(verify, "securl requests")
        method = check_method(method)
        if params:
            sep = "&" if urllib.parse.urlsplit(url).query else "?"
            url = f"{url}{sep}{urllib.parse.urlencode(params, doseq=True)}"  # type: ignore[arg-type]
        target = parse_target(url)
        call_headers = check_headers(headers)
        body = _encode_body(data, json)
        policy = self._tls_policy(target, tls, cert, pins)
        t = self.timeout if timeout is None else make_timeout(timeout)
        limit = (self.max_body_size if max_body_size is _UNSET
                 else _check_max_body_size(max_body_size))

        request_headers = HTTPHeaderDict(self.headers)
        if body.content_type:
            request_headers["Content-Type"] = body.content_type
        for name, value in call_headers:
            if value is None:
                request_headers.discard(name)
            else:
                request_headers[name] = value

        deadline = Deadline(t.total)
        try:
            return self._follow(method, target, request_headers, body, policy, t, deadline,
                                limit, allow_redirects, stream)
        except BaseException:
            deadline.release()
            raise

    def _follow(self, method: str, target: Target, request_headers: HTTPHeaderDict,
                body: _Body, policy: TLSPolicy, t: Timeouts, deadline: Deadline,
                limit: int | None, allow_redirects: bool, stream: bool) -> Response:
        """The request loop: send, then follow redirects by :func:`redirect_rule`."""
        history: list[Response] = []
        while True:
            raw = self._send(method, target, request_headers, body.data, policy, t, deadline)
            response = Response(raw, target.url, method, history, host=target.host,
                                port=target.port, deadline=deadline, max_body_size=limit)
            location = raw.headers.get("Location")
            if not (allow_redirects and raw.status in _REDIRECTS and location):
                if not stream:
                    response.content  # noqa: B018 - read the body, release the connection
                return response
            response.content  # noqa: B018
            if len(history) >= self.max_redirects:
                raise TooManyRedirects(
                    f"more than {self.max_redirects} redirects, last to "
                    f"{redact_url(urllib.parse.urljoin(target.url, location))}; raise "
                    "max_redirects if this is expected"
                )
            nxt, new_method = redirect_rule(raw.status, method, target, location)
            dropped: list[str] = []
            if nxt.origin != target.origin:
                for name in _SENSITIVE_ON_CROSS_ORIGIN:
                    if name in request_headers:
                        dropped.append(name)
                        request_headers.discard(name)
            if new_method != method or (raw.status in (301, 302, 303) and new_method == "GET"):
                if body.data is not None:
                    body = _Body(None, None, True)
                    for name in ("Content-Type", "Content-Length", "Transfer-Encoding"):
                        request_headers.discard(name)
            elif body.data is not None and not body.replayable:
                raise InvalidRequest(
                    f"a {raw.status} redirect asks to resend the request body, but data= is a "
                    "stream that cannot be replayed; pass bytes instead"
                )
            emit("redirect", host=target.host, port=target.port, status=raw.status,
                 from_url=redact_url(target.url), to_url=redact_url(nxt.url),
                 method=new_method, headers_dropped=dropped)
            if policy.mode != "verified" and nxt.origin != target.origin:
                # An opt-out covers the origin the caller named, not wherever it redirects.
                policy = self._verified
            history = [*history, response]
            target, method = nxt, new_method

    def _send(self, method: str, target: Target, headers: HTTPHeaderDict, body: Any,
              policy: TLSPolicy, timeouts: Timeouts, deadline: Deadline) -> BaseHTTPResponse:
        """One HTTP exchange on a pooled connection; urllib3 errors become securl errors.

        The connection used is watched by ``deadline`` (``securl._deadline``) until the
        response is read or closed.
        """
        if deadline.passed:
            raise deadline_exceeded(deadline, target.host, target.port)
        timeout = timeouts.for_attempt(deadline)
        proxy = self._proxy_for(target)
        key = PoolKey(target.scheme, target.host, target.port, policy, proxy)
        pool = self._pools.get(key)
        plain_proxy = proxy is not None and target.scheme == "http"
        previous = set_current(deadline)
        try:
            return pool.urlopen(  # type: ignore[attr-defined, no-any-return]
                method,
                target.url if plain_proxy else target.request_target,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=timeout,
                preload_content=False,
                decode_content=True,
                chunked=body is not None and not isinstance(body, bytes),
            )
        except Exception as exc:
            deadline.release()
            raise map_transport_error(
                exc, target.host, target.port,
                trust=_trust_of(policy) if target.scheme == "https" else None,
                cert_given=policy.config.client_cert is not None,
                proxy=redact_url(proxy) if proxy else None,
                deadline=deadline,
            ) from exc
        finally:
            set_current(previous)

    def get(self, url: str, **kwargs: Any) -> Response:
        """Send a GET request; keyword arguments as for :meth:`request`."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> Response:
        """Send a HEAD request (redirects are not followed unless asked)."""
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> Response:
        """Send an OPTIONS request."""
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
        """Send a POST request."""
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url: str, data: Any = None, **kwargs: Any) -> Response:
        """Send a PUT request."""
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: str, data: Any = None, **kwargs: Any) -> Response:
        """Send a PATCH request."""
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        """Send a DELETE request."""
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        """Close every pooled connection; the Session cannot be used afterwards."""
        self._closed = True
        self._pools.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
