"""Timeout rules: every timeout is a finite, positive number of seconds, wherever it enters.

``inf``, ``nan``, 0, negative numbers and ``bool`` are refused with ``ValueError``
(``securl.ConfigurationError``) naming the field, in ``securl.Timeouts``, a plain
``timeout=`` number (Session and per call), a tuple, a urllib3 ``Timeout`` and the urllib
drop-in's ``urlopen(timeout=)``, before anything is sent; ``None`` keeps meaning securl's
default in the drop-in. A finite but huge value works (socket waits are capped where CPython
can still wait correctly), and the deadline watchdog thread survives whatever it is given.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from urllib3.util import Timeout as Urllib3Timeout

import securl
import securl.http.deadline as deadline_module
import securl.urllib.request as dropin
from _servers import LocalServer
from securl.http.deadline import Deadline

#: Values that are not a finite, positive number of seconds.
NOT_SECONDS = {
    "inf": math.inf, "-inf": -math.inf, "nan": math.nan, "zero": 0, "zero-float": 0.0,
    "negative": -1, "True": True, "False": False, "str": "5", "int-beyond-float": 10 ** 400,
}


@pytest.mark.parametrize("field", ["connect", "read", "total"])
@pytest.mark.parametrize("value", NOT_SECONDS.values(), ids=NOT_SECONDS.keys())
def test_timeouts_fields_must_be_finite_positive_numbers_and_the_error_names_the_field(
        field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^timeout {field}=") as info:
        securl.Timeouts(**{field: value})  # type: ignore[arg-type]
    assert isinstance(info.value, securl.ConfigurationError)


@pytest.mark.parametrize("value", NOT_SECONDS.values(), ids=NOT_SECONDS.keys())
def test_a_plain_timeout_number_must_be_finite_and_positive_on_a_session_and_per_call(
        http_server: LocalServer, session: securl.Session, value: object) -> None:
    with pytest.raises(securl.ConfigurationError, match=r"^timeout"):
        securl.Session(timeout=value)  # type: ignore[arg-type]
    with pytest.raises(securl.ConfigurationError, match=r"^timeout"):
        session.get(http_server.url(), timeout=value)  # type: ignore[arg-type]
    assert http_server.accepts == 0


@pytest.mark.parametrize(("timeout", "field"), [
    ((math.inf, 5), "connect"),
    ((5, math.nan), "read"),
    ((5, 5, math.inf), "total"),
    ((5, 5, 0), "total"),
    (Urllib3Timeout(connect=math.inf, read=5), "connect"),
    (Urllib3Timeout(connect=5, read=5, total=math.inf), "total"),
])
def test_tuples_and_urllib3_timeouts_must_be_finite_naming_the_field(
        http_server: LocalServer, session: securl.Session, timeout: Any, field: str) -> None:
    with pytest.raises(securl.ConfigurationError, match=rf"^timeout {field}="):
        session.get(http_server.url(), timeout=timeout)
    with pytest.raises(securl.ConfigurationError, match=rf"^timeout {field}="):
        securl.Session(timeout=timeout)
    assert http_server.accepts == 0


@pytest.fixture
def dropin_pools() -> Iterator[None]:
    yield
    dropin._pools.clear()  # type: ignore[attr-defined]


@pytest.mark.usefixtures("dropin_pools")
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0, -1, True, (5, math.inf)],
                         ids=["inf", "-inf", "nan", "zero", "negative", "True", "tuple-inf"])
def test_urlopen_timeout_must_be_finite_and_positive(http_server: LocalServer,
                                                     value: object) -> None:
    with pytest.raises(ValueError, match=r"^timeout") as info:
        dropin.urlopen(http_server.url(), timeout=value)  # type: ignore[arg-type]
    assert isinstance(info.value, securl.ConfigurationError)
    assert http_server.accepts == 0


@pytest.mark.usefixtures("dropin_pools")
def test_urlopen_timeout_none_still_means_securls_default(http_server: LocalServer) -> None:
    with dropin.urlopen(http_server.url(), timeout=None) as response:
        assert response.read() == b"hello"


@pytest.mark.usefixtures("dropin_pools")
def test_huge_finite_timeouts_are_waited_for_without_overflowing(
        http_server: LocalServer, session: securl.Session) -> None:
    huge = securl.Timeouts(connect=1e12, read=1e12, total=1e300)
    assert session.get(http_server.url(), timeout=huge).content == b"hello"
    with dropin.urlopen(http_server.url(), timeout=1e12) as response:
        assert response.read() == b"hello"


def test_socket_waits_never_exceed_what_cpython_can_wait_for() -> None:
    """CPython's socket and TLS waits wrap around above 2**31 - 1 ms (about 24.8 days)."""
    limit = (2 ** 31 - 1) / 1000
    for timeouts, total in [(securl.Timeouts(1e7, 1e7, 1e300), 1e300),
                            (securl.Timeouts(1e7, 1e7, 5e6), 5e6),
                            (securl.Timeouts(3e6, 3e6, 3e6), 3e6)]:
        attempt = timeouts.for_attempt(Deadline(total))
        assert attempt.connect_timeout <= limit  # type: ignore[operator]
        assert attempt.read_timeout <= limit  # type: ignore[operator]


# --- the deadline watchdog ----------------------------------------------------------------

class _Conn:
    """What the watchdog touches of a connection: ``sock``."""

    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock


class _BrokenConn:
    @property
    def sock(self) -> socket.socket:
        raise RuntimeError("a connection object that fails when the watchdog touches it")


@pytest.fixture
def watchdog(monkeypatch: pytest.MonkeyPatch) -> deadline_module._Watchdog:
    """A fresh watchdog (its own thread and queue) for this test's deadlines."""
    fresh = deadline_module._Watchdog()
    monkeypatch.setattr(deadline_module, "_watchdog", fresh)
    return fresh


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    """Exceptions that escape any thread while the test runs (printed as tracebacks)."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook",
                        lambda args: errors.append(args.exc_value))
    return errors


def _woken(sock: socket.socket, within: float) -> bool:
    """True if a read on ``sock`` returns EOF (the watchdog shut it down) within ``within``."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


@pytest.mark.parametrize("total", [math.inf, math.nan, 1e12, 1e300])
def test_the_watchdog_survives_a_deadline_it_cannot_wait_for(
        watchdog: deadline_module._Watchdog, thread_errors: list[BaseException | None],
        total: float) -> None:
    far = Deadline(total)
    near = Deadline(0.05)
    a, b = socket.socketpair()
    with a, b:
        far.watch(_Conn(None))
        near.watch(_Conn(a))
        assert _woken(b, within=5)
        time.sleep(0.1)  # the watchdog now waits for `far`
        assert near.expired and not far.expired
        assert thread_errors == []
        later = Deadline(0.05)
        c, d = socket.socketpair()
        with c, d:
            later.watch(_Conn(c))
            assert _woken(d, within=5)
    far.release()
    assert thread_errors == []


def test_an_error_while_firing_a_deadline_does_not_stop_the_watchdog(
        watchdog: deadline_module._Watchdog, thread_errors: list[BaseException | None]) -> None:
    broken, healthy = Deadline(0.02), Deadline(0.2)
    a, b = socket.socketpair()
    with a, b:
        broken.watch(_BrokenConn())
        healthy.watch(_Conn(a))
        assert _woken(b, within=5)
    assert broken.expired and healthy.expired
    assert thread_errors == []


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_deadline_passing_after_its_connection_went_back_to_the_pool_leaves_it_alone(
        tls: bool, https_server: LocalServer, http_server: LocalServer,
        make_session: Callable[..., securl.Session]) -> None:
    """urllib3 hands a connection back to its pool the moment its body is read, before the
    call stops watching it: a deadline firing in between must not shut down a connection
    that another call may already have taken."""
    from urllib3.util.wait import wait_for_read

    server = https_server if tls else http_server
    session = make_session()
    response = session.get(server.url("/"), stream=True)
    deadline = response._deadline
    assert deadline is not None
    assert response.raw.read() == b"hello"  # urllib3 puts the connection back here
    deadline.fire()  # the deadline passes before the call released it
    (pool,) = session._pools._pools.values()
    conn = pool.pool.queue[-1]
    assert conn is not None and conn.sock is not None
    assert not wait_for_read(conn.sock, timeout=0.2)  # not shut down: nothing to read, no EOF
    assert session.get(server.url("/")).content == b"hello"
    assert server.accepts == 1  # the same connection served the next call
