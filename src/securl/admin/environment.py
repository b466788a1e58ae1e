"""The environment variables people use to turn certificate verification off.

`inspect_environment` finds them; `report_environment` (run by ``securl.install()``)
warns about each one (a `SecurityWarning` attributed to the code that called
``install()``, never raised into it) and emits ``securl.insecure_environment``. securl itself
ignores ``PYTHONHTTPSVERIFY``, ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE``, and fails closed
on a broken ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``; the report is for the other libraries in
the process, and for the person who set them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from .._audit import emit
from .._caller import find_caller
from .guard import security_warning, ssl_or_import_machinery

__all__ = ["EnvFinding", "inspect_environment", "report_environment"]


class EnvFinding(NamedTuple):
    """An environment variable that turns verification off somewhere, and what it does."""

    variable: str
    value: str
    effect: str


def inspect_environment(environ: Mapping[str, str] | None = None) -> list[EnvFinding]:
    """The process-wide disables people use in the wild, found in ``environ``.

    ``PYTHONHTTPSVERIFY=0``; ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` set but empty;
    ``SSL_CERT_FILE`` set but empty, missing or holding no certificate; ``SSL_CERT_DIR``
    naming no directory. The last two fail closed in securl: every context built while they
    are so raises ConfigurationError instead of trusting nothing silently.
    """
    env = os.environ if environ is None else environ
    found: list[EnvFinding] = []
    verify = env.get("PYTHONHTTPSVERIFY")
    if verify is not None and verify.strip() == "0":
        found.append(EnvFinding(
            "PYTHONHTTPSVERIFY", verify,
            "some Python builds (PEP 493) turn off stdlib HTTPS verification with it; "
            "securl ignores it and keeps verifying: remove it",
        ))
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = env.get(name)
        if value is not None and not value.strip():
            found.append(EnvFinding(
                name, value,
                "set but empty, a known way to turn off verification in some versions of "
                "requests; securl ignores it, other libraries in this process may not: unset it",
            ))
    cafile = env.get("SSL_CERT_FILE")
    if cafile is not None:
        problem = _ca_file_problem(cafile)
        if problem:
            found.append(EnvFinding(
                "SSL_CERT_FILE", cafile,
                f"{problem}; securl fails closed: HTTPS through securl and the standard "
                "library raises ConfigurationError until it names a PEM bundle or is unset",
            ))
    capath = env.get("SSL_CERT_DIR")
    if capath is not None:
        dirs = [d for d in capath.split(os.pathsep) if d]
        if not dirs or not all(os.path.isdir(d) for d in dirs):
            found.append(EnvFinding(
                "SSL_CERT_DIR", capath,
                "names no existing directory; securl fails closed: HTTPS through securl and "
                "the standard library raises ConfigurationError until it is fixed or unset",
            ))
    return found


def _ca_file_problem(path: str) -> str:
    if not path:
        return "set but empty"
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except FileNotFoundError:
        return "names a file that does not exist"
    except OSError as exc:
        return f"names a file that cannot be read ({exc.strerror})"
    if b"-----BEGIN CERTIFICATE-----" not in head and b"-----BEGIN TRUSTED CERTIFICATE" not in head:
        return "names a file that holds no PEM certificate"
    return ""


def report_environment(environ: Mapping[str, str] | None = None) -> list[EnvFinding]:
    """Warn about and audit (``securl.insecure_environment``) each `inspect_environment`
    finding; returns them."""
    findings = inspect_environment(environ)
    caller = find_caller(2, also_internal=ssl_or_import_machinery)
    for finding in findings:
        emit("insecure_environment", variable=finding.variable, value=finding.value,
             effect=finding.effect)
        security_warning(f"{finding.variable}={finding.value!r}: {finding.effect}", caller,
                         may_raise=False)
    return findings
