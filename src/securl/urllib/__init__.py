"""Drop-in ``urllib``: ``from securl import urllib`` keeps urllib code working, verified.

``request``
    `securl.urllib.request`: ``urlopen``, ``Request``, ``build_opener`` and the
    handlers, over securl's verified, pooled transport.
``error``
    `securl.urllib.error`: the ``urllib.error`` classes themselves.
``parse``
    The stdlib's `urllib.parse` module itself.
``response``
    `securl.urllib.response`: the stdlib's response wrappers, and
    `SecurlHTTPResponse`.

Inside securl every ``import urllib.parse`` is absolute and means the stdlib; this package is
only ever reached as ``securl.urllib``.
"""

from __future__ import annotations

import urllib.parse as parse

from . import error, request, response

__all__ = ["error", "parse", "request", "response"]
