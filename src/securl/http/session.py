"""securl.Session: verified HTTP(S) requests over pooled urllib3 connections.

A Session holds what every one of its requests starts from (trust settings, headers,
timeouts, credentials, pools) and runs the request loop. The decisions it relies on are each
made in one place, shared with the urllib drop-in where both need them:

* what a request trusts: `securl.tls.decision.TrustSettings.decide` (the session's
  TLSConfig, pins files, trust on first use, verifiers; per-call ``tls=``/``cert=``/``pins=``;
  the opt-out check and its audit);
* one exchange on a pooled connection: ``securl.http.transport.send``;
* where a redirect may go and what it drops: ``securl.http.redirects.next_request``;
* timeouts: ``securl.http.timeouts`` (every network wait has one, and every call a total
  deadline, enforced by ``securl.http.deadline``);
* answering a 401 or a demand for a client certificate (`Session._challenged`): the
  auth object's `AuthFlow` decides whether to resend, the rules
  being in ``securl.http.auth``;
* the body size limit (``max_body_size``): what a response may decompress to, enforced by
  ``securl.Response``.
"""

from __future__ import annotations

import io
import json as _json
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from http.cookiejar import CookieJar
from typing import Any, NamedTuple

from urllib3 import BaseHTTPResponse, HTTPHeaderDict

from .._redact import redact_url
from ..admin.guard import check_process_wide
from ..exceptions import (
    ConfigurationError,
    ConnectionError,
    ConnectTimeout,
    InvalidRequest,
    PolicyError,
    TooManyRedirects,
)
from ..tls.config import CAInput, TLSConfig
from ..tls.decision import CertInput, TrustDecision, TrustSettings, cert_fields, check_verifiers
from ..tls.modes import OPT_OUT_HELP, Pinned, Verifier, reject_verify_argument
from ..tls.pins import PinsFile, open_pins_file
from .auth import Auth, AuthInput, coerce_auth
from .authflow import AuthFlow, challenged
from .cookies import CallCookies, CookieInput, check_jar, per_call_jar
from .deadline import Deadline
from .hooks import Hooks, HooksInput, coerce_hooks, merge_hooks, prepare_send
from .multipart import MultipartBody, encode_multipart
from .options import ParamsInput, RequestMethods
from .pool import PoolRegistry
from .proxies import ProxiesInput, coerce_proxies, environment_proxies, proxy_for
from .redirects import BODY_HEADERS, REDIRECT_STATUSES, next_request
from .response import Response
from .retries import Retries, RetriesInput, RetryState, coerce_retries
from .settings import check_max_body_size, checked_assignment, missing_attribute
from .target import HeadersInput, Target, check_headers, check_method, parse_target
from .timeouts import DEFAULT_TIMEOUT, TimeoutInput, Timeouts, make_timeout
from .transport import merge_headers, send, wire_headers

__all__ = ["DEFAULT_MAX_BODY_SIZE", "Session", "Timeouts"]

#: Default limit on a response body after decompression: 100 MiB.
DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024
_UNSET: Any = object()


class _Call(NamedTuple):
    """What stays the same for one call across its redirects and challenge retries."""

    decide: Callable[[Target], TrustDecision]  # the trust decision for a redirect target
    flow: AuthFlow | None
    timeouts: Timeouts
    deadline: Deadline
    max_body_size: int | None
    allow_redirects: bool
    stream: bool
    retry: RetryState | None  # None: this call is not retried
    hooks: Hooks
    proxies: Mapping[str, str]
    cookies: CallCookies  # the Session's jar and cookies=, for every hop of the call


class _Body(NamedTuple):
    data: Any
    content_type: str | None
    replayable: bool
    length: int | None = None  # sent as Content-Length for a streamed body of known size


_NO_BODY = _Body(None, None, True)


def _encode_body(data: Any, json: Any, files: Any = None) -> _Body:
    if files:
        if json is not None:
            raise InvalidRequest("pass files= or json=, not both")
        form = encode_multipart(data, files)  # rewinds its files when replayed, if it can
        return _Body(form, form.content_type, form.replayable, form.content_length)
    if data is not None and json is not None:
        raise InvalidRequest("pass data= or json=, not both")
    if json is not None:
        return _Body(_json.dumps(json, separators=(",", ":")).encode(), "application/json", True)
    if data is None:
        return _NO_BODY
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



class Session(RequestMethods):
    """Verified HTTP(S) requests with connection pooling; safe to share between threads.

    Args:
        ca_certs: trust only these CAs (file, hashed directory or PEM data) instead of the
            system store.
        cert: client certificate for 2-way TLS: ``'both.pem'``, ``(cert, key)`` or
            ``(cert, key, password)``; sent only when a server asks for one.
        timeout: seconds, ``(connect, read)`` or `Timeouts` (adds ``total``, the
            deadline of a whole call); default 10 s connect, 30 s read, 300 s total.
        max_body_size: the most bytes a response body may decode to (default 100 MiB);
            more raises `ResponseTooLarge`. ``None`` removes the limit.
        headers: sent with every request (per-call headers override; ``None`` removes).
        max_redirects: redirects followed before `TooManyRedirects`.
        proxies_from_env: use ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (read now) when
            ``proxies=`` is not given.
        proxies: ``{"https": "http://proxy:3128", "http": ..., "all": ..., "no_proxy":
            "localhost,.internal"}``; replaces the environment's settings entirely.
            Credentials in a proxy URL go only to the proxy.
        retries: ``N`` or `Retries` (default: no retries); see
            ``docs/retries.md``.
        hooks: ``{"request": [fn, ...], "response": [fn, ...]}``: called with each prepared
            request before it is sent, and with each response (see `securl.http.hooks`).
        pins: ``sha256/...`` public-key pins checked on top of normal verification.
        minimum_version: ``"1.2"`` (default) or ``"1.3"``.
        pins_file: a known_hosts-style pins file (``host[:port] sha256/...`` per line); a
            host listed there must present one of its pins, on top of verification. The
            admin policy's ``pins_file`` is always enforced as well.
        trust_on_first_use: record the key of a host not yet in ``pins_file`` on first
            contact (after a verified handshake, or with ``tls=securl.pinned(reason=...)``
            for self-signed devices) and enforce it from then on. Needs ``pins_file``.
        verifiers: callables ``fn(securl.PeerInfo)`` run on every new connection before a
            request is sent; raising rejects the server (see `securl.verifiers`).
        tls_session_cache: resume the TLS session of an earlier connection to the same
            host, port and trust decision when a new connection is made (the checks above
            still run on every connection). Default ``None``: on where Python reads TLS
            sessions without leaking them (CPython 3.12.8+, 3.13.1+), off on 3.10, 3.11 and
            older 3.12/3.13. See `securl.http.tls_sessions`.
        auth: ``(user, password)`` (Basic with the first request over https; Digest when
            asked), `ChallengeAuth` (only when a 401 asks),
            `BasicAuth`, `DigestAuth`,
            `BearerAuth`, or your own `Auth` or callable. See
            ``docs/authentication.md``.

    ``auth``, ``headers``, ``timeout``, ``retries``, ``hooks``, ``proxies``,
    ``max_body_size`` and ``max_redirects`` may be assigned later (``s.auth = (u, p)``),
    checked as here; anything else raises `SessionAttributeError` saying
    what to use instead (see `securl.http.settings`).

    There is deliberately no way to make a Session unverified: ``verify=False`` and
    ``tls=securl.unverified(...)`` here raise `PolicyError`; opt out per call.
    ``tls=securl.pinned(...)`` is per call too; a Session pins with ``pins=``/``pins_file=``.
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
        pins_file: str | os.PathLike[str] | None = None,
        trust_on_first_use: bool = False,
        verifiers: Iterable[Verifier] | None = None,
        auth: AuthInput = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        verify: Any = _UNSET,
        tls: Any = None,
        retries: RetriesInput = None,
        hooks: HooksInput = None,
        proxies: ProxiesInput = None,
        tls_session_cache: bool | None = None,
    ) -> None:
        if verify is not _UNSET:
            reject_verify_argument(verify, "securl.Session()")
        if isinstance(tls, Pinned):
            raise PolicyError(
                "tls=securl.pinned() applies to one call, not to a Session. For a Session, "
                "pin on top of verification with pins=['sha256/...'] or pins_file='pins.txt'; "
                "for self-signed devices pass tls=securl.pinned(...) on each call"
            )
        if tls is not None:
            raise PolicyError(
                f"a Session cannot be made unverified or given a session-wide tls= mode.\n"
                f"{OPT_OUT_HELP}"
            )
        if not isinstance(trust_on_first_use, bool):
            raise ConfigurationError("trust_on_first_use must be True or False")
        if trust_on_first_use and pins_file is None:
            raise ConfigurationError(
                "trust_on_first_use=True needs pins_file= to record first-seen keys in"
            )
        opened: PinsFile | None = None
        if pins_file is not None:
            opened = open_pins_file(pins_file)
            # Fail now on a missing (unless it is to be created) or malformed file.
            opened.load(required=not trust_on_first_use)
        config = TLSConfig(
            ca_certs=ca_certs, minimum_version=minimum_version,  # type: ignore[arg-type]
            pins=tuple(pins or ()), **cert_fields(cert),
        )
        self._trust = TrustSettings(config, pins_file=opened,
                                    trust_on_first_use=trust_on_first_use,
                                    verifiers=check_verifiers(verifiers, "securl.Session()"))
        self._trust.verified.context()  # fail now, not at the first request, on bad trust input
        # Each assignment below is checked by Session.__setattr__ (securl.http.settings).
        self.auth: Auth | None = auth  # type: ignore[assignment]
        self.timeout: Timeouts = timeout  # type: ignore[assignment]
        self.max_body_size: int | None = max_body_size
        self.headers: HTTPHeaderDict = headers  # type: ignore[assignment]
        self.max_redirects: int = max_redirects
        self.retries: Retries | None = retries  # type: ignore[assignment]
        self.hooks: Hooks = hooks  # type: ignore[assignment]
        self.proxies: Mapping[str, str] = (
            proxies if proxies is not None  # type: ignore[assignment]
            else environment_proxies() if proxies_from_env else None)
        if tls_session_cache is not None and not isinstance(tls_session_cache, bool):
            raise ConfigurationError("tls_session_cache must be True, False or None")
        self._pools = PoolRegistry(tls_sessions=tls_session_cache)
        self._cookies = CookieJar()
        self._closed = False
        self._lock = threading.Lock()

    # What every request trusts is fixed when the Session is made (read-only: assigning one
    # would silently change nothing, so it raises AttributeError instead).
    @property
    def config(self) -> TLSConfig:
        """Trust anchors, client certificate, minimum TLS version and ``pins=``."""
        return self._trust.config

    @property
    def pins_file(self) -> PinsFile | None:
        """The Session's pins file (the admin policy's is consulted as well)."""
        return self._trust.pins_file

    @property
    def trust_on_first_use(self) -> bool:
        """Whether a host's first key is recorded in `pins_file`."""
        return self._trust.trust_on_first_use

    @property
    def verifiers(self) -> tuple[Verifier, ...]:
        """Run on every new connection before a request is sent."""
        return self._trust.verifiers

    @property
    def cookies(self) -> CookieJar:
        """The cookies every response set and later requests send (``docs/cookies.md``)."""
        return self._cookies

    @cookies.setter
    def cookies(self, jar: CookieJar) -> None:
        self._cookies = check_jar(jar)

    def _jar_for_call(self) -> CookieJar:
        """The jar one call stores into and sends from: the Session's own (the module-level
        functions, which share one Session, use a fresh jar per call instead)."""
        return self._cookies

    def __setattr__(self, name: str, value: Any) -> None:
        """Check an assigned value as the constructor does (``securl.http.settings``)."""
        object.__setattr__(self, name, checked_assignment(self, name, value, sys._getframe(1)))

    def __getattr__(self, name: str) -> Any:
        """Only for names a Session lacks: say what to use instead of requests' ones."""
        raise missing_attribute(self, name)

    # -- requests -------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        params: ParamsInput = None,
        headers: HeadersInput = None,
        data: Any = None,
        json: Any = None,
        timeout: TimeoutInput = None,
        tls: Any = None,
        cert: CertInput = None,
        pins: Iterable[str] | None = None,
        verifiers: Iterable[Verifier] | None = None,
        allow_redirects: bool = True,
        stream: bool = False,
        auth: AuthInput = _UNSET,
        allow_insecure_auth: bool = False,
        max_body_size: int | None = _UNSET,
        verify: Any = _UNSET,
        retries: RetriesInput = _UNSET,
        hooks: HooksInput = None,
        proxies: ProxiesInput = _UNSET,
        cookies: CookieInput = None,
        files: Any = None,
    ) -> Response:
        """Send one request (following redirects) and return its `Response`.

        ``auth=`` overrides the session's credentials for this call (``None``: none).
        ``allow_insecure_auth=True`` lets this call send Basic credentials over plain http
        (audited as ``securl.insecure_auth``).

        The whole call, redirects and body included, runs under one total deadline
        (``timeout``'s ``total``); with ``stream=True`` the deadline keeps running while the
        body is read. ``max_body_size`` overrides the Session's limit for this call.

        ``retries=`` (``N``, `Retries`, ``0``/``None`` for none) and
        ``proxies=`` replace the Session's for this call; ``hooks=`` run after the Session's.

        ``cookies=`` (a mapping or a CookieJar) adds cookies for this call only, at the origin
        it names (``docs/cookies.md``); ``files=`` sends a multipart/form-data upload, with
        ``data=`` as its form fields (``docs/uploads.md``).
        """
        if self._closed:
            raise InvalidRequest("this Session is closed")
        check_process_wide()
        if verify is not _UNSET:
            reject_verify_argument(verify, "securl requests")
        method = check_method(method)
        if params:
            sep = "&" if urllib.parse.urlsplit(url).query else "?"
            url = f"{url}{sep}{urllib.parse.urlencode(params, doseq=True)}"  # type: ignore[arg-type]
        target = parse_target(url)
        call_headers = check_headers(headers)
        body = _encode_body(data, json, files)
        call_verifiers = check_verifiers(verifiers, "securl requests")
        decision = self._trust.decide(target, tls=tls, cert=cert, pins=pins,
                                      verifiers=call_verifiers)
        t = self.timeout if timeout is None else make_timeout(timeout)
        credentials = self.auth if auth is _UNSET else coerce_auth(auth)
        flow = (AuthFlow(credentials, target, allow_insecure=bool(allow_insecure_auth))
                if credentials is not None else None)
        limit = (self.max_body_size if max_body_size is _UNSET
                 else check_max_body_size(max_body_size))
        rules = self.retries if retries is _UNSET else coerce_retries(retries)

        # Copy-on-write: a request that changes nothing sends the session's headers as they
        # are (urllib3 only reads them); any change, here or on a redirect, works on a copy.
        request_headers = self.headers
        if body.content_type or call_headers:
            request_headers = HTTPHeaderDict(request_headers)
            if body.content_type:
                request_headers["Content-Type"] = body.content_type
            if body.length is not None:
                request_headers["Content-Length"] = str(body.length)
            merge_headers(request_headers, call_headers)

        deadline = Deadline(t.total)
        call = _Call(
            # After the call leaves its origin, a per-call cert= stays behind like auth= does:
            # credentials go to the origin the call named (a Session's cert= goes everywhere).
            decide=lambda nxt: self._trust.decide(nxt, pins=pins, verifiers=call_verifiers),
            flow=flow, timeouts=t, deadline=deadline, max_body_size=limit,
            allow_redirects=allow_redirects, stream=stream,
            retry=None if rules is None else RetryState(rules, deadline),
            hooks=self.hooks if hooks is None else merge_hooks(self.hooks, coerce_hooks(hooks)),
            proxies=self.proxies if proxies is _UNSET else coerce_proxies(proxies),
            cookies=CallCookies(self._jar_for_call(), per_call_jar(cookies, target), target),
        )
        try:
            return self._follow(call, method, target, request_headers, body, decision)
        except BaseException:
            call.deadline.release()
            raise

    def _follow(self, call: _Call, method: str, target: Target, request_headers: HTTPHeaderDict,
                body: _Body, decision: TrustDecision) -> Response:
        """The request loop: send, answer challenges, follow redirects."""
        flow, deadline = call.flow, call.deadline
        history: list[Response] = []
        while True:
            send_headers = request_headers
            authorization = flow.authorization(method, target) if flow is not None else None
            if authorization is not None:
                send_headers = HTTPHeaderDict(request_headers)
                send_headers["Authorization"] = authorization
            if call.cookies.active():
                send_headers = call.cookies.with_header(target, send_headers)
            if call.hooks.request or (flow is not None and flow.edits_request):
                send_headers = prepare_send(call.hooks.request, flow, method, target,
                                            send_headers)
            wire = wire_headers(send_headers)
            sent_at = time.monotonic()
            try:
                raw = self._send(method, target, wire, body.data,
                                 decision, call.timeouts, deadline, proxies=call.proxies)
            except (ConnectionError, ConnectTimeout) as exc:
                if call.retry is not None and call.retry.after_error(exc, method, target,
                                                                     body.replayable):
                    continue
                raise
            # What was sent: the plain dict built for this request is already a snapshot.
            sent = wire if type(wire) is dict else tuple(send_headers.itermerged())
            response = Response(raw, target.url, method, history, host=target.host,
                                port=target.port, deadline=deadline,
                                max_body_size=call.max_body_size, sent_at=sent_at,
                                request=(method, target.url, sent))
            if "Set-Cookie" in raw.headers:
                response.cookies = call.cookies.store(raw.headers, target)
            for hook in call.hooks.response:
                hook(response)
            if flow is not None:
                flow.on_response(response, target)
            if raw.status in (400, 401) and challenged(
                    response, flow, method, target,
                    streamed=body.data is not None and not body.replayable,
                    cert_given=decision.config.client_cert is not None):
                continue
            if call.retry is not None and call.retry.wants(raw.status, method):
                response.content  # noqa: B018 - release the connection before waiting
                if call.retry.after_status(raw.status, raw.headers, method, target,
                                           body.replayable):
                    continue
            location = (raw.headers.get("Location") if raw.status in REDIRECT_STATUSES
                        else None)
            if not (call.allow_redirects and location):
                if not call.stream:
                    response.content  # noqa: B018 - read the body, release the connection
                return response
            response.content  # noqa: B018
            if request_headers is self.headers:
                request_headers = HTTPHeaderDict(request_headers)
            if len(history) >= self.max_redirects:
                raise TooManyRedirects(
                    f"more than {self.max_redirects} redirects, last to "
                    f"{redact_url(urllib.parse.urljoin(target.url, location))}; raise "
                    "max_redirects if this is expected"
                )
            redirect = next_request(raw.status, method, target, location, request_headers)
            for name in redirect.drop_headers:
                request_headers.discard(name)
            if redirect.drop_body:
                if body.data is not None:
                    body = _NO_BODY
                    for name in BODY_HEADERS:
                        request_headers.discard(name)
            elif body.data is not None and not body.replayable:
                raise InvalidRequest(
                    f"a {raw.status} redirect asks to resend the request body, but data= is a "
                    "stream that cannot be replayed; pass bytes instead"
                )
            redirect.audit(target, raw.status)
            if redirect.target.origin != target.origin:
                # A tls= mode covers the origin the caller named, not wherever it redirects;
                # and the new host has its own entries in pins files.
                decision = call.decide(redirect.target)
                call.cookies.on_redirect(redirect.target)
            history = [*history, response]
            target, method = redirect.target, redirect.method
            if flow is not None:
                flow.on_redirect()

    def _send(self, method: str, target: Target, headers: Mapping[str, str], body: Any,
              decision: TrustDecision, timeouts: Timeouts, deadline: Deadline, *,
              proxies: Mapping[str, str]) -> BaseHTTPResponse:
        """One HTTP exchange on this Session's pools (``securl.http.transport.send``)."""
        return send(self._pools, method, target, headers, body, decision, timeouts,
                    deadline=deadline, proxy=proxy_for(proxies, target),
                    chunked=body is not None and not isinstance(body, bytes) and not (
                        isinstance(body, MultipartBody) and body.content_length is not None))

    def close(self) -> None:
        """Close every pooled connection; the Session cannot be used afterwards."""
        self._closed = True
        self._pools.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
