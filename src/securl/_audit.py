"""Audit events: one emit() that every trust decision calls, three outlets fed from it.

Outlets, in order: the ``securl.audit`` logger (stdlib logging; the event's fields are in the
record's ``securl_event`` attribute and flattened into ``extra``), ``sys.audit("securl.<name>",
event_dict)`` for PEP 578 hooks, and in-process hooks added with :func:`add_audit_hook`.

Rules:

* An event is emitted whatever warning filters say: silencing ``InsecureRequestWarning``
  never silences the audit trail.
* emit() never raises into the caller. A hook that raises is reported once on the ``securl``
  logger and kept (a broken hook must not break requests, nor be silently dropped).
* Events never carry secrets: emitters pass hosts, reasons and redacted URLs, never headers,
  passwords or key material; :func:`redact_url` strips userinfo and secret-looking query values.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AuditEvent",
    "JSONFormatter",
    "add_audit_hook",
    "configure",
    "emit",
    "redact_url",
    "remove_audit_hook",
]

audit_logger = logging.getLogger("securl.audit")
_log = logging.getLogger("securl")

AuditHook = Callable[["AuditEvent"], object]
_hooks: tuple[AuditHook, ...] = ()
_failed_hooks: set[int] = set()
_hooks_lock = threading.Lock()

_SECRET_PARAM = re.compile(
    r"(token|key|passw|pwd|secret|signature|sig|auth|session|credential)", re.IGNORECASE
)
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class AuditEvent:
    """One trust decision: ``event`` is the stable name, e.g. ``securl.connection``."""

    event: str
    time: float
    host: str | None = None
    port: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as one flat JSON-ready dict: time, event, host, port, then its fields."""
        out: dict[str, Any] = {
            "time": self.time,
            "event": self.event,
            "host": self.host,
            "port": self.port,
        }
        out.update(self.fields)
        return out

    def message(self) -> str:
        """A readable one-line summary for text logs."""
        where = f" {self.host}:{self.port}" if self.host else ""
        details = " ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{self.event}{where} {details}".rstrip()


def redact_url(url: str) -> str:
    """``url`` without userinfo and with secret-looking query values replaced.

    A query parameter whose name contains token, key, password, secret, signature, sig, auth,
    session or credential keeps its name but loses its value.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "[unparsable URL]"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = urllib.parse.urlencode(
            [(k, REDACTED if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="[]"
        )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def add_audit_hook(hook: AuditHook) -> None:
    """Call ``hook(event)`` for every audit event from now on (in the emitting thread)."""
    global _hooks
    with _hooks_lock:
        _hooks = (*_hooks, hook)


def remove_audit_hook(hook: AuditHook) -> None:
    """Stop calling ``hook``; a hook that was never added is ignored."""
    global _hooks
    with _hooks_lock:
        _hooks = tuple(h for h in _hooks if h is not hook)
        _failed_hooks.discard(id(hook))


def emit(name: str, *, host: str | None = None, port: int | None = None,
         **fields: Any) -> AuditEvent:
    """Emit ``securl.<name>`` to every outlet; never raises."""
    event = AuditEvent(f"securl.{name}", time.time(), host, port, fields)
    try:
        if audit_logger.isEnabledFor(logging.INFO):
            audit_logger.info(
                "%s", event.message(), extra={"securl_event": event.to_dict()}
            )
    except Exception:  # a broken handler must not break a request
        _log.exception("securl: an audit log handler failed")
    try:
        sys.audit(event.event, event.to_dict())
    except Exception:
        _log.exception("securl: a sys.audit hook failed for %s", event.event)
    for hook in _hooks:
        try:
            hook(event)
        except Exception:
            if id(hook) not in _failed_hooks:
                _failed_hooks.add(id(hook))
                _log.exception("securl: audit hook %r raised; it is kept", hook)
    return event


class JSONFormatter(logging.Formatter):
    """Formats audit records as one JSON object per line, with stable field names."""

    def format(self, record: logging.LogRecord) -> str:
        data = getattr(record, "securl_event", None)
        if not isinstance(data, dict):
            data = {"time": record.created, "event": "log", "message": record.getMessage()}
        return json.dumps(data, sort_keys=False, default=str, separators=(",", ":"))


_configured_handler: logging.Handler | None = None


def configure(log_file: str | None = None, format: str = "json") -> logging.Handler:
    """Send audit events to ``log_file`` (or stderr) as JSON lines or readable text.

    Replaces the handler an earlier configure() call added; returns the new handler.
    """
    global _configured_handler
    handler = make_handler(log_file, format)
    if _configured_handler is not None:
        audit_logger.removeHandler(_configured_handler)
        _configured_handler.close()
    add_handler(handler)
    _configured_handler = handler
    return handler


def make_handler(log_file: str | None = None, format: str = "json") -> logging.Handler:
    """A handler writing audit events to ``log_file`` (or stderr) as JSON lines or text."""
    if format not in ("json", "text"):
        raise ValueError('format must be "json" or "text"')
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    )
    handler.setFormatter(
        JSONFormatter() if format == "json" else logging.Formatter("%(asctime)s %(message)s")
    )
    return handler


def add_handler(handler: logging.Handler) -> None:
    """Attach ``handler`` to the audit logger and make sure INFO events reach it."""
    audit_logger.addHandler(handler)
    if audit_logger.level == logging.NOTSET or audit_logger.level > logging.INFO:
        audit_logger.setLevel(logging.INFO)
