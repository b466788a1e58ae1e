from __future__ import annotations

import datetime
import os
import ssl
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

sys.path.insert(0, os.path.dirname(__file__))

import _open_url
import securl
import securl.tls.context
from _certs import self_signed
from _secret_guard import (  # noqa: F401 - the suite-wide secret-leak guard (see module)
    _secret_guard_session,
    pytest_runtest_makereport,
    secret_guard,
)
from _secrets import SECRET_HEADERS
from _servers import LocalServer, server_context

# Variables of the test machine that would change trust or routing decisions.
_ENV_TO_CLEAR = (
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SECURL_POLICY",
    "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy",
    "all_proxy", "no_proxy", "PYTHONHTTPSVERIFY",
    # libraries' own CA settings: tests state the trust they mean
    "AWS_CA_BUNDLE", "PIP_CERT", "HTTPLIB2_CA_CERTS", "WEBSOCKET_CLIENT_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    securl.tls.context.clear_cache()
    yield
    securl.tls.context.clear_cache()


@pytest.fixture(autouse=True)
def _audit_events_match_their_documentation() -> Iterator[None]:
    """Every event any test triggers is listed in securl.audit.EVENTS with all its fields."""
    from securl.audit import EVENTS

    seen: list[securl.AuditEvent] = []
    securl.add_audit_hook(seen.append)
    yield
    securl.remove_audit_hook(seen.append)
    for event in seen:
        if event.name.startswith("securl.test_"):
            continue  # emitted by the audit tests themselves, to test emit()
        assert event.name in EVENTS, f"{event.name} is not documented in securl.audit.EVENTS"
        undocumented = set(event.fields) - set(EVENTS[event.name])
        assert not undocumented, f"{event.name} has undocumented fields {undocumented}"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def other_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1")


@pytest.fixture
def https_server(leaf: trustme.LeafCert) -> Iterator[LocalServer]:
    with LocalServer(server_context(leaf)) as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def self_signed_server() -> Iterator[LocalServer]:
    """An https LocalServer whose certificate (localhost, 127.0.0.1) is self-signed."""
    with LocalServer(server_context(self_signed())) as server:
        yield server


# --- sessions: one builder, named variants ------------------------------------------------

#: The truststore pass (tests/test_truststore_path.py): system trust goes through truststore,
#: and the sessions below trust the test CA as system trust (SSL_CERT_FILE), not ca_certs=.
TRUSTSTORE_PASS = os.environ.get("SECURL_TEST_TRUSTSTORE") == "1"
if TRUSTSTORE_PASS:
    securl.tls.trust._force_truststore = True


def _trusting(ca_file: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Session options that trust the test CA (through truststore in the truststore pass)."""
    if TRUSTSTORE_PASS:
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
        return {}
    return {"ca_certs": ca_file}


@pytest.fixture
def make_session(ca_file: str, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[Callable[..., securl.Session]]:
    """``make_session(**options)``: a Session trusting the test CA; closed after the test."""
    made: list[securl.Session] = []

    def make(**options: Any) -> securl.Session:
        made.append(securl.Session(**{**_trusting(ca_file, monkeypatch), **options}))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def session(make_session: Callable[..., securl.Session]) -> securl.Session:
    """A Session trusting the test CA, every other option at its default."""
    return make_session()


@pytest.fixture
def session_5s(make_session: Callable[..., securl.Session]) -> securl.Session:
    """``session`` with a 5 s connect and read timeout, so a hang fails the test quickly."""
    return make_session(timeout=5)


@pytest.fixture
def secret_session(make_session: Callable[..., securl.Session]) -> securl.Session:
    """``session`` sending the known test secrets (``_secrets.SECRET_HEADERS``) on every
    request, so the suite-wide secret guard proves no failure leaks them."""
    return make_session(headers=SECRET_HEADERS)


@pytest.fixture(params=["session", "urlopen"])
def open_url(request: pytest.FixtureRequest, ca_file: str,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[_open_url.OpenURL]:
    """``open_url(url, *, timeout=, headers=, opt_out=) -> bytes`` through a Session or the
    urlopen drop-in (see tests/_open_url.py)."""
    if request.param == "urlopen":
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
        try:
            yield _open_url.urlopen_opener
        finally:
            _open_url.close_pools()  # the drop-in's pools outlive the test otherwise
        return
    # The Session is made on the first call, after the test has set its admin policy (a
    # Session takes the policy's TLS floor when it is made; a real process loads the policy
    # before any Session exists).
    made: list[securl.Session] = []

    def first_use_session() -> securl.Session:
        if not made:
            made.append(securl.Session(**_trusting(ca_file, monkeypatch)))
        return made[0]

    try:
        yield _open_url.session_opener(first_use_session)
    finally:
        for each in made:
            each.close()


def expired_leaf(ca: trustme.CA) -> trustme.LeafCert:
    now = datetime.datetime.now(datetime.timezone.utc)
    return ca.issue_cert(
        "localhost", "127.0.0.1",
        not_before=now - datetime.timedelta(days=30), not_after=now - datetime.timedelta(days=1),
    )


def future_leaf(ca: trustme.CA) -> trustme.LeafCert:
    now = datetime.datetime.now(datetime.timezone.utc)
    return ca.issue_cert(
        "localhost", "127.0.0.1",
        not_before=now + datetime.timedelta(days=1), not_after=now + datetime.timedelta(days=30),
    )


__all__ = ["expired_leaf", "future_leaf", "ssl"]


@pytest.fixture
def set_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Any]:
    """``set_policy(toml_text)``: make that the process's admin policy for this test."""
    import securl._policy

    def apply(text: str) -> Any:
        path = tmp_path / "policy.toml"
        path.write_text(text)
        monkeypatch.setenv("SECURL_POLICY", str(path))
        securl._policy._reset_for_tests()
        return path

    yield apply
    securl._policy._reset_for_tests()


@pytest.fixture
def events() -> Iterator[list[securl.AuditEvent]]:
    """Audit events emitted during the test, in order."""
    seen: list[securl.AuditEvent] = []
    hook = seen.append  # one bound-method object, so remove_audit_hook finds it
    securl.add_audit_hook(hook)
    yield seen
    securl.remove_audit_hook(hook)
