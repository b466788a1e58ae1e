"""The policy's ``[audit] syslog``: each event as one RFC 5424 message on a real socket."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import securl
from securl import _audit
from securl._audit_syslog import format_rfc5424, parse_syslog_address

# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>(?P<version>1) (?P<timestamp>\S+) (?P<hostname>\S+) "
    rb"(?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    rb"(?P<sd>\[(?P<sdid>[^ \]]+)(?P<params>(?: [^=\s]+=\"(?:[^\"\\\]]|\\.)*\")*)\]) "
    rb"(?P<msg>.*)$", re.S)
PARAM = re.compile(r'([^=\s]+)="((?:[^"\\\]]|\\.)*)"')


@pytest.fixture(autouse=True)
def _no_syslog_slot() -> Iterator[None]:
    logger = logging.getLogger("securl.audit")
    level = logger.level
    yield
    _audit._set_slot("syslog", None)
    logger.setLevel(level)


@pytest.fixture
def syslog_socket(tmp_path: Any) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "log.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    yield path, sock
    sock.close()


def parse(message: bytes) -> dict[str, Any]:
    match = RFC5424.match(message)
    assert match, message
    params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in
              PARAM.findall(match["params"].decode())}
    return {**{k: v.decode() for k, v in match.groupdict().items()
               if k not in ("params", "msg")},
            "params": params, "msg": match["msg"]}


def received(sock: socket.socket, event: str) -> dict[str, Any]:
    while True:
        msg = parse(sock.recv(65536))
        if msg["msgid"] == event:
            return msg


def test_policy_syslog_sends_each_event_as_one_rfc5424_message(
        set_policy: Callable[[str], Any], syslog_socket: tuple[str, socket.socket],
        https_server: Any, ca_file: str) -> None:
    path, sock = syslog_socket
    policy = set_policy(f'[audit]\nsyslog = "{path}"\n')
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url("/"))
    loaded = received(sock, "securl.policy_loaded")
    assert loaded["params"]["path"] == str(policy)
    conn = received(sock, "securl.connection")
    assert int(conn["pri"]) == 10 * 8 + 6  # authpriv.info
    assert conn["version"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", conn["timestamp"])
    assert conn["hostname"] == socket.gethostname()
    assert conn["app"] == "securl"
    assert conn["procid"] == str(os.getpid())
    assert conn["sdid"] == "securl@32473"
    params = conn["params"]
    assert (params["host"], params["port"]) == ("localhost", str(https_server.port))
    assert params["verified"] == "true" and params["trust_source"] == "ca_certs"
    assert params["spki_sha256"].startswith("sha256/")
    assert conn["msg"].startswith(b"\xef\xbb\xbfsecurl.connection localhost:")


def test_facility_is_configurable_and_refusals_are_warnings(
        set_policy: Callable[[str], Any], syslog_socket: tuple[str, socket.socket],
        self_signed_server: Any) -> None:
    path, sock = syslog_socket
    set_policy(f'[audit]\nsyslog = "{path}"\nsyslog_facility = "local3"\n')
    with securl.Session() as s, pytest.raises(securl.TLSVerificationError):
        s.get(self_signed_server.url("/"))
    failed = received(sock, "securl.verification_failed")
    assert int(failed["pri"]) == 19 * 8 + 4  # local3.warning
    assert failed["params"]["reason_code"] == "self-signed"


def test_structured_data_values_are_escaped() -> None:
    data = {"time": "2026-12-06T15:04:05.123Z", "event": "securl.x", "host": "h", "port": 1,
            "pid": 7, "user": "u", "machine": "m", "program": "p",
            "detail": 'a "quoted" ] \\ value', "sans": ["DNS:a", "DNS:b"]}
    msg = parse(format_rfc5424(data, "summary", 10))
    assert msg["params"]["detail"] == 'a "quoted" ] \\ value'
    assert json.loads(msg["params"]["sans"]) == ["DNS:a", "DNS:b"]
    assert (msg["hostname"], msg["procid"], msg["msgid"]) == ("m", "7", "securl.x")


def test_an_unreachable_syslog_is_reported_once_and_never_breaks_a_request(
        set_policy: Callable[[str], Any], tmp_path: Any, https_server: Any, ca_file: str,
        caplog: pytest.LogCaptureFixture) -> None:
    set_policy(f'[audit]\nsyslog = "{tmp_path / "nobody-listens.sock"}"\n')
    with caplog.at_level(logging.ERROR, logger="securl"), securl.Session(ca_certs=ca_file) as s:
        assert s.get(https_server.url("/")).status == 200
        assert s.get(https_server.url("/")).status == 200
    reports = [r for r in caplog.records if "syslog outlet" in r.getMessage()]
    assert len(reports) == 1


@pytest.mark.parametrize(("value", "expected"), [
    ("true", "/dev/log"), ('"/run/x.sock"', "/run/x.sock"), ('"logs.example:514"',
                                                             ("logs.example", 514)),
    ('"[::1]:514"', ("::1", 514)), ("false", None),
])
def test_syslog_values(value: str, expected: object) -> None:
    parsed = parse_syslog_address(json.loads(value))
    assert parsed == expected or (value == "true" and parsed == "/var/run/syslog")


@pytest.mark.parametrize("line", [
    'syslog = "relative.sock"', 'syslog = "host:99999"', "syslog = 514",
    'syslog_facility = "nosuch"',
])
def test_bad_syslog_keys_fail_with_file_and_line(
        set_policy: Callable[[str], Any], line: str) -> None:
    path = set_policy(f"# policy\n[audit]\n{line}\n")
    with pytest.raises(securl.ConfigurationError, match=rf"{re.escape(str(path))}:3: key "
                       r"'audit\.syslog"):
        securl.Session()
