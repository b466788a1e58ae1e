"""The project's promises about itself: README commands, CI, exported names."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.*?)\n```", text, flags=re.S)[:2]


def test_readme_opens_with_two_commands_demo_and_tests() -> None:
    demo, tests = readme_commands()
    assert demo.endswith("securl demo")
    assert tests.startswith("pip install -e '.[test]'")


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    test_part = tests.split("&&", 1)[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_part in ci.splitlines()
    assert "mypy --strict src" in ci
    assert "ruff check" in ci


# Every public name, pinned: nothing becomes public by accident. Add names here on purpose.
EXPORTED = (
    "Auth", "BearerAuth", "ChallengeAuth", "PreparedRequest", "RequestOptions", "Retries",
    "SessionAttributeError",
    "AuditEvent", "AuthError", "BasicAuth", "ClientCertificateRequired", "ConfigurationError",
    "ConnectTimeout", "ConnectionError", "DeadlineExceeded", "DigestAuth", "HTTPStatusError",
    "InsecureRedirectError", "InsecureRequestWarning", "InvalidRequest", "JSONDecodeError",
    "PeerInfo",
    "PinMismatchError", "PolicyError", "ProtocolError", "ReadTimeout", "RedirectError",
    "Response", "ResponseTooLarge", "SecurityWarning", "SecurlError", "Session", "TLSConfig",
    "TLSVerificationError", "Timeout", "Timeouts", "TooManyRedirects", "TransportError",
    "TrustInfo", "__version__", "add_audit_hook", "audit", "create_context", "delete", "get",
    "head", "install", "options", "patch", "pinned", "post", "put", "remove_audit_hook",
    "request", "trust_info", "uninstall", "unverified", "urllib", "verifiers",
)


def test_exported_names_are_pinned() -> None:
    import securl

    assert sorted(securl.__all__) == sorted(EXPORTED)
    assert list(securl.__all__) == sorted(securl.__all__, key=str)
    assert all(hasattr(securl, name) for name in securl.__all__)
