"""How audit events look in log lines: the RFC 3339 time, the process fields, the formatters.

Rules, and why:

* ``time`` in JSON and text lines is RFC 3339 in UTC with milliseconds
  (``2026-12-06T15:04:05.123Z``): log pipelines (Elastic, Loki, Splunk, journald exports)
  parse it without a format string, and UTC never jumps. ``AuditEvent.time`` itself stays
  the float of seconds since the epoch (API compatibility; hooks may compare it).
* Every event names the process that made the decision: ``pid``, ``user``, ``machine`` (host
  name) and ``program``. They are computed once per process (again after a fork, as the pid
  changes), on the first event, so a process that never emits pays nothing: ``user`` is the
  login name of the real uid (``pwd``, imported then), else the uid as text.
* ``program`` is the main module's name when Python runs one with ``-m`` (``securl``,
  ``pip``), else ``sys.argv[0]`` as given (a script path), else ``python``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

__all__ = ["JSONFormatter", "TextFormatter", "process_fields", "rfc3339"]

_process: dict[str, Any] | None = None


def rfc3339(seconds: float) -> str:
    """``seconds`` since the epoch as RFC 3339 UTC with milliseconds, e.g.
    ``2026-12-06T15:04:05.123Z``."""
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def _user() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else None
    if uid is None:  # pragma: no cover - Windows
        return os.environ.get("USERNAME", "")
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _program() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if isinstance(name, str) and name:
        return name.removesuffix(".__main__")
    argv0 = sys.argv[0] if getattr(sys, "argv", None) else ""
    return argv0 if argv0 and argv0 != "-c" else "python"


def process_fields() -> dict[str, Any]:
    """``{"pid", "user", "machine", "program"}`` of this process (cached; see the rules)."""
    global _process
    cached = _process
    pid = os.getpid()
    if cached is None or cached["pid"] != pid:
        machine = os.uname().nodename if hasattr(os, "uname") else os.environ.get(
            "COMPUTERNAME", "")
        cached = _process = {"pid": pid, "user": _user(), "machine": machine,
                             "program": _program()}
    return cached


class JSONFormatter(logging.Formatter):
    """One JSON object per line: the common fields (``time``, ``event``, ``host``, ``port``,
    ``pid``, ``user``, ``machine``, ``program``), then the event's own fields.

    Field names are stable API (see docs/audit.md). A record on the audit logger that is not
    an event becomes ``{"time", "event": "log", "level", "message"}`` plus the process fields.
    """

    def format(self, record: logging.LogRecord) -> str:
        data = getattr(record, "securl_event", None)
        if not isinstance(data, dict):
            data = {"time": rfc3339(record.created), "event": "log", "level": record.levelname,
                    "message": record.getMessage(), **process_fields()}
        return json.dumps(data, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``<RFC 3339 time> <machine> <program>[<pid>] <user>: <event summary>``, one line."""

    def format(self, record: logging.LogRecord) -> str:
        p = process_fields()
        return (f"{rfc3339(record.created)} {p['machine']} {p['program']}[{p['pid']}] "
                f"{p['user']}: {record.getMessage()}")
