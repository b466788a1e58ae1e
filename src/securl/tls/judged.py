"""Marks a TLS connection securl itself has already judged, for the connection guard.

Under ``securl.install()`` every client-side TLS connection in the process is checked when
its socket or BIO is wrapped (`securl.admin.handshake`). A connection that securl's own
code makes has been decided already by `TrustSettings` -- a
per-call opt-out or a pin, audited there -- or is a diagnostic handshake of the CLI that sends
no HTTP (``securl check``, ``securl pin``). Such code wraps its TLS set-up in
`judged_by_securl`, so the connection guard neither warns twice nor refuses what the one
trust decision allowed.

The mark is per thread (a greenlet under gevent's patched ``threading``) and covers only the
``with`` block, never a context object: a context securl built and that other code picked up
is judged like any other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["current_judgement", "judged_by_securl"]

_local = threading.local()


@contextmanager
def judged_by_securl(what: str) -> Iterator[None]:
    """Within the block, this thread's TLS connections count as judged by securl (``what``)."""
    previous = getattr(_local, "what", None)
    _local.what = what
    try:
        yield
    finally:
        _local.what = previous


def current_judgement() -> str | None:
    """What judged the connection being made in this thread now, or None."""
    return getattr(_local, "what", None)
