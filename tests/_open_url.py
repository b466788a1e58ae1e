"""The two ways the suite opens a URL: ``securl.Session`` and the ``urlopen`` drop-in.

Tests that must hold for both take the ``open_url`` fixture (tests/test_hostile.py,
tests/test_load.py): ``open_url(url, timeout=seconds) -> body bytes``, raising securl's
errors; ``open_url.close_pools()`` closes the idle pooled connections of either flavour
(the load test counts file descriptors after it). Trust for the test CA comes from
``SSL_CERT_FILE`` for the urlopen flavour (what a drop-in user would set) and from
``ca_certs=`` for the Session flavour.

The urlopen flavour uses ``securl.urllib.request.urlopen`` and its process-wide pools.
"""

from __future__ import annotations

from collections.abc import Callable

import securl

OpenURL = Callable[..., bytes]


def _urlopen(url: str, *, timeout: float = 10.0) -> bytes:
    import securl.urllib.request

    try:
        with securl.urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except securl.urllib.error.HTTPError as err:  # close the error's body like urllib users
        err.close()
        raise


def close_pools() -> None:
    """Close the idle connections of the drop-in's process-wide pools."""
    import securl.urllib.request

    securl.urllib.request._pools.clear()


def session_opener(session: securl.Session) -> OpenURL:
    def open_url(url: str, *, timeout: float = 10.0) -> bytes:
        with session.get(url, timeout=timeout) as response:
            response.raise_for_status()
            return response.content

    open_url.close_pools = session._pools.clear  # type: ignore[attr-defined]
    return open_url


_urlopen.close_pools = close_pools  # type: ignore[attr-defined]
urlopen_opener: OpenURL = _urlopen
