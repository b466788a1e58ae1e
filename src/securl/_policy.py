"""Admin policy: one TOML file, read once per process, immutable afterwards.

The file is ``$SECURL_POLICY`` if that is set, else ``/etc/securl/policy.toml``
(``%PROGRAMDATA%\\securl\\policy.toml`` on Windows). A missing file means the defaults below.
A file that cannot be parsed, or holds an unknown key or a value of the wrong type, fails
closed: :class:`~securl.ConfigurationError` naming the file, the key and the expected type.

Applications can tighten what policy allows (e.g. pass ``minimum_version="1.3"``) but never
loosen it: every check that policy governs reads :func:`get_policy` at the decision point.
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from ._config import parse_tls_version
from .exceptions import ConfigurationError

__all__ = ["Policy", "default_policy_path", "get_policy", "load_policy"]

ProcessWideAction = Literal["refuse", "warn", "allow"]


@dataclass(frozen=True)
class Policy:
    """The effective admin policy (defaults when no file exists)."""

    path: str | None = None
    allow_unverified: bool = True
    on_process_wide_unverified: ProcessWideAction | None = None
    minimum_tls_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    extra_ca_certs: str | None = None
    allow_basic_auth_over_http: bool = False
    x509_strict: bool = True
    pins_file: str | None = None
    audit_log_file: str | None = None
    audit_format: Literal["json", "text"] = "json"

    def to_dict(self) -> dict[str, Any]:
        """The values as plain data (for ``securl admin show-policy`` and audit events)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, ssl.TLSVersion):
                value = "1.3" if value >= ssl.TLSVersion.TLSv1_3 else "1.2"
            out[f.name] = value
        return out


# key -> (expected python type(s), human name of the type)
_TOP_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "allow_unverified": (bool, "a boolean"),
    "on_process_wide_unverified": (str, 'one of "refuse", "warn", "allow"'),
    "minimum_tls_version": (str, 'a string, "1.2" or "1.3"'),
    "extra_ca_certs": (str, "a path string"),
    "allow_basic_auth_over_http": (bool, "a boolean"),
    "x509_strict": (bool, "a boolean"),
    "pins_file": (str, "a path string"),
    "audit": (dict, "a table ([audit])"),
}
_AUDIT_KEYS: dict[str, tuple[type, str]] = {
    "log_file": (str, "a path string"),
    "format": (str, '"json" or "text"'),
}


def default_policy_path(environ: Mapping[str, str] | None = None) -> str:
    """``$SECURL_POLICY`` if set, else the platform's system-wide policy path."""
    env = os.environ if environ is None else environ
    if env.get("SECURL_POLICY"):
        return env["SECURL_POLICY"]
    if sys.platform == "win32":
        base = env.get("PROGRAMDATA", r"C:\ProgramData")
        return os.path.join(base, "securl", "policy.toml")
    return "/etc/securl/policy.toml"


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(key):
            return number
    return None


def _bad(path: str, text: str, key: str, expected: str, got: object) -> ConfigurationError:
    line = _line_of(text, key.rsplit(".", 1)[-1])
    where = f"{path}:{line}" if line else path
    return ConfigurationError(
        f"securl policy {where}: key {key!r} must be {expected}, got {got!r}"
    )


def parse_policy(text: str, path: str) -> Policy:
    """Validate the TOML text of a policy file; fail closed on anything unexpected."""
    # Imported here, not at module level: most processes have no policy file, and the TOML
    # parser costs milliseconds of `import securl` (see benchmarks/RESULTS.md).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"securl policy {path}: not valid TOML: {exc}") from None
    values: dict[str, Any] = {"path": path}
    for key, value in data.items():
        if key not in _TOP_KEYS:
            raise ConfigurationError(
                f"securl policy {path}: unknown key {key!r}; known keys: "
                + ", ".join(sorted(_TOP_KEYS))
            )
        expected_type, expected = _TOP_KEYS[key]
        if not isinstance(value, expected_type):
            raise _bad(path, text, key, expected, value)
        if key == "audit":
            assert isinstance(value, dict)
            for sub, subvalue in value.items():
                if sub not in _AUDIT_KEYS:
                    raise ConfigurationError(
                        f"securl policy {path}: unknown key 'audit.{sub}'; known keys: "
                        + ", ".join(f"audit.{k}" for k in _AUDIT_KEYS)
                    )
                sub_type, sub_expected = _AUDIT_KEYS[sub]
                if not isinstance(subvalue, sub_type):
                    raise _bad(path, text, f"audit.{sub}", sub_expected, subvalue)
                if sub == "format" and subvalue not in ("json", "text"):
                    raise _bad(path, text, "audit.format", sub_expected, subvalue)
                values[f"audit_{sub}"] = subvalue
        elif key == "on_process_wide_unverified":
            if value not in ("refuse", "warn", "allow"):
                raise _bad(path, text, key, expected, value)
            values[key] = value
        elif key == "minimum_tls_version":
            if value not in ("1.2", "1.3"):
                raise _bad(path, text, key, expected, value)
            values[key] = parse_tls_version(value)
        else:
            values[key] = value
    return Policy(**values)


def load_policy(path: str | None = None) -> Policy:
    """Read and validate the policy file at ``path`` (default: :func:`default_policy_path`)."""
    explicit = path is not None or bool(os.environ.get("SECURL_POLICY"))
    path = path or default_policy_path()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if explicit:
            raise ConfigurationError(
                f"securl policy {path} does not exist (named by SECURL_POLICY); "
                "fix the path or unset SECURL_POLICY"
            ) from None
        return Policy()
    except OSError as exc:
        raise ConfigurationError(f"securl policy {path} cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"securl policy {path}: not UTF-8 text") from None
    return parse_policy(text, path)


_lock = threading.Lock()
_policy: Policy | None = None


def get_policy() -> Policy:
    """The process's policy, loaded on first use and never reloaded."""
    global _policy
    policy = _policy
    if policy is None:
        with _lock:
            if _policy is None:
                _policy = load_policy()
                _on_loaded(_policy)
            policy = _policy
    return policy


def _on_loaded(policy: Policy) -> None:
    from ._audit import emit

    emit("policy_loaded", path=policy.path, values=policy.to_dict())


def _reset_for_tests() -> None:
    """Forget the loaded policy (tests only; a real process reads it once)."""
    global _policy
    with _lock:
        _policy = None
