"""The two ways the suite opens a URL: ``securl.Session`` and the ``urlopen`` drop-in.

Tests that must hold for both take the ``open_url`` fixture (tests/test_hostile.py,
tests/test_load.py): ``open_url(url, timeout=seconds) -> body bytes``, raising securl's
errors; ``open_url.close_pools()`` closes the idle pooled connections of either flavour
(the load test counts file descriptors after it). Trust for the test CA comes from
``SSL_CERT_FILE`` for the urlopen flavour (what a drop-in user would set) and from
``ca_certs=`` for the Session flavour.

LEAD (after merging the urllib drop-in branch): replace the body of ``_urlopen`` with

    import securl.urllib.request
    with securl.urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()

Until then ``_urlopen`` is a stand-in on securl's default Session, so the suite runs both
flavours' plumbing (environment trust, shared default Session) with no skips.
"""

from __future__ import annotations

from collections.abc import Callable

import securl

OpenURL = Callable[..., bytes]


def _urlopen(url: str, *, timeout: float = 10.0) -> bytes:
    with securl.get(url, timeout=timeout) as response:
        response.raise_for_status()
        return response.content


def close_pools() -> None:
    """Close the idle connections of the default Session (the urlopen flavour's pools)."""
    from securl import _api

    if _api._default is not None:
        _api._default._pools.clear()


def session_opener(session: securl.Session) -> OpenURL:
    def open_url(url: str, *, timeout: float = 10.0) -> bytes:
        with session.get(url, timeout=timeout) as response:
            response.raise_for_status()
            return response.content

    open_url.close_pools = session._pools.clear  # type: ignore[attr-defined]
    return open_url


_urlopen.close_pools = close_pools  # type: ignore[attr-defined]
urlopen_opener: OpenURL = _urlopen
