"""Assignable Session attributes, checked as the constructor checks them; helpful errors for
the rest."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import securl
from _authserver import BasicRoute
from _servers import LocalServer


def test_assigning_a_password_tuple_then_requesting_works(
        https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/b"] = BasicRoute("alice", "pw")
    session.auth = ("alice", "pw")
    assert session.get(https_server.url("/b")).status == 200
    assert route.authorizations[0] is not None  # with the first request
    session.auth = None
    assert session.get(https_server.url("/b")).status == 401


def test_headers_timeout_retries_hooks_proxies_are_assignable(
        https_server: LocalServer, session: securl.Session) -> None:
    session.headers = {"X-Team": "blue", "Accept": None}
    assert session.headers["X-Team"] == "blue" and "Accept" not in session.headers
    assert session.headers["User-Agent"].startswith("securl/")  # the defaults stay
    session.timeout = 7
    assert session.timeout == securl.Timeouts(7, 7)
    session.retries = 2
    assert session.retries == securl.Retries(total=2)
    seen: list[int] = []
    session.hooks = {"response": [lambda r: seen.append(r.status)]}
    session.proxies = {"no_proxy": "*"}
    session.max_body_size = 10
    session.max_redirects = 1
    assert session.get(https_server.url("/")).status == 200
    assert seen == [200] and https_server.seen[-1].headers["X-Team"] == "blue"
    assert "Accept" not in https_server.seen[-1].headers


@pytest.mark.parametrize(("name", "value"), [
    ("timeout", None), ("timeout", float("inf")), ("headers", {"X": "a\r\nb"}),
    ("auth", "alice"), ("retries", -1), ("hooks", {"bad": []}), ("proxies", {"https": "ftp://p"}),
    ("max_body_size", -1), ("max_redirects", "3"),
])
def test_assigned_values_are_checked_as_in_the_constructor(
        session: securl.Session, name: str, value: object) -> None:
    before = getattr(session, name)
    with pytest.raises((securl.ConfigurationError, securl.InvalidRequest)):
        setattr(session, name, value)
    with pytest.raises((securl.ConfigurationError, securl.InvalidRequest)):
        securl.Session(**{name: value})
    assert getattr(session, name) == before


@pytest.mark.parametrize(("name", "value", "says"), [
    ("verify", "ca.pem", "Session(ca_certs='ca.pem')"),
    ("verify", False, "never turns verification off session-wide"),
    ("cert", ("c.pem", "k.pem"), "Session(cert="),
    ("trust_env", False, "proxies_from_env=False"),
    ("mount", None, "no transport adapters"),
    ("ca_certs", "ca.pem", "fixed when the Session is made"),
    ("config", None, "fixed when the Session is made"),
    ("pins_file", "pins.txt", "fixed when the Session is made"),
    ("tls", None, "one call"),
    ("max_retries", 3, "s.retries"),
    ("colour", "blue", "the assignable ones are"),
])
def test_assigning_what_a_session_lacks_says_what_to_use(
        session: securl.Session, name: str, value: object, says: str) -> None:
    with pytest.raises(securl.SessionAttributeError) as info:
        setattr(session, name, value)
    assert says in str(info.value)
    assert isinstance(info.value, AttributeError)
    assert isinstance(info.value, securl.ConfigurationError)
    assert name not in vars(session)


def test_reading_requests_names_says_what_to_use(session: securl.Session) -> None:
    with pytest.raises(securl.SessionAttributeError, match="no transport adapters"):
        session.mount("https://", object())  # type: ignore[attr-defined]
    with pytest.raises(AttributeError) as info:
        session.colour  # type: ignore[attr-defined]  # noqa: B018
    assert not isinstance(info.value, securl.SessionAttributeError)
    assert not hasattr(session, "verify")


def test_a_subclass_may_add_attributes_in_its_constructor(
        make_session: Callable[..., securl.Session], ca_file: str) -> None:
    class Tagged(securl.Session):
        def __init__(self, tag: str, **options: object) -> None:
            super().__init__(**options)  # type: ignore[arg-type]
            self.tag = tag

    with Tagged("t", ca_certs=ca_file) as s:
        s.tag = "u"  # it exists now: may be assigned again
        assert s.tag == "u"
        with pytest.raises(securl.SessionAttributeError):
            s.other = 1  # type: ignore[attr-defined]
