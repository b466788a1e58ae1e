"""The two ways the suite opens a URL: ``securl.Session`` and the ``urlopen`` drop-in.

Tests that must hold for both take the ``open_url`` fixture (tests/test_trust_rules.py,
tests/test_hostile.py, tests/test_load.py, and the redirect and opt-out rules in
tests/test_session.py and tests/test_pins_file.py)::

    open_url(url, *, timeout=10.0, headers=None, opt_out=None) -> body bytes

It follows redirects and raises securl's errors (an error status raises ``HTTPError`` in
both flavours). ``headers`` are sent with the request. ``opt_out`` is the reason for a
per-call verification opt-out: the Session flavour passes ``tls=securl.unverified(reason=)``,
the urlopen flavour ``context=ssl._create_unverified_context()`` (urllib has no place for a
reason; securl derives its own). ``open_url.flavour`` is ``"session"`` or ``"urlopen"``;
``open_url.close_pools()`` closes the idle pooled connections of either flavour (the load
test counts file descriptors after it). Trust for the test CA comes from ``SSL_CERT_FILE``
for the urlopen flavour (what a drop-in user would set) and from ``ca_certs=`` for the
Session flavour.

The urlopen flavour uses ``securl.urllib.request.urlopen`` and its process-wide pools.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping

import securl

OpenURL = Callable[..., bytes]


def _urlopen(url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None,
             opt_out: str | None = None) -> bytes:
    import securl.urllib.request

    request = securl.urllib.request.Request(url, headers=dict(headers or {}))
    context = ssl._create_unverified_context() if opt_out is not None else None
    try:
        with securl.urllib.request.urlopen(request, timeout=timeout,
                                           context=context) as response:
            body: bytes = response.read()
            return body
    except securl.urllib.error.HTTPError as err:  # close the error's body like urllib users
        err.close()
        raise


def close_pools() -> None:
    """Close the idle connections of the drop-in's process-wide pools."""
    import securl.urllib.request

    securl.urllib.request._pools.clear()


def session_opener(session: Callable[[], securl.Session]) -> OpenURL:
    """``open_url`` through the Session ``session()`` returns (the fixture makes it on the
    first call, so an admin policy the test sets first applies to it, as in a real process)."""
    def open_url(url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None,
                 opt_out: str | None = None) -> bytes:
        tls = securl.unverified(reason=opt_out) if opt_out is not None else None
        with session().get(url, timeout=timeout, headers=headers, tls=tls) as response:
            response.raise_for_status()
            return response.content

    open_url.close_pools = lambda: session()._pools.clear()  # type: ignore[attr-defined]
    open_url.flavour = "session"  # type: ignore[attr-defined]
    return open_url


_urlopen.close_pools = close_pools  # type: ignore[attr-defined]
_urlopen.flavour = "urlopen"  # type: ignore[attr-defined]
urlopen_opener: OpenURL = _urlopen
