"""The redirect rule: where a redirect may go, with which method, and what it must not carry.

One rule for both front-ends (``securl.Session`` and the urllib drop-in's
``HTTPRedirectHandler``), as requests has it in ``should_strip_auth``/``rebuild_auth``:

* **Schemes**: only to http or https (``securl.http.target.SCHEMES``), never from https to
  http: either raises `InsecureRedirectError`.
* **Method**: 301/302 turn POST into GET and 303 turns anything but HEAD into GET, as
  browsers do; 307/308 keep the method and the body.
* **Credentials**: Authorization, Proxy-Authorization and Cookie headers set on the request
  are dropped when the redirect leaves the origin (scheme, host and port).
* **Body**: when the method changes, or a 301/302/303 leads to a GET, the body is dropped
  (and with it the headers in `BODY_HEADERS`).

Every redirect followed is audited (``securl.redirect``, with the headers dropped).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import NamedTuple

from .._audit import emit
from .._redact import redact_url
from ..exceptions import InsecureRedirectError, InvalidRequest
from .target import Target, parse_target

__all__ = ["BODY_HEADERS", "REDIRECT_STATUSES", "SENSITIVE_ON_CROSS_ORIGIN", "Redirect",
           "next_request"]

#: Statuses that redirect (with a Location header).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Request headers never carried to another origin.
SENSITIVE_ON_CROSS_ORIGIN = ("Authorization", "Proxy-Authorization", "Cookie")
#: Request headers that describe a body, dropped with it.
BODY_HEADERS = ("Content-Type", "Content-Length", "Transfer-Encoding")


class Redirect(NamedTuple):
    """The request a redirect leads to, by `next_request`."""

    target: Target
    method: str
    #: The credential headers to remove before following (as the request spelled them).
    drop_headers: tuple[str, ...]
    #: Whether the request body is dropped (and with it the headers describing it).
    drop_body: bool

    def audit(self, current: Target, status: int) -> None:
        """Emit ``securl.redirect`` for following this redirect from ``current``."""
        emit("redirect", host=current.host, port=current.port, status=status,
             from_url=redact_url(current.url), to_url=redact_url(self.target.url),
             method=self.method, headers_dropped=[n.title() for n in self.drop_headers])


def next_request(status: int, method: str, current: Target, location: str,
                 header_names: Iterable[str] = ()) -> Redirect:
    """Apply the module's rules to a ``status`` redirect to ``location``.

    ``header_names`` are the headers the current request carries (any spelling); the result
    names those to drop. Raises `InsecureRedirectError` for a redirect that
    must not be followed.
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
    new_method = method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        new_method = "GET"
    drop_body = new_method != method or (status in (301, 302, 303) and new_method == "GET")
    drop: tuple[str, ...] = ()
    if nxt.origin != current.origin:
        names = {name.title(): name for name in header_names}
        drop = tuple(names[s] for s in SENSITIVE_ON_CROSS_ORIGIN if s in names)
    return Redirect(nxt, new_method, drop, drop_body)
