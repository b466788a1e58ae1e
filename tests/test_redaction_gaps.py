"""URL redaction: every URL securl shows, valid or not, goes through ``redact_url``.

Rules proved here: ``;`` separates query parameters as ``&`` does; credentials are stripped
from malformed URLs too (one slash, no slash, backslashes, a password cut short by ``/``,
``?`` or ``#``), and ``redact_url`` never raises; a refused URL's message never echoes a
password (not even through ``urllib.parse``'s own error text); ``repr`` of a response shows
its URL redacted.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import securl
import securl.urllib.request
from _secrets import TEST_BEARER, TEST_PASSWORD, TEST_USER
from _servers import LocalServer
from securl._redact import redact_url
from securl.http.target import parse_target

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
U, P = TEST_USER, TEST_PASSWORD


# --- ';' separates query parameters -------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("https://h/cb?state=1;access_token=SECRET",
     "https://h/cb?state=1;access_token=[REDACTED]"),
    ("https://h/cb?token=SECRET;state=1&sig=S2;x=2",
     "https://h/cb?token=[REDACTED];state=1&sig=[REDACTED];x=2"),
    ("/cb?a=1;;password=SECRET", "/cb?a=1;;password=[REDACTED]"),
])
def test_semicolon_separates_query_parameters_like_ampersand(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_audit_urls_redact_secrets_after_a_semicolon(
        https_server: LocalServer, session: securl.Session,
        events: list[securl.AuditEvent]) -> None:
    https_server.routes["/start"] = lambda h: (
        302, {"Location": f"/cb?state=1;access_token={TEST_BEARER}"}, b"")
    assert session.get(https_server.url("/start")).status == 200
    redirect = [e for e in events if e.event == "securl.redirect"]
    assert [e.fields["to_url"] for e in redirect] == [
        https_server.url("/cb?state=1;access_token=[REDACTED]")]


# --- malformed URLs ---------------------------------------------------------------------

MALFORMED = [
    f"https:/{U}:{P}@example.com/",  # one slash: browsers read userinfo
    f"https:{U}:{P}@example.com/",  # no slash
    f"https:\\\\{U}:{P}@example.com/",  # backslashes: browsers read slashes
    f"https:/\\{U}:{P}@example.com/x?q=1",
    f"https:///{U}:{P}@example.com/",
    f" https:/{U}:{P}@example.com/",  # leading space, stripped by urllib.parse
    f"HTTPS:/{U}:{P}@example.com/",
    f"ftp:/{U}:{P}@example.com/",
    f"{U}:{P}@example.com/",  # no scheme: the user name reads as one
    f"//{U}:{P}@example.com/",
    f"https://{U}:{P[:5]}/{P[5:]}@example.com/",  # password cut short by '/'
    f"https://{U}:{P[:5]}?{P[5:]}@example.com/",  # ... by '?'
    f"https://{U}:{P[:5]}#{P[5:]}@example.com/",  # ... by '#'
    f"https://{U}:{P}/",  # the host forgotten: the password reads as a port
    f"https://{U}:{P}@example.com\uff0fx/",  # urllib.parse's NFKC error text shows the netloc
    f"https://{U}:{P}@[::1/",  # unbalanced IPv6 bracket
    f"https://{U}:{P}@example.com:99999/",
    f"https://{U}:{P}@exa mple.com/",
    f"https://{U}:{P}@example.com/\0",
]


@pytest.mark.parametrize("url", MALFORMED)
def test_redact_url_strips_credentials_from_malformed_urls(url: str) -> None:
    shown = redact_url(url)
    assert P not in shown
    assert P[:5] not in shown


@pytest.mark.parametrize("url", MALFORMED)
def test_refused_malformed_urls_never_show_their_credentials(url: str) -> None:
    with pytest.raises(securl.InvalidRequest) as info:
        parse_target(url)
    assert P[:5] not in str(info.value)
    assert P[:5] not in repr(info.value)


def test_one_slash_url_is_still_shown_without_its_userinfo() -> None:
    with pytest.raises(securl.InvalidRequest) as info:
        parse_target(f"https:/{U}:{P}@example.com/path")
    assert "'https:/example.com/path'" in str(info.value)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://example.com:8443/p?q=1", "https://example.com:8443/p?q=1"),
    ("https://[::1]:8443/p", "https://[::1]:8443/p"),
    ("https://mastodon.example/@alice", "https://mastodon.example/@alice"),
    ("https://h/p?next=/u:p@x", "https://h/p?next=/u:p@x"),
    ("/users/@me?token=t", "/users/@me?token=[REDACTED]"),
    ("https:/example.com/x", "https:/example.com/x"),
    ("https://h:abc/x", "https://h:[REDACTED]/x"),
])
def test_redact_url_keeps_urls_without_credentials_as_they_are(url: str,
                                                               expected: str) -> None:
    assert redact_url(url) == expected


@PROPERTY
@given(
    st.sampled_from(["https://", "https:/", "https:", "https:\\", "https:///", "http:/\\",
                     "//", "", " https:/", "x:", "ftp:/"]),
    st.text(alphabet="abcdefgh-._~!$&'()*+,;=%/?#\\", max_size=8),
    st.text(alphabet="abcdefgh-._~!$&'()*+,;=%:", max_size=8),
    st.sampled_from(["example.com/", "example.com:8443/x", "[::1]/", "example.com?q=1",
                     "example.com#f", "example.com"]),
    st.text(max_size=20),
)
def test_redact_url_never_raises_nor_shows_a_password_in_any_url_shape(
        prefix: str, before: str, after: str, rest: str, tail: str) -> None:
    secret = f"PW{before}ZZ{after}"
    shown = redact_url(f"{prefix}user:{secret}@{rest}{tail}")
    assert "PW" not in shown or "PW" in tail


# --- responses --------------------------------------------------------------------------

def test_response_repr_shows_its_url_redacted(https_server: LocalServer,
                                              session: securl.Session) -> None:
    with session.get(https_server.url(f"/?a=1;token={TEST_BEARER}&b=2")) as response:
        shown = repr(response)
    assert TEST_BEARER not in shown
    assert shown == f"<Response [200] GET {https_server.url('/?a=1;token=[REDACTED]&b=2')}>"


def test_urlopen_response_repr_shows_its_url_redacted(
        https_server: LocalServer, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    url = https_server.url(f"/?session={TEST_BEARER}")
    try:
        with securl.urllib.request.urlopen(url, timeout=10) as response:
            shown = repr(response)
            assert response.geturl() == url  # the URL itself is unchanged
    finally:
        securl.urllib.request._pools.clear()
    assert TEST_BEARER not in shown
    assert shown == f"<SecurlHTTPResponse [200] {https_server.url('/?session=[REDACTED]')}>"
