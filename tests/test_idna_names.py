"""Internationalised host names: UTS 46 / IDNA 2008 (non-transitional), one A-label everywhere.

``straße.example`` is sent as ``xn--strae-oqa.example`` (not the different name
``strasse.example``), and that A-label is the name everything uses: the connection, the Host
header, SNI and the certificate check. Names that IDNA 2008 disallows, or that would only be
reached by silently mapping them to another name, are refused with the host and the reason.

The end-to-end tests have no DNS: only the name resolution of the test's A-label is pointed at
127.0.0.1 (``socket.getaddrinfo``); TLS and certificate verification run for real.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

import securl
from _open_url import OpenURL
from _servers import LocalServer, server_context
from securl.http.target import parse_target

STRASSE = "xn--strae-oqa.example"


@pytest.mark.parametrize(("name", "a_label"), [
    ("straße.example", "xn--strae-oqa.example"),
    ("faß.de", "xn--fa-hia.de"),
    ("ÖBB.at", "xn--bb-eka.at"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("Bücher.Example", "xn--bcher-kva.example"),
    ("bu\u0308cher.example", "xn--bcher-kva.example"),  # decomposed ü: the same name (NFC)
    ("σας.gr", "xn--mxa8ab.gr"),  # final sigma kept, as IDNA 2008 has it
    ("مثال.إختبار", "xn--mgbh0fb.xn--kgbechtv"),
])
def test_unicode_host_is_sent_as_its_idna_2008_a_label(name: str, a_label: str) -> None:
    target = parse_target(f"https://{name}:8443/p?q=1")
    assert target.host == a_label
    assert target.port == 8443
    assert target.origin == ("https", a_label, 8443)


@pytest.mark.parametrize(("a_label", "unicode_form"), [
    ("xn--strae-oqa.example", "straße.example"),
    ("XN--FA-HIA.DE", "faß.de"),
    ("bücher.xn--fa-hia.de", "xn--bcher-kva.faß.de"),
])
def test_a_label_written_directly_is_the_same_host_as_its_unicode_form(
        a_label: str, unicode_form: str) -> None:
    written = parse_target(f"https://{a_label}/")
    assert written.host.isascii()
    assert written.origin == parse_target(f"https://{unicode_form}/").origin


@pytest.mark.parametrize(("host", "reason"), [
    # disallowed by IDNA 2008
    ("a\u2260b.example", "not a valid IDNA name: Codepoint U+2260"),  # NOT EQUAL TO
    ("\u0301abc.example", "not a valid IDNA name: Label begins with an illegal combining"),
    ("a\u0628.example", "not a valid IDNA name: Invalid direction"),  # bidi rule: Latin+Arabic
    ("\u0628a1\u0628.example", "not a valid IDNA name: Invalid direction"),
    ("x\u202eb.example", "not a valid IDNA name: Codepoint U+202E"),  # RIGHT-TO-LEFT OVERRIDE
    ("\u2488b\u00fccher.de", "not a valid IDNA name: Codepoint U+2488"),  # '⒈' maps to '1.'
    # reachable only by mapping them to a different name
    ("ｅｘａｍｐｌｅ.com", "canonical form: IDNA would send it as 'example.com'"),
    ("\ufb01le.example", "canonical form: IDNA would send it as 'file.example'"),  # 'ﬁ'
    ("x\u00adb\u00fccher.de", "canonical form: IDNA would send it as 'xn--xbcher-4ya.de'"),
])
def test_disallowed_or_remapped_names_are_refused_naming_the_host_and_the_reason(
        host: str, reason: str) -> None:
    with pytest.raises(securl.InvalidRequest) as info:
        parse_target(f"https://{host}/")
    message = str(info.value)
    assert message.startswith(f"host {host.lower()!r} is ")
    assert reason in message
    assert "\u202e" not in message and "\u00ad" not in message  # shown escaped, as repr does


def test_invalid_a_labels_are_refused() -> None:
    with pytest.raises(securl.InvalidRequest, match="invalid IDNA") as info:
        parse_target("https://xn--ls8h.example/")  # Punycode for an emoji: disallowed
    assert "'xn--ls8h.example'" in str(info.value)


def test_only_non_ascii_hosts_load_the_idna_package() -> None:
    code = ("import sys; from securl.http.target import parse_target; "
            "t = parse_target('https://Example.COM:8443/a'); "
            "assert t.host == 'example.com', t; print('idna' in sys.modules); "
            "print(parse_target('https://straße.example/').host, 'idna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         encoding="utf-8", check=True).stdout
    assert out.split() == ["False", STRASSE, "True"]


# --- end to end: a real TLS server whose certificate names only the A-label -----------------

@pytest.fixture
def strasse_server(ca: trustme.CA) -> Iterator[tuple[LocalServer, list[str | None]]]:
    """An https LocalServer with a certificate for ``xn--strae-oqa.example`` only, recording
    the SNI name every handshake carried."""
    ctx = server_context(ca.issue_cert(STRASSE))
    sni: list[str | None] = []

    def record(sock: Any, name: str | None, context: ssl.SSLContext) -> None:
        sni.append(name)

    ctx.sni_callback = record
    with LocalServer(ctx) as server:
        yield server, sni


@pytest.fixture
def strasse_resolves_to_localhost(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Name resolution of the A-label (only) answers 127.0.0.1; returns the names asked for."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        if host in (STRASSE, STRASSE.encode()):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_unicode_host_connects_with_the_a_label_in_host_header_sni_and_certificate_check(
        strasse_server: tuple[LocalServer, list[str | None]],
        strasse_resolves_to_localhost: list[str], session: securl.Session,
        events: list[securl.AuditEvent]) -> None:
    server, sni = strasse_server
    response = session.get(f"https://straße.example:{server.port}/echo")
    assert response.status == 200
    assert response.json()["headers"]["Host"] == f"{STRASSE}:{server.port}"
    assert sni == [STRASSE]
    assert strasse_resolves_to_localhost == [STRASSE]
    connection = [e for e in events if e.event == "securl.connection"]
    assert [(e.host, e.fields["verified"]) for e in connection] == [(STRASSE, True)]


def test_a_label_url_reuses_the_unicode_urls_connection(
        strasse_server: tuple[LocalServer, list[str | None]],
        strasse_resolves_to_localhost: list[str], session: securl.Session) -> None:
    server, _ = strasse_server
    assert session.get(f"https://straße.example:{server.port}/").status == 200
    assert session.get(f"https://{STRASSE}:{server.port}/").status == 200
    assert session.get(f"https://STRAßE.Example:{server.port}/").status == 200
    assert server.accepts == 1  # one pool, one connection: the same origin


def test_the_certificate_is_checked_for_the_a_label_not_the_transitional_name(
        ca: trustme.CA, session: securl.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A certificate for ``strasse.example`` (what IDNA 2003 would contact) is refused."""
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "127.0.0.1" if host in (STRASSE, "strasse.example") else host, *a, **k))
    with LocalServer(server_context(ca.issue_cert("strasse.example"))) as server:
        with pytest.raises(securl.TLSVerificationError) as info:
            session.get(f"https://straße.example:{server.port}/")
    assert info.value.reason_code == "hostname-mismatch"
    assert info.value.host == STRASSE


def test_both_front_ends_reach_a_unicode_host_by_its_a_label(
        strasse_server: tuple[LocalServer, list[str | None]],
        strasse_resolves_to_localhost: list[str], open_url: OpenURL) -> None:
    server, sni = strasse_server
    body = open_url(f"https://straße.example:{server.port}/echo")
    assert sni == [STRASSE]
    assert strasse_resolves_to_localhost == [STRASSE]
    assert json.loads(body)["headers"]["Host"] == f"{STRASSE}:{server.port}"
