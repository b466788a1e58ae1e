"""One HTTP exchange on a pooled connection: the transport both front-ends send through.

`send` picks the pool by the whole trust decision (``securl.http.pool.PoolKey``),
hands urllib3 the request with retries and redirects off (securl decides both; on an idle
kept-alive connection straight to the pool's request step, ``securl.http.kept_alive``), caps the
socket timeouts at the call's deadline, and maps every urllib3/ssl/socket error to the securl
error that explains it (``securl.http.errors``), chained with ``raise ... from``. An
``https://`` proxy whose own certificate fails verification is named as such (the request
never reached the origin).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from urllib3 import BaseHTTPResponse, HTTPHeaderDict
from urllib3.exceptions import ProxyError
from urllib3.util import SKIP_HEADER, Retry, parse_url
from urllib3.util import Timeout as Urllib3Timeout

from .._redact import redact_url
from ..exceptions import SecurlError, TLSVerificationError
from ..tls.decision import TrustDecision
from .deadline import Deadline, set_current
from .errors import deadline_exceeded, map_transport_error
from .kept_alive import send_on_kept_alive
from .pool import PoolKey, PoolRegistry, proxy_decision
from .target import Target
from .timeouts import Timeouts

__all__ = ["merge_headers", "send", "wire_headers"]

#: securl follows redirects and maps errors itself; urllib3 must neither retry nor redirect.
#: One shared (immutable) Retry instead of urllib3 building one per request from False.
_NO_RETRIES = Retry.from_int(False, redirect=False)


def merge_headers(target: HTTPHeaderDict, headers: list[tuple[str, str]]) -> None:
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
    decision: TrustDecision,
    timeout: Timeouts | Urllib3Timeout,
    *,
    deadline: Deadline | None = None,
    proxy: str | None = None,
    proxy_headers: tuple[tuple[str, str], ...] = (),
    chunked: bool = False,
    decode_content: bool = True,
) -> BaseHTTPResponse:
    """One HTTP exchange on a pooled connection; urllib3 errors become securl errors.

    The pool is chosen by `PoolKey` (the whole trust decision); the
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
    key = PoolKey(target.scheme, target.host, target.port, decision, proxy, proxy_headers)
    pool = pools.get(key)
    plain_proxy = proxy is not None and target.scheme == "http"
    proxy_only: Mapping[str, str] | None = getattr(pool, "headers", None) if plain_proxy else None
    if proxy_only:
        # The proxy's own headers (Proxy-Authorization from credentials in its URL): urllib3
        # uses a pool's headers only for requests given none, so they are added here. They
        # go to the proxy, which does not forward them to the origin.
        headers = HTTPHeaderDict(headers)
        headers.update(proxy_only)
    previous = set_current(deadline) if deadline is not None else None
    try:
        if proxy is None and not chunked and (body is None or isinstance(body, bytes)):
            response = send_on_kept_alive(pool, method, target.request_target, headers, body,
                                          attempt, _NO_RETRIES, decode_content=decode_content)
            if response is not None:
                return response
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
        if proxy is not None and isinstance(exc, ProxyError):
            unverified_proxy = _proxy_not_verified(exc, proxy, target, decision)
            if unverified_proxy is not None:
                raise unverified_proxy from exc
        mapped = map_transport_error(
            exc, target.host, target.port,
            trust=_trust_of(decision) if target.scheme == "https" else None,
            cert_given=decision.config.client_cert is not None,
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


def wire_headers(headers: HTTPHeaderDict) -> Mapping[str, str]:
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


def _proxy_not_verified(exc: ProxyError, proxy: str, target: Target,
                        decision: TrustDecision) -> TLSVerificationError | None:
    """The error for an ``https://`` proxy whose certificate failed verification, else None.

    urllib3 raises ProxyError for anything that failed before the proxy connection was made,
    so a certificate error inside it is the proxy's, not the origin's.
    """
    url = parse_url(proxy)
    if url.scheme != "https" or url.host is None:
        return None
    host, port = url.host, url.port or 443
    trust = _trust_of(proxy_decision(decision))
    mapped = map_transport_error(exc, host, port, trust=trust)
    if not isinstance(mapped, TLSVerificationError):
        return None
    reason = mapped.reason
    detail = getattr(reason, "verify_message", None) or str(reason)
    against = f" ({trust.location}, {trust.source})" if trust is not None else ""
    return TLSVerificationError(
        f"TLS verification failed for the https proxy {host}:{port} ({mapped.reason_code}: "
        f"{detail}); no CONNECT and no proxy credentials were sent, and nothing reached "
        f"{target.host}:{target.port}. An https:// proxy is verified against securl's default "
        f"trust{against}, not the request's own ca_certs= or context=: trust the proxy's CA "
        "there (the system store, SSL_CERT_FILE, or the admin policy's extra_ca_certs).",
        reason_code=mapped.reason_code, reason=reason, host=host, port=port,
    )


def _trust_of(decision: TrustDecision) -> Any:
    """The trust source behind ``decision`` for an error message; None if it cannot be built."""
    try:
        return getattr(decision.context(), "trust", None)
    except SecurlError:
        return None
