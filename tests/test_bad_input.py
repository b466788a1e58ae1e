"""Bad input from callers: refused before a byte is sent; the host contacted is urllib.parse's.

Example-based tests against real servers (accept counts prove nothing was sent), plus
property-based tests (hypothesis, bounded and derandomized for CI) of URL and header checks.
"""

from __future__ import annotations

import string
import urllib.parse

import idna
import pytest
import trustme
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import securl
from _secrets import TEST_BEARER, TEST_PASSWORD, TEST_USER
from _servers import LocalServer, server_context
from securl.http.target import check_headers, check_method, parse_target

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
CONTROL = [chr(c) for c in (*range(0x20), 0x7F)]


# --- URLs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("char", ["\r", "\n", "\0", " ", "\t", "\x7f", "\x1b"])
@pytest.mark.parametrize("where", ["host", "path", "query"])
def test_url_with_control_characters_is_refused_before_connecting(
        https_server: LocalServer, session: securl.Session, char: str, where: str) -> None:
    port = https_server.port
    url = {
        "host": f"https://local{char}host:{port}/",
        "path": f"https://localhost:{port}/a{char}b",
        "query": f"https://localhost:{port}/?q=1{char}Host: evil",
    }[where]
    with pytest.raises(securl.InvalidRequest, match="forbidden character"):
        session.get(url)
    assert https_server.accepts == 0


@pytest.mark.parametrize("url", [
    "https://localhost:65536/", "https://localhost:99999999/", "https://localhost:0/",
    "https://localhost:-1/", "https://localhost:+443/", "https://localhost:44a/",
])
def test_ports_out_of_range_are_refused(session: securl.Session, url: str) -> None:
    with pytest.raises(securl.InvalidRequest, match=r"port|Port"):
        session.get(url)


@pytest.mark.parametrize("url", [
    "https://good.example@evil.example/",
    f"https://{TEST_USER}:{TEST_PASSWORD}@evil.example/",
    "https://good.example:443@evil.example/",
    "https://good.example\\@evil.example/",
    "https://good.example%40evil.example@127.0.0.1/",
])
def test_userinfo_tricks_are_refused_without_showing_the_password(
        session: securl.Session, url: str) -> None:
    with pytest.raises(securl.InvalidRequest, match="credentials in the URL") as info:
        session.get(url)
    assert TEST_PASSWORD not in str(info.value)


def test_userinfo_trick_never_reaches_either_server(
        https_server: LocalServer, ca: trustme.CA, ca_file: str) -> None:
    with LocalServer(server_context(ca.issue_cert("localhost", "127.0.0.1"))) as other:
        url = f"https://localhost:{https_server.port}@127.0.0.1:{other.port}/"
        with pytest.raises(securl.InvalidRequest):
            securl.Session(ca_certs=ca_file).get(url)
        assert https_server.accepts == other.accepts == 0


@pytest.fixture
def localhost_only(ca: trustme.CA) -> LocalServer:
    return LocalServer(server_context(ca.issue_cert("localhost")))


@pytest.mark.parametrize(("template", "host"), [
    ("https://localhost:{port}/#@127.0.0.1/", "localhost"),
    ("https://localhost:{port}/?next=@127.0.0.1", "localhost"),
    ("https://127.0.0.1:{port}/#@localhost", "127.0.0.1"),
    ("https://127.0.0.1:{port}/?@localhost", "127.0.0.1"),
])
def test_the_certificate_is_checked_for_the_host_urllib_parse_reports(
        localhost_only: LocalServer, ca_file: str, template: str, host: str) -> None:
    """The server's certificate names only ``localhost``: the verdict follows urllib.parse."""
    url = template.format(port=localhost_only.port)
    assert urllib.parse.urlsplit(url).hostname == host
    events: list[securl.AuditEvent] = []
    securl.add_audit_hook(events.append)
    try:
        with localhost_only, securl.Session(ca_certs=ca_file) as s:
            if host == "localhost":
                assert s.get(url).status == 200
            else:
                with pytest.raises(securl.TLSVerificationError) as info:
                    s.get(url)
                assert info.value.reason_code == "hostname-mismatch"
                assert info.value.host == host
    finally:
        securl.remove_audit_hook(events.append)
    assert all(e.host == host for e in events if e.event == "securl.connection")


def test_unicode_host_is_sent_as_its_idna_a_label() -> None:
    target = parse_target("https://Bücher.Example/straße?q=ü")
    assert target.host == "xn--bcher-kva.example"
    assert target.request_target == "/stra%C3%9Fe?q=%C3%BC"


@pytest.mark.parametrize(("host", "why"), [
    ("\ufb01le.example", "canonical form"),  # the ligature would silently become file.example
    ("ｅｘａｍｐｌｅ.com", "canonical form"),  # full-width letters would become example.com
    ("ä..com", "not a valid IDNA"),
    ("ä" * 64 + ".com", "not a valid IDNA"),
    ("xn--a.example", "invalid IDNA"),
    ("a\u200db.example", "not a valid IDNA"),  # a zero-width joiner outside its IDNA 2008 context
])
def test_invalid_or_changing_idna_hosts_are_refused(host: str, why: str) -> None:
    with pytest.raises(securl.InvalidRequest, match=why):
        parse_target(f"https://{host}/")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://h/", "data:,x", "//h/", "h/x",
                                 "javascript:alert(1)", "https:///nohost"])
def test_other_schemes_and_hostless_urls_are_refused(url: str) -> None:
    with pytest.raises(securl.InvalidRequest):
        parse_target(url)


# --- headers and methods ------------------------------------------------------------------

INJECTIONS = [
    {"X-A": "v\r\nX-Injected: 1"},
    {"X-A": "v\nX-Injected: 1"},
    {"X-A": "v\rX"},
    {"X-A": "v\0"},
    {"X-A\r\nX-Injected": "1"},
    {"X A": "1"},
    {"X:A": "1"},
    {"": "1"},
    {"Authorization": f"Bearer {TEST_BEARER}\r\nX-Injected: 1"},
]


@pytest.mark.parametrize("headers", INJECTIONS)
def test_header_injection_raises_before_anything_is_sent(
        https_server: LocalServer, session: securl.Session, headers: dict[str, str]) -> None:
    with pytest.raises(securl.InvalidRequest) as info:
        session.get(https_server.url(), headers=headers)
    assert TEST_BEARER not in str(info.value)
    with pytest.raises(securl.InvalidRequest):
        securl.Session(headers=headers)
    assert https_server.accepts == 0


@pytest.mark.parametrize("method", ["GET /x HTTP/1.1\r\nX: y", "GE T", "", "GET\0", "PÖST"])
def test_method_injection_is_refused(https_server: LocalServer, session: securl.Session,
                                     method: str) -> None:
    with pytest.raises(securl.InvalidRequest, match="invalid HTTP method"):
        session.request(method, https_server.url())
    assert https_server.accepts == 0


# --- properties ---------------------------------------------------------------------------

hosts = st.one_of(
    st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}\Z"),
    st.text(min_size=1, max_size=20),
    st.sampled_from(["good.example@evil.example", "[::1]", "[::1", "127.0.0.1", "Bücher.de",
                     "faß.de", "xn--a", "a..b", "évil.example", "h:99999", "h:0", "ｅ.com"]),
)
url_text = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https", "HTTPS", "ftp", "file", ""]),
    hosts,
    st.one_of(st.just(""), st.integers(-5, 70000).map(lambda p: f":{p}"),
              st.text(max_size=6).map(lambda p: ":" + p)),
    st.one_of(st.just(""), st.text(max_size=30).map(lambda p: "/" + p)),
)


@PROPERTY
@given(st.one_of(url_text, st.text(max_size=60)))
@example("https://good.example@evil.example/")
@example("https://evil.example\\@good.example/")
@example("https://ex\u00adample.com/")
@example("https://ex\u3000ample.com/")
@example("http://[::ffff:127.0.0.1]:80/")
def test_parse_target_agrees_with_urllib_parse_or_refuses(url: str) -> None:
    try:
        target = parse_target(url)
    except securl.InvalidRequest:
        return
    parts = urllib.parse.urlsplit(url)
    hostname = parts.hostname
    assert hostname
    expected = hostname if hostname.isascii() else idna.encode(
        hostname, uts46=True, transitional=False).decode("ascii")
    assert target.host == expected
    assert target.port == (parts.port or (443 if target.scheme == "https" else 80))
    assert 1 <= target.port <= 65535
    assert target.scheme in ("http", "https")
    assert "@" not in parts.netloc
    for part in (target.host, target.request_target):
        assert part.isascii()
        assert not any(c in part for c in [*CONTROL, " "])
    assert target.request_target.startswith("/")


header_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@PROPERTY
@given(st.lists(st.tuples(st.one_of(header_text, st.sampled_from(["X-A", "Host", "a b"])),
                          st.one_of(header_text, st.binary(max_size=20))), max_size=4))
@example([("X-A", "v\r\nInjected: 1")])
@example([("X-A", b"v\nInjected: 1")])
def test_header_check_never_lets_cr_lf_or_nul_through(headers: list[tuple[str, object]]) -> None:
    try:
        checked = check_headers(headers)  # type: ignore[arg-type]
    except securl.InvalidRequest:
        return
    token = set(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
    for name, value in checked:
        assert name and set(name) <= token
        assert not any(c in value for c in "\r\n\0")


@PROPERTY
@given(st.text(max_size=12))
def test_method_check_accepts_only_tokens(method: str) -> None:
    try:
        checked = check_method(method)
    except securl.InvalidRequest:
        return
    assert checked == method.upper()
    assert checked.isascii() and all(c not in checked for c in [*CONTROL, " ", "/", ":"])
