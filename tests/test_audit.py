"""The audit trail: every trust decision, against real local TLS servers, through every outlet.

Each event test triggers the real decision (a handshake, a failed verification, an opt-out,
a redirect, a pin check, a policy load) and asserts the event's documented fields.
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import os
import secrets
import ssl
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

import securl
import securl.audit
from _certs import self_signed
from _servers import Handler, LocalServer, Reply, server_context
from conftest import expired_leaf
from securl import _audit
from securl._audit import EVENTS, AuditEvent
from securl._redact import redact_url
from securl.tls.x509 import spki_pin

HERE = os.path.abspath(__file__)


# -- recording the outlets -----------------------------------------------------------------

class SysAuditSink:
    """A PEP 578 hook, added once per process (they cannot be removed), recording securl.*."""

    installed = False
    events: list[tuple[str, tuple[Any, ...]]] | None = None
    raise_on: str | None = None

    @classmethod
    def hook(cls, name: str, args: tuple[Any, ...]) -> None:
        if not name.startswith("securl."):
            return
        if cls.events is not None:
            cls.events.append((name, args))
        if cls.raise_on == name:
            raise RuntimeError("sys.audit hook refuses " + name)

    @classmethod
    def install(cls) -> None:
        if not cls.installed:
            sys.addaudithook(cls.hook)
            cls.installed = True


@pytest.fixture
def sys_events() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    SysAuditSink.install()
    SysAuditSink.events = []
    yield SysAuditSink.events
    SysAuditSink.events = None
    SysAuditSink.raise_on = None




class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def audit_log() -> Iterator[Capture]:
    """Records of the ``securl`` logger tree (securl.audit and securl's own reports)."""
    handler = Capture()
    logger = logging.getLogger("securl")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


@pytest.fixture(autouse=True)
def _restore_audit_logger() -> Iterator[None]:
    """configure() raises the audit logger to INFO; put it back as each test found it."""
    logger = logging.getLogger("securl.audit")
    level, handlers, disabled = logger.level, list(logger.handlers), logger.disabled
    yield
    _audit._set_slot("application", None)
    logger.setLevel(level)
    logger.handlers[:] = handlers
    logger.disabled = disabled


@pytest.fixture
def reset_reports() -> Iterator[None]:
    _audit._reported.clear()
    yield
    _audit._reported.clear()


def named(events: list[AuditEvent], name: str) -> list[AuditEvent]:
    return [e for e in events if e.name == name]


def leaf_pin(leaf: trustme.LeafCert) -> str:
    pem = leaf.cert_chain_pems[0].bytes().decode()
    return spki_pin(ssl.PEM_cert_to_DER_cert(pem))


def redirect_to(url: str, status: int = 302) -> Any:
    def route(handler: Handler) -> Reply:
        return status, {"Location": url}, b""
    return route


# -- the event itself ------------------------------------------------------------------------

def test_event_is_a_frozen_dataclass_with_read_only_fields() -> None:
    event = _audit.emit("redirect", host="h", port=1, status=302, headers_dropped=["Cookie"])
    assert (event.name, event.host, event.port) == ("securl.redirect", "h", 1)
    with pytest.raises(AttributeError):
        event.name = "securl.other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.fields["status"] = 200  # type: ignore[index]
    assert event.fields["headers_dropped"] == ["Cookie"]
    with pytest.raises(TypeError):
        event.fields["headers_dropped"].append("Authorization")
    assert event.to_dict()["headers_dropped"] == ["Cookie"]
    assert type(event.to_dict()["headers_dropped"]) is list


def test_to_dict_puts_common_fields_first_and_a_field_cannot_overwrite_them() -> None:
    event = AuditEvent("securl.x", 1.5, "h", 2, {"event": "forged", "time": 0, "a": [1]})
    data = event.to_dict()
    assert list(data) == [*_audit.COMMON_FIELDS, "a"]
    assert list(_audit.COMMON_FIELDS) == [
        "time", "event", "host", "port", "pid", "user", "machine", "program"]
    assert event.time == 1.5  # the attribute stays a float; to_dict() gives RFC 3339 text
    assert {k: data[k] for k in ("time", "event", "host", "port", "a")} == {
        "time": "1970-01-01T00:00:01.500Z", "event": "securl.x", "host": "h", "port": 2,
        "a": [1]}
    assert data["pid"] == os.getpid()


def test_events_mapping_is_the_documented_list_with_no_common_or_log_record_names() -> None:
    assert securl.audit.EVENTS is EVENTS
    for name, fields in EVENTS.items():
        assert name.startswith("securl.")
        assert len(set(fields)) == len(fields)
        assert not set(fields) & set(_audit.COMMON_FIELDS)
        # every field travels in the log record's extra, so none may clash with LogRecord's
        assert not set(fields) & _audit._RECORD_ATTRS, name


def test_public_audit_module_exports_the_audit_api() -> None:
    assert set(securl.audit.__all__) == {
        "COMMON_FIELDS", "EVENTS", "AuditEvent", "JSONFormatter", "add_audit_hook",
        "configure", "remove_audit_hook",
    }
    assert securl.add_audit_hook is securl.audit.add_audit_hook


# -- securl.connection -----------------------------------------------------------------------

def test_new_verified_connection_emits_connection_event_with_peer_key_and_trust(
        https_server: LocalServer, ca_file: str, leaf: trustme.LeafCert,
        events: list[AuditEvent]) -> None:
    with securl.Session(ca_certs=ca_file) as s:
        assert s.get(https_server.url("/")).status == 200
    (event,) = named(events, "securl.connection")
    f = event.fields
    assert (event.host, event.port) == ("localhost", https_server.port)
    assert f["verified"] is True
    assert f["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert isinstance(f["cipher"], str) and f["cipher"]
    assert f["subject"].startswith("O=trustme") and "Testing cert" in f["subject"]
    assert "Testing CA" in f["issuer"]
    assert f["not_after"] == "Jan  1 00:00:00 3000 GMT"
    assert f["spki_sha256"] == leaf_pin(leaf)
    assert f["trust_source"] == "ca_certs"
    assert set(f) <= set(EVENTS["securl.connection"])
    assert not named(events, "securl.verification_failed")


def test_reused_keep_alive_connection_emits_no_second_connection_event(
        https_server: LocalServer, ca_file: str, events: list[AuditEvent]) -> None:
    with securl.Session(ca_certs=ca_file) as s:
        for _ in range(3):
            s.get(https_server.url("/"))
    assert https_server.accepts == 1
    assert len(named(events, "securl.connection")) == 1


def test_unverified_connection_event_says_unverified_and_still_records_the_key(
        https_server: LocalServer, leaf: trustme.LeafCert, events: list[AuditEvent]) -> None:
    with securl.Session() as s, pytest.warns(securl.InsecureRequestWarning):
        s.get(https_server.url("/"), tls=securl.unverified(reason="lab box"))
    (event,) = named(events, "securl.connection")
    assert event.fields["verified"] is False
    assert event.fields["subject"] is None  # nothing was verified, so nothing is claimed
    assert event.fields["spki_sha256"] == leaf_pin(leaf)


# -- securl.verification_failed --------------------------------------------------------------

def _bad_server(kind: str, ca: trustme.CA) -> tuple[Any, str, dict[str, Any]]:
    """(server cert, expected reason code, Session kwargs) for one kind of failure."""
    if kind == "untrusted-issuer":
        return trustme.CA().issue_cert("localhost"), kind, {"ca_certs": ca.cert_pem.bytes()}
    if kind == "expired":
        return expired_leaf(ca), kind, {"ca_certs": ca.cert_pem.bytes()}
    if kind == "hostname-mismatch":
        return ca.issue_cert("other.example"), kind, {"ca_certs": ca.cert_pem.bytes()}
    return self_signed(), kind, {}  # self-signed, against the system store


@pytest.mark.parametrize("kind", ["untrusted-issuer", "expired", "hostname-mismatch",
                                  "self-signed"])
def test_verification_failure_emits_exactly_one_event_with_its_reason_code(
        kind: str, ca: trustme.CA, events: list[AuditEvent]) -> None:
    cert, code, kwargs = _bad_server(kind, ca)
    with LocalServer(server_context(cert)) as server, securl.Session(**kwargs) as s:
        with pytest.raises(securl.TLSVerificationError) as info:
            s.get(server.url("/"))
    assert info.value.reason_code == code
    (event,) = named(events, "securl.verification_failed")
    assert (event.host, event.port) == ("localhost", server.port)
    assert event.fields["reason_code"] == code
    assert event.fields["trust_source"] == ("ca_certs" if kwargs else "system")
    assert event.fields["detail"]
    assert set(event.fields) == {"reason_code", "detail", "trust_source"}
    assert not named(events, "securl.connection")


def test_trusted_server_emits_no_verification_failed_event(
        https_server: LocalServer, ca_file: str, events: list[AuditEvent]) -> None:
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url("/"))
    assert named(events, "securl.connection")
    assert not named(events, "securl.verification_failed")


# -- securl.unverified_request ---------------------------------------------------------------

def test_unverified_request_event_names_reason_caller_and_redacted_url(
        https_server: LocalServer, events: list[AuditEvent]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # silencing the warning must not silence the audit
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        securl.get(https_server.url("/a?token=s3cr3t&x=1"), tls=securl.unverified(reason="INC-1"))
    (event,) = named(events, "securl.unverified_request")
    assert (event.host, event.port) == ("localhost", https_server.port)
    assert event.fields["reason"] == "INC-1"
    assert event.fields["caller"] == f"{HERE}:{line}"
    assert event.fields["action"] == "allowed"
    assert event.fields["url"] == f"{https_server.base}/a?token=[REDACTED]&x=1"


def test_verified_request_emits_no_unverified_request_event(
        https_server: LocalServer, ca_file: str, events: list[AuditEvent]) -> None:
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url("/"))
    assert named(events, "securl.connection")
    assert not named(events, "securl.unverified_request")


# -- securl.redirect -------------------------------------------------------------------------

def test_cross_origin_redirect_event_records_from_to_and_dropped_headers(
        leaf: trustme.LeafCert, ca_file: str, events: list[AuditEvent]) -> None:
    with LocalServer(server_context(leaf)) as a, LocalServer(server_context(leaf)) as b:
        a.routes["/go"] = redirect_to(b.url("/landing?token=t0k&page=2"))
        with securl.Session(ca_certs=ca_file) as s:
            r = s.get(a.url("/go?sig=abc"),
                      headers={"Authorization": "Bearer zzz", "Cookie": "session=yyy"})
        assert r.status == 200
        assert "Authorization" not in b.seen[0].headers  # the rule the event reports
    (event,) = named(events, "securl.redirect")
    assert (event.host, event.port) == ("localhost", a.port)
    assert event.fields["status"] == 302
    assert event.fields["method"] == "GET"
    assert event.fields["from_url"] == a.url("/go?sig=[REDACTED]")
    assert event.fields["to_url"] == b.url("/landing?token=[REDACTED]&page=2")
    assert event.fields["headers_dropped"] == ["Authorization", "Cookie"]


def test_same_origin_redirect_event_drops_no_headers(
        https_server: LocalServer, ca_file: str, events: list[AuditEvent]) -> None:
    https_server.routes["/go"] = redirect_to("/there", 307)
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url("/go"), headers={"Authorization": "Bearer zzz"})
    (event,) = named(events, "securl.redirect")
    assert event.fields["status"] == 307
    assert event.fields["headers_dropped"] == []
    assert https_server.seen[1].headers.get("Authorization") == "Bearer zzz"


# -- securl.pin_mismatch ---------------------------------------------------------------------

def test_pin_mismatch_emits_event_with_expected_and_presented_key_and_nothing_else(
        https_server: LocalServer, ca_file: str, leaf: trustme.LeafCert,
        events: list[AuditEvent]) -> None:
    wrong = "sha256/" + base64.b64encode(b"\0" * 32).decode()
    with securl.Session(ca_certs=ca_file, pins=[wrong]) as s:
        with pytest.raises(securl.PinMismatchError):
            s.get(https_server.url("/"))
    (event,) = named(events, "securl.pin_mismatch")
    assert (event.host, event.port) == ("localhost", https_server.port)
    assert event.fields["expected"] == [wrong]
    assert event.fields["got"] == leaf_pin(leaf)
    assert https_server.seen == []  # no request was sent
    # one failure, one event: no connection event, no verification_failed
    assert [e.name for e in events if e.name != "securl.policy_loaded"] == [
        "securl.pin_mismatch"]


def test_matching_pin_emits_connection_event_and_no_pin_mismatch(
        https_server: LocalServer, ca_file: str, leaf: trustme.LeafCert,
        events: list[AuditEvent]) -> None:
    with securl.Session(ca_certs=ca_file, pins=[leaf_pin(leaf)]) as s:
        assert s.get(https_server.url("/")).status == 200
    assert named(events, "securl.connection")
    assert not named(events, "securl.pin_mismatch")


# -- the three outlets -----------------------------------------------------------------------

def test_one_emit_feeds_logger_sys_audit_and_hooks_with_the_same_event(
        https_server: LocalServer, ca_file: str, events: list[AuditEvent],
        sys_events: list[tuple[str, tuple[Any, ...]]], audit_log: Capture) -> None:
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url("/"))
    (event,) = named(events, "securl.connection")
    (record,) = [r for r in audit_log.records if r.name == "securl.audit"
                 and r.securl_event["event"] == "securl.connection"]  # type: ignore[attr-defined]
    ((name, args),) = [e for e in sys_events if e[0] == "securl.connection"]
    assert record.levelno == logging.INFO
    assert record.securl_event == event.to_dict()  # type: ignore[attr-defined]
    assert record.tls_version == event.fields["tls_version"]  # type: ignore[attr-defined]
    assert record.spki_sha256 == event.fields["spki_sha256"]  # type: ignore[attr-defined]
    assert record.getMessage().startswith(f"securl.connection localhost:{https_server.port} ")
    assert "tls_version=" in record.getMessage()
    assert name == "securl.connection" and args == (event.to_dict(),)


def test_events_are_audited_even_when_no_logging_is_configured(
        https_server: LocalServer, ca_file: str, events: list[AuditEvent],
        sys_events: list[tuple[str, tuple[Any, ...]]]) -> None:
    logger = logging.getLogger("securl.audit")
    logger.setLevel(logging.NOTSET)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # Python's default; the suite's secret guard sets DEBUG
    try:
        assert not logger.isEnabledFor(logging.INFO)  # the default: logging is opt-in
        with securl.Session(ca_certs=ca_file) as s:
            s.get(https_server.url("/"))
    finally:
        root.setLevel(level)
    assert named(events, "securl.connection")
    assert any(name == "securl.connection" for name, _ in sys_events)


def test_json_formatter_writes_one_object_per_line_with_stable_names(
        tmp_path: Any, https_server: LocalServer, ca_file: str) -> None:
    path = tmp_path / "audit.jsonl"
    handler = securl.audit.configure(log_file=str(path), format="json")
    try:
        with securl.Session(ca_certs=ca_file) as s:
            s.get(https_server.url("/"))
        logging.getLogger("securl.audit").info("a plain message")
    finally:
        _audit._set_slot("application", None)
    assert handler not in logging.getLogger("securl.audit").handlers
    lines = path.read_text().splitlines()
    objs = [json.loads(line) for line in lines]
    conn = next(o for o in objs if o["event"] == "securl.connection")
    common = len(_audit.COMMON_FIELDS)
    assert list(conn)[:common] == list(_audit.COMMON_FIELDS)
    assert list(conn)[common:] == [f for f in EVENTS["securl.connection"] if f in conn]
    assert {"tls_version", "spki_sha256", "trust_source"} <= set(conn)
    assert objs[-1]["event"] == "log" and objs[-1]["message"] == "a plain message"


def test_text_format_writes_readable_lines(tmp_path: Any, https_server: LocalServer,
                                           ca_file: str) -> None:
    path = tmp_path / "audit.log"
    securl.audit.configure(log_file=str(path), format="text")
    try:
        with securl.Session(ca_certs=ca_file) as s:
            s.get(https_server.url("/"))
    finally:
        _audit._set_slot("application", None)
    text = path.read_text()
    assert f"securl.connection localhost:{https_server.port} verified=True" in text
    assert not text.lstrip().startswith("{")


def test_configure_replaces_its_own_handler_but_keeps_the_policy_log(tmp_path: Any) -> None:
    policy_log = tmp_path / "policy.jsonl"
    logger = logging.getLogger("securl.audit")
    before = list(logger.handlers)
    try:
        policy_handler = _audit.configure_from_policy(str(policy_log), "json", "test")
        assert _audit.configure_from_policy(str(policy_log), "json", "test") is policy_handler
        first = securl.audit.configure(log_file=str(tmp_path / "a.jsonl"))
        second = securl.audit.configure(log_file=str(tmp_path / "b.jsonl"))
        assert first not in logger.handlers
        assert second in logger.handlers and policy_handler in logger.handlers
        # the application cannot make the policy's file receive every line twice
        securl.audit.configure(log_file=str(policy_log))
        _audit.emit("uninstalled", policy="x")
        assert len(policy_log.read_text().splitlines()) == 1
    finally:
        _audit._set_slot("application", None)
        _audit._set_slot("policy", None)
        logger.setLevel(logging.NOTSET)
    assert logger.handlers == before


def test_configure_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="json"):
        securl.audit.configure(format="xml")


def test_policy_audit_log_that_cannot_be_opened_fails_closed(tmp_path: Any) -> None:
    missing = str(tmp_path / "no-such-dir" / "audit.jsonl")
    with pytest.raises(securl.ConfigurationError) as info:
        _audit.configure_from_policy(missing, "json", "/etc/securl/policy.toml")
    assert missing in str(info.value) and "writable" in str(info.value)
    assert "policy" not in _audit._slots


# -- hook semantics --------------------------------------------------------------------------

def test_a_raising_hook_never_breaks_the_request_is_reported_once_and_kept(
        https_server: LocalServer, ca_file: str, audit_log: Capture,
        reset_reports: None) -> None:
    calls: list[str] = []

    def broken(event: AuditEvent) -> None:
        calls.append(event.name)
        raise ValueError("hook bug")

    securl.add_audit_hook(broken)
    try:
        for _ in range(2):
            with securl.Session(ca_certs=ca_file) as s:  # a new connection each time
                assert s.get(https_server.url("/")).status == 200
    finally:
        securl.remove_audit_hook(broken)
    assert calls.count("securl.connection") == 2  # kept after failing
    reports = [r for r in audit_log.records if r.name == "securl"]
    assert len(reports) == 1
    assert reports[0].levelno == logging.ERROR and "broken" in reports[0].getMessage()
    assert reports[0].exc_info and reports[0].exc_info[0] is ValueError


def test_a_removed_hook_is_no_longer_called_and_removal_works_for_bound_methods(
        https_server: LocalServer, ca_file: str) -> None:
    class Consumer:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on_event(self, event: AuditEvent) -> None:
            self.seen.append(event.name)

    consumer = Consumer()
    securl.add_audit_hook(consumer.on_event)
    securl.add_audit_hook(consumer.on_event)  # adding twice is a no-op
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url("/"))
    securl.remove_audit_hook(consumer.on_event)  # a new bound-method object, equal
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url("/"))
    assert consumer.seen.count("securl.connection") == 1


def test_raising_log_handler_and_sys_audit_hook_never_break_the_request(
        https_server: LocalServer, ca_file: str, events: list[AuditEvent],
        sys_events: list[tuple[str, tuple[Any, ...]]], reset_reports: None) -> None:
    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise OSError("disk full")

        def handle(self, record: logging.LogRecord) -> bool:  # bypass handleError
            self.emit(record)
            return True

    logger = logging.getLogger("securl.audit")
    broken = Broken()
    logger.addHandler(broken)
    logger.setLevel(logging.INFO)
    SysAuditSink.raise_on = "securl.connection"
    try:
        with securl.Session(ca_certs=ca_file) as s:
            assert s.get(https_server.url("/")).status == 200
    finally:
        logger.removeHandler(broken)
        logger.setLevel(logging.NOTSET)
    assert named(events, "securl.connection")  # the later outlet still got the event
    assert ("logger", "OSError") in _audit._reported
    assert ("sys.audit", "securl.connection:RuntimeError") in _audit._reported


def test_hook_that_uses_securl_itself_does_not_recurse(
        https_server: LocalServer, ca_file: str, audit_log: Capture) -> None:
    """A hook shipping events over securl makes new connections, hence new events."""
    shipped: list[str] = []

    def ship(event: AuditEvent) -> None:
        if event.name == "securl.connection":
            with securl.Session(ca_certs=ca_file) as s:  # new connection => nested event
                s.post(https_server.url("/collect"), json=event.to_dict())
            shipped.append(event.name)

    securl.add_audit_hook(ship)
    try:
        with securl.Session(ca_certs=ca_file) as s:
            assert s.get(https_server.url("/")).status == 200
    finally:
        securl.remove_audit_hook(ship)
    assert shipped == ["securl.connection"]  # the nested event skipped the hooks
    assert [r.path for r in https_server.seen] == ["/collect", "/"]
    logged = [r for r in audit_log.records
              if getattr(r, "securl_event", {}).get("event") == "securl.connection"]
    assert len(logged) == 2  # ... but still reached the logger


def test_hooks_run_synchronously_in_the_requesting_thread(
        https_server: LocalServer, ca_file: str) -> None:
    threads: list[int] = []

    def hook(event: AuditEvent) -> None:
        threads.append(threading.get_ident())

    def worker() -> None:
        with securl.Session(ca_certs=ca_file) as s:
            s.get(https_server.url("/"))

    securl.add_audit_hook(hook)
    try:
        t = threading.Thread(target=worker)
        t.start()
        t.join(30)
    finally:
        securl.remove_audit_hook(hook)
    assert threads and set(threads) == {t.ident}


def test_hook_cannot_change_what_later_hooks_see(https_server: LocalServer,
                                                  ca_file: str) -> None:
    seen: list[dict[str, Any]] = []

    def vandal(event: AuditEvent) -> None:
        event.fields["verified"] = False  # type: ignore[index]

    def witness(event: AuditEvent) -> None:
        seen.append(event.to_dict())

    securl.add_audit_hook(vandal)
    securl.add_audit_hook(witness)
    try:
        with securl.Session(ca_certs=ca_file) as s:
            s.get(https_server.url("/"))
    finally:
        securl.remove_audit_hook(vandal)
        securl.remove_audit_hook(witness)
    assert [e["verified"] for e in seen if e["event"] == "securl.connection"] == [True]


# -- redaction -------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("https://u:p@h/x?a=1", "https://h/x?a=1"),
    ("https://h/x?token=1&a=2&api_key=3#frag", "https://h/x?token=[REDACTED]&a=2&api_key=[REDACTED]"),
    ("https://h/?X-Amz-Signature=abc&Password=p&client_secret=s",
     "https://h/?X-Amz-Signature=[REDACTED]&Password=[REDACTED]&client_secret=[REDACTED]"),
    ("https://h/?%74oken=abc", "https://h/?%74oken=[REDACTED]"),
    ("https://h/?q=a%20b&page=2", "https://h/?q=a%20b&page=2"),
    ("/path?session=abc", "/path?session=[REDACTED]"),
])
def test_redact_url_strips_userinfo_and_secret_query_values(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_emit_redacts_url_fields_credential_fields_and_private_keys_whatever_the_emitter(
        ) -> None:
    event = _audit.emit(
        "test_only", host="h", port=1, to_url="https://u:pw@h/?token=t",
        password="pw", nested={"authorization": "Bearer t", "ok": "yes"},
        detail="-----BEGIN PRIVATE KEY-----\nMIIE...", blob=b"\x30\x82",
    )
    assert event.fields == {
        "to_url": "https://h/?token=[REDACTED]", "password": "[REDACTED]",
        "nested": {"authorization": "[REDACTED]", "ok": "yes"}, "detail": "[REDACTED]",
        "blob": "[REDACTED]",
    }


# Every secret below is sent to a real server; none may reach any outlet.
def test_secrets_in_a_request_reach_no_outlet(
        tmp_path: Any, leaf: trustme.LeafCert, ca_file: str, other_ca: trustme.CA,
        events: list[AuditEvent], sys_events: list[tuple[str, tuple[Any, ...]]]) -> None:
    password, bearer, cookie, token, token2, key = (
        f"{name}-{secrets.token_hex(8)}" for name in
        ("password", "bearer", "cookie", "token", "token2", "key"))
    basic = base64.b64encode(f"alice:{password}".encode()).decode()
    secret_strings = [password, bearer, cookie, token, token2, key, basic]

    # outlet 1: every logger (root at DEBUG: securl.audit, securl, urllib3), fully rendered
    rendered: list[str] = []

    class Render(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            rendered.append(self.format(record))
            rendered.append(repr(vars(record)))

    render = Render(logging.DEBUG)
    render.setFormatter(logging.Formatter(
        "%(asctime)s %(name)s %(levelname)s %(pathname)s:%(lineno)d %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(render)
    root.setLevel(logging.DEBUG)
    # outlet 2: the JSON file
    json_path = tmp_path / "audit.jsonl"
    securl.audit.configure(log_file=str(json_path), format="json")
    # outlets 3 and 4: the sys_events and events fixtures
    headers = {"Authorization": f"Bearer {bearer}", "Cookie": f"session={cookie}"}
    try:
        with LocalServer(server_context(leaf)) as a, LocalServer(server_context(leaf)) as b:
            a.routes["/login"] = redirect_to(b.url(f"/landing?token={token2}&api_key={key}"))
            with securl.Session(ca_certs=ca_file) as s:
                # verified, cross-origin redirect (connection + redirect events)
                s.get(a.url(f"/login?token={token}&user=alice"), headers=headers)
                # Basic credentials and a password in the query, unverified opt-out
                with pytest.warns(securl.InsecureRequestWarning):
                    s.get(a.url(f"/x?password={password}&token={token}"),
                          headers={"Authorization": f"Basic {basic}", "Cookie": headers["Cookie"]},
                          tls=securl.unverified(reason="secrets test"))
            # a verification failure (verification_failed event)
            with securl.Session(ca_certs=other_ca.cert_pem.bytes()) as bad:
                with pytest.raises(securl.TLSVerificationError) as failure:
                    bad.get(a.url(f"/?token={token}"), headers=headers)
            # the secrets really went over the wire
            assert a.seen[0].headers["Authorization"] == f"Bearer {bearer}"
            assert token in a.seen[0].path and token2 in b.seen[0].path
            assert a.seen[1].headers["Authorization"] == f"Basic {basic}"
        with pytest.raises(securl.InvalidRequest) as in_url:
            securl.get(f"https://alice:{password}@localhost:{a.port}/")
    finally:
        root.removeHandler(render)
        root.setLevel(old_level)
        _audit._set_slot("application", None)

    captured = {
        "loggers": "\n".join(rendered),
        "json file": json_path.read_text(),
        "sys.audit": repr(sys_events),
        "hooks": repr(events) + json.dumps([e.to_dict() for e in events]),
        "error messages": f"{failure.value} {in_url.value}",
    }
    names = {e.name for e in events}
    assert {"securl.connection", "securl.redirect", "securl.unverified_request",
            "securl.verification_failed"} <= names
    for outlet, text in captured.items():
        for secret in secret_strings:
            assert secret not in text, f"{secret[:8]}... leaked into {outlet}"
    # not vacuous: every outlet recorded the events, urllib3's request lines included
    for outlet in ("loggers", "json file", "sys.audit", "hooks"):
        assert "securl.redirect" in captured[outlet], outlet
    assert '"GET /login?token=[REDACTED]&user=alice HTTP/1.1" 302' in captured["loggers"]


# -- policy: securl.policy_loaded and the audit.* keys, in real subprocesses ------------------

POLICY_CHILD = textwrap.dedent("""
    import json, sys
    seen = []
    sys.addaudithook(lambda name, args: seen.append(args[0]) if name.startswith("securl.")
                     else None)
    import securl
    hooked = []
    securl.add_audit_hook(hooked.append)
    try:
        securl.Session()
    except securl.ConfigurationError as exc:
        try:
            securl.Session()  # still refused: the failure did not leave a policy behind
        except securl.ConfigurationError:
            print("REFUSED TWICE", exc)
            sys.exit(3)
    try:
        securl.get("https://localhost:1/", tls=securl.unverified(reason="child"))
    except (securl.PolicyError, securl.TransportError):
        pass  # refused by policy, or nothing listens on port 1
    print(json.dumps({"sys": seen, "hooks": [e.to_dict() for e in hooked]}))
""")


def run_policy_child(tmp_path: Any, policy: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "policy.toml"
    path.write_text(policy)
    env = {**os.environ, "SECURL_POLICY": str(path)}
    return subprocess.run([sys.executable, "-c", POLICY_CHILD], env=env,
                          capture_output=True, text=True, timeout=60)


def test_policy_loaded_event_and_policy_audit_log_in_a_subprocess(tmp_path: Any) -> None:
    log = tmp_path / "audit.jsonl"
    proc = run_policy_child(tmp_path, f'allow_unverified = false\n[audit]\n'
                                      f'log_file = "{log}"\nformat = "json"\n')
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    loaded = [e for e in out["sys"] if e["event"] == "securl.policy_loaded"]
    assert len(loaded) == 1
    assert loaded[0]["path"] == str(tmp_path / "policy.toml")
    assert loaded[0]["values"]["allow_unverified"] is False
    assert loaded[0]["values"]["audit_log_file"] == str(log)
    assert set(loaded[0]) == {*_audit.COMMON_FIELDS, *EVENTS["securl.policy_loaded"]}
    assert [e["event"] for e in out["hooks"]] == [e["event"] for e in out["sys"]]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0]["event"] == "securl.policy_loaded"  # the log's first line
    refused = [e for e in lines if e["event"] == "securl.unverified_request"]
    assert refused and refused[0]["action"] == "refused" and refused[0]["reason"] == "child"


def test_policy_audit_text_format_in_a_subprocess(tmp_path: Any) -> None:
    log = tmp_path / "audit.log"
    proc = run_policy_child(tmp_path, f'[audit]\nlog_file = "{log}"\nformat = "text"\n')
    assert proc.returncode == 0, proc.stderr
    first = log.read_text().splitlines()[0]
    assert "securl.policy_loaded" in first and not first.startswith("{")


def test_policy_without_audit_keys_writes_no_audit_log(tmp_path: Any) -> None:
    proc = run_policy_child(tmp_path, "allow_unverified = true\n")
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(tmp_path) == ["policy.toml"]
    assert any(e["event"] == "securl.policy_loaded" for e in json.loads(proc.stdout)["sys"])


def test_policy_audit_log_that_cannot_be_opened_refuses_requests_in_a_subprocess(
        tmp_path: Any) -> None:
    log = tmp_path / "missing-dir" / "audit.jsonl"
    proc = run_policy_child(tmp_path, f'[audit]\nlog_file = "{log}"\n')
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "REFUSED TWICE" in proc.stdout and str(log) in proc.stdout


# -- the docs page is checked against EVENTS ---------------------------------------------------

DOCS = os.path.join(os.path.dirname(HERE), "..", "docs", "audit.md")


def doc_sections() -> dict[str, str]:
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    parts = text.split("\n### `")[1:]
    return {p.split("`", 1)[0]: p.split("\n## ", 1)[0] for p in parts}


def test_docs_page_documents_every_event_and_nothing_else() -> None:
    assert set(doc_sections()) == set(EVENTS)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_docs_page_lists_each_field_and_an_example_line_of_documented_fields(
        name: str) -> None:
    section = doc_sections()[name]
    rows = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert rows == list(EVENTS[name])
    (example,) = [line for line in section.splitlines() if line.startswith('{"time"')]
    data = json.loads(example)
    common = len(_audit.COMMON_FIELDS)
    assert list(data)[:common] == list(_audit.COMMON_FIELDS) and data["event"] == name
    own = list(data)[common:]
    assert own == [f for f in EVENTS[name] if f in own]  # documented fields, in order
    assert len(own) >= min(3, len(EVENTS[name]))


def test_hook_using_securl_while_the_policy_loads_does_not_deadlock(tmp_path: Any) -> None:
    child = textwrap.dedent("""
        import securl
        made = []
        def hook(event):
            if event.name == "securl.policy_loaded":
                made.append(securl.Session())  # builds a context while the first one is built
        securl.add_audit_hook(hook)
        securl.Session()
        print("sessions made in the hook:", len(made))
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SECURL_POLICY": ""})
    assert proc.returncode == 0, proc.stderr
    assert "sessions made in the hook: 1" in proc.stdout
