"""The two ways the suite opens a URL: ``securl.Session`` and the ``urlopen`` drop-in.

Tests that must hold for both take the ``open_url`` fixture (tests/test_hostile.py,
tests/test_load.py): ``open_url(url, timeout=seconds) -> body bytes``, raising securl's
errors. Trust for the test CA comes from ``SSL_CERT_FILE`` for the urlopen flavour (what a
drop-in user would set) and from ``ca_certs=`` for the Session flavour.

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


def session_opener(session: securl.Session) -> OpenURL:
    def open_url(url: str, *, timeout: float = 10.0) -> bytes:
        with session.get(url, timeout=timeout) as response:
            response.raise_for_status()
            return response.content

    return open_url


urlopen_opener: OpenURL = _urlopen
