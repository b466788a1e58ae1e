"""What securl's connections write and read: urllib3's ``request()`` and ``getresponse()``,
without their detours, for the common case.

urllib3's ``HTTPConnection.request`` prepares every body shape urllib3 supports (it sorts the
header names into a set through a conversion helper, turns the body into an iterable of
chunks, and checks every header value for its ``SKIP_HEADER`` marker in a generator before
``http.client`` checks it again). Its ``getresponse`` runs an ``import`` statement on every
call (to avoid an import cycle), hands the parsed head to ``assert_header_parsing`` (which
walks it again through the ``email`` package to log parse defects) and copies the fields
through the generic ``HTTPHeaderDict.extend``. Together about a tenth of a kept-alive GET.

`WireMixin` does the same for what securl sends nearly always, and defers to urllib3 for
everything else (and for everything if the urllib3 installed lacks the internals it uses,
`AVAILABLE`; the tests check it is true for the urllib3 they run with):

* ``request``: no body or a ``bytes`` body, not chunked, a plain ``dict`` of ``str`` header
  names with no ``Transfer-Encoding`` and no ``SKIP_HEADER`` value. The request line and the
  Host and Accept-Encoding fields come from the same ``putrequest`` as urllib3's, then the
  same framing header (``Content-Length`` as urllib3 decides it), the same default
  User-Agent when none is given, then the fields in order, each through ``http.client``'s own
  ``putheader`` checks, and the body in a separate write: byte for byte what urllib3 writes
  (a test compares the two for every shape).
* ``getresponse``: the same ``urllib3.response.HTTPResponse`` from the same ``http.client``
  response, with the same options, timeouts and shutdown hook. What it leaves out has nothing
  to do for securl: the head was read by ``securl.http.head``, which refuses a malformed
  head outright, so there is no parse defect to log.
"""

from __future__ import annotations

import http.client
from typing import Any

from urllib3 import HTTPHeaderDict
from urllib3.response import HTTPResponse
from urllib3.util import SKIP_HEADER

try:  # urllib3 2.x internals that its own request() uses
    from urllib3.connection import _get_default_user_agent, _ResponseOptions
    from urllib3.util.request import _METHODS_NOT_EXPECTING_BODY
except ImportError:  # pragma: no cover - a urllib3 laid out otherwise: its own code is used
    AVAILABLE = False
else:
    AVAILABLE = True

__all__ = ["AVAILABLE", "WireMixin"]

_putheader = http.client.HTTPConnection.putheader


class WireMixin:
    """Mixin for urllib3 connection classes whose ``response_class`` is securl's head reader
    (``securl.http.head.StrictFramingResponse``): list it before the urllib3 class. (mypy sees
    ``http.client``'s signatures under urllib3's; the classes using it say so.)"""

    def request(self, method: str, url: str, body: Any = None,
                headers: Any = None, *, chunked: bool = False, preload_content: bool = True,
                decode_content: bool = True, enforce_content_length: bool = True) -> None:
        conn: Any = self
        names = _plain_header_names(headers) if not chunked and (
            body is None or type(body) is bytes) else None
        if names is None or "transfer-encoding" in names or not AVAILABLE:
            super().request(  # type: ignore[misc]
                method, url, body, headers, chunked=chunked, preload_content=preload_content,
                decode_content=decode_content, enforce_content_length=enforce_content_length)
            return
        if conn.sock is not None:
            conn.sock.settimeout(conn.timeout)  # the connect timeout for sending, as urllib3
        conn._response_options = _ResponseOptions(
            request_method=method, request_url=url, preload_content=preload_content,
            decode_content=decode_content, enforce_content_length=enforce_content_length)
        conn.putrequest(method, url, skip_accept_encoding="accept-encoding" in names,
                        skip_host="host" in names)
        if "content-length" not in names:
            if body is not None:
                _putheader(conn, "Content-Length", str(len(body)))
            elif method.upper() not in _METHODS_NOT_EXPECTING_BODY:
                _putheader(conn, "Content-Length", "0")
        if "user-agent" not in names:
            _putheader(conn, "User-Agent", _get_default_user_agent())
        for name, value in headers.items():
            _putheader(conn, name, value)
        conn.endheaders()
        if body:
            conn.send(body)

    def getresponse(self) -> HTTPResponse:
        conn: Any = self
        if not AVAILABLE:  # pragma: no cover - see the imports
            return super().getresponse()  # type: ignore[misc, no-any-return]
        options = conn._response_options  # what request() stored for the response
        if options is None:
            raise http.client.ResponseNotReady()
        conn._response_options = None
        conn.sock.settimeout(conn.timeout)  # the read timeout, set after the request was sent
        shutdown = getattr(conn.sock, "shutdown", None)
        response = http.client.HTTPConnection.getresponse(conn)
        headers = HTTPHeaderDict()
        for name, value in response.msg.raw_items():
            headers.add(name, value)
        return HTTPResponse(
            body=response, headers=headers, status=response.status, version=response.version,
            version_string=getattr(conn, "_http_vsn_str", "HTTP/?"), reason=response.reason,
            preload_content=options.preload_content, decode_content=options.decode_content,
            original_response=response, enforce_content_length=options.enforce_content_length,
            request_method=options.request_method, request_url=options.request_url,
            sock_shutdown=shutdown,
        )


def _plain_header_names(headers: Any) -> set[str] | None:
    """The lower-case names of ``headers`` if it is the common shape (module rules), else
    None (urllib3's own ``request`` then writes the request)."""
    if type(headers) is not dict:
        return None
    names = set()
    for name, value in headers.items():
        if type(name) is not str or value == SKIP_HEADER:
            return None
        names.add(name.lower())
    return names
