"""The drop-in's sending half: securl's default trust, connection pools and transport.

`securl.urllib.handlers` checks and shapes a urllib ``Request``; a `Sender` decides the
trust of a request that asks for nothing else and sends it on securl's connection pools
(``securl.http.transport.send``) under securl's timeouts. This module imports urllib3 and
``securl.tls.decision``: ``import securl.urllib.request`` does not load it (as ``import
urllib.request`` opens no connection), the handlers make the process's one `Sender` when
they first send.
"""

from __future__ import annotations

import dataclasses
import socket
from urllib.request import Request

from urllib3 import HTTPResponse

from ..http.deadline import Deadline
from ..http.pool import PoolRegistry
from ..http.target import Target
from ..http.timeouts import DEFAULT_TIMEOUT, Timeouts, make_timeout
from ..http.transport import send
from ..tls.config import TLSConfig
from ..tls.decision import TrustDecision, TrustSettings

__all__ = ["Sender", "timeouts_for"]


def timeouts_for(value: object) -> Timeouts:
    """urllib's timeout as securl's: the "no timeout given" default and None mean securl's
    default (10 s connect, 30 s between bytes, 300 s total); a number applies to connect and
    read; a `securl.Timeouts` is used as it is.

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


class Sender:
    """What every opener in the process sends with (one per process: ``handlers._pools``)."""

    def __init__(self) -> None:
        #: What every request through the drop-in starts from: securl's default trust.
        self.trust = TrustSettings(TLSConfig())
        #: The connection pools of every opener; the key (scheme, host, port, the whole trust
        #: decision, proxy) decides what may share a connection, not the opener.
        self.pools = PoolRegistry()

    def send(self, req: Request, method: str, target: Target, headers: dict[str, str],
             decision: TrustDecision, proxy: str | None,
             proxy_headers: tuple[tuple[str, str], ...]) -> HTTPResponse:
        """Send ``req`` (checked and shaped by the handlers) on a pooled connection."""
        timeouts = timeouts_for(req.timeout)
        # The total deadline covers connecting, sending and the response head (a server that
        # drips its headers one byte at a time is stopped at `total`); the body is then read
        # under the per-read timeout, as urllib reads it, so long downloads keep working.
        deadline = Deadline(timeouts.total)
        try:
            raw = send(
                self.pools, method, target, headers, req.data, decision, timeouts,
                deadline=deadline, proxy=proxy, proxy_headers=proxy_headers,
                chunked=req.has_header("Transfer-encoding"), decode_content=False,
            )
        finally:
            deadline.release()
        assert isinstance(raw, HTTPResponse)  # what a urllib3 pool returns
        return raw
