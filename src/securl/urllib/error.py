"""securl.urllib.error: the stdlib's urllib exceptions, so existing ``except`` clauses work.

``URLError``, ``HTTPError`` and ``ContentTooShortError`` *are* the ``urllib.error`` classes.
Every network failure securl raises is a ``URLError`` subclass (see `securl.exceptions`);
`TLSVerificationError` is exported here too, for ``except`` clauses that
want to tell a refused certificate from other failures. A redirect securl refuses (https to
http, or to another scheme) raises `InsecureRedirectHTTPError`, which is both
``HTTPError`` (what ``urllib`` raises for a redirect it refuses) and
`securl.InsecureRedirectError`.
"""

from __future__ import annotations

from urllib.error import ContentTooShortError, HTTPError, URLError

from ..exceptions import InsecureRedirectError, TLSVerificationError

__all__ = [
    "ContentTooShortError",
    "HTTPError",
    "InsecureRedirectHTTPError",
    "TLSVerificationError",
    "URLError",
]


class InsecureRedirectHTTPError(InsecureRedirectError, HTTPError):
    """Raised by securl.urllib for a redirect it refuses: https to http, or a non-http scheme.

    ``code``, ``headers`` and the readable body are those of the redirect response, as with
    the ``HTTPError`` urllib raises for a redirect to a scheme it does not allow.
    """
