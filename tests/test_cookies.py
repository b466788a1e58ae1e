"""Session cookies: the stdlib jar's RFC 6265 rules at every hop, against real local servers.

A login's Set-Cookie is sent back on later requests and across same-site redirects, never
over http when it is Secure, never to another site; cookies= is per call and stays with the
call's origin; cookie values stay out of audit events and urllib3's debug log.
"""

from __future__ import annotations

import http.cookiejar
import logging
from collections.abc import Callable
from typing import Any

import pytest

import securl
from _secrets import TEST_COOKIE
from _servers import Handler, LocalServer, Reply


class _Repeated(dict):  # type: ignore[type-arg]
    """Response headers for a test route, where a name may repeat (several Set-Cookie)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._pairs = pairs

    def items(self) -> Any:
        return list(self._pairs)


def _reply(status: int = 200, *pairs: tuple[str, str]) -> Callable[[Handler], Reply]:
    return lambda handler: (status, _Repeated(list(pairs)), b"ok")


def _cookie_of(server: LocalServer, path: str) -> str | None:
    sent = [s for s in server.seen if s.path == path]
    assert sent, f"{path} was never requested"
    return sent[-1].headers.get("Cookie")


LOGIN = ("Set-Cookie", f"session={TEST_COOKIE}; Path=/; Secure; HttpOnly")


def test_login_cookie_is_sent_back_on_the_next_request(https_server: LocalServer,
                                                       session: securl.Session) -> None:
    https_server.routes["/login"] = _reply(200, LOGIN, ("Set-Cookie", "theme=dark; Path=/"))
    login = session.post(https_server.url("/login"), data={"user": "u"})
    assert {c.name for c in login.cookies} == {"session", "theme"}
    assert {c.name for c in session.cookies} == {"session", "theme"}

    account = session.get(https_server.url("/account"))
    assert _cookie_of(https_server, "/account") == f"session={TEST_COOKIE}; theme=dark"
    assert len(account.cookies) == 0  # it set none


def test_every_redirect_hop_stores_and_sends_cookies(https_server: LocalServer,
                                                     session: securl.Session) -> None:
    https_server.routes["/login"] = _reply(302, LOGIN, ("Location", "/step"))
    https_server.routes["/step"] = _reply(302, ("Set-Cookie", "step=2; Path=/"),
                                          ("Location", "/home"))
    final = session.get(https_server.url("/login"))
    assert final.url.endswith("/home")
    assert _cookie_of(https_server, "/step") == f"session={TEST_COOKIE}"
    assert _cookie_of(https_server, "/home") == f"session={TEST_COOKIE}; step=2"
    assert [[c.name for c in r.cookies] for r in final.history] == [["session"], ["step"]]


def test_path_and_expiry_rules_apply(https_server: LocalServer,
                                     session: securl.Session) -> None:
    https_server.routes["/set"] = _reply(200, ("Set-Cookie", "admin=1; Path=/admin"),
                                         ("Set-Cookie", "gone=1; Path=/"))
    https_server.routes["/logout"] = _reply(200, ("Set-Cookie", "gone=; Max-Age=0; Path=/"))
    session.get(https_server.url("/set"))
    session.get(https_server.url("/admin/panel"))
    session.get(https_server.url("/public"))
    assert _cookie_of(https_server, "/admin/panel") == "admin=1; gone=1"
    assert _cookie_of(https_server, "/public") == "gone=1"
    session.get(https_server.url("/logout"))
    session.get(https_server.url("/public2"))
    assert _cookie_of(https_server, "/public2") is None


def test_secure_cookie_never_goes_over_http(https_server: LocalServer, http_server: LocalServer,
                                            session: securl.Session) -> None:
    # Both servers are "localhost": cookies do not tell ports apart, so only Secure decides.
    https_server.routes["/login"] = _reply(200, LOGIN, ("Set-Cookie", "lang=en; Path=/"))
    session.get(https_server.url("/login"))
    session.get(http_server.url("/plain"))
    assert _cookie_of(http_server, "/plain") == "lang=en"
    session.get(https_server.url("/again"))
    assert _cookie_of(https_server, "/again") == f"session={TEST_COOKIE}; lang=en"


def test_cookies_do_not_follow_a_redirect_to_another_site(
        https_server: LocalServer, session: securl.Session,
        events: list[securl.AuditEvent]) -> None:
    https_server.routes["/login"] = _reply(
        302, LOGIN, ("Location", https_server.url("/elsewhere", host="127.0.0.1")))
    session.get(https_server.url("/login"), headers={"Cookie": "manual=1"})
    assert _cookie_of(https_server, "/elsewhere") is None  # neither the jar's nor the manual one
    assert [e.fields["headers_dropped"] for e in events if e.name == "securl.redirect"] == [
        ["Cookie"]]
    # Back on the site that set it, the jar sends it again.
    session.get(https_server.url("/back"))
    assert _cookie_of(https_server, "/back") == f"session={TEST_COOKIE}"


def test_a_cookie_header_set_by_hand_wins_over_the_jar(https_server: LocalServer,
                                                       session: securl.Session) -> None:
    https_server.routes["/login"] = _reply(200, LOGIN)
    session.get(https_server.url("/login"))
    assert [c.name for c in session.cookies] == ["session"]
    session.get(https_server.url("/mine"), headers={"Cookie": "mine=1"})
    assert _cookie_of(https_server, "/mine") == "mine=1"


def test_cookies_per_call_are_sent_for_that_call_only(https_server: LocalServer,
                                                      session: securl.Session) -> None:
    https_server.routes["/login"] = _reply(200, LOGIN, ("Set-Cookie", "lang=en; Path=/"))
    session.get(https_server.url("/login"))
    session.get(https_server.url("/call"), cookies={"lang": "fr", "extra": "1"})
    assert _cookie_of(https_server, "/call") == f"lang=fr; extra=1; session={TEST_COOKIE}"
    assert {(c.name, c.value) for c in session.cookies} == {("session", TEST_COOKIE),
                                                           ("lang", "en")}
    session.get(https_server.url("/next"))
    assert _cookie_of(https_server, "/next") == f"session={TEST_COOKIE}; lang=en"

    jar = http.cookiejar.CookieJar()
    jar.set_cookie(_cookie("from_jar", "1", "localhost.local"))
    session.get(https_server.url("/jar"), cookies=jar)
    assert _cookie_of(https_server, "/jar") == f"from_jar=1; session={TEST_COOKIE}; lang=en"
    assert "from_jar" not in {c.name for c in session.cookies}


def test_cookies_per_call_stay_with_the_origin_the_call_named(
        https_server: LocalServer, session: securl.Session) -> None:
    https_server.routes["/start"] = _reply(
        302, ("Location", https_server.url("/away", host="127.0.0.1")))
    https_server.routes["/away"] = _reply(302, ("Location", https_server.url("/home")))
    https_server.routes["/same"] = _reply(307, ("Location", "/landed"))
    session.get(https_server.url("/same"), cookies={"token": "t1"})
    assert _cookie_of(https_server, "/landed") == "token=t1"  # same origin: kept

    session.get(https_server.url("/start"), cookies={"token": "t1"})
    assert _cookie_of(https_server, "/start") == "token=t1"
    assert _cookie_of(https_server, "/away") is None
    assert _cookie_of(https_server, "/home") is None  # not even back at the origin


@pytest.mark.parametrize("cookies", [
    {"a": "x\r\nX-Injected: 1"}, {"a": "x; admin=1"}, {"a b": "1"}, {"a": 1}, {"": "1"},
])
def test_hostile_per_call_cookies_are_refused_without_quoting_the_value(
        https_server: LocalServer, session: securl.Session, cookies: dict[str, Any]) -> None:
    with pytest.raises(securl.InvalidRequest) as info:
        session.get(https_server.url("/x"), cookies=cookies)
    value = next(iter(cookies.values()))
    assert not isinstance(value, str) or value not in str(info.value)
    assert https_server.seen == []


def test_session_cookies_can_be_replaced_by_any_cookiejar(https_server: LocalServer,
                                                          session: securl.Session) -> None:
    jar = http.cookiejar.MozillaCookieJar()
    jar.set_cookie(_cookie("saved", "1", "localhost.local"))
    session.cookies = jar
    assert session.cookies is jar
    session.get(https_server.url("/saved"))
    assert _cookie_of(https_server, "/saved") == "saved=1"
    with pytest.raises(securl.ConfigurationError, match="CookieJar"):
        session.cookies = {"saved": "1"}  # type: ignore[assignment]
    assert session.cookies is jar


def test_no_cookie_header_when_the_jar_is_empty(https_server: LocalServer,
                                                session: securl.Session) -> None:
    response = session.get(https_server.url("/plain"))
    assert "Cookie" not in https_server.seen[-1].headers
    assert len(response.cookies) == 0 and len(session.cookies) == 0


def test_cookie_values_stay_out_of_audit_events_and_the_debug_log(
        https_server: LocalServer, session: securl.Session, events: list[securl.AuditEvent],
        caplog: pytest.LogCaptureFixture) -> None:
    https_server.routes["/login"] = _reply(
        302, LOGIN, ("Location", https_server.url("/away", host="127.0.0.1")))
    with caplog.at_level(logging.DEBUG):
        session.get(https_server.url("/login"), cookies={"call": TEST_COOKIE},
                    headers={"X-Trace": "1"})
        session.get(https_server.url("/next"))
    assert _cookie_of(https_server, "/next") == f"session={TEST_COOKIE}"  # it was sent
    assert any("/login" in r.getMessage() for r in caplog.records if r.name.startswith(
        "urllib3"))  # the debug log did record these requests
    assert not [r for r in caplog.records if TEST_COOKIE in r.getMessage()]
    assert any(e.name == "securl.redirect" for e in events)
    assert not [e for e in events if TEST_COOKIE in repr(e.to_dict())]


def _cookie(name: str, value: str, domain: str) -> http.cookiejar.Cookie:
    return http.cookiejar.Cookie(
        version=0, name=name, value=value, port=None, port_specified=False, domain=domain,
        domain_specified=False, domain_initial_dot=False, path="/", path_specified=True,
        secure=False, expires=None, discard=True, comment=None, comment_url=None, rest={},
    )


def test_module_functions_never_share_cookies_between_calls(
        https_server: LocalServer, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    https_server.routes["/login"] = lambda h: (200, {"Set-Cookie": "sid=s3cr3t; Path=/"}, b"in")
    first = securl.get(https_server.url("/login"))
    assert len(first.cookies) == 1  # the call saw its own cookie
    securl.get(https_server.url("/next"))
    assert "Cookie" not in https_server.seen[-1].headers  # not sent on an unrelated call
