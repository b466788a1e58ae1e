"""Connection pools, keyed by everything that decides trust.

`PoolKey` is the one place that decides whether two requests may share a connection:
scheme, host, port, the whole `TrustDecision` (verified or not,
CAs, client certificate, pins) and the proxy. Keying by host alone is how an unverified request once
poisoned later verified ones (requests' GHSA-9wx4-h78v-vm56); here that cannot happen.

An ``https://`` proxy is spoken to over TLS, verified (chain and name) against securl's
default trust: the trust sources of ``TLSConfig()`` (``SSL_CERT_FILE``/``SSL_CERT_DIR``, the
system store) plus the admin policy's ``extra_ca_certs``, at the request's minimum TLS
version or higher. The proxy belongs to the machine's network set-up (it comes from
``HTTPS_PROXY`` or a ``ProxyHandler``), so neither the request's own ``ca_certs=``,
``context=``, pins or client certificate, nor its opt-out, apply to it: they are about the
origin. Its ``Proxy-Authorization`` is sent only inside that TLS.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

try:
    from urllib3 import make_headers
    from urllib3.connection import ProxyConfig
    from urllib3.connectionpool import ConnectionPool
    from urllib3.util import Url, parse_url
except ImportError as _exc:  # another package replaced urllib3 (see urllib3_check)
    from .urllib3_check import urllib3_error

    raise urllib3_error(_exc) from _exc

from .._redact import redact_transport_logs
from ..tls.config import TLSConfig
from ..tls.decision import TrustDecision
from .connection import SecurlHTTPConnectionPool, SecurlHTTPSConnectionPool
from .tls_sessions import SessionSlot, session_reads_are_safe

__all__ = ["PoolKey", "PoolRegistry"]

# urllib3 logs request targets (query strings included) at DEBUG: redact secrets there too.
redact_transport_logs()


class PoolKey(NamedTuple):
    """Two requests share a connection only when every field is equal."""

    scheme: str
    host: str
    port: int
    decision: TrustDecision
    proxy: str | None
    #: Headers for the proxy's CONNECT (https through a proxy), e.g. Proxy-Authorization: a
    #: tunnel opened with one set of proxy credentials is never reused with another.
    proxy_headers: tuple[tuple[str, str], ...] = ()


def proxy_decision(decision: TrustDecision) -> TrustDecision:
    """How an ``https://`` proxy is verified for a request decided ``decision`` (module rule)."""
    return TrustDecision("verified", TLSConfig(minimum_version=decision.config.minimum_version))


class PoolRegistry:
    """Thread-safe LRU of urllib3 pools; evicted pools are closed.

    With ``tls_sessions`` every HTTPS pool keeps the TLS session of its last verified
    connection for the next one to resume (``securl.http.tls_sessions``): one per pool, so
    per pool key, and gone with the pool. ``None`` (the default) means: where this Python
    reads sessions without leaking them (``session_reads_are_safe``), decided per new pool.
    """

    def __init__(self, *, max_pools: int = 32, maxsize: int = 10,
                 tls_sessions: bool | None = None) -> None:
        self._pools: OrderedDict[PoolKey, ConnectionPool] = OrderedDict()
        self._lock = threading.Lock()
        self.max_pools = max_pools
        self.maxsize = maxsize
        self.tls_sessions = tls_sessions

    def get(self, key: PoolKey) -> ConnectionPool:
        """The pool for ``key``, created on first use."""
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            pool = self._new_pool(key)
            self._pools[key] = pool
            while len(self._pools) > self.max_pools:
                _, old = self._pools.popitem(last=False)
                old.close()
            return pool

    def _new_pool(self, key: PoolKey) -> ConnectionPool:
        common = {"maxsize": self.maxsize, "block": False, "retries": False}
        resumes = self.tls_sessions
        if resumes is None:
            resumes = session_reads_are_safe()
        tls = {"securl_sessions": SessionSlot() if resumes else None}
        proxy: Url | None = parse_url(key.proxy) if key.proxy else None
        proxy_headers = {}
        if proxy is not None and proxy.auth:
            proxy_headers = make_headers(proxy_basic_auth=proxy.auth)
            proxy = proxy._replace(auth=None)
        proxy_headers.update(key.proxy_headers)
        if key.scheme == "https":
            ctx = key.decision.context()
            kw: dict[str, object] = {}
            if key.decision.ssl_context is not None:
                # A caller's own context: urllib3 sets verify_mode from cert_reqs on every
                # connection, so cert_reqs must be the context's own value.
                kw["cert_reqs"] = ctx.verify_mode
            if not ctx.check_hostname:
                # urllib3 would match the host name itself when the context does not; a
                # decision without the name check (the drop-in's audited check_hostname=False,
                # an unverified opt-out, or pinned, which checks the name itself) asked not to.
                kw["assert_hostname"] = False
            if proxy is not None:
                # The origin's TLS runs inside a CONNECT tunnel; a TLS proxy is verified too.
                proxy_ctx = proxy_decision(key.decision).context()
                kw.update({"_proxy": proxy, "_proxy_headers": proxy_headers,
                           "_proxy_config": ProxyConfig(proxy_ctx, False, None, None)})
            return SecurlHTTPSConnectionPool(
                key.host, key.port, ssl_context=ctx, securl_trust=key.decision,
                **common, **kw, **tls,  # type: ignore[arg-type]
            )
        if proxy is not None:
            # Plain http through a proxy: talk to the proxy, absolute URLs in the request line.
            if proxy.scheme == "https":
                decision = proxy_decision(key.decision)
                return SecurlHTTPSConnectionPool(
                    proxy.host or "", proxy.port or 443, ssl_context=decision.context(),
                    securl_trust=decision, headers=proxy_headers,
                    **common, **tls,  # type: ignore[arg-type]
                )
            return SecurlHTTPConnectionPool(proxy.host or "", proxy.port or 80,
                                            headers=proxy_headers, **common)  # type: ignore[arg-type]
        return SecurlHTTPConnectionPool(key.host, key.port, **common)  # type: ignore[arg-type]

    def clear(self) -> None:
        """Close every pool (idle connections are closed; in-use ones when released)."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()

    def __len__(self) -> int:
        return len(self._pools)
