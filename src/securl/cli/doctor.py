"""``securl doctor``: what decides trust in *this* interpreter, and anything that weakens it.

It runs in a fresh interpreter (the ``securl`` command), so what it finds is what every
Python program started the same way gets: sitecustomize and ``.pth`` files have run, the
environment is the caller's. Rules:

* Report, never change: doctor reads state; it installs nothing and patches nothing.
* Every finding that weakens verification is listed under ``problems`` and makes the exit
  code 1; a clean report exits 0.
* Secrets are not printed: proxy URLs lose their userinfo, nothing else secret is read.
* The readable report escapes control characters in everything it read
  (`securl.cli.safe_text.printable`); ``--json`` is left to `json.dumps`.
* Parts owned by other modules (the guard, sitecustomize install) are looked up by name and
  reported as ``unknown`` when this build does not have them.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import ssl
import sys
from importlib import metadata
from typing import Any

from .._redact import redact_url
from ..exceptions import SecurlError
from .safe_text import printable

__all__ = ["ENV_VARS", "collect", "format_report"]

#: Environment variables that matter to TLS in Python, and what securl does with each.
ENV_VARS: dict[str, str] = {
    "SSL_CERT_FILE": "CA bundle replacing the system store; empty or missing fails closed",
    "SSL_CERT_DIR": "hashed CA directory; overrides the system store",
    "SECURL_POLICY": "path of the admin policy file (default /etc/securl/policy.toml)",
    "REQUESTS_CA_BUNDLE": "read by requests, ignored by securl",
    "CURL_CA_BUNDLE": "read by curl and requests, ignored by securl",
    "PYTHONHTTPSVERIFY": "PYTHONHTTPSVERIFY=0 turns off stdlib https verification on some "
                         "distributions",
    "HTTPS_PROXY": "proxy for https URLs (securl verifies the origin through the tunnel)",
    "HTTP_PROXY": "proxy for http URLs",
    "ALL_PROXY": "proxy for every scheme",
    "NO_PROXY": "hosts reached directly",
}
_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")


def _versions() -> dict[str, str | None]:
    from .._version import __version__

    out: dict[str, str | None] = {"securl": __version__}
    for dist in ("urllib3", "truststore", "certifi"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _environment() -> dict[str, dict[str, str | None]]:
    out = {}
    for name, meaning in ENV_VARS.items():
        value = os.environ.get(name)
        if value is None:
            value = os.environ.get(name.lower())
        if value and name.upper() in _PROXY_VARS:
            value = redact_url(value)
        out[name] = {"value": value, "meaning": meaning}
    return out


def _trust(problems: list[str]) -> dict[str, Any]:
    from ..tls.trust import trust_info

    try:
        info = trust_info()
    except SecurlError as exc:
        problems.append(f"trust source: {exc}")
        return {"source": None, "error": str(exc)}
    return {"source": info.source, "location": info.location, "reason": info.reason,
            "extra_ca_certs": info.extra_ca_certs, "scope": info.scope}


def _policy(problems: list[str]) -> dict[str, Any]:
    from .._policy import get_policy, policy_source

    path, why = policy_source()
    out: dict[str, Any] = {"path": path, "exists": os.path.isfile(path), "why": why}
    try:
        policy = get_policy()
        out["values"] = policy.to_dict()
        if policy.path and policy.path != path:  # the policy this process really loaded
            out.update(path=policy.path, exists=True, why="loaded by this process")
    except SecurlError as exc:
        problems.append(f"policy: {exc}")
        out["error"] = str(exc)
    return out


def _sitecustomize() -> dict[str, Any]:
    module = sys.modules.get("sitecustomize")
    out: dict[str, Any] = {
        "loaded": module is not None,
        "file": getattr(module, "__file__", None),
        "installs_securl": False,
        "site_disabled": bool(sys.flags.no_site or sys.flags.isolated),
    }
    if module is None:
        spec = importlib.util.find_spec("sitecustomize") if not out["site_disabled"] else None
        out["file"] = spec.origin if spec is not None else None
    path = out["file"]
    if isinstance(path, str) and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                out["installs_securl"] = "securl" in f.read()
        except OSError:
            pass
    if out["site_disabled"]:
        out["note"] = "this interpreter runs with -S or -I: sitecustomize does not run"
    elif module is None:
        out["note"] = "no sitecustomize module ran in this interpreter"
    elif out["installs_securl"]:
        out["note"] = f"{path} mentions securl (run `securl admin show-policy` for the policy)"
    else:
        out["note"] = f"{path} ran but does not mention securl"
    return out


def _guard() -> dict[str, Any]:
    """The guard's state and install() status, from ``securl.admin.install.status()``."""
    from ..admin.guard import current_action
    from ..admin.install import status

    state = status()
    active = bool(state["guard_active"])
    action = current_action() if active else None
    if state["installed"]:
        note = f"securl.install() is active; the guard watches ssl ({action} mode)"
    elif active:
        note = f"the guard watches ssl ({action} mode); securl.install() was not called"
    else:
        note = "the guard is not active in this interpreter"
    return {"active": active, "action": action, "installed": state["installed"],
            "https_context": state["https_context"],
            "sitecustomize_hook": state["sitecustomize_hook"], "note": note}


def _context_state(factory: Any) -> tuple[bool, str]:
    """(verifies?, description) for a context made by ``factory()``."""
    try:
        ctx = factory()
    except Exception as exc:
        return True, f"raised {type(exc).__name__}: {exc}"
    verifies = ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return bool(verifies), (f"verify_mode={ctx.verify_mode.name}, "
                            f"check_hostname={ctx.check_hostname}")


def _where(obj: object) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', getattr(obj, '__name__', repr(obj)))}"


def _process_wide(problems: list[str]) -> list[str]:
    """Look for the usual process-wide ways to turn verification off."""
    findings = []
    https_factory = getattr(ssl, "_create_default_https_context", None)
    if https_factory is getattr(ssl, "_create_unverified_context", object()):
        findings.append("ssl._create_default_https_context = ssl._create_unverified_context: "
                        "urllib and http.client do not verify certificates")
    elif https_factory is not None:
        ok, state = _context_state(https_factory)
        if not ok:
            findings.append(f"ssl._create_default_https_context ({_where(https_factory)}) "
                            f"makes unverified contexts ({state})")
    ok, state = _context_state(ssl.create_default_context)
    if not ok:
        findings.append(f"ssl.create_default_context ({_where(ssl.create_default_context)}) "
                        f"makes unverified contexts ({state})")
    if os.environ.get("PYTHONHTTPSVERIFY") == "0":
        findings.append("PYTHONHTTPSVERIFY=0 is set")
    problems.extend(findings)
    notes = list(findings)
    if ssl.SSLContext.__module__ != "ssl":
        notes.append(f"ssl.SSLContext is replaced by {_where(ssl.SSLContext)} "
                     "(truststore.inject_into_ssl() does this and still verifies)")
    return notes


def collect() -> dict[str, Any]:
    """The whole report as JSON-ready data; ``problems`` lists what weakens verification."""
    problems: list[str] = []
    report: dict[str, Any] = {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "platform": sys.platform,
        },
        "openssl": {
            "version": ssl.OPENSSL_VERSION,
            "tls_1_3": bool(getattr(ssl, "HAS_TLSv1_3", False)),
            "x509_strict_flag": hasattr(ssl, "VERIFY_X509_STRICT"),
        },
        "versions": _versions(),
        "trust": _trust(problems),
        "environment": _environment(),
        "policy": _policy(problems),
        "sitecustomize": _sitecustomize(),
        "guard": _guard(),
    }
    report["process_wide"] = _process_wide(problems)
    from ..http.urllib3_check import urllib3_problem

    broken = urllib3_problem()
    if broken:
        problems.append(broken)
    report["problems"] = problems
    return report


def format_report(report: dict[str, Any]) -> str:
    """The readable form ``securl doctor`` prints.

    Every value read from this machine (paths, environment variables, versions, error
    messages) goes through `printable`: another user's environment or files cannot put
    control characters on the terminal. Policy values are shown with ``repr``, which escapes
    them already.
    """
    p = printable
    py, ossl, versions = report["python"], report["openssl"], report["versions"]
    lines = [
        "securl doctor",
        f"  Python:        {p(py['implementation'])} {p(py['version'])} "
        f"({p(py['executable'])})",
        f"  OpenSSL:       {p(ossl['version'])}" + ("" if ossl["tls_1_3"] else " (no TLS 1.3)"),
        "  packages:      " + ", ".join(f"{p(k)} {p(v or 'not installed')}"
                                        for k, v in versions.items()),
    ]
    trust = report["trust"]
    if trust.get("source"):
        lines.append(f"  trust source:  {p(trust['source'])}: {p(trust['location'])}")
        lines.append(f"                 why: {p(trust['reason'])}")
        if trust.get("extra_ca_certs"):
            lines.append("                 plus policy extra_ca_certs: "
                         f"{p(trust['extra_ca_certs'])}")
        if trust.get("scope"):
            lines.append(f"                 used by: {p(trust['scope'])}")
    else:
        lines.append(f"  trust source:  ERROR: {p(trust['error'])}")
    lines.append("  environment:")
    set_vars = {k: v for k, v in report["environment"].items() if v["value"] is not None}
    for name, info in set_vars.items():
        lines.append(f"    {p(name)}={p(info['value'])}  ({p(info['meaning'])})")
    if not set_vars:
        lines.append("    none of " + ", ".join(report["environment"]) + " is set")
    policy = report["policy"]
    exists = "exists" if policy["exists"] else "not present, defaults apply"
    lines.append(f"  policy file:   {p(policy['path'])} ({exists})")
    if "error" in policy:
        lines.append(f"    ERROR: {p(policy['error'])}")
    else:
        for key, value in policy["values"].items():
            if key != "path":
                lines.append(f"    {p(key)} = {value!r}")
    site = report["sitecustomize"]
    lines.append(f"  sitecustomize: {p(site['note'])}")
    guard = report["guard"]
    lines.append(f"  guard:         active={guard['active']}; {p(guard['note'])}")
    if report["process_wide"]:
        lines.append("  process-wide:")
        lines.extend(f"    - {p(item)}" for item in report["process_wide"])
    else:
        lines.append("  process-wide:  no process-wide verification disable found")
    lines.append("")
    if report["problems"]:
        lines.append(f"{len(report['problems'])} problem(s):")
        lines.extend(f"  - {p(item)}" for item in report["problems"])
    else:
        lines.append("No problems found: securl verifies with the trust source above.")
    return "\n".join(lines)
