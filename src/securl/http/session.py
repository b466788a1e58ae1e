"""securl.Session: verified HTTP(S) requests over pooled urllib3 connections.

Decisions made here, each in one function:

* the trust decision of a request (:meth:`Session._tls_policy`): the session's TLSConfig,
  made stricter by per-call ``cert=``/``pins=``, plus the host's entries in pins files,
  trust on first use and verifiers; or a per-call ``tls=`` mode (pinned, unverified);
* the opt-out check (:func:`allow_opt_out`, shared with ``securl.urllib``): admin policy
  may forbid it; every use is audited and warned, whatever warning filters say;
  ``tls=securl.pinned()`` is audited too;
* one exchange on a pooled connection (:func:`send`, shared with ``securl.urllib``);
* the redirect rule (:func:`redirect_rule`);
* timeouts (:func:`make_timeout`): every network wait has one, and every call has a total
  deadline (:class:`Timeouts`), enforced by ``securl.http.deadline``;
* the body size limit (``max_body_size``): what a response may decompress to, enforced by
  ``securl.Response``.
* answering a 401 or a demand for a client certificate (:meth:`Session._challenged`): the
  auth object's :class:`~securl.http.auth.AuthFlow` decides whether to resend, the rules being in
  ``securl.http.auth``.
"""

from __future__ import annotations

import dataclasses
import io
import json as _json
import os
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from urllib3 import BaseHTTPResponse, HTTPHeaderDict
from urllib3.util import SKIP_HEADER, Retry
from urllib3.util import Timeout as Urllib3Timeout

from .._audit import emit, redact_url
from .._caller import caller_location, external_stacklevel
from .._policy import check_unverified_allowed, get_policy
from .._version import __version__
from ..admin.guard import check_process_wide
from ..exceptions import (
    ConfigurationError,
    InsecureRedirectError,
    InsecureRequestWarning,
    InvalidRequest,
    PolicyError,
    SecurlError,
    TooManyRedirects,
)
from ..tls.config import CAInput, TLSConfig
from ..tls.decision import Mode, TLSPolicy
from ..tls.modes import OPT_OUT_HELP, Pinned, Unverified, Verifier, reject_verify_argument
from ..tls.pins import HostPins, PinsFile, open_pins_file, policy_pins_file
from .auth import Auth, AuthFlow, client_cert_demand_response, coerce_auth
from .deadline import Deadline, set_current
from .errors import deadline_exceeded, map_transport_error
from .pool import PoolKey, PoolRegistry
from .response import Response
from .target import HeadersInput, Target, check_headers, check_method, parse_target

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TIMEOUT",
    "Session",
    "Timeouts",
    "allow_opt_out",
    "make_timeout",
    "send",
]

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
        # urllib3 clones the Timeout it is given and never changes it, so the uncapped one
        # is made once (not a field: equality, hash and repr are unchanged).
        object.__setattr__(self, "_uncapped", Urllib3Timeout(connect=self.connect, read=self.read))

    def for_attempt(self, deadline: Deadline) -> Urllib3Timeout:
        """Socket timeouts for one attempt: ``connect``/``read``, capped at the time left."""
        left = deadline.remaining()
        if left >= self.connect and left >= self.read:
            return self._uncapped  # type: ignore[attr-defined, no-any-return]
        left = max(left, 0.001)
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
#: securl follows redirects and maps errors itself; urllib3 must neither retry nor redirect.
#: One shared (immutable) Retry instead of urllib3 building one per request from False.
_NO_RETRIES = Retry.from_int(False, redirect=False)


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


def _check_verifiers(verifiers: Iterable[Verifier] | None, where: str) -> tuple[Verifier, ...]:
    """``verifiers=`` as a tuple of hashable callables (they are part of the pool key)."""
    if verifiers is None:
        return ()
    if callable(verifiers):
        verifiers = (verifiers,)
    out = tuple(verifiers)
    for fn in out:
        if not callable(fn):
            raise ConfigurationError(f"{where}: verifiers= must hold callables, got {fn!r}")
        try:
            hash(fn)
        except TypeError:
            raise ConfigurationError(
                f"{where}: verifier {fn!r} is not hashable; verifiers are part of the "
                "connection-pool key (use a function or a frozen dataclass)"
            ) from None
    return out


def _check_opt_out(tls: object, target: Target, *, host_pins: tuple[HostPins, ...] = (),
                   first_contact: bool = False) -> None:
    """Validate a per-call ``tls=`` value; audit a pinned call; audit and warn an opt-out.

    Rules: ``tls=securl.pinned()`` is not an opt-out (the key replaces the CA chain and still
    stops interception), so ``allow_unverified = false`` does not forbid it, except when no
    pin is known yet and trust on first use would accept whatever key answers: that first
    contact is unverified, and admin policy decides.
    """
    if tls is None:
        return
    if isinstance(tls, Pinned):
        caller = caller_location()
        refused = first_contact and not get_policy().allow_unverified
        emit("pinned_request", host=target.host, port=target.port, reason=tls.reason,
             caller=caller, url=redact_url(target.url), pins=list(tls.pins),
             pins_files=[e.where for e in host_pins], check_hostname=tls.check_hostname,
             trust_on_first_use=first_contact, action="refused" if refused else "allowed")
        if refused:
            raise PolicyError(
                f"admin policy ({get_policy().path}) forbids unverified requests, and "
                f"{target.host}:{target.port} has no pin yet: trusting its first key unseen "
                "would be one. Record the pin after checking it out of band "
                "(`securl pin URL --add FILE`), or pass it: securl.pinned('sha256/...', "
                "reason=...)"
            )
        return
    if not isinstance(tls, Unverified):
        raise ConfigurationError(
            f"tls={tls!r} is not a TLS mode; use tls=securl.pinned('sha256/...', reason=...) "
            "or tls=securl.unverified(reason=...) (or leave it out to verify)"
        )
    allow_opt_out(tls.reason, target, "tls=securl.unverified()")
    return None


def allow_opt_out(reason: str, target: Target, what: str) -> None:
    """The one check every per-call opt-out of verification passes (``what`` names it).

    Rules: admin policy ``allow_unverified = false`` refuses it (:class:`~securl.PolicyError`);
    otherwise it is allowed, and every use emits ``securl.unverified_request`` with the
    caller's file:line and warns :class:`~securl.InsecureRequestWarning` (the audit event is
    emitted whatever the warning filters say).
    """
    caller = caller_location()
    check_unverified_allowed(host=target.host, port=target.port, reason=reason, caller=caller,
                             url=redact_url(target.url), what=what)
    emit("unverified_request", host=target.host, port=target.port, reason=reason,
         caller=caller, url=redact_url(target.url), action="allowed")
    warnings.warn(
        f"certificate verification is OFF for this request to {target.host}:{target.port} "
        f"(reason: {reason}); the connection can be intercepted",
        InsecureRequestWarning,
        stacklevel=external_stacklevel(),
    )


def _merge_headers(target: HTTPHeaderDict, headers: list[tuple[str, str]]) -> None:
    """Apply checked headers over defaults; ``None`` removes a header (even urllib3's own)."""
    for name, value in headers:
        if value is None:
            target.discard(name)
            if name.lower() in ("user-agent", "accept-encoding", "host"):
                target[name] = SKIP_HEADER  # stop urllib3 from adding its default
        else:
            target[name] = value


def send(
    pools: PoolRegistry,
    method: str,
    target: Target,
    headers: Mapping[str, str],
    body: Any,
    policy: TLSPolicy,
    timeout: Timeouts | Urllib3Timeout,
    *,
    deadline: Deadline | None = None,
    proxy: str | None = None,
    proxy_headers: tuple[tuple[str, str], ...] = (),
    chunked: bool = False,
    decode_content: bool = True,
) -> BaseHTTPResponse:
    """One HTTP exchange on a pooled connection; urllib3 errors become securl errors.

    The pool is chosen by :class:`~securl.http.pool.PoolKey` (the whole trust decision); the
    response is not preloaded: reading it to the end (or closing it) frees the connection.
    Through a plain-http proxy the request line carries the absolute URL (no fragment).
    With a ``deadline`` (``securl.http.deadline``) the connection used is watched by it until the
    response is read or closed, and the socket timeouts are capped at the time left.
    """
    if deadline is not None:
        if deadline.passed:
            raise deadline_exceeded(deadline, target.host, target.port)
        assert isinstance(timeout, Timeouts)
        attempt = timeout.for_attempt(deadline)
    elif isinstance(timeout, Timeouts):
        attempt = Urllib3Timeout(connect=timeout.connect, read=timeout.read)
    else:
        attempt = timeout
    key = PoolKey(target.scheme, target.host, target.port, policy, proxy, proxy_headers)
    pool = pools.get(key)
    plain_proxy = proxy is not None and target.scheme == "http"
    previous = set_current(deadline) if deadline is not None else None
    try:
        return pool.urlopen(  # type: ignore[attr-defined, no-any-return]
            method,
            target.url.split("#", 1)[0] if plain_proxy else target.request_target,
            body=body,
            headers=headers,
            retries=_NO_RETRIES,
            redirect=False,
            assert_same_host=False,
            timeout=attempt,
            preload_content=False,
            decode_content=decode_content,
            chunked=chunked,
        )
    except Exception as exc:
        if deadline is not None:
            deadline.release()
        mapped = map_transport_error(
            exc, target.host, target.port,
            trust=_trust_of(policy) if target.scheme == "https" else None,
            cert_given=policy.config.client_cert is not None,
            proxy=redact_url(proxy) if proxy else None,
            deadline=deadline,
        )
        if isinstance(mapped, SecurlError) and mapped.__cause__ is not None:
            # Raised by securl during connect (e.g. a verifier's rejection): keep its cause.
            raise mapped from mapped.__cause__
        raise mapped from exc
    finally:
        if deadline is not None:
            set_current(previous)


class _Call(NamedTuple):
    """What stays the same for one call across its redirects and challenge retries."""

    policy_for: Callable[[Target], TLSPolicy]  # the trust decision for a redirect target
    flow: AuthFlow | None
    timeouts: Timeouts
    deadline: Deadline
    max_body_size: int | None
    allow_redirects: bool
    stream: bool


class _Body(NamedTuple):
    data: Any
    content_type: str | None
    replayable: bool


_NO_BODY = _Body(None, None, True)


def _encode_body(data: Any, json: Any) -> _Body:
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


def _wire_headers(headers: HTTPHeaderDict) -> Mapping[str, str]:
    """The headers to hand urllib3: a plain dict unless a field has several values.

    Rule: the bytes on the wire are the same either way (one line per value, in order); a
    plain dict only spares urllib3 copying and walking an HTTPHeaderDict in Python on every
    request. A multi-valued field keeps the HTTPHeaderDict, so its lines stay separate.
    """
    plain: dict[str, str] = {}
    for name, value in headers.iteritems():
        if name in plain:
            return headers
        plain[name] = value
    return plain


def _getproxies_environment() -> dict[str, str]:
    import urllib.request  # only when a Session is made: it is slow to import

    return urllib.request.getproxies_environment()


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
        pins_file: a known_hosts-style pins file (``host[:port] sha256/...`` per line); a
            host listed there must present one of its pins, on top of verification. The
            admin policy's ``pins_file`` is always enforced as well.
        trust_on_first_use: record the key of a host not yet in ``pins_file`` on first
            contact (after a verified handshake, or with ``tls=securl.pinned(reason=...)``
            for self-signed devices) and enforce it from then on. Needs ``pins_file``.
        verifiers: callables ``fn(securl.PeerInfo)`` run on every new connection before a
            request is sent; raising rejects the server (see :mod:`securl.verifiers`).
        auth: credentials to answer a server's 401 with: ``(user, password)`` (Digest or
            Basic, whichever is strongest on offer), :class:`~securl.BasicAuth` or
            :class:`~securl.DigestAuth`. See ``docs/authentication.md``.

    There is deliberately no way to make a Session unverified: ``verify=False`` and
    ``tls=securl.unverified(...)`` here raise :class:`~securl.PolicyError`; opt out per call.
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
        auth: Auth | tuple[str, str] | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        verify: Any = _UNSET,
        tls: Any = None,
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
        self.trust_on_first_use = trust_on_first_use
        self.pins_file: PinsFile | None = None
        if pins_file is not None:
            self.pins_file = open_pins_file(pins_file)
            # Fail now on a missing (unless it is to be created) or malformed file.
            self.pins_file.load(required=not trust_on_first_use)
        self.verifiers = _check_verifiers(verifiers, "securl.Session()")
        self.config = TLSConfig(
            ca_certs=ca_certs, minimum_version=minimum_version,  # type: ignore[arg-type]
            pins=tuple(pins or ()), **_cert_fields(cert),
        )
        self._verified = TLSPolicy("verified", self.config)
        self._verified.context()  # fail now, not at the first request, on bad trust input
        self.auth = coerce_auth(auth)
        self.timeout = make_timeout(timeout)
        self.max_body_size = _check_max_body_size(max_body_size)
        self.headers = HTTPHeaderDict({
            "User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "gzip, deflate",
        })
        _merge_headers(self.headers, check_headers(headers))
        if not isinstance(max_redirects, int) or max_redirects < 0:
            raise ConfigurationError("max_redirects must be a non-negative int")
        self.max_redirects = max_redirects
        self._proxies = _getproxies_environment() if proxies_from_env else {}
        self._pools = PoolRegistry()
        self._closed = False
        self._lock = threading.Lock()

    # -- trust decision -------------------------------------------------------------------
    def _tls_policy(self, target: Target, tls: object, cert: CertInput,
                    pins: Iterable[str] | None,
                    verifiers: tuple[Verifier, ...] = ()) -> TLSPolicy:
        """The trust decision for one request (see the module docstring).

        Pins files are read here, per request, for this host (a snapshot that becomes part
        of the pool key; see :mod:`securl.tls.decision`): the admin policy's file, always, and the
        Session's. Trust on first use applies when the Session's file has no entry for the
        host, and never to ``tls=securl.unverified()`` calls: an opt-out trusts nothing.
        """
        if (tls is None and cert is None and pins is None and not verifiers
                and not self.verifiers and self.pins_file is None and target.scheme == "https"
                and policy_pins_file() is None):
            return self._verified  # the common case: the session's own verified policy
        config = self.config
        changes = _cert_fields(cert)
        if pins is not None:
            changes["pins"] = (*config.pins, *pins)
        if changes:
            config = dataclasses.replace(config, **changes)
        host_pins: list[HostPins] = []
        tofu: PinsFile | None = None
        if target.scheme == "https":
            admin = policy_pins_file()
            for pins_file in (admin, self.pins_file):
                if pins_file is None:
                    continue
                required = pins_file is admin or not self.trust_on_first_use
                entry = pins_file.lookup(target.host, target.port, required=required)
                if entry is not None:
                    host_pins.append(entry)
                elif pins_file is self.pins_file and self.trust_on_first_use and not isinstance(
                        tls, Unverified):
                    tofu = pins_file
        mode: Mode = "verified"
        token = tls if isinstance(tls, Pinned) else None
        if token is not None:
            mode = "pinned"
            if target.scheme != "https":
                raise InvalidRequest(
                    f"tls=securl.pinned() was given for {redact_url(target.url)}: plain http "
                    "has no key to pin and would be sent unencrypted; use an https URL"
                )
            if not token.pins and not host_pins and tofu is None:
                where = (f"in {self.pins_file.path}" if self.pins_file is not None
                         else "(this Session has no pins_file=)")
                raise ConfigurationError(
                    f"tls=securl.pinned() was given no pin, and no pin is recorded for "
                    f"{target.host}:{target.port} {where}. Pass the pin "
                    "(securl.pinned('sha256/...', reason=...); `securl pin URL` prints it), "
                    "record it with `securl pin URL --add FILE`, or use "
                    "Session(pins_file=FILE, trust_on_first_use=True)"
                )
        elif tls is not None:
            mode = "unverified"
        _check_opt_out(tls, target, host_pins=tuple(host_pins),
                       first_contact=token is not None and not token.pins and not host_pins)
        verifiers = self.verifiers + verifiers
        if (mode == "verified" and config is self.config and not host_pins and tofu is None
                and not verifiers):
            return self._verified
        return TLSPolicy(mode, config, pinned=token, host_pins=tuple(host_pins), tofu=tofu,
                         verifiers=verifiers)

    def _proxy_for(self, target: Target) -> str | None:
        if not self._proxies:
            return None
        import urllib.request

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
        verifiers: Iterable[Verifier] | None = None,
        allow_redirects: bool = True,
        stream: bool = False,
        auth: Any = _UNSET,
        allow_insecure_auth: bool = False,
        max_body_size: int | None = _UNSET,
        verify: Any = _UNSET,
    ) -> Response:
        """Send one request (following redirects) and return its :class:`Response`.

        ``auth=`` overrides the session's credentials for this call (``None``: none).
        ``allow_insecure_auth=True`` lets this call send Basic credentials over plain http
        (audited as ``securl.insecure_auth``).

        The whole call, redirects and body included, runs under one total deadline
        (``timeout``'s ``total``); with ``stream=True`` the deadline keeps running while the
        body is read. ``max_body_size`` overrides the Session's limit for this call.
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
        body = _encode_body(data, json)
        call_verifiers = _check_verifiers(verifiers, "securl requests")
        policy = self._tls_policy(target, tls, cert, pins, call_verifiers)
        t = self.timeout if timeout is None else make_timeout(timeout)
        credentials = self.auth if auth is _UNSET else coerce_auth(auth)
        flow = (AuthFlow(credentials, target, allow_insecure=bool(allow_insecure_auth))
                if credentials is not None else None)
        limit = (self.max_body_size if max_body_size is _UNSET
                 else _check_max_body_size(max_body_size))

        # Copy-on-write: a request that changes nothing sends the session's headers as they
        # are (urllib3 only reads them); any change, here or on a redirect, works on a copy.
        request_headers = self.headers
        if body.content_type or call_headers:
            request_headers = HTTPHeaderDict(request_headers)
            if body.content_type:
                request_headers["Content-Type"] = body.content_type
            _merge_headers(request_headers, call_headers)

        call = _Call(
            policy_for=lambda nxt: self._tls_policy(nxt, None, cert, pins, call_verifiers),
            flow=flow, timeouts=t, deadline=Deadline(t.total), max_body_size=limit,
            allow_redirects=allow_redirects, stream=stream,
        )
        try:
            return self._follow(call, method, target, request_headers, body, policy)
        except BaseException:
            call.deadline.release()
            raise

    def _follow(self, call: _Call, method: str, target: Target,
                request_headers: HTTPHeaderDict, body: _Body, policy: TLSPolicy) -> Response:
        """The request loop: send, answer challenges, follow redirects by redirect_rule."""
        flow, deadline = call.flow, call.deadline
        history: list[Response] = []
        while True:
            send_headers = request_headers
            authorization = flow.authorization(method, target) if flow is not None else None
            if authorization is not None:
                send_headers = HTTPHeaderDict(request_headers)
                send_headers["Authorization"] = authorization
            raw = self._send(method, target, _wire_headers(send_headers), body.data, policy,
                             call.timeouts, deadline)
            response = Response(raw, target.url, method, history, host=target.host,
                                port=target.port, deadline=deadline,
                                max_body_size=call.max_body_size)
            if flow is not None:
                flow.on_response(response, target)
            if raw.status in (400, 401) and self._challenged(response, flow, method, target,
                                                             body, policy):
                continue
            location = raw.headers.get("Location")
            if not (call.allow_redirects and raw.status in _REDIRECTS and location):
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
            if nxt.origin != target.origin:
                # A tls= mode covers the origin the caller named, not wherever it redirects;
                # and the new host has its own entries in pins files.
                policy = call.policy_for(nxt)
            history = [*history, response]
            target, method = nxt, new_method
            if flow is not None:
                flow.on_redirect()

    def _challenged(self, response: Response, flow: AuthFlow | None, method: str,
                    target: Target, body: _Body, policy: TLSPolicy) -> bool:
        """True to resend after a 401 the auth flow answered; raises for what cannot be.

        Rule, in order: a password challenge the credentials can answer is answered (the
        flow's rules: once, plus one Digest stale retry; never another origin; never Basic
        over http unless allowed); a demand for a client certificate raises
        ClientCertificateRequired; a 401 the credentials cannot answer raises AuthError
        (inside the flow); anything else is returned to the caller as a response.
        """
        if response.status == 401 and flow is not None:
            response.content  # noqa: B018 - release the connection whatever happens next
            if flow.on_401(response, method, target):
                if body.data is not None and not body.replayable:
                    raise flow.cannot_replay(response, target)
                return True
        demand = client_cert_demand_response(response, target.host, target.port,
                                             policy.config.client_cert is not None)
        if demand is not None:
            raise demand
        return False

    def _send(self, method: str, target: Target, headers: Mapping[str, str], body: Any,
              policy: TLSPolicy, timeouts: Timeouts, deadline: Deadline) -> BaseHTTPResponse:
        """One HTTP exchange on this Session's pools (see :func:`send`), under ``deadline``."""
        return send(self._pools, method, target, headers, body, policy, timeouts,
                    deadline=deadline, proxy=self._proxy_for(target),
                    chunked=body is not None and not isinstance(body, bytes))

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
