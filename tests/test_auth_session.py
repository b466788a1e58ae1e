"""Session + auth against real local servers (tests/_authserver.py): Basic, Digest, the rules."""

from __future__ import annotations

import base64
import logging
import urllib.error
from typing import Any

import pytest

import securl
import securl._policy
from _authserver import BasicRoute, DigestRoute
from _servers import Handler, LocalServer, Reply

USER = "alice"
SECRET = "s3cr3t-Pa55"
WRONG = "wr0ng-Pa55"
TOKENS = (SECRET, WRONG, base64.b64encode(f"{USER}:{SECRET}".encode()).decode(),
          base64.b64encode(f"{USER}:{WRONG}".encode()).decode())


def named(events: list[securl.AuditEvent], name: str) -> list[dict[str, object]]:
    return [e.to_dict() for e in events if e.event == name]


# -- Basic ------------------------------------------------------------------------------------

def test_challenge_auth_sends_basic_only_after_a_challenge_and_repeats_the_request_once(
        https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/b"] = BasicRoute(USER, SECRET)
    r = session.get(https_server.url("/b"), auth=securl.ChallengeAuth(USER, SECRET))
    assert r.status == 200 and r.text == "welcome alice"
    assert route.authorizations[0] is None
    assert route.authorizations[1] is not None and route.authorizations[1].startswith("Basic ")
    assert len(route.authorizations) == 2 and r.history == []


def test_preemptive_basic_goes_with_the_first_request(
        https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/b"] = BasicRoute(USER, SECRET)
    r = session.get(https_server.url("/b"), auth=securl.BasicAuth(USER, SECRET, preemptive=True))
    assert r.status == 200 and len(route.authorizations) == 1


def test_wrong_password_is_an_auth_error_after_one_retry_listing_offered_schemes(
        https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/b"] = BasicRoute(USER, SECRET)
    with pytest.raises(securl.AuthError) as info:
        session.get(https_server.url("/b"), auth=securl.BasicAuth(USER, WRONG))
    err = info.value
    assert isinstance(err, urllib.error.HTTPError) and err.code == 401
    assert err.offered == ("Basic",) and "Basic" in str(err)
    assert "basic@test" in str(err) and WRONG not in str(err)
    assert len(route.authorizations) == 2


def test_a_preemptive_basic_refused_is_not_sent_again(
        https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/b"] = BasicRoute(USER, SECRET)
    with pytest.raises(securl.AuthError):
        session.get(https_server.url("/b"), auth=securl.BasicAuth(USER, WRONG, preemptive=True))
    assert len(route.authorizations) == 1


def test_403_is_not_retried(https_server: LocalServer, session: securl.Session) -> None:
    calls: list[str | None] = []

    def forbidden(h: Handler) -> Reply:
        calls.append(h.headers.get("Authorization"))
        return 403, {"WWW-Authenticate": 'Basic realm="x"'}, b"no"

    https_server.routes["/f"] = forbidden
    r = session.get(https_server.url("/f"), auth=securl.BasicAuth(USER, SECRET, preemptive=True))
    assert r.status == 403 and len(calls) == 1


def test_a_401_without_credentials_configured_is_returned_as_a_response(
        https_server: LocalServer, session: securl.Session) -> None:
    https_server.routes["/b"] = BasicRoute(USER, SECRET)
    r = session.get(https_server.url("/b"))
    assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic")


def test_a_401_offering_only_schemes_securl_cannot_answer_is_an_auth_error(
        https_server: LocalServer, session: securl.Session) -> None:
    https_server.routes["/n"] = lambda h: (401, {"WWW-Authenticate": "Negotiate"}, b"")
    with pytest.raises(securl.AuthError, match="Negotiate") as info:
        session.get(https_server.url("/n"), auth=(USER, SECRET))
    assert info.value.offered == ("Negotiate",)


def test_session_auth_applies_and_per_call_none_turns_it_off(
        https_server: LocalServer, ca_file: str) -> None:
    https_server.routes["/b"] = BasicRoute(USER, SECRET)
    with securl.Session(ca_certs=ca_file, auth=(USER, SECRET)) as s:
        assert s.get(https_server.url("/b")).status == 200
        assert s.get(https_server.url("/b"), auth=None).status == 401


def test_the_body_is_sent_again_with_the_credentials(
        https_server: LocalServer, session: securl.Session) -> None:
    bodies: list[bytes] = []
    basic = BasicRoute(USER, SECRET)

    def route(h: Handler) -> Reply:
        bodies.append(h.body)
        return basic(h)

    https_server.routes["/b"] = route
    r = session.post(https_server.url("/b"), data=b"payload",
                     auth=securl.ChallengeAuth(USER, SECRET))
    assert r.status == 200 and bodies == [b"payload", b"payload"]


def test_a_streamed_body_that_cannot_be_replayed_is_a_clear_error(
        https_server: LocalServer, session: securl.Session) -> None:
    https_server.routes["/b"] = BasicRoute(USER, SECRET)
    with pytest.raises(securl.AuthError, match="stream") as info:
        session.post(https_server.url("/b"), data=iter([b"a", b"b"]),
                     auth=securl.ChallengeAuth(USER, SECRET))
    assert "preemptive=True" in str(info.value)
    # ...and preemptive Basic sends such a body once, with the credentials.
    r = session.post(https_server.url("/b"), data=iter([b"a", b"b"]),
                     auth=securl.BasicAuth(USER, SECRET, preemptive=True))
    assert r.status == 200


# -- Basic over plain http --------------------------------------------------------------------

def test_basic_over_http_is_refused_without_opt_in(
        http_server: LocalServer, events: list[securl.AuditEvent]) -> None:
    route = http_server.routes["/b"] = BasicRoute(USER, SECRET)
    with securl.Session() as s:
        with pytest.raises(securl.PolicyError, match="allow_insecure_auth=True"):
            s.get(http_server.url("/b"), auth=(USER, SECRET))
        assert route.authorizations == [None]  # asked, never answered
        with pytest.raises(securl.PolicyError):
            s.get(http_server.url("/b"), auth=securl.BasicAuth(USER, SECRET, preemptive=True))
        assert route.authorizations == [None]  # preemptive: refused before sending
        # the refusal did not poison the session
        assert s.get(http_server.url("/")).status == 200
    refused = named(events, "securl.insecure_auth")
    assert [e["action"] for e in refused] == ["refused", "refused"]


def test_allow_insecure_auth_sends_basic_over_http_and_is_audited(
        http_server: LocalServer, events: list[securl.AuditEvent]) -> None:
    http_server.routes["/b"] = BasicRoute(USER, SECRET)
    with securl.Session() as s:
        r = s.get(http_server.url("/b"), auth=(USER, SECRET), allow_insecure_auth=True)
    assert r.status == 200
    (event,) = named(events, "securl.insecure_auth")
    assert event["action"] == "allowed" and event["allowed_by"] == "call"
    assert str(event["caller"]).startswith(__file__)


def test_admin_policy_may_allow_basic_over_http(
        http_server: LocalServer, set_policy: Any, events: list[securl.AuditEvent]) -> None:
    set_policy("allow_basic_auth_over_http = true\n")
    http_server.routes["/b"] = BasicRoute(USER, SECRET)
    with securl.Session() as s:
        assert s.get(http_server.url("/b"), auth=(USER, SECRET)).status == 200
    (event,) = named(events, "securl.insecure_auth")
    assert event["allowed_by"] == "policy"


def test_digest_over_http_is_not_refused(http_server: LocalServer) -> None:
    route = http_server.routes["/d"] = DigestRoute(USER, SECRET)
    with securl.Session() as s:
        assert s.get(http_server.url("/d"), auth=securl.DigestAuth(USER, SECRET)).status == 200
    assert route.outcomes == ["no credentials", "ok"]


def test_over_http_the_password_tuple_answers_digest_not_the_basic_also_offered(
        http_server: LocalServer) -> None:
    route = http_server.routes["/d"] = DigestRoute(
        USER, SECRET, extra_challenges=('Basic realm="digest@test"',))
    with securl.Session() as s:
        assert s.get(http_server.url("/d"), auth=(USER, SECRET)).status == 200
    assert route.outcomes == ["no credentials", "ok"]


# -- origins and redirects --------------------------------------------------------------------

def test_credentials_never_follow_a_redirect_to_another_origin(
        https_server: LocalServer, leaf: object, session: securl.Session) -> None:
    from _servers import server_context

    with LocalServer(server_context(leaf)) as other:
        route = other.routes["/b"] = BasicRoute(USER, SECRET)
        seen: list[str | None] = []

        def redirect(h: Handler) -> Reply:
            seen.append(h.headers.get("Authorization"))
            return 302, {"Location": other.url("/b", host="127.0.0.1")}, b""

        https_server.routes["/go"] = redirect
        r = session.get(https_server.url("/go"),
                        auth=securl.BasicAuth(USER, SECRET, preemptive=True))
        assert r.status == 401  # the other origin's challenge is not answered
        assert seen[0] is not None  # the named origin got the (preemptive) credentials
        assert route.authorizations == [None]
        r = session.get(https_server.url("/go"), auth=securl.DigestAuth(USER, SECRET))
        assert r.status == 401 and route.authorizations == [None, None]


def test_a_same_origin_redirect_is_answered_again(
        https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/b"] = BasicRoute(USER, SECRET)
    https_server.routes["/go"] = lambda h: (302, {"Location": "/b"}, b"")
    r = session.get(https_server.url("/go"), auth=securl.ChallengeAuth(USER, SECRET))
    assert r.status == 200 and len(r.history) == 1 and len(route.authorizations) == 2


# -- Digest -----------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess",
                                       "SHA-512-256"])
def test_digest_round_trip(algorithm: str, https_server: LocalServer,
                           session: securl.Session) -> None:
    route = https_server.routes["/d"] = DigestRoute(USER, SECRET, algorithms=(algorithm,))
    r = session.get(https_server.url("/d?x=1"), auth=securl.DigestAuth(USER, SECRET))
    assert r.status == 200 and route.outcomes == ["no credentials", "ok"]
    assert route.log[-1]["algorithm"] == algorithm and route.log[-1]["uri"] == "/d?x=1"


def test_digest_chooses_sha256_over_md5_over_basic_whatever_the_order(
        https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/d"] = DigestRoute(
        USER, SECRET, algorithms=("MD5", "SHA-256"), extra_challenges=('Basic realm="x"',))
    assert session.get(https_server.url("/d"), auth=(USER, SECRET)).status == 200
    assert route.log[-1]["algorithm"] == "SHA-256"


def test_digest_userhash(https_server: LocalServer, session: securl.Session) -> None:
    route = https_server.routes["/d"] = DigestRoute(USER, SECRET, userhash=True)
    assert session.get(https_server.url("/d"), auth=securl.DigestAuth(USER, SECRET)).status == 200
    assert route.log[-1]["username"] != USER


def test_digest_counts_nonces_so_later_requests_need_no_new_challenge(
        https_server: LocalServer, ca_file: str) -> None:
    route = https_server.routes["/d"] = DigestRoute(USER, SECRET)
    with securl.Session(ca_certs=ca_file, auth=securl.DigestAuth(USER, SECRET)) as s:
        for _ in range(3):
            assert s.get(https_server.url("/d")).status == 200
    assert route.outcomes == ["no credentials", "ok", "ok", "ok"]
    assert [p["nc"] for p in route.log] == ["00000001", "00000002", "00000003"]
    assert len({p["nonce"] for p in route.log}) == 1


def test_digest_uses_nextnonce_from_authentication_info(
        https_server: LocalServer, ca_file: str) -> None:
    route = https_server.routes["/d"] = DigestRoute(USER, SECRET, send_nextnonce=True)
    with securl.Session(ca_certs=ca_file, auth=securl.DigestAuth(USER, SECRET)) as s:
        for _ in range(2):
            assert s.get(https_server.url("/d")).status == 200
    assert route.outcomes == ["no credentials", "ok", "ok"]
    assert route.log[0]["nonce"] != route.log[1]["nonce"] and route.log[1]["nc"] == "00000001"


def test_digest_stale_nonce_of_a_reused_nonce_is_answered_with_the_new_one(
        https_server: LocalServer, ca_file: str) -> None:
    route = https_server.routes["/d"] = DigestRoute(USER, SECRET)
    with securl.Session(ca_certs=ca_file, auth=securl.DigestAuth(USER, SECRET)) as s:
        assert s.get(https_server.url("/d")).status == 200
        route.retire_all_nonces()
        assert s.get(https_server.url("/d")).status == 200
    assert route.outcomes == ["no credentials", "ok", "stale", "ok"]


def test_digest_stale_answer_to_a_fresh_challenge_is_retried_once(
        https_server: LocalServer, session: securl.Session) -> None:
    route = DigestRoute(USER, SECRET)

    def expire_on_first_answer(h: Handler) -> None:
        if h.headers.get("Authorization") and "stale" not in route.outcomes:
            route.retire_all_nonces()

    route.on_request = expire_on_first_answer
    https_server.routes["/d"] = route
    assert session.get(https_server.url("/d"), auth=securl.DigestAuth(USER, SECRET)).status == 200
    assert route.outcomes == ["no credentials", "stale", "ok"]


def test_digest_stale_forever_ends_in_auth_error_after_a_bounded_number_of_tries(
        https_server: LocalServer, session: securl.Session) -> None:
    route = DigestRoute(USER, SECRET)
    route.on_request = lambda h: route.retire_all_nonces()
    https_server.routes["/d"] = route
    with pytest.raises(securl.AuthError):
        session.get(https_server.url("/d"), auth=securl.DigestAuth(USER, SECRET))
    assert route.outcomes == ["no credentials", "stale", "stale"]


def test_a_path_asking_for_basic_after_digest_was_reused_gets_basic(
        https_server: LocalServer, ca_file: str) -> None:
    https_server.routes["/d"] = DigestRoute(USER, SECRET)
    basic = https_server.routes["/b"] = BasicRoute(USER, SECRET)
    with securl.Session(ca_certs=ca_file, auth=(USER, SECRET)) as s:
        assert s.get(https_server.url("/d")).status == 200
        assert s.get(https_server.url("/b")).status == 200
    first, second = basic.authorizations
    assert first is not None and first.startswith("Digest ")  # the reused nonce, refused
    assert second is not None and second.startswith("Basic ")


def test_digest_wrong_password_is_an_auth_error_and_the_session_recovers(
        https_server: LocalServer, ca_file: str) -> None:
    route = https_server.routes["/d"] = DigestRoute(USER, SECRET)
    with securl.Session(ca_certs=ca_file, auth=securl.DigestAuth(USER, WRONG)) as s:
        with pytest.raises(securl.AuthError) as info:
            s.get(https_server.url("/d"))
        assert info.value.offered == ("Digest",) and WRONG not in str(info.value)
        assert route.outcomes == ["no credentials", "bad response"]
        r = s.get(https_server.url("/d"), auth=securl.DigestAuth(USER, SECRET))
        assert r.status == 200
    assert https_server.accepts == 1  # the failure did not cost the pooled connection


# -- client certificate asked for over HTTP ---------------------------------------------------

def test_401_transport_challenge_is_client_certificate_required(
        https_server: LocalServer, session: securl.Session) -> None:
    https_server.routes["/c"] = lambda h: (
        401, {"WWW-Authenticate": 'Transport mode="tls-client-certificate"'}, b"")
    with pytest.raises(securl.ClientCertificateRequired, match="cert=") as info:
        session.get(https_server.url("/c"))
    assert "none was configured" in str(info.value)
    assert session.get(https_server.url("/")).status == 200


def test_a_password_challenge_offered_beside_transport_is_answered(
        https_server: LocalServer, session: securl.Session) -> None:
    basic = BasicRoute(USER, SECRET)

    def route(h: Handler) -> Reply:
        status, headers, body = basic(h)
        if status == 401:
            from _authserver import MultiHeaders

            return 401, MultiHeaders([("WWW-Authenticate",
                                       'Transport mode="tls-client-certificate"'),
                                      ("WWW-Authenticate", headers["WWW-Authenticate"])]), body
        return status, headers, body

    https_server.routes["/c"] = route
    assert session.get(https_server.url("/c"), auth=(USER, SECRET)).status == 200


# -- secrets ----------------------------------------------------------------------------------

def test_password_never_appears_in_errors_logs_or_audit_events(
        https_server: LocalServer, http_server: LocalServer, ca_file: str,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
        events: list[securl.AuditEvent]) -> None:
    https_server.routes["/b"] = BasicRoute(USER, SECRET)
    https_server.routes["/d"] = DigestRoute(USER, SECRET, algorithms=("MD5", "SHA-256"))
    http_server.routes["/b"] = BasicRoute(USER, SECRET)
    securl._audit.configure(format="json")  # JSON audit lines on stderr, captured
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    try:
        with securl.Session(ca_certs=ca_file) as s:
            for path, auth in [("/b", (USER, SECRET)), ("/b", (USER, WRONG)),
                               ("/d", securl.DigestAuth(USER, WRONG)),
                               ("/d", (USER, SECRET)),
                               ("/b", securl.BasicAuth(USER, WRONG, preemptive=True))]:
                try:
                    texts.append(repr(s.get(https_server.url(path), auth=auth)))
                except securl.SecurlError as exc:
                    texts += [str(exc), repr(exc), repr(exc.args)]
                if isinstance(auth, securl.BasicAuth | securl.DigestAuth):
                    texts.append(repr(auth))
            for kwargs in ({}, {"allow_insecure_auth": True}):
                try:
                    s.get(http_server.url("/b"), auth=(USER, WRONG), **kwargs)
                except securl.SecurlError as exc:
                    texts += [str(exc), repr(exc)]
    finally:
        securl._audit._set_slot("application", None)  # detach what configure() added
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [repr(e.to_dict()) for e in events]
    assert named(events, "securl.auth_challenge"), "the challenges were audited"
    assert '"event":"securl.auth_challenge"' in captured.err
    blob = "\n".join(texts)
    for token in TOKENS:
        assert token not in blob
    for event in named(events, "securl.auth_challenge"):
        assert set(event) >= {"scheme", "realm", "offered", "action"}
        assert "alice" not in repr(event)
