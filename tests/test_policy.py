"""The admin policy file: validation that fails closed, provenance, read-once, no loosening."""

from __future__ import annotations

import dataclasses
import pathlib
import ssl
from collections.abc import Iterator

import pytest

import securl
from securl import _policy
from securl._policy import Policy, load_policy, parse_policy

FULL = """\
allow_unverified = false
on_process_wide_unverified = "warn"
minimum_tls_version = "1.3"
extra_ca_certs = "/etc/ssl/corp.pem"
allow_basic_auth_over_http = false
x509_strict = false
pins_file = "/etc/securl/pins"
verify_stdlib_clients = true

[audit]
log_file = "/var/log/securl.jsonl"
format = "text"
"""


@pytest.fixture(autouse=True)
def _fresh_policy() -> Iterator[None]:
    _policy._reset_for_tests()
    yield
    _policy._reset_for_tests()


def write(tmp_path: pathlib.Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def test_every_key_parses_and_remembers_its_line() -> None:
    p = parse_policy(FULL, "/etc/securl/policy.toml")
    assert p.allow_unverified is False
    assert p.on_process_wide_unverified == "warn"
    assert p.minimum_tls_version == ssl.TLSVersion.TLSv1_3
    assert p.extra_ca_certs == "/etc/ssl/corp.pem"
    assert p.x509_strict is False
    assert p.pins_file == "/etc/securl/pins"
    assert p.verify_stdlib_clients is True
    assert (p.audit_log_file, p.audit_format) == ("/var/log/securl.jsonl", "text")
    assert p.origin_of("minimum_tls_version") == "/etc/securl/policy.toml:3"
    assert p.origin_of("audit_format") == "/etc/securl/policy.toml:12"
    assert p.origin_of("verify_stdlib_clients") == "/etc/securl/policy.toml:8"


def test_defaults_when_no_file_and_not_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_policy, "default_policy_path", lambda environ=None: "/nonexistent/p.toml")
    p = load_policy()
    assert p == Policy()
    assert p.origin_of("allow_unverified") == "default"
    assert p.on_process_wide_unverified is None
    assert p.verify_stdlib_clients is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x509_strict = true\nallow_unverified = = 1\n", r"policy\.toml: not valid TOML: .*line 2"),
        ("x509_strict = true\nallow_unverified = 'no'\n",
         r"policy\.toml:2: key 'allow_unverified' must be a boolean, got 'no' \(str\)"),
        ("minimum_tls_version = 1.3\n",
         r"policy\.toml:1: key 'minimum_tls_version' must be a string, \"1\.2\" or \"1\.3\""),
        ('minimum_tls_version = "1.1"\n', r"key 'minimum_tls_version' must be"),
        ('on_process_wide_unverified = "off"\n', r"must be one of \"refuse\", \"warn\""),
        ("\n\nverify = false\n", r"policy\.toml:3: unknown key 'verify'; known keys: "),
        ("[audit]\nlog_file = 3\n", r"policy\.toml:2: key 'audit\.log_file' must be a path"),
        ("[audit]\nformat = 'xml'\n", r"policy\.toml:2: key 'audit\.format'"),
        ("[audit]\nsink = true\n", r"policy\.toml:2: unknown key 'audit\.sink'"),
        ("audit = 1\n", r"key 'audit' must be a table"),
        ("verify_stdlib_clients = 'yes'\n", r"key 'verify_stdlib_clients' must be a boolean"),
    ],
)
def test_malformed_files_fail_closed_naming_file_line_key_and_type(
        tmp_path: pathlib.Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(securl.ConfigurationError, match=message) as info:
        load_policy(path)
    assert str(info.value).startswith(f"securl policy {path}")


def test_named_file_that_does_not_exist_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("SECURL_POLICY", str(tmp_path / "missing.toml"))
    with pytest.raises(securl.ConfigurationError, match="named by SECURL_POLICY"):
        _policy.get_policy()


def test_not_utf8_is_an_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b"allow_unverified = \xff\n")
    with pytest.raises(securl.ConfigurationError, match="not UTF-8"):
        load_policy(str(path))


def test_read_once_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "allow_unverified = false\n")
    monkeypatch.setenv("SECURL_POLICY", path)
    first = _policy.get_policy()
    pathlib.Path(path).write_text("allow_unverified = true\n")
    other = tmp_path / "other.toml"
    other.write_text("x509_strict = false\n")
    monkeypatch.setenv("SECURL_POLICY", str(other))
    assert _policy.get_policy() is first
    assert first.allow_unverified is False


def test_policy_is_immutable() -> None:
    p = parse_policy("allow_unverified = false\n", "p.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.allow_unverified = True  # type: ignore[misc]


def test_a_loaded_policy_cannot_be_swapped_for_another_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    strict = write(tmp_path, "allow_unverified = false\n")
    lax = tmp_path / "lax.toml"
    lax.write_text("allow_unverified = true\n")
    assert _policy.load_process_policy(strict).allow_unverified is False
    assert _policy.load_process_policy(strict).allow_unverified is False  # same file: fine
    with pytest.raises(securl.ConfigurationError, match="already loaded its policy"):
        _policy.load_process_policy(str(lax))
    assert _policy.get_policy().allow_unverified is False


def test_defaults_loaded_first_cannot_be_replaced_later(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: pathlib.Path) -> None:
    monkeypatch.setattr(_policy, "default_policy_path", lambda environ=None: "/nonexistent/p")
    _policy.get_policy()
    with pytest.raises(securl.ConfigurationError, match="the defaults"):
        _policy.load_process_policy(write(tmp_path, "allow_unverified = true\n"))


def test_loading_emits_policy_loaded(monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: pathlib.Path) -> None:
    events: list[securl.AuditEvent] = []
    securl.add_audit_hook(events.append)
    try:
        monkeypatch.setenv("SECURL_POLICY", write(tmp_path, 'minimum_tls_version = "1.3"\n'))
        _policy.get_policy()
    finally:
        securl.remove_audit_hook(events.append)
    (event,) = [e for e in events if e.event == "securl.policy_loaded"]
    assert event.fields["values"]["minimum_tls_version"] == "1.3"
    assert "origins" not in event.fields["values"]


# --- the request-path check the Session calls --------------------------------------------

def test_check_unverified_allowed_by_default(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("SECURL_POLICY", write(tmp_path, ""))
    _policy.check_unverified_allowed(host="10.0.0.5", reason="lab")


def test_check_unverified_refused_by_policy(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "# site policy\nallow_unverified = false\n")
    monkeypatch.setenv("SECURL_POLICY", path)
    events: list[securl.AuditEvent] = []
    securl.add_audit_hook(events.append)
    try:
        with pytest.raises(securl.PolicyError, match=rf"allow_unverified = false in {path}:2"):
            _policy.check_unverified_allowed(host="10.0.0.5", port=443, reason="INC-1",
                                             caller="app.py:3")
    finally:
        securl.remove_audit_hook(events.append)
    (event,) = [e for e in events if e.event == "securl.unverified_request"]
    assert (event.host, event.fields["action"], event.fields["reason"]) == (
        "10.0.0.5", "refused", "INC-1")


@pytest.mark.parametrize(("text", "line"), [
    ('pins_file = ""\n', 1),
    ('x509_strict = true\nextra_ca_certs = ""\n', 2),
    ('[audit]\nlog_file = ""\n', 2),
])
def test_empty_policy_paths_fail_closed_with_file_and_line(
        tmp_path: pathlib.Path, text: str, line: int) -> None:
    path = str(tmp_path / "p.toml")
    with pytest.raises(securl.ConfigurationError, match=rf"{path}:{line}: .* is empty"):
        _policy.parse_policy(text, path)
