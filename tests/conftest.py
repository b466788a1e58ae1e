from __future__ import annotations

import datetime
import os
import ssl
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

sys.path.insert(0, os.path.dirname(__file__))

import _open_url
import securl
import securl.tls.context
from _secret_guard import (  # noqa: F401 - the suite-wide secret-leak guard (see module)
    _secret_guard_session,
    pytest_runtest_makereport,
    secret_guard,
)
from _servers import LocalServer, server_context

# Variables of the test machine that would change trust or routing decisions.
_ENV_TO_CLEAR = (
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SECURL_POLICY",
    "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy",
    "all_proxy", "no_proxy", "PYTHONHTTPSVERIFY",
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


@pytest.fixture(params=["session", "urlopen"])
def open_url(request: pytest.FixtureRequest, ca_file: str,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[_open_url.OpenURL]:
    """``open_url(url, timeout=) -> bytes`` through a Session or the urlopen drop-in."""
    if request.param == "urlopen":
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
        yield _open_url.urlopen_opener
        return
    with securl.Session(ca_certs=ca_file) as session:
        yield _open_url.session_opener(session)


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
