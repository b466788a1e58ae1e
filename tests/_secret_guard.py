"""A suite-wide guard: a test fails if a known secret (``_secrets.SECRETS``) leaks.

Installed once per session (``_secret_guard_session``) and checked per test
(``secret_guard``), it watches:

* log records of every logger, at DEBUG (the root logger is set to DEBUG during each test);
* warnings, however filtered (``warnings.warn`` / ``warn_explicit`` are wrapped);
* securl audit events (``securl.add_audit_hook``);
* exception messages: those a test lets escape (``pytest_runtest_makereport``) and those it
  catches with ``pytest.raises`` (wrapped), with their whole cause/context chain.

A hit names the secret (never its value) and where it appeared; the test then fails in its
teardown. Tests that deliberately provoke a leak to test the guard call
``secret_guard.take()`` to collect and clear the hits.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import securl
from _secrets import SECRETS


class SecretGuard:
    """Collects places where a known secret appeared."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self._lock = threading.Lock()

    def scan(self, where: str, value: object) -> None:
        try:
            text = value if isinstance(value, str) else repr(value)
        except Exception:  # a broken repr must not break the test run
            return
        for name, secret in SECRETS.items():
            if secret in text:
                with self._lock:
                    self.hits.append(f"{name} appeared in {where}")

    def scan_exception(self, where: str, exc: BaseException | None) -> None:
        seen: list[BaseException] = []
        todo = [exc]
        while todo:
            current = todo.pop()
            if current is None or any(current is s for s in seen) or len(seen) > 30:
                continue
            seen.append(current)
            self.scan(f"{where} ({type(current).__name__})", f"{current} {current!r}")
            todo.extend([current.__cause__, current.__context__,
                         *(a for a in current.args if isinstance(a, BaseException))])
            reason = getattr(current, "reason", None)
            if isinstance(reason, BaseException):
                todo.append(reason)
            else:
                self.scan(f"{where} ({type(current).__name__}.reason)", reason)

    def take(self) -> list[str]:
        with self._lock:
            hits, self.hits = self.hits, []
        return hits


GUARD = SecretGuard()


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!r} {record.args!r}"
        GUARD.scan(f"log record of {record.name!r}", message)
        event = getattr(record, "securl_event", None)
        if event is not None:
            GUARD.scan(f"log record of {record.name!r} (securl_event)", event)
        if record.exc_info and record.exc_info[1] is not None:
            GUARD.scan_exception(f"log record of {record.name!r}", record.exc_info[1])


class _RaisesProxy:
    """Wraps pytest.raises' context manager to see the exception it catches."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __enter__(self) -> Any:
        return self._inner.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        if exc_info[1] is not None:
            GUARD.scan_exception("an exception caught by pytest.raises", exc_info[1])
        return self._inner.__exit__(*exc_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture(scope="session", autouse=True)
def _secret_guard_session() -> Iterator[SecretGuard]:
    handler = _Handler(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    orig_warn, orig_warn_explicit = warnings.warn, warnings.warn_explicit
    orig_raises = pytest.raises

    def warn(message: Any, category: Any = None, stacklevel: int = 1, source: Any = None,
             **kwargs: Any) -> None:
        GUARD.scan("a warning", str(message))
        orig_warn(message, category, stacklevel + 1, source, **kwargs)

    def warn_explicit(message: Any, *args: Any, **kwargs: Any) -> None:
        GUARD.scan("a warning", str(message))
        orig_warn_explicit(message, *args, **kwargs)

    def raises(*args: Any, **kwargs: Any) -> Any:
        result = orig_raises(*args, **kwargs)
        if isinstance(result, pytest.ExceptionInfo):
            GUARD.scan_exception("an exception caught by pytest.raises", result.value)
            return result
        return _RaisesProxy(result)

    def audit_hook(event: securl.AuditEvent) -> None:
        GUARD.scan(f"audit event {event.event}", event.to_dict())

    warnings.warn = warn  # type: ignore[assignment]
    warnings.warn_explicit = warn_explicit  # type: ignore[assignment]
    pytest.raises = raises  # type: ignore[assignment]
    securl.add_audit_hook(audit_hook)
    try:
        yield GUARD
    finally:
        securl.remove_audit_hook(audit_hook)
        pytest.raises = orig_raises  # type: ignore[assignment]
        warnings.warn, warnings.warn_explicit = orig_warn, orig_warn_explicit
        root.removeHandler(handler)


@pytest.fixture(autouse=True)
def secret_guard(_secret_guard_session: SecretGuard) -> Iterator[SecretGuard]:
    """The guard; the test fails if any secret appeared during it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    _secret_guard_session.take()
    try:
        yield _secret_guard_session
    finally:
        root.setLevel(level)
    hits = _secret_guard_session.take()
    if hits:
        pytest.fail("secret leaked: " + "; ".join(sorted(set(hits))), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail a test whose escaping exception (or its chain) carries a secret."""
    outcome = yield
    if call.excinfo is None:
        return
    probe = SecretGuard()
    probe.scan_exception(f"the exception that ended the test ({call.when})", call.excinfo.value)
    if probe.hits:
        report = outcome.get_result()
        report.outcome = "failed"
        report.sections.append(("secret leak", "; ".join(sorted(set(probe.hits)))))
