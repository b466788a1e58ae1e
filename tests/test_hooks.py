"""Request and response hooks, on a Session and per call, against real local servers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import securl
from _servers import LocalServer


def test_request_hooks_see_and_change_each_send_and_response_hooks_see_each_response(
        https_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    https_server.routes["/go"] = lambda h: (302, {"Location": "/end"}, b"")
    sent: list[tuple[str, str]] = []
    answered: list[int] = []

    def tag(request: securl.PreparedRequest) -> None:
        sent.append((request.method, request.url))
        request.headers["X-Trace"] = "t-1"

    session = make_session(hooks={"request": [tag], "response": lambda r: answered.append(
        r.status)})
    r = session.get(https_server.url("/go"))
    assert r.status == 200
    assert sent == [("GET", https_server.url("/go")), ("GET", https_server.url("/end"))]
    assert answered == [302, 200]  # the redirect too
    assert [s.headers.get("X-Trace") for s in https_server.seen] == ["t-1", "t-1"]
    assert "X-Trace" not in session.headers  # each send's headers are a copy


def test_call_hooks_run_after_the_sessions(
        https_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    order: list[str] = []
    session = make_session(hooks={"response": [lambda r: order.append("session")]})
    session.get(https_server.url("/"), hooks={"response": [lambda r: order.append("call")]})
    session.get(https_server.url("/"))
    assert order == ["session", "call", "session"]


def test_an_exception_from_a_hook_propagates(
        https_server: LocalServer, session: securl.Session) -> None:
    class Stop(Exception):
        pass

    def refuse(request: securl.PreparedRequest) -> None:
        raise Stop("not this one")

    with pytest.raises(Stop):
        session.get(https_server.url("/"), hooks={"request": [refuse]})
    assert https_server.seen == []

    def fail(response: securl.Response) -> None:
        raise Stop(str(response.status))

    with pytest.raises(Stop, match="200"):
        session.get(https_server.url("/"), hooks={"response": fail})
    assert session.get(https_server.url("/")).status == 200  # the Session still works


def test_a_request_hook_cannot_inject_header_lines_or_change_the_url(
        https_server: LocalServer, session: securl.Session) -> None:
    def inject(request: securl.PreparedRequest) -> None:
        request.headers["X-A"] = "1\r\nX-Evil: 1"

    with pytest.raises(securl.InvalidRequest, match="header injection"):
        session.get(https_server.url("/"), hooks={"request": [inject]})

    def move(request: securl.PreparedRequest) -> None:
        request.url = "https://elsewhere.example/"  # type: ignore[misc]

    with pytest.raises(AttributeError):
        session.get(https_server.url("/"), hooks={"request": [move]})
    assert https_server.seen == []


def test_retried_responses_reach_response_hooks(
        https_server: LocalServer, session: securl.Session) -> None:
    replies = iter([(503, {}, b""), (200, {}, b"ok")])
    https_server.routes["/r"] = lambda h: next(replies)
    statuses: list[int] = []
    r = session.get(https_server.url("/r"), retries=1,
                    hooks={"response": [lambda r: statuses.append(r.status)]})
    assert r.status == 200 and statuses == [503, 200]


@pytest.mark.parametrize("bad", [
    {"respons": [print]}, {"response": [42]}, {"request": "print"}, [print], "x",
])
def test_hooks_are_validated(bad: object) -> None:
    with pytest.raises(securl.ConfigurationError, match="hooks"):
        securl.Session(hooks=bad)  # type: ignore[arg-type]
