"""Drop-in ``urllib``: ``from securl import urllib`` keeps urllib code working, verified.

``request``
    :mod:`securl.urllib.request`: ``urlopen``, ``Request``, ``build_opener`` and the
    handlers, over securl's verified, pooled transport.
``error``
    :mod:`securl.urllib.error`: the ``urllib.error`` classes themselves.
``parse``
    The stdlib's :mod:`urllib.parse` module itself.
``response``
    :mod:`securl.urllib.response`: the stdlib's response wrappers, and
    :class:`~securl.urllib.response.SecurlHTTPResponse`.

Inside securl every ``import urllib.parse`` is absolute and means the stdlib; this package is
only ever reached as ``securl.urllib``.
"""

from __future__ import annotations

import urllib.parse as parse

from . import error, request, response

__all__ = ["error", "parse", "request", "response"]
