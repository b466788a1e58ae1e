"""``getresponse()`` for securl's connections: urllib3's response, built without its detours.

urllib3's ``HTTPConnection.getresponse`` runs an ``import`` statement on every call (to avoid
an import cycle), hands the parsed head to ``assert_header_parsing`` (which walks it again
through the ``email`` package to log parse defects) and copies the fields into an
``HTTPHeaderDict`` through its generic ``extend``: about a twentieth of a kept-alive GET.

`GetResponseMixin` builds the same ``urllib3.response.HTTPResponse`` from the same
``http.client`` response with the same options, timeouts and shutdown hook. What it leaves
out has nothing to do for securl: the head was read by ``securl.http.head``, which refuses a
malformed head outright, so there is no parse defect to log.
"""

from __future__ import annotations

import http.client
from typing import Any

from urllib3 import HTTPHeaderDict
from urllib3.response import HTTPResponse

__all__ = ["GetResponseMixin"]


class GetResponseMixin:
    """Mixin for urllib3 connection classes whose ``response_class`` is securl's head reader
    (``securl.http.head.StrictFramingResponse``): list it before the urllib3 class."""

    def getresponse(self) -> HTTPResponse:
        conn: Any = self
        options = conn._response_options  # what urllib3's request() stored for the response
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
