"""Audit events: one emit() that every trust decision calls, three outlets fed from it.

Every decision point calls `emit`; nothing else writes audit records. emit() builds
one frozen `AuditEvent` and hands it, in this order, to:

1. the ``securl.audit`` logger (stdlib logging, level INFO): the record's message is a
   readable one-line summary, ``record.securl_event`` holds the whole event as a dict, and
   each field is also set on the record through ``extra`` (``record.tls_version`` ...);
2. ``sys.audit("securl.<name>", event_dict)`` for PEP 578 audit hooks;
3. in-process hooks added with `add_audit_hook`, called with the AuditEvent.

Rules, and why:

* An event is emitted whatever warning filters say: silencing ``InsecureRequestWarning``
  never silences the audit trail.
* emit() never raises into the caller. A failing outlet (a hook, a log handler, a
  ``sys.audit`` hook) is reported once on the ``securl`` logger and kept: a broken consumer
  must neither break requests nor be dropped silently. Consumers cannot veto a request from
  here (PEP 578 hooks may abort other operations by raising; a securl request is not
  aborted): forbidding things is the admin policy's job.
* Hooks and handlers run synchronously in the thread that made the decision, so a slow hook
  slows that request. An outlet that itself uses securl (a hook shipping events with
  ``securl.post``) would recurse; while an outlet is handling an event, events emitted in the
  same thread skip that outlet (and only that one).
* Events never carry secrets: emitters pass hosts, reasons and URLs, never headers or
  credentials; as a second line of defence emit() cleans every field with
  `securl._redact.clean_field`: ``*url`` fields go through ``redact_url``, fields
  named like credentials and any text holding PEM private-key material are blanked.
* `EVENTS` is the single list of event names and their fields: the docs page and the
  tests are checked against it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._audit_format import JSONFormatter, TextFormatter, process_fields, rfc3339
from ._redact import clean_field
from .exceptions import ConfigurationError

__all__ = [
    "EVENTS",
    "AuditEvent",
    "JSONFormatter",
    "add_audit_hook",
    "add_handler",
    "configure",
    "configure_from_policy",
    "emit",
    "make_handler",
    "remove_audit_hook",
]

audit_logger = logging.getLogger("securl.audit")
_log = logging.getLogger("securl")

#: Fields every event has, in this order, before its own (see securl._audit_format).
COMMON_FIELDS = ("time", "event", "host", "port", "pid", "user", "machine", "program")

#: Every event securl emits and its own fields (besides `COMMON_FIELDS`).
EVENTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "securl.connection": (
        "verified", "mode", "tls_version", "cipher", "subject", "issuer", "not_after",
        "spki_sha256", "trust_source", "resumed",
    ),
    "securl.verification_failed": (
        "reason_code", "detail", "trust_source", "mode", "sans", "verifier", "error",
    ),
    "securl.unverified_request": ("reason", "caller", "url", "action"),
    "securl.pinned_request": (
        "reason", "caller", "url", "pins", "pins_files", "check_hostname",
        "trust_on_first_use", "action",
    ),
    "securl.pin_mismatch": ("source", "expected", "got"),
    "securl.pin_recorded": ("pin", "file", "mode", "chain_verified"),
    "securl.redirect": ("status", "from_url", "to_url", "method", "headers_dropped"),
    "securl.retry": ("attempt", "reason", "status", "wait", "url", "method"),
    "securl.auth_challenge": ("url", "offered", "scheme", "algorithm", "realm", "action"),
    "securl.insecure_auth": ("scheme", "url", "caller", "action", "allowed_by"),
    "securl.policy_loaded": ("path", "values"),
    "securl.installed": (
        "policy", "on_process_wide_unverified", "https_context", "verify_stdlib_clients",
        "reverted", "insecure_environment", "python",
    ),
    "securl.uninstalled": ("policy",),
    "securl.monkeypatch": (
        "target", "value", "caller", "action", "verified", "detail", "phase", "mode",
    ),
    "securl.insecure_environment": ("variable", "value", "effect"),
    "securl.unverified_connection": ("off", "library", "caller", "action"),
})

# -- events ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditEvent:
    """One trust decision. ``name`` is the stable event name, e.g. ``securl.connection``.

    ``time`` is seconds since the Unix epoch (in ``to_dict()`` and log lines it is RFC 3339
    UTC text, [timestamp][securl.AuditEvent.timestamp]); ``fields`` is read-only (lists
    refuse changes, tables are read-only mappings), so one hook cannot change what the next
    one sees.
    """

    name: str
    time: float
    host: str | None = None
    port: int | None = None
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def event(self) -> str:
        """The event name, as in ``to_dict()["event"]`` (an alias of `name`)."""
        return self.name

    @property
    def timestamp(self) -> str:
        """`time` as RFC 3339 UTC with milliseconds: ``2026-12-06T15:04:05.123Z``."""
        return rfc3339(self.time)

    def to_dict(self) -> dict[str, Any]:
        """The event as one flat, JSON-ready dict: the [COMMON_FIELDS][securl.audit.COMMON_FIELDS]
        (``time`` as RFC 3339 text, then event, host, port, pid, user, machine, program),
        then its own fields. A field can never overwrite a common key.
        """
        out: dict[str, Any] = {
            "time": self.timestamp, "event": self.name, "host": self.host, "port": self.port,
            **process_fields(),
        }
        for key, value in self.fields.items():
            if key not in out:
                out[key] = _thaw(value)
        return out

    def message(self) -> str:
        """A readable one-line summary for text logs (values repr()'d: no line breaks)."""
        where = f" {self.host}:{self.port}" if self.host else ""
        details = " ".join(f"{k}={_thaw(v)!r}" for k, v in self.fields.items())
        return f"{self.name}{where} {details}".rstrip()

    def __str__(self) -> str:
        return self.message()


def _thaw(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


# -- in-process hooks --------------------------------------------------------------------

AuditHook = Callable[[AuditEvent], object]


class _HookEntry:
    __slots__ = ("hook", "reported")

    def __init__(self, hook: AuditHook) -> None:
        self.hook = hook
        self.reported = False


_hooks: tuple[_HookEntry, ...] = ()
_lock = threading.Lock()


def add_audit_hook(hook: AuditHook) -> None:
    """Call ``hook(event)`` for every audit event from now on.

    The hook runs synchronously in the thread that made the decision. Adding a hook that is
    already added (``==``, so the same bound method counts) does nothing.
    """
    global _hooks
    if not callable(hook):
        raise TypeError(f"an audit hook must be callable, got {hook!r}")
    with _lock:
        if not any(entry.hook == hook for entry in _hooks):
            _hooks = (*_hooks, _HookEntry(hook))


def remove_audit_hook(hook: AuditHook) -> None:
    """Stop calling ``hook`` (compared with ``==``); a hook that was never added is ignored."""
    global _hooks
    with _lock:
        _hooks = tuple(entry for entry in _hooks if entry.hook != hook)


# -- emit --------------------------------------------------------------------------------

_reported: set[tuple[str, str]] = set()
_local = threading.local()
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "securl_event",
}


def _report_once(key: tuple[str, str], message: str, *args: object) -> None:
    """Log an outlet failure on the ``securl`` logger, once per ``key``; never raises."""
    with _lock:
        if key in _reported:
            return
        _reported.add(key)
    _report(message, *args)


def _report(message: str, *args: object) -> None:
    # If the securl logger itself is broken there is nowhere left to say so: stay silent.
    with contextlib.suppress(Exception):
        _log.error(message + "; it is kept, and further failures of it are not reported",
                   *args, exc_info=True)


def _busy() -> set[str]:
    busy: set[str] | None = getattr(_local, "busy", None)
    if busy is None:
        busy = _local.busy = set()
    return busy


_held: dict[str, list[tuple[str | None, int | None, dict[str, Any]]]] | None = None


def hold_events(*names: str) -> None:
    """Keep ``securl.<name>`` events back until `release_events` (the sitecustomize
    hook's install: a process that never makes a TLS connection writes no event)."""
    global _held
    with _lock:
        _held = {f"securl.{n}": [] for n in names}


def release_events() -> None:
    """Emit the events `hold_events` kept back, in order, and stop holding."""
    global _held
    with _lock:
        held, _held = _held, None
    for name, entries in (held or {}).items():
        for host, port, fields in entries:
            emit(name.removeprefix("securl."), host=host, port=port, **fields)


def emit(name: str, *, host: str | None = None, port: int | None = None,
         **fields: Any) -> AuditEvent:
    """Emit ``securl.<name>`` to every outlet (see the module docstring); never raises."""
    name = f"securl.{name}"
    held = _held
    if held is not None and name in held:
        held[name].append((host, port, fields))
        return AuditEvent(name, time.time(), host, port, MappingProxyType({}))
    try:
        clean: Mapping[str, Any] = MappingProxyType(
            {k: clean_field(k, v) for k, v in fields.items()})
    except Exception as exc:  # an odd value must not cost the event itself
        clean = MappingProxyType({"error": f"fields not recordable: {type(exc).__name__}"})
        _report_once(("fields", name), "securl: the fields of %s could not be recorded", name)
    event = AuditEvent(name, time.time(), host, port, clean)
    busy = _busy()
    if "logger" not in busy and audit_logger.isEnabledFor(logging.INFO):
        busy.add("logger")
        try:
            data = event.to_dict()
            extra = {k: v for k, v in data.items() if k not in _RECORD_ATTRS}
            extra["securl_event"] = data
            # makeRecord + handle = logger.info() without findCaller()'s stack walk: the
            # frame inside securl says nothing; events that need a caller have the field.
            audit_logger.handle(audit_logger.makeRecord(
                audit_logger.name, logging.INFO, "(securl audit)", 0, "%s", (event,), None,
                "emit", extra))
        except Exception as exc:
            _report_once(("logger", type(exc).__name__),
                         "securl: a handler of the securl.audit logger raised")
        finally:
            busy.discard("logger")
    if "sys.audit" not in busy:
        busy.add("sys.audit")
        try:
            sys.audit(event.name, event.to_dict())
        except Exception as exc:
            _report_once(("sys.audit", f"{event.name}:{type(exc).__name__}"),
                         "securl: a sys.audit hook raised for %s", event.name)
        finally:
            busy.discard("sys.audit")
    if _hooks and "hooks" not in busy:
        busy.add("hooks")
        try:
            for entry in _hooks:
                try:
                    entry.hook(event)
                except Exception:
                    with _lock:
                        first, entry.reported = not entry.reported, True
                    if first:
                        _report("securl: audit hook %r raised", entry.hook)
        finally:
            busy.discard("hooks")
    return event


# -- the logging outlet: formatter and handlers ------------------------------------------

# -- the log file: another local user can neither redirect, truncate nor forge it -------
# (O_NONBLOCK only makes a named pipe planted at the path fail, ENXIO, instead of hanging.)
_LOG_FLAGS = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
_POSIX = hasattr(os, "geteuid")
_RECREATE = "remove it (`rm {path}`) and let securl create it"


def _log_mode() -> int:
    """A new log file's mode: 0640 as root (its group may read it), else 0600 (less umask)."""
    return 0o640 if _POSIX and os.geteuid() == 0 else 0o600


def _file_problem(st: os.stat_result) -> tuple[str, str] | None:
    """(what is wrong, the fix) for the log file found, or None if it can be trusted."""
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file", _RECREATE
    if not _POSIX:  # pragma: no cover - Windows has no POSIX owners
        return None
    if st.st_uid not in (0, os.geteuid()):
        return f"is owned by another user (uid {st.st_uid})", _RECREATE
    if mode & 0o022:
        return "is writable by its group or other users", f"`chmod {mode & ~0o022:04o} {{path}}`"
    if st.st_nlink > 1:  # a hard link another user made to a file root must not write
        return f"has {st.st_nlink} hard links", _RECREATE
    return None


def open_log(path: str, what: str) -> int:
    """Open the audit log ``path`` to append (O_APPEND, never following a link: O_NOFOLLOW).

    Refuses, with a ConfigurationError starting with ``what``, a file that `_file_problem`
    or a directory that `securl.admin.files.check_trusted_dir` refuses."""
    from .admin.files import check_trusted_dir, describe_owner

    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.stat(directory)  # a missing directory is an OSError: the file "cannot be opened"
    check_trusted_dir(directory, what=f"{what} {path}")
    try:
        fd = os.open(path, _LOG_FLAGS, _log_mode())
    except OSError as exc:
        if os.path.islink(path):
            raise ConfigurationError(
                f"{what}: a symbolic link was found at {path} ({describe_owner(os.lstat(path))}"
                f", pointing to {os.readlink(path)!r}); securl never follows a link there, as "
                "whoever placed it would choose the file securl appends to. Fix: remove the "
                f"link (`rm {path}`), let securl create the file, and make sure only root can "
                f"write {directory}") from None
        try:  # say what is there (a named pipe gives ENXIO; a file of another user, EACCES)
            st = os.lstat(path)
        except OSError:
            raise exc from None
        if _file_problem(st) is None:
            raise
    else:
        try:
            st = os.fstat(fd)
            if _file_problem(st) is None:
                if _POSIX:
                    os.set_blocking(fd, True)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    problem, fix = _file_problem(st) or ("is not a regular file", _RECREATE)
    raise ConfigurationError(
        f"{what}: {path} {problem} ({describe_owner(st)}), so another user could redirect, "
        f"truncate or forge the audit log; securl refuses it, as sshd's StrictModes does. "
        f"Fix: {fix.format(path=path)}")


class _LogFileHandler(logging.FileHandler):
    """A FileHandler whose every open (at creation, and any reopen) goes through open_log()."""

    def __init__(self, filename: str, what: str) -> None:
        self._what = what
        super().__init__(filename, mode="a", encoding="utf-8")

    def _open(self) -> io.TextIOWrapper:  # (io.open closes the descriptor if it fails)
        fd = open_log(self.baseFilename, self._what)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def make_handler(log_file: str | None = None, format: str = "json", *,
                 what: str = "securl.audit log_file") -> logging.Handler:
    """A handler writing audit events to ``log_file`` (appending, through `open_log`,
    whose refusals start with ``what``) or to stderr, as JSON or text lines."""
    if format not in ("json", "text"):
        raise ValueError(f'format must be "json" or "text", not {format!r}')
    handler: logging.Handler = (
        _LogFileHandler(log_file, what) if log_file else logging.StreamHandler()
    )
    handler.setFormatter(JSONFormatter() if format == "json" else TextFormatter())
    return handler


def _same_file(handler: logging.Handler, other: logging.Handler) -> bool:
    return (isinstance(handler, logging.FileHandler) and isinstance(other, logging.FileHandler)
            and os.path.realpath(handler.baseFilename) == os.path.realpath(other.baseFilename))


def add_handler(handler: logging.Handler) -> bool:
    """Attach ``handler`` to the audit logger and make sure INFO events reach it.

    A file that already receives audit events (the admin policy's log, say) is not attached
    twice, which would write every line twice: then this returns False.
    """
    with _lock:
        if any(_same_file(handler, h) for h in audit_logger.handlers):
            return False
        audit_logger.addHandler(handler)
        if audit_logger.level == logging.NOTSET or audit_logger.level > logging.INFO:
            audit_logger.setLevel(logging.INFO)
    return True


_slots: dict[str, logging.Handler] = {}
_slots_lock = threading.Lock()


def _set_slot(slot: str, handler: logging.Handler | None) -> None:
    """Make ``handler`` the one handler of ``slot`` ("application" or "policy")."""
    with _slots_lock:
        old = _slots.pop(slot, None)
        if old is not None:
            audit_logger.removeHandler(old)
            old.close()
        if handler is not None and add_handler(handler):
            _slots[slot] = handler


def configure(log_file: str | None = None, format: str = "json") -> logging.Handler:
    """Send audit events to ``log_file`` (appending; default stderr) as JSON lines or text.

    For applications. A second call replaces the handler the first one added; the handler
    the admin policy's ``audit.log_file`` added stays. Returns the new handler.
    """
    handler = make_handler(log_file, format)
    _set_slot("application", handler)
    return handler


def configure_from_policy(log_file: str, format: str, origin: str | None) -> logging.Handler:
    """Attach the admin policy's audit log (``audit.log_file``/``audit.format``).

    Idempotent for the same file and format. Fails closed: a log file that cannot be opened,
    or that another local user could change (`open_log`), raises
    `ConfigurationError` naming the file, the cause and the fix, because the
    admin asked for an audit trail and requests must not run without it.
    """
    current = _slots.get("policy")
    if (isinstance(current, logging.FileHandler)
            and current.baseFilename == os.path.abspath(log_file)
            and isinstance(current.formatter, JSONFormatter) == (format == "json")):
        return current
    fail_closed = "securl refuses to run requests without the audit log the policy asks for"
    try:
        handler = make_handler(log_file, format, what=f"securl policy {origin}: audit.log_file")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc}. {fail_closed}") from None
    except OSError as exc:
        raise ConfigurationError(
            f"securl policy {origin}: audit.log_file {log_file!r} cannot be opened for "
            f"appending ({exc.strerror}); create its directory (owned by root, mode 0755) and "
            "run as root, or point audit.log_file at a path writable by this user (uid "
            f"{os.geteuid() if _POSIX else '?'}) in a directory only root or this user can "
            f"write. {fail_closed}"
        ) from None
    _set_slot("policy", handler)
    return handler
