"""Audit lines a log pipeline can use: RFC 3339 UTC time and the process fields."""

from __future__ import annotations

import datetime
import json
import logging
import os
import pwd
import re
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import securl
from securl import _audit, _audit_format
from securl._audit_format import process_fields, rfc3339

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(autouse=True)
def _restore_audit_logger() -> Iterator[None]:
    logger = logging.getLogger("securl.audit")
    level, handlers = logger.level, list(logger.handlers)
    yield
    _audit._set_slot("application", None)
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1796569445.1239) == "2026-12-06T15:04:05.123Z"


def test_a_json_audit_line_carries_time_and_the_process_fields(
        https_server: Any, ca_file: str, tmp_path: Any) -> None:
    log = tmp_path / "audit.jsonl"
    securl.audit.configure(log_file=str(log), format="json")
    before = datetime.datetime.now(datetime.timezone.utc)
    with securl.Session(ca_certs=ca_file) as s:
        s.get(https_server.url("/"))
    after = datetime.datetime.now(datetime.timezone.utc)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    conn = next(e for e in lines if e["event"] == "securl.connection")
    assert list(conn)[:8] == list(securl.audit.COMMON_FIELDS)
    assert RFC3339_MS.match(conn["time"]), conn["time"]
    when = datetime.datetime.fromisoformat(conn["time"].replace("Z", "+00:00"))
    assert before - datetime.timedelta(milliseconds=1) <= when <= after
    assert conn["pid"] == os.getpid()
    assert conn["user"] == pwd.getpwuid(os.getuid()).pw_name
    assert conn["machine"] == socket.gethostname()
    assert conn["program"] in (sys.argv[0], "pytest")
    assert conn["port"] == https_server.port


def test_the_float_attribute_stays_and_timestamp_is_its_text(
        events: list[securl.AuditEvent]) -> None:
    _audit.emit("test_fields", host="h", port=1)
    (event,) = [e for e in events if e.name == "securl.test_fields"]
    assert isinstance(event.time, float)
    assert event.timestamp == rfc3339(event.time) == event.to_dict()["time"]


def test_text_lines_start_with_the_rfc3339_time_and_name_the_process(tmp_path: Any) -> None:
    log = tmp_path / "audit.log"
    securl.audit.configure(log_file=str(log), format="text")
    _audit.emit("test_text", host="h", port=7, detail="x")
    line = log.read_text().splitlines()[-1]
    stamp, machine, program_pid, user, rest = line.split(" ", 4)
    assert RFC3339_MS.match(stamp)
    assert machine == socket.gethostname()
    assert program_pid.endswith(f"[{os.getpid()}]")
    assert user == pwd.getpwuid(os.getuid()).pw_name + ":"
    assert rest == "securl.test_text h:7 detail='x'"


def test_process_fields_are_computed_once_and_again_after_a_fork(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = process_fields()
    assert process_fields() is first  # cached: no pwd lookup per event
    monkeypatch.setattr(_audit_format, "_process", {**first, "pid": -1})
    assert process_fields()["pid"] == os.getpid()


def test_program_is_the_main_module_under_dash_m(tmp_path: Any) -> None:
    import subprocess

    pkg = tmp_path / "tool"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(
        "from securl._audit_format import process_fields\nprint(process_fields()['program'])\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.run([sys.executable, "-m", "tool"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, "tool"), proc.stderr
