"""Retries against real local servers: statuses, Retry-After, methods, errors, the deadline."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import trustme

import securl
from _servers import Handler, LocalServer, Reply, server_context
from securl.http.retries import retry_after


def unavailable_then_ok(failures: int, retry_after_value: str | None = "1"
                        ) -> Callable[[Handler], Reply]:
    """A route answering 503 (with Retry-After) ``failures`` times, then 200."""
    count = [0]

    def route(h: Handler) -> Reply:
        count[0] += 1
        if count[0] <= failures:
            headers = {"Retry-After": retry_after_value} if retry_after_value else {}
            return 503, headers, b"busy"
        return 200, {}, b"done"

    return route


def retries_of(events: list[securl.AuditEvent]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in events if e.event == "securl.retry"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_503_with_retry_after_twice_then_200_succeeds_after_two_waits(
        https_server: LocalServer, make_session: Callable[..., securl.Session],
        events: list[securl.AuditEvent]) -> None:
    https_server.routes["/busy"] = unavailable_then_ok(2)
    session = make_session(retries=3)
    start = time.monotonic()
    r = session.get(https_server.url("/busy?token=hush"))
    elapsed = time.monotonic() - start
    assert r.status == 200 and r.text == "done"
    assert [s.path for s in https_server.seen] == ["/busy?token=hush"] * 3
    assert 2.0 <= elapsed < 6.0  # Retry-After: 1, honoured twice
    retried = retries_of(events)
    assert [(e["attempt"], e["reason"], e["status"], e["wait"], e["method"])
            for e in retried] == [(2, "status", 503, 1.0, "GET"), (3, "status", 503, 1.0, "GET")]
    assert all("hush" not in e["url"] for e in retried)  # the URL is redacted
    stamps = [e.time for e in events if e.event == "securl.retry"]
    assert stamps[1] - stamps[0] >= 1.0  # each wait happened before the next attempt


def test_no_retries_unless_asked(https_server: LocalServer, session: securl.Session,
                                 events: list[securl.AuditEvent]) -> None:
    https_server.routes["/busy"] = unavailable_then_ok(1, None)
    assert session.get(https_server.url("/busy")).status == 503
    assert len(https_server.seen) == 1 and retries_of(events) == []


def test_a_post_is_not_retried_by_default(
        https_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    https_server.routes["/busy"] = unavailable_then_ok(1, None)
    session = make_session(retries=3)
    assert session.post(https_server.url("/busy"), data=b"x").status == 503
    assert len(https_server.seen) == 1
    # ...unless allowed_methods says so (per call here), and then the body goes again.
    https_server.routes["/busy"] = unavailable_then_ok(1, None)
    r = session.post(https_server.url("/busy"), data=b"x",
                     retries=securl.Retries(total=1, allowed_methods={"POST"}))
    assert r.status == 200 and [s.body for s in https_server.seen[1:]] == [b"x", b"x"]


def test_backoff_without_retry_after(
        https_server: LocalServer, make_session: Callable[..., securl.Session],
        events: list[securl.AuditEvent]) -> None:
    https_server.routes["/busy"] = unavailable_then_ok(2, None)
    session = make_session(retries=securl.Retries(total=2, backoff_factor=0.1))
    assert session.get(https_server.url("/busy")).status == 200
    assert [e["wait"] for e in retries_of(events)] == [0.1, 0.2]


def test_retry_after_is_capped(https_server: LocalServer,
                               make_session: Callable[..., securl.Session],
                               events: list[securl.AuditEvent]) -> None:
    https_server.routes["/busy"] = unavailable_then_ok(1, "3600")
    session = make_session(retries=securl.Retries(total=1, retry_after_max=0.2))
    start = time.monotonic()
    assert session.get(https_server.url("/busy")).status == 200
    assert time.monotonic() - start < 3.0
    assert [e["wait"] for e in retries_of(events)] == [0.2]


def test_the_deadline_cuts_retries_short(
        https_server: LocalServer, make_session: Callable[..., securl.Session],
        events: list[securl.AuditEvent]) -> None:
    https_server.routes["/busy"] = unavailable_then_ok(10)
    session = make_session(retries=10, timeout=securl.Timeouts(connect=5, read=5, total=2.5))
    start = time.monotonic()
    r = session.get(https_server.url("/busy"))
    elapsed = time.monotonic() - start
    # Two waits of 1 s fit in 2.5 s; a third would end past the deadline, so it is not begun.
    assert r.status == 503 and len(https_server.seen) == 3
    assert elapsed < 2.5 and len(retries_of(events)) == 2


def test_a_certificate_error_is_never_retried(
        make_session: Callable[..., securl.Session], other_ca: trustme.CA,
        events: list[securl.AuditEvent]) -> None:
    with LocalServer(server_context(other_ca.issue_cert("localhost"))) as server:
        session = make_session(retries=securl.Retries(total=3, allowed_methods={"GET", "POST"}))
        with pytest.raises(securl.TLSVerificationError):
            session.get(server.url("/"))
        assert server.accepts == 1 and retries_of(events) == []


def test_a_pin_mismatch_and_a_policy_refusal_are_never_retried(
        https_server: LocalServer, make_session: Callable[..., securl.Session],
        http_server: LocalServer, events: list[securl.AuditEvent]) -> None:
    session = make_session(retries=3)
    with pytest.raises(securl.PinMismatchError):
        session.get(https_server.url("/"), pins=["sha256/" + "A" * 43 + "="])
    assert https_server.accepts == 1
    with pytest.raises(securl.PolicyError):
        session.get(http_server.url("/"), auth=securl.BasicAuth("u", "p", preemptive=True))
    assert http_server.seen == [] and retries_of(events) == []


def test_connection_refused_is_retried_for_get_and_for_an_allowed_post(
        make_session: Callable[..., securl.Session],
        events: list[securl.AuditEvent]) -> None:
    port = free_port()  # nothing listens there: every connect is refused
    session = make_session(retries=2)
    with pytest.raises(securl.ConnectionError):
        session.get(f"https://localhost:{port}/")
    assert [e["reason"] for e in retries_of(events)] == ["ConnectionError"] * 2
    # A POST is never retried by default; once allowed, a refused connect (nothing sent) is.
    with pytest.raises(securl.ConnectionError):
        session.post(f"https://localhost:{port}/", data=b"x")
    assert len(retries_of(events)) == 2
    with pytest.raises(securl.ConnectionError):
        session.post(f"https://localhost:{port}/", data=b"x",
                     retries=securl.Retries(total=1, allowed_methods={"POST"}))
    assert len(retries_of(events)) == 3


def test_a_post_whose_connection_broke_after_sending_is_not_retried(
        make_session: Callable[..., securl.Session], http_server: LocalServer) -> None:
    def hang_up(h: Handler) -> Reply:
        h.connection.shutdown(socket.SHUT_RDWR)  # the request arrived; no answer comes
        return 200, {}, b""

    http_server.routes["/drop"] = hang_up
    session = make_session(retries=securl.Retries(total=2, allowed_methods={"GET", "POST"}))
    with pytest.raises(securl.ConnectionError):
        session.post(http_server.url("/drop"), data=b"once")
    assert [s.body for s in http_server.seen] == [b"once"]
    with pytest.raises(securl.ConnectionError):
        session.get(http_server.url("/drop"))  # idempotent: sent again
    assert len(http_server.seen) == 1 + 3


def test_a_streamed_body_is_not_retried(
        https_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    https_server.routes["/busy"] = unavailable_then_ok(1, None)
    session = make_session(retries=3)
    r = session.put(https_server.url("/busy"), data=iter([b"a", b"b"]))
    assert r.status == 503 and len(https_server.seen) == 1


def test_retry_after_as_an_http_date() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (retry_after({"Retry-After": date}, now=now) or 0) <= 31
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize("bad", [
    {"total": -1}, {"total": 1.5}, {"total": True}, {"backoff_factor": -1},
    {"backoff_factor": float("inf")}, {"retry_after_max": float("nan")},
    {"status_forcelist": [999]}, {"status_forcelist": "503"}, {"allowed_methods": "GET"},
    {"allowed_methods": ["G ET"]}, {"respect_retry_after": "yes"},
])
def test_every_field_is_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(securl.ConfigurationError, match="Retries"):
        securl.Retries(**bad)


@pytest.mark.parametrize("bad", [-1, "3", 1.5, object()])
def test_retries_argument_is_validated(bad: object) -> None:
    with pytest.raises(securl.ConfigurationError, match="retries="):
        securl.Session(retries=bad)  # type: ignore[arg-type]


def test_retries_is_a_frozen_value() -> None:
    rules = securl.Retries(total=2, allowed_methods=["get"])
    assert rules.allowed_methods == frozenset({"GET"})
    with pytest.raises(AttributeError):
        rules.total = 5  # type: ignore[misc]
