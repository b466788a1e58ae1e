"""auth= that works the first time: (user, password) and bearer tokens go with the first
request to the origin the call named; custom auth; the rules that stay (no Basic over http,
nothing after a cross-origin redirect)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

import securl
from _authserver import BasicRoute, DigestRoute
from _servers import Handler, LocalServer, Reply, server_context

USER = "alice"
TOKEN = "t0ken-Abc123"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def hidden_unless(expected: str, seen: list[str | None]) -> Callable[[Handler], Reply]:
    """An API that answers anonymous (or wrong) requests 404, never 401, as GitHub does."""
    def route(h: Handler) -> Reply:
        got = h.headers.get("Authorization")
        seen.append(got)
        return (200, {}, b"secret data") if got == expected else (404, {}, b"not found")

    return route


def test_a_password_tuple_authenticates_against_a_server_answering_404(
        https_server: LocalServer, session: securl.Session) -> None:
    seen: list[str | None] = []
    https_server.routes["/repo"] = hidden_unless(basic(USER, TOKEN), seen)
    r = session.get(https_server.url("/repo"), auth=(USER, TOKEN))
    assert r.status == 200 and r.text == "secret data"
    assert seen == [basic(USER, TOKEN)]  # one request, credentials on it
    # ChallengeAuth keeps the old rule: nothing before a 401, so this API stays hidden.
    r = session.get(https_server.url("/repo"), auth=securl.ChallengeAuth(USER, TOKEN))
    assert r.status == 404 and seen[1:] == [None]


def test_a_password_tuple_on_the_session_and_a_digest_server(
        https_server: LocalServer, make_session: Callable[..., securl.Session]) -> None:
    route = https_server.routes["/d"] = DigestRoute(USER, TOKEN)
    session = make_session(auth=(USER, TOKEN))
    assert session.get(https_server.url("/d")).status == 200  # Basic first, then Digest
    assert session.get(https_server.url("/d")).status == 200  # the nonce is reused
    # the second call reused the nonce: no new challenge, no Basic
    assert route.outcomes == ["scheme Basic", "ok", "ok"]


def test_a_wrong_password_tuple_is_an_auth_error_without_a_second_try(
        https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/b"] = BasicRoute(USER, TOKEN)
    with pytest.raises(securl.AuthError):
        session.get(https_server.url("/b"), auth=(USER, "wrong"))
    assert route.authorizations == [basic(USER, "wrong")]


def test_a_password_tuple_over_plain_http_waits_for_the_challenge_and_basic_stays_refused(
        http_server: LocalServer) -> None:
    route = http_server.routes["/b"] = BasicRoute(USER, TOKEN)
    digest = http_server.routes["/d"] = DigestRoute(USER, TOKEN)
    with securl.Session() as s:
        with pytest.raises(securl.PolicyError, match="allow_insecure_auth=True"):
            s.get(http_server.url("/b"), auth=(USER, TOKEN))
        assert route.authorizations == [None]  # the password never went out
        assert s.get(http_server.url("/d"), auth=(USER, TOKEN)).status == 200
        assert digest.outcomes == ["no credentials", "ok"]


def test_bearer_goes_with_the_first_request_to_the_named_origin_only(
        https_server: LocalServer, leaf: object, session: securl.Session) -> None:
    seen: list[str | None] = []
    https_server.routes["/api"] = hidden_unless(f"Bearer {TOKEN}", seen)
    assert session.get(https_server.url("/api"), auth=securl.BearerAuth(TOKEN)).status == 200
    assert seen == [f"Bearer {TOKEN}"]
    with LocalServer(server_context(leaf)) as other:
        other_seen: list[str | None] = []
        other.routes["/api"] = hidden_unless(f"Bearer {TOKEN}", other_seen)
        https_server.routes["/go"] = lambda h: (
            302, {"Location": other.url("/api", host="127.0.0.1")}, b"")
        r = session.get(https_server.url("/go"), auth=securl.BearerAuth(TOKEN))
        assert r.status == 404 and other_seen == [None]  # the token stayed at the origin


def test_bearer_over_plain_http_is_refused(http_server: LocalServer,
                                           events: list[securl.AuditEvent]) -> None:
    with securl.Session() as s:
        with pytest.raises(securl.PolicyError, match="bearer token"):
            s.get(http_server.url("/"), auth=securl.BearerAuth(TOKEN))
        assert http_server.seen == []
        r = s.get(http_server.url("/"), auth=securl.BearerAuth(TOKEN), allow_insecure_auth=True)
        assert r.status == 200
    assert [e.fields["action"] for e in events if e.event == "securl.insecure_auth"] == [
        "refused", "allowed"]


def test_a_refused_bearer_token_is_an_auth_error(
        https_server: LocalServer, session: securl.Session) -> None:
    https_server.routes["/api"] = lambda h: (
        401, {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'}, b"")
    with pytest.raises(securl.AuthError) as info:
        session.get(https_server.url("/api"), auth=securl.BearerAuth(TOKEN))
    assert TOKEN not in str(info.value) and TOKEN not in repr(securl.BearerAuth(TOKEN))


class ApiKey(securl.Auth):
    def __init__(self, key: str) -> None:
        self.key = key

    def apply(self, request: securl.PreparedRequest) -> None:
        request.headers["X-Api-Key"] = self.key


def test_a_custom_auth_class_and_a_callable_edit_requests_to_the_named_origin(
        https_server: LocalServer, leaf: object, session: securl.Session) -> None:
    def signed(request: securl.PreparedRequest) -> None:
        request.headers["X-Signature"] = f"{request.method} {request.url}"

    https_server.routes["/k"] = lambda h: (
        (200, {}, b"ok") if h.headers.get("X-Api-Key") == "k1" else (401, {}, b""))
    assert session.get(https_server.url("/k"), auth=ApiKey("k1")).status == 200
    url = https_server.url("/s?q=1")
    assert session.get(url, auth=signed).status == 200
    assert https_server.seen[-1].headers["X-Signature"] == f"GET {url}"
    # A 401 is the caller's to handle with a custom auth: returned, not raised.
    assert session.get(https_server.url("/k"), auth=ApiKey("wrong")).status == 401
    with LocalServer(server_context(leaf)) as other:
        https_server.routes["/go"] = lambda h: (
            302, {"Location": other.url("/", host="127.0.0.1")}, b"")
        assert session.get(https_server.url("/go"), auth=ApiKey("k1")).status == 200
        assert "X-Api-Key" not in other.seen[0].headers


def test_a_custom_auth_cannot_inject_header_lines(
        https_server: LocalServer, session: securl.Session) -> None:
    with pytest.raises(securl.InvalidRequest, match="header injection"):
        session.get(https_server.url("/"), auth=ApiKey("k\r\nX-Evil: 1"))
    assert https_server.seen == []


def test_custom_auth_types_are_checked() -> None:
    with pytest.raises(securl.ConfigurationError, match="BearerAuth"):
        securl.Session(auth="alice:pw")  # type: ignore[arg-type]
    with pytest.raises(securl.ConfigurationError, match="token"):
        securl.BearerAuth("")
