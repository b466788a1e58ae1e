"""The guard on the ssl module, in this process: classification, actions, bypass detection.

Every test restores the ssl module's watched attributes, the guard's state and the policy
(fixture ``guard``). End-to-end behaviour with real servers is in test_install.py.
"""

from __future__ import annotations

import functools
import pathlib
import ssl
import sys
import time
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import truststore

import securl
from securl import _policy
from securl.admin import guard as _guard
from securl.admin.environment import inspect_environment

UNVERIFIED = ssl._create_unverified_context


@dataclass
class Guard:
    tmp_path: pathlib.Path
    monkeypatch: pytest.MonkeyPatch
    events: list[securl.AuditEvent] = field(default_factory=list)

    def policy(self, text: str) -> None:
        path = self.tmp_path / "policy.toml"
        path.write_text(text)
        self.monkeypatch.setenv("SECURL_POLICY", str(path))
        _policy._reset_for_tests()

    def patches(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.events if e.event == "securl.monkeypatch"]


@pytest.fixture
def guard(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guard]:
    saved = {name: vars(ssl).get(name) for name in _guard.GUARDED}
    state = Guard(tmp_path, monkeypatch)
    state.policy("")
    securl.add_audit_hook(state.events.append)
    try:
        yield state
    finally:
        securl.remove_audit_hook(state.events.append)
        securl.uninstall()
        for name, value in saved.items():
            vars(ssl)[name] = value
        _guard.deactivate()
        _guard.activate()
        _policy._reset_for_tests()


def line_after(marker_offset: int = 1) -> int:
    """The line number ``marker_offset`` lines below the caller's line."""
    return sys._getframe(1).f_lineno + marker_offset


# --- classification -------------------------------------------------------------------------

class NaiveUnverified(ssl.SSLContext):
    def __init__(self, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> None:
        self.check_hostname = False
        self.verify_mode = ssl.CERT_NONE


class NaiveVerified(ssl.SSLContext):
    pass


def raises() -> ssl.SSLContext:
    raise RuntimeError("no context today")


@pytest.mark.parametrize(
    ("name", "value", "verifies", "why"),
    [
        ("_create_default_https_context", UNVERIFIED, False, "skips certificate"),
        ("_create_default_https_context", ssl.create_default_context, True, "verifies"),
        ("_create_default_https_context", lambda: ssl.create_default_context(), True, "gives"),
        ("create_default_context", lambda: UNVERIFIED(), False, "verify_mode=CERT_NONE"),
        ("_create_default_https_context", raises, False, "could not check"),
        ("_create_default_https_context", "not callable", False, "not callable"),
        ("_create_default_https_context", lambda: object(), False, "did not give"),
        ("SSLContext", truststore.SSLContext, True, "gives contexts that verify"),
        ("SSLContext", NaiveUnverified, False, "check_hostname=False"),
        ("SSLContext", NaiveVerified, True, "verify"),
        ("SSLContext", lambda p: ssl.SSLContext(p), False, "not a class"),
        ("_create_stdlib_context", UNVERIFIED, False, "skips"),
        ("SSLContext", _guard._MISSING, False, "deleted"),
        # the class itself in a factory slot: called with no argument it gives CERT_NONE
        ("_create_default_https_context", ssl.SSLContext, False, "verify_mode=CERT_NONE"),
        ("create_default_context", ssl.SSLContext, False, "verify_mode=CERT_NONE"),
        ("SSLContext", ssl.SSLContext, True, "standard library"),
    ],
)
def test_classify(guard: Guard, name: str, value: Any, verifies: bool, why: str) -> None:
    got, detail = _guard.classify(name, value)
    assert (got, why in detail) == (verifies, True), detail


def test_classify_a_partial_with_a_private_ca(guard: Guard, ca_file: str) -> None:
    value = functools.partial(ssl.create_default_context, cafile=ca_file)
    assert _guard.classify("_create_default_https_context", value)[0] is True


# --- actions at the assignment --------------------------------------------------------------

def test_import_puts_the_guard_on_ssl(guard: Guard) -> None:
    assert isinstance(ssl, _guard._GuardedModule)
    ssl.securl_test_attribute = 1  # type: ignore[attr-defined]  # others pass straight through
    assert vars(ssl).pop("securl_test_attribute") == 1


def test_warn_by_default_without_install_names_this_file_and_line(guard: Guard) -> None:
    line = line_after(2)
    with pytest.warns(securl.SecurityWarning, match="turns off certificate verification") as rec:
        ssl._create_default_https_context = UNVERIFIED
    assert ssl._create_default_https_context is UNVERIFIED
    (w,) = rec.list
    assert (w.filename, w.lineno) == (__file__, line)
    assert f"{__file__}:{line}" not in str(w.message)  # the warning's own location says it
    (event,) = guard.patches()
    assert event["action"] == "warned"
    assert event["caller"] == f"{__file__}:{line}"
    assert event["target"] == "ssl._create_default_https_context"


def test_warning_turned_into_an_error_leaves_the_safe_value(guard: Guard) -> None:
    before = ssl._create_default_https_context
    with warnings.catch_warnings():
        warnings.simplefilter("error", securl.SecurityWarning)
        with pytest.raises(securl.SecurityWarning):
            ssl._create_default_https_context = UNVERIFIED
    assert ssl._create_default_https_context is before
    assert [e["action"] for e in guard.patches()] == ["warned"]  # audited all the same


def test_refuse_by_policy_without_install(guard: Guard) -> None:
    guard.policy('on_process_wide_unverified = "refuse"\n')
    before = ssl.SSLContext
    line = line_after(2)
    with pytest.warns(securl.SecurityWarning, match=r"ignored `ssl.SSLContext = .*NaiveUnv") as rec:
        ssl.SSLContext = NaiveUnverified  # type: ignore[misc]  # no exception: ignored
    assert ssl.SSLContext is before
    assert (rec.list[0].filename, rec.list[0].lineno) == (__file__, line)
    assert "on_process_wide_unverified" in str(rec.list[0].message)
    (event,) = guard.patches()
    assert (event["action"], event["mode"]) == ("refused", "refuse")


def test_refuse_after_install_by_default(guard: Guard) -> None:
    securl.install()
    with pytest.warns(securl.SecurityWarning, match=r"sitecustomize hook, or a call in code"):
        ssl.create_default_context = UNVERIFIED
    assert ssl.create_default_context is _guard.stdlib_original("create_default_context")


def test_allow_is_silent_but_audited(guard: Guard, recwarn: pytest.WarningsRecorder) -> None:
    guard.policy('on_process_wide_unverified = "allow"\n')
    securl.install()
    ssl._create_default_https_context = UNVERIFIED
    assert ssl._create_default_https_context is UNVERIFIED
    assert not [w for w in recwarn.list if issubclass(w.category, securl.SecurityWarning)]
    assert [e["action"] for e in guard.patches()] == ["allowed"]


def test_verified_replacements_are_accepted_and_become_the_safe_value(guard: Guard) -> None:
    securl.install()
    truststore.inject_into_ssl()
    try:
        assert ssl.SSLContext is truststore.SSLContext
        with pytest.warns(securl.SecurityWarning, match="ignored"):
            ssl.SSLContext = NaiveUnverified  # type: ignore[misc]
        assert ssl.SSLContext is truststore.SSLContext
    finally:
        truststore.extract_from_ssl()
    assert [e["action"] for e in guard.patches()] == ["accepted", "refused", "accepted"]


def test_stdlib_client_factory_is_protected_only_when_policy_verifies_it(guard: Guard) -> None:
    securl.install()
    ssl._create_stdlib_context = UNVERIFIED  # already the stdlib default: no disable
    assert guard.patches()[-1]["action"] == "accepted"
    securl.uninstall()
    guard.policy("verify_stdlib_clients = true\n")
    securl.install()
    assert ssl._create_stdlib_context.__qualname__ == "stdlib_client_context"
    with pytest.warns(securl.SecurityWarning, match="ignored"):
        ssl._create_stdlib_context = UNVERIFIED
    assert ssl._create_stdlib_context.__qualname__ == "stdlib_client_context"
    securl.uninstall()
    assert ssl._create_stdlib_context is UNVERIFIED  # the stdlib's own value came back
    assert ssl._create_stdlib_context is UNVERIFIED


# --- what slips past __setattr__ ------------------------------------------------------------

def test_check_process_wide_is_cheap(guard: Guard) -> None:
    securl.install()
    _guard.check_process_wide()
    n = 100_000
    start = time.perf_counter()
    for _ in range(n):
        _guard.check_process_wide()
    per_call = (time.perf_counter() - start) / n
    assert per_call < 10e-6, f"{per_call * 1e6:.2f} µs per call"


def test_dict_bypass_is_reverted_under_refuse(guard: Guard) -> None:
    securl.install()
    vars(ssl)["_create_default_https_context"] = UNVERIFIED
    with pytest.warns(securl.SecurityWarning, match="put the verifying value back"):
        _guard.check_process_wide()
    assert ssl._create_default_https_context.__qualname__ == "https_context"
    (event,) = guard.patches()
    assert (event["action"], event["phase"]) == ("reverted", "request")


def test_dict_bypass_is_warned_once_under_warn(guard: Guard) -> None:
    vars(ssl)["_create_default_https_context"] = UNVERIFIED
    with pytest.warns(securl.SecurityWarning, match="could not see"):
        _guard.check_process_wide()
    _guard.check_process_wide()  # accepted now: no second warning, no second event
    assert ssl._create_default_https_context is UNVERIFIED
    assert [e["action"] for e in guard.patches()] == ["warned"]


def test_deleting_a_watched_attribute_is_put_back_under_refuse(guard: Guard) -> None:
    securl.install()
    del ssl.SSLContext
    with pytest.warns(securl.SecurityWarning):
        _guard.check_process_wide()
    assert ssl.SSLContext is _guard.stdlib_original("SSLContext")


def test_resetting_the_module_class_is_undone(guard: Guard) -> None:
    securl.install()
    ssl.__class__ = types.ModuleType
    _guard.check_process_wide()
    assert isinstance(ssl, _guard._GuardedModule)
    assert guard.patches()[-1]["action"] == "reactivated"
    with pytest.warns(securl.SecurityWarning, match="ignored"):
        ssl._create_default_https_context = UNVERIFIED
    assert ssl._create_default_https_context is not UNVERIFIED


def test_install_reexamines_a_disable_accepted_under_warn(guard: Guard) -> None:
    with pytest.warns(securl.SecurityWarning):
        ssl._create_default_https_context = UNVERIFIED  # before install: warned, allowed
    line = line_after(-1)
    with pytest.warns(securl.SecurityWarning, match=f"made at {__file__}:{line}"):
        securl.install()  # default after install is refuse: reverted
    assert ssl._create_default_https_context.__qualname__ == "https_context"
    assert [e["action"] for e in guard.patches()] == ["warned", "reverted"]


# --- the environment ------------------------------------------------------------------------

def test_inspect_environment(tmp_path: pathlib.Path, ca_file: str) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    env = {
        "PYTHONHTTPSVERIFY": "0",
        "REQUESTS_CA_BUNDLE": "",
        "CURL_CA_BUNDLE": "/some/bundle.pem",  # set and non-empty: not a disable
        "SSL_CERT_FILE": str(empty),
        "SSL_CERT_DIR": str(tmp_path / "nope"),
    }
    found = {f.variable: f.effect for f in inspect_environment(env)}
    assert set(found) == {"PYTHONHTTPSVERIFY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
                          "SSL_CERT_DIR"}
    assert "holds no PEM certificate" in found["SSL_CERT_FILE"]
    assert "fails closed" in found["SSL_CERT_DIR"]
    assert inspect_environment({"SSL_CERT_FILE": ca_file, "PYTHONHTTPSVERIFY": "1"}) == []
