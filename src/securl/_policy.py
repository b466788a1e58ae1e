"""Admin policy: one TOML file, read once per process, immutable afterwards.

The file is ``$SECURL_POLICY`` if that is set, else ``/etc/securl/policy.toml``
(``%PROGRAMDATA%\\securl\\policy.toml`` on Windows). A missing file means the defaults below.
A file that cannot be parsed, or holds an unknown key or a value of the wrong type, fails
closed: `ConfigurationError` naming the file, the key and the expected type.

Applications can tighten what policy allows (e.g. pass ``minimum_version="1.3"``) through
securl's API, which reads `get_policy` at every decision point, and the
`Policy` object is frozen. (Code in the same process can still reach into securl's
internals; the threat model in docs/security-model.md says what the policy guards against.)

Pinning: ``securl.install(policy=FILE)`` and the sitecustomize hook written by ``securl
admin install-sitecustomize --policy FILE`` pin the file *before* anything reads it
(`pinned_policy_path`). A pinned process loads only that file: if loading it fails,
every later decision fails the same way (closed), never falling back to the default path or
``$SECURL_POLICY``. Once a policy is loaded no other file can replace it in that process.

Local users: the policy file, and the ``extra_ca_certs`` and ``pins_file`` it names, are
used only when they and every directory above them belong to root or this user and are
writable by no one else (StrictModes, `securl.admin.files`); paths in the policy must
be absolute. In a setuid process (AT_SECURE) ``$SECURL_POLICY`` is ignored, with an audit
event.
"""

from __future__ import annotations

import os
import re
import ssl
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .exceptions import ConfigurationError, PolicyError
from .tls.config import parse_tls_version

__all__ = [
    "Policy",
    "check_unverified_allowed",
    "default_policy_path",
    "get_policy",
    "load_policy",
    "load_process_policy",
]

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
    audit_syslog: bool | str = False
    audit_syslog_facility: str = "authpriv"
    verify_stdlib_clients: bool = False
    #: (field name, line number in the file) for every value the file set; the rest are defaults.
    origins: tuple[tuple[str, int | None], ...] = field(default=(), compare=False, repr=False)

    def origin_of(self, name: str) -> str:
        """Where the value of field ``name`` came from: ``"<file>:<line>"`` or ``"default"``."""
        for key, line in self.origins:
            if key == name:
                return f"{self.path}:{line}" if line else str(self.path)
        return "default"

    def to_dict(self) -> dict[str, Any]:
        """The values as plain data (for ``securl admin show-policy`` and audit events)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "origins":
                continue
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
    "verify_stdlib_clients": (bool, "a boolean"),
    "audit": (dict, "a table ([audit])"),
}
_AUDIT_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "log_file": (str, "a path string"),
    "format": (str, '"json" or "text"'),
    "syslog": ((bool, str), 'true, false, an absolute socket path, or "host:port" (UDP)'),
    "syslog_facility": (str, 'a syslog facility name ("authpriv", "local0" ... "local7", ...)'),
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
    """The line that sets ``key`` (``"name"`` or ``"audit.name"``), or the table header."""
    table, _, name = key.rpartition(".")
    plain = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=")
    dotted = re.compile(rf"^\s*{re.escape(key)}\s*=") if table else None
    header = re.compile(rf"^\s*\[\s*{re.escape(name)}\s*\]")
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            current = stripped.strip("[] \t")
            if not table and header.match(line):
                return number
            continue
        if dotted is not None and current == "" and dotted.match(line):
            return number
        if current == table and plain.match(line):
            return number
    return None


def _where(path: str, text: str, key: str) -> str:
    line = _line_of(text, key)
    return f"{path}:{line}" if line else path


def _bad(path: str, text: str, key: str, expected: str, got: object) -> ConfigurationError:
    return ConfigurationError(
        f"securl policy {_where(path, text, key)}: key {key!r} must be {expected}, "
        f"got {got!r} ({type(got).__name__})"
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
    origins: list[tuple[str, int | None]] = []
    for key, value in data.items():
        if key not in _TOP_KEYS:
            raise ConfigurationError(
                f"securl policy {_where(path, text, key)}: unknown key {key!r}; known keys: "
                + ", ".join(sorted(_TOP_KEYS))
            )
        if key != "audit":
            origins.append((key, _line_of(text, key)))
        expected_type, expected = _TOP_KEYS[key]
        if not isinstance(value, expected_type):
            raise _bad(path, text, key, expected, value)
        if key == "audit":
            assert isinstance(value, dict)
            for sub, subvalue in value.items():
                if sub not in _AUDIT_KEYS:
                    raise ConfigurationError(
                        f"securl policy {_where(path, text, 'audit.' + sub)}: unknown key "
                        f"'audit.{sub}'; known keys: "
                        + ", ".join(f"audit.{k}" for k in _AUDIT_KEYS)
                    )
                sub_type, sub_expected = _AUDIT_KEYS[sub]
                if not isinstance(subvalue, sub_type):
                    raise _bad(path, text, f"audit.{sub}", sub_expected, subvalue)
                if sub == "format" and subvalue not in ("json", "text"):
                    raise _bad(path, text, "audit.format", sub_expected, subvalue)
                if sub.startswith("syslog") and not _syslog_value_ok(sub, subvalue):
                    raise _bad(path, text, f"audit.{sub}", sub_expected, subvalue)
                values[f"audit_{sub}"] = subvalue
                origins.append((f"audit_{sub}", _line_of(text, f"audit.{sub}")))
        elif key == "on_process_wide_unverified":
            if value not in ("refuse", "warn", "allow"):
                raise _bad(path, text, key, expected, value)
            values[key] = value
        elif key == "minimum_tls_version":
            if value not in ("1.2", "1.3"):
                raise _bad(path, text, key, expected, value)
            values[key] = parse_tls_version(value)
        else:
            if key in _PATH_KEYS:
                _check_path(path, text, key, str(value))
            values[key] = value
    if "audit_log_file" in values:
        _check_path(path, text, "audit.log_file", values["audit_log_file"])
    return Policy(**values, origins=tuple(origins))


_PATH_KEYS = frozenset({"extra_ca_certs", "pins_file"})


def _syslog_value_ok(key: str, value: object) -> bool:
    from ._audit_syslog import FACILITIES, parse_syslog_address

    if key == "syslog_facility":
        return value in FACILITIES
    try:
        parse_syslog_address(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def _check_path(path: str, text: str, key: str, value: str) -> None:
    """Paths in the policy: absolute, and a CA file trusted like the policy itself."""
    from .admin.files import check_trusted_file, require_absolute

    where = f"securl policy {_where(path, text, key)}: key {key!r}"
    if not value.strip():
        raise ConfigurationError(
            f"{where} is empty; an empty path would silently mean \"none\". Name a file, or "
            "remove the key")
    require_absolute(value, what=where)
    if key == "extra_ca_certs" and os.path.lexists(value):
        check_trusted_file(value, what=where)


_pinned_path: str | None = None


def pinned_policy_path() -> str | None:
    """The policy file this process is bound to before any load, if any: the one
    ``install(policy=...)`` named, or the sitecustomize hook's ``--policy``."""
    if _pinned_path is not None:
        return _pinned_path
    hook = sys.modules.get("_securl_sitehook")
    pinned = getattr(hook, "pinned_policy", None)
    return pinned() if pinned is not None else None


def policy_source() -> tuple[str, str]:
    """``(path, why)``: the policy file this process loads and what chose it."""
    path, why, _ = _source()
    return path, why


def _source() -> tuple[str, str, str]:
    """``(path, why, named_by)``; ``named_by`` is empty for the default location, whose
    absence means the defaults (see `load_policy`)."""
    pinned = pinned_policy_path()
    if pinned:
        return (pinned, "pinned (install(policy=...) or the sitecustomize hook's --policy)",
                "the pinned policy")
    if os.environ.get("SECURL_POLICY") and not _ignore_environment("SECURL_POLICY"):
        return os.environ["SECURL_POLICY"], "named by $SECURL_POLICY", "SECURL_POLICY"
    without = {k: v for k, v in os.environ.items() if k != "SECURL_POLICY"}
    return default_policy_path(without), "the default location", ""


def _ignore_environment(name: str) -> bool:
    """In a setuid process the environment is the invoker's: ignore it (audited once)."""
    from .admin.files import setuid_process

    if not setuid_process():
        return False
    _report_ignored(name)
    return True


_ignored_reported: set[str] = set()


def _report_ignored(name: str) -> None:
    if name in _ignored_reported:
        return
    _ignored_reported.add(name)
    from ._audit import emit

    emit("insecure_environment", variable=name, value=os.environ.get(name, ""),
         effect="ignored: this process runs setuid/setgid (AT_SECURE), so its environment "
                "is the invoking user's")


def load_policy(path: str | None = None, *, named_by: str = "securl.install(policy=...)"
                ) -> Policy:
    """Read and validate the policy file at ``path`` (default: `policy_source`).

    A missing file means the defaults only when nobody named it: a path given here (by
    ``named_by``), pinned, or in ``$SECURL_POLICY`` that does not exist is a
    ConfigurationError. An existing file must pass the StrictModes check.
    """
    if path is None:
        path, _, named_by = _source()
    if os.path.lexists(path):
        from .admin.files import check_trusted_file

        check_trusted_file(path, what="securl policy")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if named_by:
            raise ConfigurationError(
                f"securl policy {path} does not exist (named by {named_by}); "
                f"fix the path or stop naming it in {named_by}"
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
    """The process's policy, loaded on first use and never reloaded.

    Loading applies the policy's process-wide settings (`_apply`) before the policy is
    in force; if that fails (an audit log that cannot be opened), no policy is set and every
    call that needs one fails the same way: closed, never silently without the audit trail.
    """
    global _policy
    policy = _policy
    if policy is None:
        with _lock:
            if _policy is None:
                loaded = load_policy()
                _apply(loaded)
                _policy = loaded
                _on_loaded(loaded)
            policy = _policy
    return policy


def load_process_policy(path: str) -> Policy:
    """Make the file at ``path`` this process's policy (``securl.install(policy=path)``).

    Rule: a process has one policy. If one is loaded already, from the same file, it is
    returned; from another file (or from the defaults), ConfigurationError: a later caller can
    never swap the admin's policy for a looser one.
    """
    global _policy, _pinned_path
    with _lock:
        if _policy is None:
            if _pinned_path is None:
                _pinned_path = path  # before loading: a failure below must not unpin it
            elif not _same_file(_pinned_path, path):
                raise ConfigurationError(
                    f"securl policy {path} cannot be used: this process is pinned to "
                    f"{_pinned_path}, and a process has exactly one policy")
            loaded = load_policy(path)
            _apply(loaded)
            _policy = loaded
            _on_loaded(loaded)
        elif _policy.path is None or not _same_file(_policy.path, path):
            raise ConfigurationError(
                f"securl policy {path} cannot be used: this process already loaded its policy "
                f"from {_policy.path or 'the defaults (no policy file)'}, and a process has "
                "exactly one policy"
            )
        return _policy


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def check_unverified_allowed(*, host: str | None, port: int | None = None,
                             reason: str = "", caller: str | None = None,
                             url: str | None = None,
                             what: str = "tls=securl.unverified()") -> None:
    """Raise PolicyError if admin policy forbids per-call opt-outs (``allow_unverified=false``).

    For the request path: call before making a request with ``tls=securl.unverified(...)``.
    A refusal emits ``securl.unverified_request`` with ``action="refused"``.
    """
    policy = get_policy()
    if policy.allow_unverified:
        return
    from ._audit import emit

    emit("unverified_request", host=host, port=port, reason=reason, caller=caller, url=url,
         action="refused")
    raise PolicyError(
        f"admin policy forbids unverified requests (allow_unverified = false in "
        f"{policy.origin_of('allow_unverified')}); {what} for {host} was refused and nothing "
        "was sent. "
        "Trust the server's CA instead (ca_certs='ca.pem' or SSL_CERT_FILE) or pin its key "
        "(tls=securl.pinned('sha256/...', reason=...))"
    )
def _apply(policy: Policy) -> None:
    """Put the policy's process-wide settings in place: today, its audit log.

    Done where the policy is loaded (not in ``securl.install()``), so an admin's
    ``audit.log_file`` takes effect in every process that makes a securl decision, and
    before the ``securl.policy_loaded`` event, which is therefore the log's first line.
    """
    if policy.audit_log_file:
        from ._audit import configure_from_policy

        configure_from_policy(policy.audit_log_file, policy.audit_format, policy.path)
    if policy.audit_syslog:
        from ._audit_syslog import configure_syslog

        configure_syslog(policy.audit_syslog, policy.audit_syslog_facility)


def _on_loaded(policy: Policy) -> None:
    """Audit the policy now in force (called once it is set, so hooks may use securl)."""
    from ._audit import emit

    emit("policy_loaded", path=policy.path, values=policy.to_dict())


def _reset_for_tests() -> None:
    """Forget the loaded policy (tests only; a real process reads it once)."""
    global _policy, _pinned_path
    with _lock:
        _policy = None
        _pinned_path = None
        _ignored_reported.clear()
