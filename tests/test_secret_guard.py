"""The suite-wide secret guard (tests/_secret_guard.py) sees every channel it claims to.

Each test leaks a known secret on purpose through one channel, then collects the hit with
``secret_guard.take()`` (which also keeps this test from failing).
"""

from __future__ import annotations

import logging
import warnings

import pytest

import securl
from _secret_guard import SecretGuard
from _secrets import PRIVATE_KEY_MARKER, SECRETS, TEST_BASIC_B64, TEST_BEARER, TEST_PASSWORD
from securl._audit import emit


def test_guard_sees_debug_log_records_of_any_logger(secret_guard: SecretGuard) -> None:
    logging.getLogger("some.library").debug("sending %s", f"Bearer {TEST_BEARER}")
    assert secret_guard.take() == ["TEST_BEARER appeared in log record of 'some.library'"]


def test_guard_sees_warnings_even_when_filtered(secret_guard: SecretGuard) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.warn(f"password={TEST_PASSWORD}", UserWarning, stacklevel=1)
    assert secret_guard.take() == ["TEST_PASSWORD appeared in a warning"]


def test_guard_sees_audit_events(secret_guard: SecretGuard) -> None:
    emit("test_event", host="h", port=1, detail=f"Bearer {TEST_BEARER}")
    hits = secret_guard.take()
    assert "TEST_BEARER appeared in audit event securl.test_event" in hits


def test_emit_itself_blanks_private_key_text(secret_guard: SecretGuard) -> None:
    # securl's own second line of defence: emit() never lets PEM key text through, so the
    # guard has nothing to report here.
    event = emit("test_event", host="h", port=1, detail=f"-----BEGIN {PRIVATE_KEY_MARKER}")
    assert PRIVATE_KEY_MARKER not in str(event.to_dict())
    assert secret_guard.take() == []


def test_guard_sees_exceptions_caught_by_pytest_raises(secret_guard: SecretGuard) -> None:
    with pytest.raises(ValueError):
        try:
            raise KeyError(TEST_BASIC_B64)
        except KeyError:
            raise ValueError("wrapped") from None  # still on __context__
    assert secret_guard.take() == [
        "TEST_BASIC_B64 appeared in an exception caught by pytest.raises (KeyError)"]


def test_guard_is_quiet_for_redacted_securl_errors(secret_guard: SecretGuard) -> None:
    with pytest.raises(securl.InvalidRequest):
        securl.get(f"https://u:{TEST_PASSWORD}@127.0.0.1:1/ x")
    assert secret_guard.take() == []


def test_secrets_are_distinct_and_url_safe() -> None:
    values = [v for k, v in SECRETS.items() if k != "PRIVATE_KEY_MARKER"]
    assert len(set(values)) == len(values)
    for value in values:
        assert all(c.isalnum() or c in "-_.~=+/" for c in value)
